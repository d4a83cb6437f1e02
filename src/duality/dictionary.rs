//! The dictionary of a run and of `nncosmo-gpu dictionary`: both readings (continuum
//! and discrete-exact), the field regime of every mode, and flags where the continuum
//! reading cannot be trusted.

use serde::Serialize;

use crate::theory::dictionary::{
    DictionaryError, DiscreteDual, FieldRegime, NetworkDual, continuum, discrete, regime,
    to_network,
};
use crate::theory::propagator::max_stable_lr;

/// ηκ and 1 − β at or below which the continuum reading is called good (the same
/// threshold as [`to_network`]'s `continuum_ok`).
pub const CONTINUUM_SMALL: f64 = 0.1;

/// One mode through both dictionaries.
#[derive(Clone, Debug, Serialize)]
pub struct ModeDictionary {
    pub mode: usize,
    pub kappa: f64,
    pub eta_kappa: f64,
    pub regime: FieldRegime,
    pub stable: bool,
    /// Continuum: m² = κ.
    pub m2: f64,
    pub discrete: DiscreteDual,
    /// (m_d² − κ)/κ when a discrete dual exists.
    pub m2_discrete_rel_diff: Option<f64>,
    pub continuum_ok: bool,
}

/// The dictionary section of a report.
#[derive(Clone, Debug, Serialize)]
pub struct Dictionary {
    pub lr: f64,
    pub momentum: f64,
    #[serde(rename = "H")]
    pub hubble: f64,
    #[serde(rename = "Lambda")]
    pub lambda: f64,
    pub gamma: f64,
    pub efolds_per_step: f64,
    /// Λ·η = (1 − β)²/3.
    pub lambda_eta: f64,
    /// Discrete-exact H_d = −ln β/(3√η) (null for β = 0: first order, H_d = ∞).
    #[serde(rename = "H_d")]
    pub hubble_d: Option<f64>,
    /// Discrete-exact m² of the mode carrying the mean (mode 0), when it exists.
    pub m2_d: Option<f64>,
    pub modes: Vec<ModeDictionary>,
    /// Human-readable warnings: no continuum dual, outside the continuum regime.
    pub flags: Vec<String>,
}

impl Dictionary {
    pub fn new(eta: f64, beta: f64, kappa: &[f64]) -> Self {
        let c = continuum(eta, beta);
        let mut flags = Vec::new();
        if 1.0 - beta > CONTINUUM_SMALL {
            flags.push(format!(
                "outside the continuum regime: 1 − β = {:.3} > {CONTINUUM_SMALL} (the continuum H differs from the discrete H_d by O(1 − β))",
                1.0 - beta
            ));
        }
        let modes: Vec<ModeDictionary> = kappa
            .iter()
            .enumerate()
            .map(|(j, &k)| {
                let d = discrete(eta, beta, k);
                let ek = eta * k;
                let rel = d.hubble_m2().map(|(_, m2)| (m2 - k) / k);
                ModeDictionary {
                    mode: j,
                    kappa: k,
                    eta_kappa: ek,
                    regime: regime(eta, beta, k),
                    stable: ek < 2.0 * (1.0 + beta),
                    m2: k,
                    discrete: d,
                    m2_discrete_rel_diff: rel,
                    continuum_ok: ek <= CONTINUUM_SMALL && 1.0 - beta <= CONTINUUM_SMALL,
                }
            })
            .collect();
        let big: Vec<String> = modes
            .iter()
            .filter(|m| m.eta_kappa > CONTINUUM_SMALL)
            .map(|m| format!("{} (ηκ = {:.3})", m.mode, m.eta_kappa))
            .collect();
        if !big.is_empty() {
            flags.push(format!(
                "outside the continuum regime: ηκ > {CONTINUUM_SMALL} for mode(s) {}",
                big.join(", ")
            ));
        }
        for m in &modes {
            match &m.discrete {
                DiscreteDual::NoContinuumDual { reason } => {
                    flags.push(format!("mode {} has no continuum dual: {reason}", m.mode))
                }
                DiscreteDual::FirstOrder { drift_rate } => flags.push(format!(
                    "mode {}: β = 0 is first order (overdamped slow roll, H_d = ∞), drift rate ηκ = {drift_rate:.4} per step",
                    m.mode
                )),
                _ => {}
            }
            if !m.stable {
                flags.push(format!(
                    "mode {} is unstable: ηκ = {:.4} ≥ 2(1 + β) = {:.4}",
                    m.mode,
                    m.eta_kappa,
                    2.0 * (1.0 + beta)
                ));
            }
        }
        let hubble_d = (beta > 0.0).then(|| -beta.ln() / (3.0 * eta.sqrt()));
        let m2_d = modes
            .first()
            .and_then(|m| m.discrete.hubble_m2())
            .map(|x| x.1);
        Dictionary {
            lr: eta,
            momentum: beta,
            hubble: c.hubble,
            lambda: c.lambda,
            gamma: c.gamma,
            efolds_per_step: c.efolds_per_step,
            lambda_eta: c.lambda * eta,
            hubble_d,
            m2_d,
            modes,
            flags,
        }
    }

    /// Relative difference of the discrete H_d from the continuum H.
    pub fn hubble_rel_diff(&self) -> Option<f64> {
        self.hubble_d.map(|h| (h - self.hubble) / self.hubble)
    }

    /// Terminal lines.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!("η = {}, β = {}", self.lr, self.momentum),
            format!(
                "continuum: H = {:.6}, Λ = {:.6}, γ = 3H = {:.6}, e-folds/step = {:.6}, Λ·η = {:.6}",
                self.hubble, self.lambda, self.gamma, self.efolds_per_step, self.lambda_eta
            ),
            match self.hubble_d {
                Some(h) => format!(
                    "discrete:  H_d = {h:.6} ({:+.2}% from H)",
                    100.0 * self.hubble_rel_diff().unwrap_or(0.0)
                ),
                None => "discrete:  β = 0 is first order (H_d = ∞, slow roll)".into(),
            },
        ];
        if !self.modes.is_empty() {
            out.push(format!(
                "{:>5} {:>12} {:>10} {:>6} {:>12} {:>12}  discrete dual",
                "mode", "κ = m²", "ηκ", "regime", "m_d²", "m_d²/κ − 1"
            ));
            for m in &self.modes {
                let (md, rel) = match m.discrete.hubble_m2() {
                    Some((_, m2)) => (
                        format!("{m2:.6}"),
                        format!("{:+.3}%", 100.0 * m.m2_discrete_rel_diff.unwrap_or(0.0)),
                    ),
                    None => ("—".into(), "—".into()),
                };
                let kind = match &m.discrete {
                    DiscreteDual::Oscillating { .. } => "oscillating",
                    DiscreteDual::Overdamped { .. } => "overdamped",
                    DiscreteDual::FirstOrder { .. } => "first order",
                    DiscreteDual::NoContinuumDual { .. } => "none",
                };
                out.push(format!(
                    "{:>5} {:>12.6} {:>10.4e} {:>6} {:>12} {:>12}  {kind}",
                    m.mode,
                    m.kappa,
                    m.eta_kappa,
                    match m.regime {
                        FieldRegime::Light => "light",
                        FieldRegime::Heavy => "heavy",
                    },
                    md,
                    rel
                ));
            }
        }
        for f in &self.flags {
            out.push(format!("warning: {f}"));
        }
        out
    }
}

/// The inverse direction, with its diagnosis.
#[derive(Clone, Debug, Serialize)]
pub struct Inverse {
    #[serde(rename = "H")]
    pub hubble: f64,
    pub mass: f64,
    pub network: NetworkDual,
    /// The largest learning rate at which a mode with κ = m² stays stable.
    pub max_stable_lr: f64,
    pub regime: FieldRegime,
    pub discrete: DiscreteDual,
    pub flags: Vec<String>,
}

/// H and m → (η, β, κ); refuses an unstable or out-of-range request with the reason.
pub fn inverse(hubble: f64, mass: f64, eta: Option<f64>) -> Result<Inverse, DictionaryError> {
    let nd = to_network(hubble, mass, eta)?;
    let mut flags = Vec::new();
    if !nd.continuum_ok {
        flags.push(format!(
            "outside the continuum regime: ηκ = {:.4}, 1 − β = {:.4} (both should be ≤ {CONTINUUM_SMALL}); the network follows the discrete dictionary instead",
            nd.eta * nd.kappa,
            1.0 - nd.beta
        ));
    }
    let d = discrete(nd.eta, nd.beta, nd.kappa);
    if let DiscreteDual::NoContinuumDual { reason } = &d {
        flags.push(format!("no continuum dual: {reason}"));
    }
    Ok(Inverse {
        hubble,
        mass,
        max_stable_lr: if nd.kappa > 0.0 {
            max_stable_lr(nd.kappa, nd.beta)
        } else {
            f64::INFINITY
        },
        regime: regime(nd.eta, nd.beta, nd.kappa),
        discrete: d,
        network: nd,
        flags,
    })
}

/// `nncosmo-gpu dictionary`: the lines to print (text or JSON), or the refusal.
pub fn dictionary_output(
    req: &crate::config::run::DictionaryRequest,
    as_json: bool,
) -> Result<String, super::DualityError> {
    use crate::config::run::DictionaryRequest;
    match req {
        DictionaryRequest::Forward {
            lr,
            momentum,
            kappa,
        } => {
            let limit = 2.0 * (1.0 + momentum);
            if let Some(k) = kappa.iter().find(|&&k| lr * k >= limit) {
                return Err(super::DualityError::Dictionary(format!(
                    "refused: --kappa {k} is unstable at --lr {lr} --momentum {momentum}: ηκ = {:.4} ≥ 2(1 + β) = {limit:.4}; the largest stable --lr for it is {:.6}",
                    lr * k,
                    max_stable_lr(*k, *momentum)
                )));
            }
            let d = Dictionary::new(*lr, *momentum, kappa);
            Ok(if as_json {
                serde_json::to_string_pretty(&d).unwrap_or_default()
            } else {
                d.lines().join("\n")
            })
        }
        DictionaryRequest::Inverse { hubble, mass, lr } => {
            let inv = inverse(*hubble, *mass, *lr)?;
            Ok(if as_json {
                serde_json::to_string_pretty(&inv).unwrap_or_default()
            } else {
                let n = &inv.network;
                let mut v = vec![
                    format!(
                        "de Sitter field H = {hubble}, m = {mass} (m² = {})",
                        mass * mass
                    ),
                    format!(
                        "network: --lr {} --momentum {} with a mode of κ = m² = {} (eigenvalue of Θ/N); ηκ = {:.4e}",
                        n.eta,
                        n.beta,
                        n.kappa,
                        n.eta * n.kappa
                    ),
                    format!(
                        "regime: {} field; stable up to --lr {:.6} for this κ; continuum regime: {}",
                        match inv.regime {
                            FieldRegime::Light => "light (overdamped, slow roll)",
                            FieldRegime::Heavy => "heavy (underdamped, oscillating)",
                        },
                        inv.max_stable_lr,
                        if n.continuum_ok { "yes" } else { "no" }
                    ),
                ];
                if let Some((hd, m2d)) = inv.discrete.hubble_m2() {
                    v.push(format!(
                        "discrete-exact reading of these hyperparameters: H_d = {hd:.6}, m_d² = {m2d:.6}"
                    ));
                }
                for f in &inv.flags {
                    v.push(format!("warning: {f}"));
                }
                v.join("\n")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_the_offending_modes() {
        // ηκ = 2.95 with β = 0.5: stable (< 3) but with negative real roots (> (1+√β)²).
        let d = Dictionary::new(1.0, 0.5, &[0.1, 2.95, 1.0]);
        assert!(d.flags.iter().any(|f| f.contains("1 − β")));
        assert!(
            d.flags
                .iter()
                .any(|f| f.contains("mode 1 has no continuum dual"))
        );
        let ok = Dictionary::new(1e-4, 0.97, &[1.0, 0.5]);
        assert!(ok.flags.is_empty(), "{:?}", ok.flags);
        assert!(ok.modes.iter().all(|m| m.continuum_ok));
        let gd = Dictionary::new(0.1, 0.0, &[1.0]);
        assert!(gd.hubble_d.is_none());
        assert!(gd.flags.iter().any(|f| f.contains("first order")));
    }
}

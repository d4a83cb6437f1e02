//! The network ↔ de Sitter dictionary (DESIGN §3).
//!
//! With τ = √η·s the momentum recurrence c_{s+1} = (1 + β − ηκ)c_s − βc_{s−1}
//! becomes, to second order in the time step, c'' + γc' + κc = 0 with
//! γ = (1 − β)/√η = 3H: the de Sitter mode equation with m² = κ. The discrete
//! dictionary instead matches the recurrence's exact roots.

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

/// Continuum-limit dictionary for a learning rate η and momentum β.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContinuumDictionary {
    /// H = (1 − β)/(3√η).
    pub hubble: f64,
    /// Λ = 3H² (M_p = 1), so Λ·η = (1 − β)²/3.
    pub lambda: f64,
    /// Friction γ = (1 − β)/√η = 3H.
    pub gamma: f64,
    /// e-folds per step, H·√η = (1 − β)/3.
    pub efolds_per_step: f64,
}

/// Continuum dictionary: H = (1−β)/(3√η), Λ = 3H², γ = (1−β)/√η, N_e/step = (1−β)/3.
pub fn continuum(eta: f64, beta: f64) -> ContinuumDictionary {
    let gamma = (1.0 - beta) / eta.sqrt();
    let hubble = gamma / 3.0;
    ContinuumDictionary {
        hubble,
        lambda: 3.0 * hubble * hubble,
        gamma,
        efolds_per_step: (1.0 - beta) / 3.0,
    }
}

/// Discrete-exact dual of one mode (roots r± of r² − (1 + β − ηκ)r + β = 0,
/// r = e^{σ√η}, H_d = −ln β/(3√η), m_d² = σ₊σ₋).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiscreteDual {
    /// Complex-conjugate roots: an underdamped (heavy) field; m² = |σ|².
    Oscillating { hubble: f64, m2: f64 },
    /// Two positive real roots: an overdamped (light) field; m² = σ₊σ₋.
    Overdamped { hubble: f64, m2: f64 },
    /// β = 0, plain gradient descent: first order, the slow-roll limit
    /// 3Hφ̇ = −V' with H_d = ∞; the residual shrinks by ηκ per step.
    FirstOrder { drift_rate: f64 },
    /// No continuum dual exists (e.g. negative roots: a period-2 artefact of a
    /// too-large step, or parameters out of range).
    NoContinuumDual { reason: String },
}

impl DiscreteDual {
    /// (H_d, m_d²) when a second-order continuum dual exists.
    pub fn hubble_m2(&self) -> Option<(f64, f64)> {
        match *self {
            DiscreteDual::Oscillating { hubble, m2 } | DiscreteDual::Overdamped { hubble, m2 } => {
                Some((hubble, m2))
            }
            _ => None,
        }
    }
}

/// Discrete-exact dictionary for a mode with eigenvalue κ of Θ̂.
pub fn discrete(eta: f64, beta: f64, kappa: f64) -> DiscreteDual {
    let no = |reason: String| DiscreteDual::NoContinuumDual { reason };
    if !(eta.is_finite() && beta.is_finite() && kappa.is_finite()) {
        return no(format!("non-finite input (η={eta}, β={beta}, κ={kappa})"));
    }
    if eta <= 0.0 {
        return no(format!("learning rate must be positive, got η={eta}"));
    }
    if !(0.0..1.0).contains(&beta) {
        return no(format!("momentum must lie in [0, 1), got β={beta}"));
    }
    let ek = eta * kappa;
    if beta == 0.0 {
        return DiscreteDual::FirstOrder { drift_rate: ek };
    }
    let sqrt_eta = eta.sqrt();
    let s = 1.0 - beta;
    let b = 1.0 + beta - ek; // r₊ + r₋
    let hubble = -(-s).ln_1p() / (3.0 * sqrt_eta);
    // disc = b² − 4β, written to avoid cancellation for small s and ηκ.
    let disc = s * s - 2.0 * ek * (1.0 + beta) + ek * ek;
    if disc < 0.0 {
        let r = Complex64::new(0.5 * b, 0.5 * (-disc).sqrt());
        let sigma = Complex64::new(0.5 * (-s).ln_1p(), r.arg()) / sqrt_eta;
        return DiscreteDual::Oscillating {
            hubble,
            m2: sigma.norm_sqr(),
        };
    }
    if b <= 0.0 {
        return no(format!(
            "negative real roots (ηκ = {ek:.4} with β = {beta}): the residual flips sign \
             every step, a period-2 artefact of a step too large for a continuum dual"
        ));
    }
    let sq = disc.sqrt();
    // r₊ − 1 = −2ηκ/(√disc + s + ηκ) (rationalised); r₋ − 1 = −(s + ηκ + √disc)/2.
    let rp_m1 = -2.0 * ek / (sq + s + ek);
    let rm_m1 = -0.5 * (s + ek + sq);
    let m2 = rp_m1.ln_1p() * rm_m1.ln_1p() / eta;
    DiscreteDual::Overdamped { hubble, m2 }
}

/// Light (overdamped, m < 3H/2, slow roll) or heavy (underdamped, oscillating).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldRegime {
    Light,
    Heavy,
}

/// Continuum classification: light iff ηκ < (1 − β)²/4, i.e. κ < γ²/4 = (3H/2)².
pub fn regime(eta: f64, beta: f64, kappa: f64) -> FieldRegime {
    if eta * kappa < 0.25 * (1.0 - beta) * (1.0 - beta) {
        FieldRegime::Light
    } else {
        FieldRegime::Heavy
    }
}

/// Network hyperparameters dual to a de Sitter field.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkDual {
    pub eta: f64,
    pub beta: f64,
    /// Required eigenvalue of Θ̂: κ = m².
    pub kappa: f64,
    /// True when ηκ ≤ 0.1 and 1 − β ≤ 0.1, where the continuum dictionary is a
    /// good approximation of the discrete one.
    pub continuum_ok: bool,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DictionaryError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("momentum β = {beta} would leave [0, 1); choose a smaller learning rate or H")]
    MomentumOutOfRange { beta: f64 },
    #[error("unstable step: ηκ = {eta_kappa} ≥ 2(1 + β) = {limit}")]
    Unstable { eta_kappa: f64, limit: f64 },
}

/// Momentum used by [`to_network`] when no learning rate is given.
pub const DEFAULT_BETA: f64 = 0.9;

/// Inverse dictionary: the (η, β, κ) whose continuum dual is H and mass m.
/// With `eta` given, β = 1 − 3H√η; otherwise β = 0.9 and η = ((1 − β)/(3H))².
pub fn to_network(
    hubble: f64,
    mass: f64,
    eta: Option<f64>,
) -> Result<NetworkDual, DictionaryError> {
    if !hubble.is_finite() || hubble <= 0.0 {
        return Err(DictionaryError::InvalidInput(format!(
            "H must be finite and > 0, got {hubble}"
        )));
    }
    if !mass.is_finite() || mass < 0.0 {
        return Err(DictionaryError::InvalidInput(format!(
            "m must be finite and ≥ 0, got {mass}"
        )));
    }
    let (eta, beta) = match eta {
        Some(eta) => {
            if !eta.is_finite() || eta <= 0.0 {
                return Err(DictionaryError::InvalidInput(format!(
                    "η must be finite and > 0, got {eta}"
                )));
            }
            (eta, 1.0 - 3.0 * hubble * eta.sqrt())
        }
        None => {
            let s = 1.0 - DEFAULT_BETA;
            ((s / (3.0 * hubble)).powi(2), DEFAULT_BETA)
        }
    };
    if !(0.0..1.0).contains(&beta) {
        return Err(DictionaryError::MomentumOutOfRange { beta });
    }
    let kappa = mass * mass;
    let eta_kappa = eta * kappa;
    let limit = 2.0 * (1.0 + beta);
    if eta_kappa >= limit {
        return Err(DictionaryError::Unstable { eta_kappa, limit });
    }
    Ok(NetworkDual {
        eta,
        beta,
        kappa,
        continuum_ok: eta_kappa <= 0.1 && 1.0 - beta <= 0.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_eta_is_inverse() {
        for &eta in &[1e-4, 0.01, 0.3, 2.0] {
            for &beta in &[0.0, 0.5, 0.9, 0.99] {
                let c = continuum(eta, beta);
                let want = (1.0 - beta) * (1.0 - beta) / 3.0;
                assert!((c.lambda * eta - want).abs() < 1e-14 * (1.0 + want));
                assert!((c.gamma - 3.0 * c.hubble).abs() < 1e-14 * c.gamma);
                assert!((c.efolds_per_step - c.hubble * eta.sqrt()).abs() < 1e-15);
            }
        }
    }

    /// η → 0 at fixed γ = (1 − β)/√η and κ: the discrete dual converges to the
    /// continuum one, with errors O(√η).
    #[test]
    fn discrete_converges_to_continuum() {
        for &(gamma, kappa, heavy) in &[(1.5, 0.3, false), (0.6, 2.0, true), (3.0, 1.0, false)] {
            let mut prev_err = f64::INFINITY;
            for &eta in &[1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8] {
                let beta = 1.0 - gamma * f64::sqrt(eta);
                let c = continuum(eta, beta);
                let d = discrete(eta, beta, kappa);
                match (&d, heavy) {
                    (DiscreteDual::Oscillating { .. }, true)
                    | (DiscreteDual::Overdamped { .. }, false) => {}
                    _ => panic!("wrong regime {d:?}"),
                }
                assert_eq!(regime(eta, beta, kappa) == FieldRegime::Heavy, heavy);
                let (hd, m2d) = d.hubble_m2().unwrap();
                let err = ((hd - c.hubble) / c.hubble)
                    .abs()
                    .max(((m2d - kappa) / kappa).abs());
                assert!(
                    err < prev_err,
                    "γ={gamma} κ={kappa} η={eta}: {err} !< {prev_err}"
                );
                assert!(err < 3.0 * gamma.max(1.0) * eta.sqrt(), "η={eta}: {err}");
                prev_err = err;
            }
            assert!(prev_err < 1e-3);
        }
    }

    /// H_d and m_d² are exact: the roots σ of σ² + 3H_dσ + m_d² = 0 give r = e^{σ√η}
    /// solving the recurrence's characteristic equation.
    #[test]
    fn discrete_roots_are_exact() {
        for &(eta, beta, kappa) in &[
            (0.1, 0.5, 0.2),
            (0.1, 0.9, 3.0),
            (0.5, 0.2, 0.05),
            (0.02, 0.99, 40.0),
        ] {
            let d = discrete(eta, beta, kappa);
            let (hd, m2d) = d.hubble_m2().expect("dual exists");
            let disc = Complex64::new(9.0 * hd * hd / 4.0 - m2d, 0.0).sqrt();
            for sigma in [-1.5 * hd + disc, -1.5 * hd - disc] {
                let r = (sigma * eta.sqrt()).exp();
                let resid = r * r - (1.0 + beta - eta * kappa) * r + beta;
                assert!(resid.norm() < 1e-12, "{eta} {beta} {kappa}: {resid}");
            }
        }
    }

    #[test]
    fn special_cases_are_reported() {
        assert_eq!(
            discrete(0.1, 0.0, 2.0),
            DiscreteDual::FirstOrder { drift_rate: 0.2 }
        );
        // ηκ = 3.5 with β = 0.5: b = −2 < 0, disc = 4 − 2 > 0 → negative real roots.
        match discrete(1.0, 0.5, 3.5) {
            DiscreteDual::NoContinuumDual { reason } => assert!(reason.contains("period-2")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            discrete(0.1, 1.0, 1.0),
            DiscreteDual::NoContinuumDual { .. }
        ));
        assert!(matches!(
            discrete(-0.1, 0.5, 1.0),
            DiscreteDual::NoContinuumDual { .. }
        ));
        assert_eq!(regime(0.01, 0.9, 0.2), FieldRegime::Light);
        assert_eq!(regime(0.01, 0.9, 0.3), FieldRegime::Heavy);
    }

    #[test]
    fn to_network_inverts_continuum() {
        for &eta in &[1e-4, 1e-3, 0.01, 0.05] {
            for &beta in &[0.0, 0.5, 0.9, 0.97] {
                for &kappa in &[0.0f64, 0.5, 3.0] {
                    let c = continuum(eta, beta);
                    let nd = to_network(c.hubble, kappa.sqrt(), Some(eta)).unwrap();
                    assert_eq!(nd.eta, eta);
                    assert!((nd.beta - beta).abs() < 1e-12, "{eta} {beta}: {}", nd.beta);
                    assert!((nd.kappa - kappa).abs() < 1e-12);
                    assert_eq!(nd.continuum_ok, eta * kappa <= 0.1 && 1.0 - nd.beta <= 0.1);
                }
            }
        }
        // Default path: β = 0.9 and continuum(η, β) gives back H.
        let nd = to_network(0.7, 0.4, None).unwrap();
        assert_eq!(nd.beta, DEFAULT_BETA);
        assert!((continuum(nd.eta, nd.beta).hubble - 0.7).abs() < 1e-12);
        assert!(nd.continuum_ok);
    }

    #[test]
    fn to_network_errors() {
        // β = 1 − 3·1·√1 < 0.
        assert!(matches!(
            to_network(1.0, 0.1, Some(1.0)),
            Err(DictionaryError::MomentumOutOfRange { .. })
        ));
        // Heavy mass at the default η: ηκ huge.
        assert!(matches!(
            to_network(0.01, 100.0, None),
            Err(DictionaryError::Unstable { .. })
        ));
        assert!(matches!(
            to_network(0.0, 1.0, None),
            Err(DictionaryError::InvalidInput(_))
        ));
        assert!(matches!(
            to_network(1.0, -1.0, None),
            Err(DictionaryError::InvalidInput(_))
        ));
        assert!(matches!(
            to_network(1.0, 1.0, Some(0.0)),
            Err(DictionaryError::InvalidInput(_))
        ));
        let e = to_network(1.0, 0.1, Some(1.0)).unwrap_err().to_string();
        assert!(e.contains("[0, 1)"), "{e}");
    }
}

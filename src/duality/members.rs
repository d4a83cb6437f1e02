//! Per-member EFT fits (DESIGN §4.4): every traced member's own residual trajectory
//! on a class's first row, fitted alone in f64. At infinite width every member
//! follows the same recurrence; at width n each has its own NTK, so the fitted
//! masses spread by O(n^{-1/2}) around κ, and a cubic term measures the first
//! anharmonicity of the member's dynamics.

use serde::Serialize;

use crate::nn::results::NnResults;
use crate::nn::run::mean_sd;
use crate::theory::eft_fit::{fit_first_order, fit_momentum_cubic, fit_momentum_recurrence};

/// Mean and standard deviation over members.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Option<Self> {
        let (mean, sd) = mean_sd(v);
        (v.len() >= 2).then_some(Spread { mean, sd })
    }
}

/// The distribution of one class's per-member fits.
#[derive(Clone, Debug, Serialize)]
pub struct MemberFits {
    pub mode: usize,
    pub kappa: f64,
    /// Members whose fit succeeded, and those whose trajectory left it singular
    /// (a class a member never moves in).
    pub fitted: usize,
    pub failed: usize,
    pub beta: Option<Spread>,
    /// Continuum reading m² = (ηκ)_eff/η.
    pub m2: Option<Spread>,
    /// sd(m²)/κ: the member-to-member mass spread.
    pub m2_rel_sd: Option<f64>,
    /// Cubic coefficient g_eff (with `--eft-cubic`).
    pub g: Option<Spread>,
}

/// Fits every traced member in every class; empty without traces.
pub fn member_fits(res: &NnResults, cubic: bool) -> Vec<MemberFits> {
    let modes = &res.modes;
    let n = modes.mode_of_basis.len();
    let k = res.config.member_traces;
    let traced = k > 0 && res.records.iter().all(|r| r.traces.len() == k * n);
    let consecutive = res.records.windows(2).all(|w| w[1].step == w[0].step + 1);
    if !traced || !consecutive {
        return Vec::new();
    }
    let eta = res.config.lr;
    let first_order = res.config.momentum == 0.0;
    (0..modes.n_modes())
        .map(|j| {
            let b = modes.primary[j];
            let (mut beta, mut m2, mut g) = (Vec::new(), Vec::new(), Vec::new());
            let mut failed = 0;
            for e in 0..k {
                let c: Vec<f64> = res
                    .records
                    .iter()
                    .map(|r| r.traces[e * n + b] as f64)
                    .collect();
                let fit = if cubic && !first_order {
                    fit_momentum_cubic(&[&c]).map(|f| (f.fit, Some(f.g)))
                } else if first_order {
                    fit_first_order(&[&c]).map(|f| (f, None))
                } else {
                    fit_momentum_recurrence(&[&c]).map(|f| (f, None))
                };
                match fit {
                    Ok((f, gc)) => {
                        beta.push(f.beta);
                        m2.push(f.eta_kappa / eta);
                        g.extend(gc);
                    }
                    Err(_) => failed += 1,
                }
            }
            let m2s = Spread::of(&m2);
            let kappa = modes.kappa[j];
            MemberFits {
                mode: j,
                kappa,
                fitted: m2.len(),
                failed,
                beta: Spread::of(&beta),
                m2_rel_sd: m2s.map(|s| s.sd / kappa.abs().max(f64::MIN_POSITIVE)),
                m2: m2s,
                g: Spread::of(&g),
            }
        })
        .collect()
}

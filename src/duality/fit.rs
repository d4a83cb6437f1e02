//! EFT fits of sampled trajectories (DESIGN §3), for both sides of the duality.
//!
//! The ensemble mean of each mode is fitted directly (its signed residual). The
//! network's fluctuations are fitted on every traced member's own trajectory,
//! pooled ([`fit_pooled`]). The lattice's patches all follow one linear propagator,
//! so its power is fitted through √P with the sign restored at its zeros
//! ([`signed_amplitude`]).

use serde::Serialize;

use crate::theory::dictionary::{DiscreteDual, discrete};
use crate::theory::eft_fit::{
    EftFit, EftParams, eft_params, fit_first_order, fit_momentum_recurrence,
};

/// √P with the sign flipped at each zero crossing of the underlying signed signal.
///
/// |p| has an interior local minimum only at (or next to) a zero of p. At such a
/// minimum m, the sample is predicted by cubic interpolation from its neighbours
/// m−2, m−1, m+1, m+2 under two hypotheses: no zero (all four share a sign) or one
/// zero between m−1 and m+1 (the right pair flips). The hypothesis whose
/// prediction of |p_m| is closer wins, and the sign of its prediction places the
/// zero before or after m. With many samples per oscillation the interpolation
/// error is O(h⁴), far below the difference between the hypotheses.
pub fn signed_amplitude(power: &[f64]) -> Vec<f64> {
    let a: Vec<f64> = power.iter().map(|p| p.max(0.0).sqrt()).collect();
    let n = a.len();
    let mut sign = vec![1.0; n];
    let mut s = 1.0;
    let mut flip_at: Option<usize> = None;
    for m in 1..n {
        if flip_at == Some(m) {
            s = -s;
            flip_at = None;
        }
        sign[m] = s;
        if !(m + 1 < n && a[m] < a[m - 1] && a[m] <= a[m + 1]) {
            continue;
        }
        // (crossing?, zero after m?)
        let (cross, after) = if m >= 2 && m + 2 < n {
            let none = (-a[m - 2] + 4.0 * a[m - 1] + 4.0 * a[m + 1] - a[m + 2]) / 6.0;
            let flip = (-a[m - 2] + 4.0 * a[m - 1] - 4.0 * a[m + 1] + a[m + 2]) / 6.0;
            let r_none = (none - a[m]).abs();
            let r_flip = (flip.abs() - a[m]).abs();
            (r_flip < r_none, flip >= 0.0)
        } else {
            // At the ends: the smoothest of the three readings (second differences).
            let after = (a[m - 1] - 2.0 * a[m] - a[m + 1]).abs();
            let before = (a[m - 1] + 2.0 * a[m] - a[m + 1]).abs();
            let none = (a[m - 1] - 2.0 * a[m] + a[m + 1]).abs();
            (after.min(before) < none, after <= before)
        };
        if cross {
            if after {
                flip_at = Some(m + 1);
            } else {
                s = -s;
                sign[m] = s;
            }
        }
    }
    a.iter().zip(&sign).map(|(v, s)| v * s).collect()
}

/// Drops the tail once the signal has decayed below `rel` of its peak for good
/// (f32 round-off dominates there and carries no information about the dynamics).
pub fn trim_decayed(c: &[f64], rel: f64) -> &[f64] {
    let peak = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let last = c.iter().rposition(|v| v.abs() >= rel * peak).unwrap_or(0);
    &c[..(last + 1).min(c.len())]
}

/// One fit, read through both dictionaries.
#[derive(Clone, Debug, Serialize)]
pub struct ModeFit {
    pub mode: usize,
    pub status: String,
    pub fit: Option<EftFit>,
    /// Continuum reading: H = (1−β)/(3Δ), m² = (ηκ)/Δ², Λ = 3H².
    pub continuum: Option<EftParams>,
    /// Discrete-exact reading of the fitted recurrence.
    pub discrete: Option<DiscreteDual>,
    /// Samples used after trimming the decayed tail.
    pub samples_used: usize,
}

impl ModeFit {
    pub fn failed(mode: usize, status: String) -> Self {
        ModeFit {
            mode,
            status,
            fit: None,
            continuum: None,
            discrete: None,
            samples_used: 0,
        }
    }

    /// m² of the continuum reading.
    pub fn m2(&self) -> Option<f64> {
        self.continuum.map(|c| c.m2)
    }
}

/// Fits one sampled trajectory with sample interval `dt` (√η per network step).
/// `first_order` selects the β = 0 fit (plain gradient descent).
pub fn fit_trajectory(mode: usize, c: &[f64], dt: f64, first_order: bool) -> ModeFit {
    let c = trim_decayed(c, 1e-4);
    let fit = if first_order {
        fit_first_order(&[c])
    } else {
        fit_momentum_recurrence(&[c])
    };
    read_fit(mode, fit, dt, c.len())
}

/// Fits many trajectories of one mode pooled into one least-squares problem (each
/// trimmed of its decayed tail).
pub fn fit_pooled(mode: usize, trajectories: &[Vec<f64>], dt: f64, first_order: bool) -> ModeFit {
    let trimmed: Vec<&[f64]> = trajectories.iter().map(|c| trim_decayed(c, 1e-4)).collect();
    let used = trimmed.iter().map(|c| c.len()).sum();
    let fit = if first_order {
        fit_first_order(&trimmed)
    } else {
        fit_momentum_recurrence(&trimmed)
    };
    read_fit(mode, fit, dt, used)
}

fn read_fit(
    mode: usize,
    fit: Result<EftFit, crate::theory::eft_fit::FitError>,
    dt: f64,
    samples_used: usize,
) -> ModeFit {
    match fit {
        Ok(f) => {
            let cont = eft_params(&f, dt);
            let dd = discrete(dt * dt, f.beta, f.eta_kappa / (dt * dt));
            ModeFit {
                mode,
                status: "ok".into(),
                fit: Some(f),
                continuum: Some(cont),
                discrete: Some(dd),
                samples_used,
            }
        }
        Err(e) => ModeFit::failed(mode, format!("fit failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::propagator::mode_propagator;

    #[test]
    fn sign_restoration_recovers_oscillating_propagators() {
        // Heavy modes: several zero crossings, many samples per period.
        for &(eta, beta, kappa) in &[(0.01, 0.9, 3.0), (0.002, 0.95, 40.0), (0.01, 0.8, 1.0)] {
            let p = mode_propagator(eta, beta, kappa, 400);
            let power: Vec<f64> = p.iter().map(|v| 2.0 * v * v).collect();
            let s = signed_amplitude(&power);
            let scale = 2f64.sqrt();
            for (i, (a, b)) in s.iter().zip(&p).enumerate() {
                assert!(
                    (a - scale * b).abs() < 1e-9,
                    "{eta} {beta} {kappa} at {i}: {a} vs {}",
                    scale * b
                );
            }
            let f = fit_trajectory(1, &s, eta.sqrt(), false);
            let fit = f.fit.unwrap();
            assert!((fit.beta - beta).abs() < 1e-6, "{fit:?}");
            assert!((fit.eta_kappa - eta * kappa).abs() < 1e-6, "{fit:?}");
        }
    }

    /// Members with different initial amplitudes and velocities dephase, but each
    /// follows the recurrence, so the pooled fit recovers it exactly.
    #[test]
    fn pooled_members_recover_the_recurrence() {
        let (eta, beta, kappa) = (0.01, 0.95, 3.0);
        let a = 1.0 + beta - eta * kappa;
        let trajectories: Vec<Vec<f64>> = (0..20)
            .map(|m| {
                let (mut prev, mut cur) = (0.3 * m as f64 - 2.0, 0.1 * (m % 7) as f64 - 0.3);
                let mut c = vec![cur];
                for _ in 0..150 {
                    let next = a * cur - beta * prev;
                    prev = cur;
                    cur = next;
                    c.push(cur);
                }
                c
            })
            .collect();
        let f = fit_pooled(2, &trajectories, eta.sqrt(), false).fit.unwrap();
        assert!((f.beta - beta).abs() < 1e-9, "{f:?}");
        assert!((f.eta_kappa - eta * kappa).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn light_modes_keep_their_sign() {
        let p = mode_propagator(0.001, 0.95, 0.5, 300);
        let power: Vec<f64> = p.iter().map(|v| v * v).collect();
        assert_eq!(signed_amplitude(&power), p);
    }

    #[test]
    fn trim_keeps_the_informative_part() {
        let c = [1.0, 0.5, 1e-3, 1e-6, 1e-7];
        assert_eq!(trim_decayed(&c, 1e-4).len(), 3);
    }
}

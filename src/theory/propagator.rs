//! Infinite-width function-space dynamics with heavy-ball momentum (DESIGN §1).
//!
//! At infinite width the residual r = f − y evolves linearly,
//! r_{s+1} = r_s + β(r_s − r_{s−1}) − ηΘ̂r_s, so every eigenmode of Θ̂ follows
//! the scalar recurrence c_{s+1} = (1 + β − ηκ)c_s − βc_{s−1}. Zero initial
//! velocity (v_0 = 0) means r_1 = r_0 − ηΘ̂r_0, i.e. c_{−1} = c_0.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::modes::Modes;

/// Mode propagator p_0..=p_steps (p_0 = 1) with zero initial velocity: the
/// residual of a mode with eigenvalue κ after s steps is p_s·c_0.
pub fn mode_propagator(eta: f64, beta: f64, kappa: f64, steps: usize) -> Vec<f64> {
    let a = 1.0 + beta - eta * kappa;
    let mut p = Vec::with_capacity(steps + 1);
    let (mut prev, mut cur) = (1.0, 1.0); // c_{−1} = c_0 = 1
    p.push(cur);
    for _ in 0..steps {
        let next = a * cur - beta * prev;
        prev = cur;
        cur = next;
        p.push(cur);
    }
    p
}

/// Gaps between requested steps up to which the recurrence is stepped one by one
/// (bit for bit `mode_propagator`); longer gaps use the 2×2 transfer matrix's power.
const STEP_BY_STEP: usize = 4096;

/// p_s(κ) at each of `steps` (any order): the values of `mode_propagator` without its
/// O(max step) vector, in O(Σ min(gap, 4096) + log gap) time.
pub fn propagator_at(eta: f64, beta: f64, kappa: f64, steps: &[usize]) -> Vec<f64> {
    let a = 1.0 + beta - eta * kappa;
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by_key(|&i| steps[i]);
    let mut out = vec![0.0; steps.len()];
    // (c_{s−1}, c_s) at s = at.
    let (mut prev, mut cur, mut at) = (1.0f64, 1.0f64, 0usize);
    for i in order {
        let target = steps[i];
        let gap = target - at;
        if gap <= STEP_BY_STEP {
            for _ in 0..gap {
                let next = a * cur - beta * prev;
                prev = cur;
                cur = next;
            }
        } else {
            // [c_{s+1}; c_s] = M [c_s; c_{s−1}], M = [[a, −β], [1, 0]].
            let m = mat_pow([[a, -beta], [1.0, 0.0]], gap);
            let (c, p) = (
                m[0][0] * cur + m[0][1] * prev,
                m[1][0] * cur + m[1][1] * prev,
            );
            cur = c;
            prev = p;
        }
        at = target;
        out[i] = cur;
    }
    out
}

fn mat_pow(mut m: [[f64; 2]; 2], mut e: usize) -> [[f64; 2]; 2] {
    let mul = |x: [[f64; 2]; 2], y: [[f64; 2]; 2]| {
        [
            [
                x[0][0] * y[0][0] + x[0][1] * y[1][0],
                x[0][0] * y[0][1] + x[0][1] * y[1][1],
            ],
            [
                x[1][0] * y[0][0] + x[1][1] * y[1][0],
                x[1][0] * y[0][1] + x[1][1] * y[1][1],
            ],
        ]
    };
    let mut r = [[1.0, 0.0], [0.0, 1.0]];
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, m);
        }
        m = mul(m, m);
        e >>= 1;
    }
    r
}

/// Largest learning rate for which every mode with κ ≤ κ_max is stable:
/// the recurrence's roots lie inside the unit circle iff ηκ < 2(1 + β) (0 ≤ β < 1).
pub fn max_stable_lr(kappa_max: f64, beta: f64) -> f64 {
    2.0 * (1.0 + beta) / kappa_max
}

/// Theory line at one step s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TheoryStep {
    pub step: usize,
    /// Ensemble mean μ_s at each training point.
    pub mean: Vec<f64>,
    /// Ensemble variance diag(C_s) at each training point.
    pub var: Vec<f64>,
    /// Per mode: signed u_primaryᵀ(μ_s − y).
    pub mode_mean_residual: Vec<f64>,
    /// Per mode: mean over the mode's basis rows b of p_s(κ_b)²·u_bᵀK u_b.
    pub mode_power: Vec<f64>,
    /// tr C_s.
    pub total_var: f64,
}

/// Infinite-width prediction for the ensemble mean and fluctuations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TheoryLines {
    pub eta: f64,
    pub beta: f64,
    /// κ per mode (copied from the [`Modes`] used).
    pub kappa: Vec<f64>,
    /// One entry per requested step, in the order requested.
    pub steps: Vec<TheoryStep>,
}

/// Theory lines at the requested steps for an ensemble started at μ_0 = 0 with
/// covariance K (the NNGP) and zero initial velocity:
///   μ_s = y − P_s·y,  C_s = P_s K P_sᵀ,  P_s = Uᵀ diag(p_s(κ)) U,
/// where the rows of U are the mode basis.
pub fn theory_lines(
    modes: &Modes,
    nngp: &DMatrix<f64>,
    y: &[f64],
    eta: f64,
    beta: f64,
    steps: &[usize],
) -> TheoryLines {
    let n = modes.basis.nrows();
    assert_eq!(nngp.nrows(), n, "NNGP size must match the mode basis");
    assert_eq!(y.len(), n, "targets must match the mode basis");
    let u = &modes.basis;
    let yv = DVector::from_column_slice(y);
    let y_coef = u * &yv; // u_bᵀy per basis row
    let k_modes = u * nngp * u.transpose(); // u_aᵀ K u_b
    let n_modes = modes.n_modes();
    let mult = modes.multiplicity();

    // p_s(κ) per mode at the requested steps only (memory O(steps.len()), not
    // O(max step)), shared by all of the mode's basis rows.
    let props: Vec<Vec<f64>> = modes
        .kappa
        .iter()
        .map(|&k| propagator_at(eta, beta, k, steps))
        .collect();

    let out = steps
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let p = DVector::from_iterator(n, (0..n).map(|b| props[modes.mode_of_basis[b]][i]));
            // μ_s − y = −Uᵀ (p ∘ Uy)
            let resid = -(u.transpose() * p.component_mul(&y_coef));
            let mean: Vec<f64> = (0..n).map(|i| y[i] + resid[i]).collect();
            // C_s = Aᵀ M A with A = diag(p) U and M = U K Uᵀ.
            let mut a = u.clone();
            for b in 0..n {
                a.row_mut(b).scale_mut(p[b]);
            }
            let ma = &k_modes * &a;
            let var: Vec<f64> = (0..n).map(|i| a.column(i).dot(&ma.column(i))).collect();
            let mut mode_power = vec![0.0; n_modes];
            let mut total_var = 0.0;
            for b in 0..n {
                let pw = p[b] * p[b] * k_modes[(b, b)];
                mode_power[modes.mode_of_basis[b]] += pw / mult[modes.mode_of_basis[b]] as f64;
                total_var += pw;
            }
            let mode_mean_residual = modes.primary.iter().map(|&b| -p[b] * y_coef[b]).collect();
            TheoryStep {
                step: s,
                mean,
                var,
                mode_mean_residual,
                mode_power,
                total_var,
            }
        })
        .collect();
    TheoryLines {
        eta,
        beta,
        kappa: modes.kappa.clone(),
        steps: out,
    }
}

impl TheoryLines {
    /// The theory at a requested step, if it was requested.
    pub fn at(&self, step: usize) -> Option<&TheoryStep> {
        // Runs ask for ascending steps: a bisection, so writing R records costs
        // O(R log R), not O(R²); any other order falls back to a scan.
        match self.steps.binary_search_by_key(&step, |t| t.step) {
            Ok(i) if self.steps[i].step == step => Some(&self.steps[i]),
            _ => self.steps.iter().find(|t| t.step == step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagator_at_requested_steps_matches_the_full_recurrence() {
        // Decaying (ηκ small), oscillating (ηκ near 2(1+β)) and unstable modes; steps
        // in any order, short gaps (stepped) and gaps past STEP_BY_STEP (matrix power).
        for (eta, beta, kappa) in [(0.1, 0.9, 0.5), (0.5, 0.3, 2.5), (0.2, 0.5, 15.1)] {
            let full = mode_propagator(eta, beta, kappa, 12_000);
            let steps = [0, 7, 3, 4096, 4097, 11_999, 9000];
            let at = propagator_at(eta, beta, kappa, &steps);
            for (&s, &v) in steps.iter().zip(&at) {
                let tol = 1e-9 * full[s].abs().max(1e-300) + 1e-280;
                assert!(
                    (v - full[s]).abs() <= tol,
                    "{eta} {beta} {kappa} s={s}: {v} vs {}",
                    full[s]
                );
            }
            // Gaps within STEP_BY_STEP are the recurrence itself, bit for bit.
            assert_eq!(propagator_at(eta, beta, kappa, &[5, 100])[1], full[100]);
        }
        // A billion steps cost log time and no memory: |p| decays like β^{s/2}.
        let p = propagator_at(0.01, 0.9, 1.0, &[1_000_000_000])[0];
        assert!(p.is_finite() && p.abs() < 1e-100, "{p}");
    }
    use crate::theory::activation::{Activation, Parametrization};
    use crate::theory::kernels::{NetSpec, infinite_width_kernels};
    use crate::theory::modes::{eigen_modes, ring_modes};
    use num_complex::Complex64;

    /// Closed form of the recurrence: p_s = A r₊^s + B r₋^s with p_0 = 1,
    /// p_1 = 1 − ηκ (complex roots in the underdamped case).
    fn closed_form(eta: f64, beta: f64, kappa: f64, s: usize) -> f64 {
        let a = 1.0 + beta - eta * kappa;
        let disc = Complex64::new(a * a - 4.0 * beta, 0.0).sqrt();
        let rp = (a + disc) / 2.0;
        let rm = (a - disc) / 2.0;
        let p1 = 1.0 - eta * kappa;
        let ca = (p1 - rm) / (rp - rm);
        let cb = 1.0 - ca;
        let v = ca * rp.powi(s as i32) + cb * rm.powi(s as i32);
        assert!(v.im.abs() < 1e-9 * (1.0 + v.re.abs()));
        v.re
    }

    #[test]
    fn propagator_matches_root_closed_form() {
        for &(eta, beta, kappa) in &[
            (0.1, 0.0, 1.0),  // plain GD
            (0.1, 0.9, 1.0),  // underdamped (complex roots)
            (0.01, 0.5, 1.0), // overdamped, real positive roots
            (0.5, 0.3, 4.5),  // negative roots, still stable
            (0.2, 0.95, 3.0), // strongly oscillating
        ] {
            let p = mode_propagator(eta, beta, kappa, 60);
            assert_eq!(p[0], 1.0);
            for (s, &ps) in p.iter().enumerate() {
                let cf = closed_form(eta, beta, kappa, s);
                assert!(
                    (ps - cf).abs() < 1e-10,
                    "{eta} {beta} {kappa} s={s}: {ps} vs {cf}"
                );
            }
        }
    }

    #[test]
    fn stability_boundary() {
        let (beta, kappa) = (0.6, 2.0);
        let eta_max = max_stable_lr(kappa, beta);
        let below = mode_propagator(0.98 * eta_max, beta, kappa, 4000);
        let above = mode_propagator(1.02 * eta_max, beta, kappa, 4000);
        assert!(below.last().unwrap().abs() < 1e-3);
        assert!(above.last().unwrap().abs() > 1e3);
    }

    fn ring_setup(n: usize) -> (Modes, DMatrix<f64>, DMatrix<f64>, Vec<f64>) {
        let xs: Vec<Vec<f64>> = (0..n)
            .map(|j| {
                let t = 2.0 * std::f64::consts::PI * j as f64 / n as f64;
                vec![t.cos(), t.sin()]
            })
            .collect();
        let spec = NetSpec {
            input_dim: 2,
            width: 1,
            depth: 1,
            activation: Activation::Erf,
            parametrization: Parametrization::Ntk,
            sigma_w: 1.4,
            sigma_b: 0.3,
        };
        let k = infinite_width_kernels(&spec, &xs);
        let y: Vec<f64> = xs.iter().map(|x| 0.3 + 0.8 * x[0] - 0.2 * x[1]).collect();
        (ring_modes(&k.ntk), k.ntk, k.nngp, y)
    }

    #[test]
    fn gd_mean_matches_matrix_power() {
        let n = 9;
        let (modes, theta, nngp, y) = ring_setup(n);
        let eta = 0.7;
        let steps = [0, 1, 2, 7, 25];
        let lines = theory_lines(&modes, &nngp, &y, eta, 0.0, &steps);
        let step_matrix = DMatrix::identity(n, n) - eta * &theta / n as f64;
        let yv = DVector::from_column_slice(&y);
        for (st, &s) in lines.steps.iter().zip(&steps) {
            assert_eq!(st.step, s);
            let ps = step_matrix.pow(s as u32);
            let mean = &yv - &ps * &yv;
            let cov = &ps * &nngp * ps.transpose();
            for i in 0..n {
                assert!((st.mean[i] - mean[i]).abs() < 1e-12, "s={s}");
                assert!((st.var[i] - cov[(i, i)]).abs() < 1e-12, "s={s}");
            }
            assert!((st.total_var - cov.trace()).abs() < 1e-11);
            // Mode power sums (weighted by multiplicity) to the total variance.
            let mult = modes.multiplicity();
            let sum: f64 = st
                .mode_power
                .iter()
                .zip(&mult)
                .map(|(p, &m)| p * m as f64)
                .sum();
            assert!((sum - st.total_var).abs() < 1e-11);
        }
        // Step 0: mean zero, variance = diag K.
        assert!(lines.steps[0].mean.iter().all(|m| m.abs() < 1e-14));
    }

    #[test]
    fn momentum_mean_matches_direct_recurrence() {
        let n = 8;
        let (_, theta, nngp, y) = ring_setup(n);
        // Use the general eigenbasis here to exercise it as well.
        let modes = eigen_modes(&theta);
        let (eta, beta) = (0.4, 0.8);
        let lines = theory_lines(&modes, &nngp, &y, eta, beta, &[30, 5]);
        let th = &theta / n as f64;
        let yv = DVector::from_column_slice(&y);
        let mut prev = -yv.clone(); // r_{−1} = r_0 = μ_0 − y = −y
        let mut cur = prev.clone();
        let mut traj = vec![cur.clone()];
        for _ in 0..30 {
            let next = &cur + beta * (&cur - &prev) - eta * (&th * &cur);
            prev = cur;
            cur = next;
            traj.push(cur.clone());
        }
        for st in &lines.steps {
            let r = &traj[st.step];
            for i in 0..n {
                assert!((st.mean[i] - y[i] - r[i]).abs() < 1e-12);
            }
            for (m, &b) in modes.primary.iter().enumerate() {
                let proj = modes.row(b).dot(r);
                assert!((st.mode_mean_residual[m] - proj).abs() < 1e-12);
            }
        }
    }

    /// Mean and variance are basis independent: the ring's Fourier basis and the
    /// generic eigenbasis give the same lines (also with momentum).
    #[test]
    fn ring_and_eigen_bases_agree() {
        let n = 10;
        let (ring, theta, nngp, y) = ring_setup(n);
        let eig = eigen_modes(&theta);
        let steps = [0, 3, 17];
        let a = theory_lines(&ring, &nngp, &y, 0.5, 0.7, &steps);
        let b = theory_lines(&eig, &nngp, &y, 0.5, 0.7, &steps);
        for (sa, sb) in a.steps.iter().zip(&b.steps) {
            for i in 0..n {
                assert!((sa.mean[i] - sb.mean[i]).abs() < 1e-10);
                assert!((sa.var[i] - sb.var[i]).abs() < 1e-10);
            }
            assert!((sa.total_var - sb.total_var).abs() < 1e-10);
        }
    }
}

//! The dual lattice of DESIGN §4.2: one field per mode row of Θ/N, one Hubble patch
//! per network. This module turns the network's hyperparameters into the lattice's
//! H, masses, initial velocity factors, spacing and time step, with the reason for
//! each choice; `initial` draws the fields.

use num_complex::Complex64;
use serde::Serialize;

use super::DualityError;
use crate::config::ConfigError;
use crate::config::lattice::{Integrator, LatticeConfig, Spectrum, Velocity, stability_bound};
use crate::config::run::{Dual, Matching, RunConfig};
use crate::lattice::scheme::Stepper;
use crate::theory::desitter::background;
use crate::theory::dictionary::{DiscreteDual, discrete};
use crate::theory::modes::Modes;

/// The lattice holds π = a³φ̇ in f32, and its kick coefficients grow like a³, so a
/// run must stay well inside e^{88/3} ≈ 29 e-folds.
pub const MAX_EFOLDS: f64 = crate::config::lattice::MAX_EFOLDS;
/// Courant safety: dt·ω_max at most this fraction of the integrator's bound.
pub const COURANT_FRACTION: f64 = 0.5;
/// Starting accuracy rule for the homogeneous modes: dt·max(m, 3H/2) ≤ this.
pub const OMEGA_DT: f64 = 0.1;
/// Substeps double until every field's dt error (its homogeneous solution on the
/// lattice's own scheme against the exact one, per unit initial amplitude) is below
/// this: well under the sampling error of any ensemble mean this tool can hold
/// (1/√E ≥ 1e-3 for E ≤ 10⁶).
pub const DT_ERROR_TARGET: f64 = 1e-4;
/// Upper bound on the automatic substeps.
pub const MAX_SUBSTEPS: usize = 256;
/// Patches per dimension unless --grid says otherwise: 32³ = 32768 networks' worth.
pub const DEFAULT_GRID: usize = 32;

/// One field of the dual: mode row `row` of Θ/N.
#[derive(Clone, Debug, Serialize)]
pub struct DualField {
    pub row: usize,
    /// The row's mode class j (as in nn/modes.csv).
    pub class: usize,
    pub kappa: f64,
    /// m_b² of the matching.
    pub m2: f64,
    /// φ̇_b(0)/φ_b(0): the recurrence's zero initial momentum (c_{−1} = c_0) seen as
    /// a velocity; 0 under continuum matching.
    pub velocity_factor: f64,
}

/// The dual lattice run, with the reasons for each choice.
#[derive(Clone, Debug, Serialize)]
pub struct DualPlan {
    #[serde(skip)]
    pub config: LatticeConfig,
    pub dual: Dual,
    pub matching: Matching,
    #[serde(rename = "H")]
    pub hubble: f64,
    /// Field b ↔ mode row b (report.json: `dual_fields`, beside the count `fields`).
    #[serde(rename = "dual_fields")]
    pub fields: Vec<DualField>,
    /// Lattice steps per network step (dt = √η / substeps).
    pub substeps: usize,
    /// k_max/(a(0)·H) actually used (the separate-universe parameter ε).
    pub gradient: f64,
    pub efolds: f64,
    /// Per class: max over the run of |lattice scheme − exact solution| for a unit
    /// initial amplitude (the lattice's own dt error, in f64).
    pub dt_error: Vec<f64>,
    pub dx_rule: String,
    pub dt_rule: String,
    pub grid_rule: String,
    pub pairing: String,
}

/// The lattice's largest −∇² eigenvalue times dx²: 12 (7-point) or 16 (4th order).
fn laplacian_top(stencil: u32) -> f64 {
    if stencil == 4 { 16.0 } else { 12.0 }
}

/// (H, m² per class, velocity factor per class) of a matching.
pub fn matching_parameters(
    matching: Matching,
    eta: f64,
    beta: f64,
    kappa: &[f64],
) -> Result<(f64, Vec<f64>, Vec<f64>), ConfigError> {
    match matching {
        Matching::Continuum => Ok((
            (1.0 - beta) / (3.0 * eta.sqrt()),
            kappa.to_vec(),
            vec![0.0; kappa.len()],
        )),
        Matching::Discrete => {
            if beta == 0.0 {
                return Err(ConfigError::invalid(
                    "matching",
                    "discrete needs --momentum > 0: plain gradient descent is first order (the overdamped slow-roll limit, H_d = ∞); use --matching continuum",
                ));
            }
            let mut m2 = Vec::with_capacity(kappa.len());
            let mut g = Vec::with_capacity(kappa.len());
            let mut hubble = 0.0;
            for (j, &k) in kappa.iter().enumerate() {
                match discrete(eta, beta, k) {
                    DiscreteDual::Oscillating { hubble: h, m2: m }
                    | DiscreteDual::Overdamped { hubble: h, m2: m } => {
                        hubble = h;
                        m2.push(m);
                        g.push(interpolating_velocity(eta, beta, k));
                    }
                    other => {
                        let kmax = kappa.iter().cloned().fold(0.0, f64::max);
                        let lr_max = (1.0 + beta.sqrt()).powi(2) / kmax;
                        return Err(ConfigError::invalid(
                            "matching",
                            format!(
                                "discrete is impossible: mode {j} (ηκ = {:.4}) has no continuum dual ({}); use --matching continuum, or --lr below {lr_max:.6} so that every root stays positive",
                                eta * k,
                                match other {
                                    DiscreteDual::NoContinuumDual { reason } => reason,
                                    _ => "first order".into(),
                                }
                            ),
                        ));
                    }
                }
            }
            Ok((hubble, m2, g))
        }
    }
}

/// A symmetric matrix of Θ̂-eigenvalues (a member's mass matrix Θ̂_e in the mode
/// basis) through a matching, eigenvalue by eigenvalue: returns (H, M², G) with
/// M² = Q·diag(m²(λ))·Qᵀ and the initial velocity φ̇(0) = G·φ(0),
/// G = Q·diag(g(λ))·Qᵀ. The vector recurrence c_{s+1} = (1 + β)c_s − βc_{s−1} − ηΘ̂c_s
/// decouples in Θ̂'s eigenbasis, so each eigen-direction is one scalar mode.
pub fn matrix_matching(
    matching: Matching,
    eta: f64,
    beta: f64,
    theta: &nalgebra::DMatrix<f64>,
) -> Result<(f64, nalgebra::DMatrix<f64>, nalgebra::DMatrix<f64>), ConfigError> {
    let sym = 0.5 * (theta + theta.transpose());
    let eig = nalgebra::SymmetricEigen::new(sym);
    let lambdas: Vec<f64> = eig.eigenvalues.iter().copied().collect();
    let (h, m2, g) = matching_parameters(matching, eta, beta, &lambdas)?;
    let q = &eig.eigenvectors;
    let rebuild = |d: &[f64]| {
        q * nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(d))
            * q.transpose()
    };
    Ok((h, rebuild(&m2), rebuild(&g)))
}

/// φ̇(0)/φ(0) of the continuous solution of c'' + 3H_d·c' + m_d²·c = 0 that passes
/// through the recurrence's c_0 and c_1 = (1 − ηκ)c_0 (zero initial momentum,
/// c_{−1} = c_0) at t = 0 and √η. With roots r± = e^{σ±√η},
/// c(t) = A·e^{σ₊t} + B·e^{σ₋t}, A = r₊(1 − r₋)/(r₊ − r₋), B = −r₋(1 − r₊)/(r₊ − r₋),
/// so the velocity is A·σ₊ + B·σ₋ (real: complex roots come in conjugate pairs).
pub fn interpolating_velocity(eta: f64, beta: f64, kappa: f64) -> f64 {
    let sqrt_eta = eta.sqrt();
    let b = 1.0 + beta - eta * kappa;
    let disc = Complex64::new(b * b - 4.0 * beta, 0.0).sqrt();
    let rp = 0.5 * (b + disc);
    let rm = 0.5 * (b - disc);
    let sp = rp.ln() / sqrt_eta;
    let sm = rm.ln() / sqrt_eta;
    let d = rp - rm;
    if d.norm() > 1e-6 * rp.norm() {
        let one = Complex64::new(1.0, 0.0);
        ((sp * rp * (one - rm) - sm * rm * (one - rp)) / d).re
    } else {
        // Double root r = e^{σ√η}: c(t) = (1 + B·t)·e^{σt} with (1 + B√η)·r = 1 − ηκ.
        let r = 0.5 * b;
        let sigma = r.ln() / sqrt_eta;
        sigma + ((1.0 - eta * kappa) / r - 1.0) / sqrt_eta
    }
}

/// Max over `samples` network steps of |lattice scheme − exact| for the homogeneous
/// solution φ(0) = 1, φ̇(0) = g of one field, integrated in f64 with the same fused
/// kick–drift units the GPU applies.
pub fn scheme_error(
    integrator: Integrator,
    hubble: f64,
    m2: f64,
    g: f64,
    sqrt_eta: f64,
    substeps: usize,
    samples: usize,
) -> f64 {
    let dt = sqrt_eta / substeps as f64;
    let mut stepper = Stepper::new(integrator, hubble, dt);
    let (mut phi, mut pi) = (1.0f64, g);
    let mut worst = 0.0f64;
    for s in 1..=samples {
        let t0 = (s - 1) as f64 * sqrt_eta;
        for u in stepper.units(t0, substeps) {
            pi -= u.c_pot * m2 * phi;
            phi += u.c_drift * pi;
        }
        let t = s as f64 * sqrt_eta;
        let exact = background(hubble, m2, 1.0, g, t).0;
        worst = worst.max((phi - exact).abs());
        if !worst.is_finite() {
            return f64::INFINITY;
        }
    }
    worst
}

/// The dual lattice for a run with these analytic modes. Everything here follows
/// from η, β and κ, so it is checked before any training.
pub fn plan(rc: &RunConfig, modes: &Modes) -> Result<DualPlan, DualityError> {
    let nn = &rc.nn;
    let lc = &rc.lattice;
    let (eta, beta) = (nn.lr, nn.momentum);
    let sqrt_eta = eta.sqrt();
    let (hubble, m2_class, g_class) = matching_parameters(lc.matching, eta, beta, &modes.kappa)?;
    let span = nn.steps as f64 * sqrt_eta;
    let efolds = hubble * span;
    if efolds > MAX_EFOLDS {
        return Err(DualityError::Plan(format!(
            "--steps {} spans {efolds:.1} e-folds (H·√η·steps with H = {hubble:.4}); the lattice keeps a³φ̇ in f32 and follows at most {MAX_EFOLDS} e-folds: lower --steps or raise --momentum",
            nn.steps
        )));
    }
    let fields: Vec<DualField> = (0..modes.mode_of_basis.len())
        .map(|b| {
            let j = modes.mode_of_basis[b];
            DualField {
                row: b,
                class: j,
                kappa: modes.kappa[j],
                m2: m2_class[j],
                velocity_factor: g_class[j],
            }
        })
        .collect();
    let (grid, grid_rule) = match lc.grid {
        Some(g) => (g, "given (--grid)".to_string()),
        None => (
            DEFAULT_GRID,
            format!(
                "{DEFAULT_GRID}³ patches: the ensemble statistics of {} networks' worth per field",
                DEFAULT_GRID.pow(3)
            ),
        ),
    };
    let top = laplacian_top(lc.stencil);
    let (dx, dx_rule) = match lc.dx {
        Some(d) => (d, "given (--dx)".to_string()),
        None => (
            top.sqrt() / (lc.dual_gradient * hubble),
            format!(
                "√{top}/(ε·H) with ε = {}: the top lattice momentum k_max = √{top}/dx is ε·H at a(0) = 1, so every patch is outside the horizon from t = 0 and gradient energy is negligible (separate universes)",
                lc.dual_gradient
            ),
        ),
    };
    let gradient = top.sqrt() / (dx * hubble);
    let m2_max = m2_class.iter().cloned().fold(0.0, f64::max);
    let omega_max = (top / (dx * dx) + m2_max).sqrt();
    let bound = stability_bound(lc.integrator);
    let slow = m2_max.sqrt().max(1.5 * hubble);
    let dt_error_of = |sub: usize| -> Vec<f64> {
        m2_class
            .iter()
            .zip(&g_class)
            .map(|(&m2, &g)| scheme_error(lc.integrator, hubble, m2, g, sqrt_eta, sub, nn.steps))
            .collect()
    };
    let worst = |e: &[f64]| e.iter().cloned().fold(0.0, f64::max);
    let (substeps, dt_error, dt_rule) = match lc.substeps {
        Some(n) => (n, dt_error_of(n), "given (--substeps)".to_string()),
        None => {
            let need_c = sqrt_eta * omega_max / (COURANT_FRACTION * bound);
            let need_a = sqrt_eta * slow / OMEGA_DT;
            let mut sub = (need_c.max(need_a).ceil().max(1.0) as usize).min(MAX_SUBSTEPS);
            let mut err = dt_error_of(sub);
            while sub < MAX_SUBSTEPS && worst(&err) > DT_ERROR_TARGET {
                sub = (2 * sub).min(MAX_SUBSTEPS);
                err = dt_error_of(sub);
            }
            (
                sub,
                err,
                format!(
                    "dt = √η/substeps: the fewest substeps (from dt·ω_max ≤ {COURANT_FRACTION}×Courant ({bound}) and dt·max(m, 3H/2) ≤ {OMEGA_DT}, doubled) whose dt error is ≤ {DT_ERROR_TARGET:e} of each field's initial amplitude"
                ),
            )
        }
    };
    let mut cfg = LatticeConfig::defaults();
    cfg.grid = grid;
    cfg.dx = dx;
    cfg.dt = sqrt_eta / substeps as f64;
    cfg.hubble = hubble;
    cfg.set_m2s(&fields.iter().map(|f| f.m2).collect::<Vec<_>>());
    cfg.lambda = 0.0;
    cfg.phi_min = 0.0;
    cfg.phi_init = 0.0;
    cfg.dphi_init = 0.0;
    cfg.spectrum = Spectrum::None;
    cfg.velocity = Velocity::Rest;
    cfg.integrator = lc.integrator;
    cfg.stencil = lc.stencil;
    cfg.steps = nn.steps * substeps;
    cfg.output_every = substeps;
    cfg.spectrum_every = Some(nn.steps.div_ceil(lc.outputs).max(1) * substeps);
    cfg.seed = lc.seed;
    cfg.allow_tachyonic = fields.iter().any(|f| f.m2 < 0.0);
    cfg.check_courant()?;
    Ok(DualPlan {
        config: cfg,
        dual: lc.dual,
        matching: lc.matching,
        hubble,
        fields,
        substeps,
        gradient,
        efolds,
        dt_error,
        dx_rule,
        dt_rule,
        grid_rule,
        pairing: format!(
            "field b ↔ mode row b of Θ/N (mass m_b² of its class); patch ↔ network: spatial mean ⟨φ_b⟩ ↔ ensemble mean u_bᵀ(μ − y), spatial variance ↔ ensemble power; t = √η·s; {} matching",
            match lc.matching {
                Matching::Discrete => "discrete (H_d, m_d²)",
                Matching::Continuum => "continuum (H, m² = κ)",
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::propagator::mode_propagator;

    /// The closed-form de Sitter solution with H_d, m_d² and the interpolating
    /// velocity passes through the recurrence at every step, light or heavy.
    #[test]
    fn discrete_matching_reproduces_the_recurrence() {
        for &(eta, beta, kappa) in &[
            (0.01, 0.97, 0.5),
            (0.01, 0.97, 3.0),
            (0.1, 0.9, 0.05),
            (0.1, 0.9, 2.0),
            (0.5, 0.9, 1.0),
            (0.05, 0.8, 0.2),
        ] {
            let (h, m2, g) = matching_parameters(Matching::Discrete, eta, beta, &[kappa]).unwrap();
            let p = mode_propagator(eta, beta, kappa, 200);
            for (s, ps) in p.iter().enumerate() {
                let c = background(h, m2[0], 1.0, g[0], s as f64 * eta.sqrt()).0;
                assert!(
                    (c - ps).abs() < 1e-8 * (1.0 + ps.abs()),
                    "η={eta} β={beta} κ={kappa} s={s}: {c} vs {ps}"
                );
            }
        }
    }

    /// Zero velocity (the continuum reading of v₀ = 0) misses the recurrence by O(√η·κ).
    #[test]
    fn zero_velocity_misses_the_recurrence() {
        let (eta, beta, kappa) = (0.1, 0.9, 2.0);
        let (h, m2, _) = matching_parameters(Matching::Discrete, eta, beta, &[kappa]).unwrap();
        let p = mode_propagator(eta, beta, kappa, 50);
        let worst = p
            .iter()
            .enumerate()
            .map(|(s, ps)| (background(h, m2[0], 1.0, 0.0, s as f64 * eta.sqrt()).0 - ps).abs())
            .fold(0.0, f64::max);
        assert!(worst > 0.02, "{worst}");
    }

    #[test]
    fn discrete_matching_refuses_negative_roots_and_plain_descent() {
        let e = matching_parameters(Matching::Discrete, 0.5, 0.9, &[1.0, 8.0])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--matching ") && e.contains("mode 1"), "{e}");
        let e = matching_parameters(Matching::Discrete, 0.5, 0.0, &[1.0])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--matching ") && e.contains("continuum"),
            "{e}"
        );
        assert!(matching_parameters(Matching::Continuum, 0.5, 0.0, &[1.0]).is_ok());
    }

    /// A coupled mass matrix through the discrete matching: the continuous solution,
    /// mode by mode of the matrix, passes through the vector recurrence.
    #[test]
    fn matrix_matching_reproduces_the_vector_recurrence() {
        let (eta, beta) = (0.1, 0.9);
        let theta = nalgebra::DMatrix::from_row_slice(
            3,
            3,
            &[0.8, 0.15, -0.05, 0.15, 0.3, 0.02, -0.05, 0.02, 0.01],
        );
        let (h, m2, g) = matrix_matching(Matching::Discrete, eta, beta, &theta).unwrap();
        let c0 = nalgebra::DVector::from_column_slice(&[1.0, -0.5, 0.3]);
        // The recurrence with zero initial momentum.
        let (mut prev, mut cur) = (c0.clone(), c0.clone());
        let eig = nalgebra::SymmetricEigen::new(m2.clone());
        let q = eig.eigenvectors.clone();
        let a0 = q.transpose() * &c0;
        let v0 = q.transpose() * (&g * &c0);
        for s in 0..=60 {
            let t = s as f64 * eta.sqrt();
            let a: Vec<f64> = (0..3)
                .map(|k| background(h, eig.eigenvalues[k], a0[k], v0[k], t).0)
                .collect();
            let c = &q * nalgebra::DVector::from_column_slice(&a);
            assert!((&c - &cur).norm() < 1e-8, "step {s}: {c} vs {cur}");
            let next = (1.0 + beta) * &cur - beta * &prev - eta * (&theta * &cur);
            prev = cur;
            cur = next;
        }
    }

    /// The scheme error falls as dt² for leapfrog.
    #[test]
    fn scheme_error_is_second_order() {
        let (h, m2, g) = (0.3, 1.5, -0.2);
        let e1 = scheme_error(Integrator::Leapfrog, h, m2, g, 0.1, 2, 300);
        let e2 = scheme_error(Integrator::Leapfrog, h, m2, g, 0.1, 4, 300);
        let order = (e1 / e2).log2();
        assert!((order - 2.0).abs() < 0.15, "{e1} {e2} {order}");
    }
}

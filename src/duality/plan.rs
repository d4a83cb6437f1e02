//! Setting up the lattice from the dictionary: H, m², the homogeneous start, the
//! `nn-dual` spectrum, the spacing, the time step and the run length.

use serde::Serialize;

use super::DualityError;
use crate::config::lattice::{LatticeConfig, Spectrum, Velocity, stability_bound};
use crate::config::run::RunConfig;

/// The lattice holds π = a³φ̇ in f32, and its kick coefficients grow like a³, so a
/// run must stay well inside e^{88/3} ≈ 29 e-folds.
pub const MAX_EFOLDS: f64 = 20.0;
/// Courant safety: dt·ω_max at most this fraction of the integrator's bound.
pub const COURANT_FRACTION: f64 = 0.5;
/// Accuracy target for the homogeneous mode: dt·max(m, 3H/2) ≤ this.
pub const OMEGA_DT: f64 = 0.1;

/// The lattice run dual to a network run, with the reasons for each choice.
#[derive(Clone, Debug, Serialize)]
pub struct LatticePlan {
    #[serde(skip)]
    pub config: LatticeConfig,
    /// Lattice steps per network step (dt = √η / substeps).
    pub substeps: usize,
    /// Network steps per lattice output.
    pub output_every_nn_steps: usize,
    /// Bin spacing 2π/(grid·dx): ring mode j ↔ lattice shell k_j = j·dk.
    pub dk: f64,
    /// Highest ring mode (= highest paired shell).
    pub max_mode: usize,
    pub efolds: f64,
    pub dx_rule: String,
    pub dt_rule: String,
    pub grid_rule: String,
    pub pairing: String,
}

/// Smallest power of two ≥ n.
fn pow2_at_least(n: usize) -> usize {
    n.next_power_of_two()
}

/// The lattice configuration for a run whose dictionary gives H, with m² = κ₀ and
/// φ̄(0) = B_NN(0), covering `steps` network steps of √η each.
pub fn plan(
    rc: &RunConfig,
    hubble: f64,
    kappa0: f64,
    b0: f64,
    max_mode: usize,
) -> Result<LatticePlan, DualityError> {
    let nn = &rc.nn;
    let lc = &rc.lattice;
    let sqrt_eta = nn.lr.sqrt();
    let span = nn.steps as f64 * sqrt_eta;
    let efolds = hubble * span;
    if efolds > MAX_EFOLDS {
        return Err(DualityError::Plan(format!(
            "--steps {} spans {efolds:.1} e-folds (H·√η·steps with H = {hubble:.4}); the lattice keeps a³φ̇ in f32 and follows at most {MAX_EFOLDS} e-folds: lower --steps or raise --momentum",
            nn.steps
        )));
    }
    let factor = if lc.stencil == 4 { 2 } else { 4 };
    let (grid, grid_rule) = match lc.grid {
        Some(g) => (g, "given (--grid)".to_string()),
        None => (
            pow2_at_least((factor * nn.points).max(16)),
            format!(
                "smallest power of two ≥ max(16, {factor}·points): shell j = points/2 has k·dx ≤ π/2 (stencil {}), where k_eff/k ≥ 0.97 keeps it in bin j",
                lc.stencil
            ),
        ),
    };
    if grid / 2 < max_mode {
        return Err(DualityError::Plan(format!(
            "--grid {grid} has shells up to {} but the ring has modes up to {max_mode}: use --grid ≥ {}",
            grid / 2,
            2 * max_mode
        )));
    }
    let (dx, dx_rule) = match lc.dx {
        Some(d) => (d, "given (--dx)".to_string()),
        None => (
            std::f64::consts::TAU / (grid as f64 * hubble),
            "2π/(grid·H): shell 1 has k = H and leaves the horizon at t = 0, shell j at N_e = ln j"
                .to_string(),
        ),
    };
    let lap = if lc.stencil == 4 { 16.0 } else { 12.0 } / (dx * dx);
    let omega_max = (lap + kappa0.max(0.0)).sqrt();
    let bound = stability_bound(lc.integrator);
    let slow = kappa0.max(0.0).sqrt().max(1.5 * hubble);
    let (substeps, dt_rule) = match lc.substeps {
        Some(n) => (n, "given (--substeps)".to_string()),
        None => {
            let need_c = sqrt_eta * omega_max / (COURANT_FRACTION * bound);
            let need_a = sqrt_eta * slow / OMEGA_DT;
            (
                need_c.max(need_a).ceil().max(1.0) as usize,
                format!(
                    "dt = √η/substeps with the fewest substeps giving dt·ω_max ≤ {COURANT_FRACTION}×Courant ({bound}) and dt·max(m, 3H/2) ≤ {OMEGA_DT}"
                ),
            )
        }
    };
    let every = nn.steps.div_ceil(lc.outputs).max(1);
    let mut cfg = LatticeConfig::defaults();
    cfg.grid = grid;
    cfg.dx = dx;
    cfg.dt = sqrt_eta / substeps as f64;
    cfg.hubble = hubble;
    cfg.m2 = kappa0;
    cfg.mass = kappa0.signum() * kappa0.abs().sqrt();
    cfg.lambda = 0.0;
    cfg.phi_min = 0.0;
    cfg.phi_init = b0;
    cfg.dphi_init = 0.0;
    cfg.spectrum = Spectrum::None;
    cfg.velocity = Velocity::Rest;
    cfg.integrator = lc.integrator;
    cfg.stencil = lc.stencil;
    cfg.steps = nn.steps * substeps;
    cfg.output_every = every * substeps;
    cfg.seed = lc.seed;
    cfg.out = nn.out.clone();
    cfg.force = nn.force;
    cfg.allow_tachyonic = kappa0 < 0.0;
    cfg.backend = nn.backend.clone();
    cfg.adapter = nn.adapter.clone();
    cfg.check_courant()?;
    Ok(LatticePlan {
        config: cfg,
        substeps,
        output_every_nn_steps: every,
        dk: std::f64::consts::TAU / (grid as f64 * dx),
        max_mode,
        efolds,
        dx_rule,
        dt_rule,
        grid_rule,
        pairing: "nn-dual: ring mode j ↔ lattice bin j (k_eff within ½·dk of j·dk); initial P(k) = the network's P(j, 0), δφ̇ = 0 (v₀ = 0); bins above the ring's modes start empty".into(),
    })
}

/// The nn-dual initial spectrum: the network's per-mode power at step 0, placed in
/// the lattice bin of the same index.
pub fn nn_dual_power(power0: &[f64], dk: f64) -> impl Fn(f64) -> (f64, f64) + '_ {
    move |k: f64| {
        let j = (k / dk).round() as usize;
        if j >= 1 && j < power0.len() {
            (power0[j], 0.0)
        } else {
            (0.0, 0.0)
        }
    }
}

//! What a lattice run produces: the observables at one instant, the rows of
//! `lattice/background.csv`, `fields.csv` and `spectrum.csv`, the timings, and the
//! whole run's results in memory.

use serde::Serialize;

use crate::report::csv::sci;

/// Spatial averages at one instant (DESIGN §2).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Observables {
    pub phi_mean: f64,
    pub dphi_mean: f64,
    pub phi_var: f64,
    pub rho_kin: f64,
    pub rho_grad: f64,
    pub rho_pot: f64,
}

impl Observables {
    /// All fields together: for one field, that field; for several, the energy
    /// densities summed and the φ columns NaN (a sum over fields of different
    /// masses means nothing).
    pub fn total(fields: &[Observables]) -> Observables {
        if let [one] = fields {
            return *one;
        }
        Observables {
            phi_mean: f64::NAN,
            dphi_mean: f64::NAN,
            phi_var: f64::NAN,
            rho_kin: fields.iter().map(|o| o.rho_kin).sum(),
            rho_grad: fields.iter().map(|o| o.rho_grad).sum(),
            rho_pot: fields.iter().map(|o| o.rho_pot).sum(),
        }
    }

    pub fn rho(&self) -> f64 {
        self.rho_kin + self.rho_grad + self.rho_pot
    }
    pub fn pressure(&self) -> f64 {
        self.rho_kin - self.rho_grad / 3.0 - self.rho_pot
    }
}

/// One row of `lattice/background.csv`: the field for F = 1, all fields together
/// (`Observables::total`, energy residual of the total) for F > 1.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BackgroundRow {
    pub step: usize,
    pub t: f64,
    pub a: f64,
    #[serde(flatten)]
    pub obs: Observables,
    pub energy_residual: f64,
}

/// One row of `lattice/fields.csv`: one field at one output.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FieldRow {
    pub step: usize,
    pub t: f64,
    pub field: usize,
    /// The config's m² (ignored by the force once the fields are coupled).
    pub m2: f64,
    #[serde(flatten)]
    pub obs: Observables,
    /// This field's own energy budget (see `energy_residuals`); it closes only for
    /// uncoupled fields (coupled ones exchange energy; their total closes).
    pub energy_residual: f64,
}

/// One row of `lattice/spectrum.csv` (with its `field` column, as F > 1 writes it).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SpectrumRow {
    pub step: usize,
    #[serde(serialize_with = "sci")]
    pub t: f64,
    pub field: usize,
    #[serde(serialize_with = "sci")]
    pub k: f64,
    #[serde(serialize_with = "sci")]
    pub power: f64,
    pub modes: u64,
    #[serde(serialize_with = "sci")]
    pub theory_power: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// The kick–drift kernel that ran (see `KickDrift`).
    pub kernel: String,
    pub setup_s: f64,
    pub initial_conditions_s: f64,
    pub evolve_s: f64,
    pub spectra_s: f64,
    pub theory_s: f64,
    pub site_updates_per_s: f64,
    pub force_evaluations_per_s: f64,
}

/// Everything a run produces, in memory.
#[derive(Clone, Debug, Default)]
pub struct LatticeResults {
    /// The number of fields F.
    pub fields: usize,
    pub background: Vec<BackgroundRow>,
    /// Every field at every output (output-major, then field).
    pub field_rows: Vec<FieldRow>,
    /// Every field's binned P(k) at every output (output-major, then field, then k).
    pub spectrum: Vec<SpectrumRow>,
    /// Closed-form homogeneous solution (φ̄, φ̄̇) at each output (λ = 0 only), for
    /// F = 1; empty for F > 1, whose background row has no φ̄ (see `field_theory`).
    pub background_theory: Vec<(f64, f64)>,
    /// The same per field, with its own m²: field_theory[b][output] (λ = 0 only).
    pub field_theory: Vec<Vec<(f64, f64)>>,
    pub timings: Timings,
    /// Set when the evolution overflowed: the results stop at the last finite output.
    pub diverged: Option<Divergence>,
}

/// Where and why a run stopped early on NaN or infinity.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The step at which the non-finite value was seen.
    pub step: usize,
    pub reason: String,
}

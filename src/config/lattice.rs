//! `nncosmo-gpu lattice`: raw flags and the validated lattice configuration (the
//! validation itself is in `validate`, its tests in `tests`).

use std::path::PathBuf;

use clap::{ArgAction, Args};
use serde::{Deserialize, Deserializer, Serialize};

mod validate;

pub use crate::lattice::scheme::{Integrator, stability_bound};
pub use validate::spacing;

use super::{ConfigError, merge_args, read_table};

/// Raw flags of `nncosmo-gpu lattice`; every one is also a config key.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatticeArgs {
    /// TOML config file (keys = flag names with underscores; a [lattice] table is used if present).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Sites per dimension N (the grid is N³, periodic).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid: Option<i64>,
    /// Comoving lattice spacing.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dx: Option<f64>,
    /// Time step (cosmic time).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dt: Option<f64>,
    /// Hubble rate H of the de Sitter background a = exp(H t); 0 is flat space.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hubble: Option<f64>,
    /// Number of fields F, evolved together on the same grid and background.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<i64>,
    /// Mass m (not m²); a negative value means m² = −m² (tachyonic, needs --allow-tachyonic).
    /// Repeat once per field (--fields) to give each its own; a single one applies to all.
    #[arg(long, action = ArgAction::Append)]
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub mass: Vec<f64>,
    /// Quartic coupling λ of V = ½m²(φ−φ₀)² + (λ/4)(φ−φ₀)⁴.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// Potential minimum φ₀.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi_min: Option<f64>,
    /// Homogeneous initial field φ̄(0).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi_init: Option<f64>,
    /// Homogeneous initial velocity φ̄̇(0).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dphi_init: Option<f64>,
    /// Initial fluctuations: bunch-davies | power-law | white | none.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<String>,
    /// Power of the white and power-law spectra: P(k) = A·k^n.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amplitude: Option<f64>,
    /// Tilt n of the power-law spectrum P(k) = A·k^n.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tilt: Option<f64>,
    /// Initial fluctuation velocity: rest | vacuum.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velocity: Option<String>,
    /// leapfrog | yoshida4.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrator: Option<String>,
    /// Laplacian order: 2 (7-point) or 4 (13-point).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stencil: Option<i64>,
    /// Number of time steps.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    /// Record observables and spectra every this many steps.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_every: Option<i64>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Output directory.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// Overwrite an output directory that already holds a run.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub force: bool,
    /// Write a checkpoint (OUT/checkpoint) at the first output step past every this
    /// many steps, and on SIGINT/SIGTERM.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<i64>,
    /// Continue from a checkpoint (its directory, or the run's --out); the flags must
    /// describe the same run.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<PathBuf>,
    /// Write φ and φ̇ of every field (OUT/snapshots/step-S/*.npy) at output steps that
    /// are multiples of this.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<i64>,
    /// Accept a negative H or a negative m².
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub allow_tachyonic: bool,
    /// Backend: vulkan, metal, dx12, gl (default: WGPU_BACKEND or all).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Adapter name substring (default: WGPU_ADAPTER_NAME or the best adapter).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// A config value given as one number (`mass = 1.0`) or a list (`mass = [0.5, 1.0]`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number or a list of numbers")
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(vec![v])
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v as f64])
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v as f64])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(x) = seq.next_element::<f64>()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// The initial fluctuation spectrum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Spectrum {
    BunchDavies,
    PowerLaw { amplitude: f64, tilt: f64 },
    White { amplitude: f64 },
    None,
}

/// The initial fluctuation velocity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Velocity {
    /// δφ̇ = 0 (the dual of v₀ = 0).
    Rest,
    /// The vacuum's positive-frequency velocity.
    Vacuum,
}

/// The resolved, validated lattice configuration.
#[derive(Debug, Clone, Serialize)]
pub struct LatticeConfig {
    pub grid: usize,
    pub dx: f64,
    pub dt: f64,
    #[serde(rename = "H")]
    pub hubble: f64,
    /// Field 0's mass m, signed as on the command line (the single field's, for code
    /// written for one field). Private, like `m2` and `m2s`, so that they change
    /// together: through `set_masses` or `set_m2s`, read through `mass()`, `m2()`,
    /// `field_masses` and `field_m2s`.
    mass: f64,
    /// Field 0's m² = `m2_of_mass(mass)`, negative when tachyonic.
    m2: f64,
    /// The number of fields F (field-major in the engine's buffers).
    #[serde(skip_serializing_if = "is_one")]
    pub fields: usize,
    /// Per-field m² (length F), or empty when every field has `m2` (always so for
    /// F = 1, and when `fields` was raised by hand). When set, m2s[0] equals `m2`:
    /// `set_masses` and `set_m2s` keep them in step. Use `field_m2s`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    m2s: Vec<f64>,
    /// P(k) only at outputs whose step is a multiple of this (and the last); None:
    /// at every output. Spectra read the whole field back, so a run that samples its
    /// observables often (the duality's dual lattice) takes few of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum_every: Option<usize>,
    pub lambda: f64,
    pub phi_min: f64,
    pub phi_init: f64,
    pub dphi_init: f64,
    pub spectrum: Spectrum,
    pub velocity: Velocity,
    pub integrator: Integrator,
    pub stencil: u32,
    pub steps: usize,
    pub output_every: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub force: bool,
    /// Steps between checkpoints (taken at output steps; None: only on signals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
    /// The checkpoint to continue from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<PathBuf>,
    /// Steps between field snapshots (a multiple of `output_every`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<usize>,
    pub allow_tachyonic: bool,
    pub backend: Option<String>,
    pub adapter: Option<String>,
}

impl LatticeConfig {
    /// The adapter this run asked for (`--backend`, `--adapter`).
    pub fn device_choice(&self) -> crate::gpu::BackendChoice {
        crate::gpu::BackendChoice {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        }
    }

    /// A configuration with the defaults of the CLI (for programmatic use and tests).
    pub fn defaults() -> Self {
        LatticeArgs::default()
            .validate()
            .expect("the defaults are valid")
    }

    /// Field 0's mass m, signed as on the command line (m² = m·|m|).
    pub fn mass(&self) -> f64 {
        self.mass
    }

    /// Field 0's m², negative when tachyonic.
    pub fn m2(&self) -> f64 {
        self.m2
    }

    /// Each field's m² (length F).
    pub fn field_m2s(&self) -> Vec<f64> {
        if self.m2s.is_empty() {
            vec![self.m2; self.fields]
        } else {
            self.m2s.clone()
        }
    }

    /// Each field's mass m, signed as on the command line (m² = m·|m|).
    pub fn field_masses(&self) -> Vec<f64> {
        self.field_m2s()
            .iter()
            .enumerate()
            .map(|(b, &m2)| {
                if b == 0 && m2 == self.m2 {
                    self.mass
                } else {
                    mass_of_m2(m2)
                }
            })
            .collect()
    }

    /// Sets F = masses.len() fields with these signed masses m (m² = m·|m|, see
    /// `m2_of_mass`; field 0's also in `mass()` and `m2()`).
    pub fn set_masses(&mut self, masses: &[f64]) {
        assert!(!masses.is_empty(), "at least one field");
        let m2s: Vec<f64> = masses.iter().map(|&m| m2_of_mass(m)).collect();
        self.set_fields(masses[0], &m2s);
    }

    /// Sets F = m2s.len() fields with these m² (field 0's also in `m2()`, and its
    /// mass, `mass_of_m2`, in `mass()`).
    pub fn set_m2s(&mut self, m2s: &[f64]) {
        assert!(!m2s.is_empty(), "at least one field");
        self.set_fields(mass_of_m2(m2s[0]), m2s);
    }

    /// The one place the fields' masses change: F = m2s.len(), field 0's mass and m²,
    /// and the per-field list (empty for F = 1).
    fn set_fields(&mut self, mass: f64, m2s: &[f64]) {
        self.fields = m2s.len();
        self.mass = mass;
        self.m2 = m2s[0];
        self.m2s = if m2s.len() > 1 {
            m2s.to_vec()
        } else {
            Vec::new()
        };
    }

    /// Checks the field count and masses of a configuration built in code.
    pub fn check_fields(&self) -> Result<(), ConfigError> {
        if self.fields == 0 {
            return Err(ConfigError::invalid(
                "fields",
                "must be a positive integer (got 0)",
            ));
        }
        if !self.m2s.is_empty() {
            if self.m2s.len() != self.fields {
                return Err(ConfigError::invalid(
                    "mass",
                    format!(
                        "gives {} masses but --fields is {}: give one --mass for every field, or a single one for all",
                        self.m2s.len(),
                        self.fields
                    ),
                ));
            }
            if self.m2s[0] != self.m2 {
                return Err(ConfigError::invalid(
                    "mass",
                    format!(
                        "of field 0 is ambiguous: m2 = {} but m2s[0] = {} (set both, e.g. with LatticeConfig::set_m2s)",
                        self.m2, self.m2s[0]
                    ),
                ));
            }
        }
        if let Some(m2) = self.field_m2s().iter().find(|m| !m.is_finite()) {
            return Err(ConfigError::invalid(
                "mass",
                format!("must be finite (got m² = {m2})"),
            ));
        }
        Ok(())
    }

    /// Largest angular frequency of the discrete problem at a = 1: the top eigenvalue of
    /// −∇² for the chosen stencil plus the largest m² of the fields (when positive).
    pub fn omega_max(&self) -> f64 {
        let lap = if self.stencil == 4 { 16.0 } else { 12.0 } / (self.dx * self.dx);
        let m2 = self.field_m2s().into_iter().fold(self.m2, f64::max);
        (lap + m2.max(0.0)).sqrt()
    }

    /// Re-checks the Courant limit (for configurations built in code).
    pub fn check_courant(&self) -> Result<(), ConfigError> {
        let w = self.omega_max();
        let bound = stability_bound(self.integrator);
        if self.dt * w >= bound {
            let name = match self.integrator {
                Integrator::Leapfrog => "leapfrog",
                Integrator::Yoshida4 => "yoshida4",
            };
            return Err(ConfigError::invalid(
                "dt",
                format!(
                    "{} is above the Courant limit {:.6} of {name} with --stencil {}: dt·ω_max must stay below {bound} where ω_max² = {}/dx² + m² = {:.6} (top eigenvalue of the discrete Laplacian at a = 1, largest m² of the fields)",
                    self.dt,
                    bound / w,
                    self.stencil,
                    if self.stencil == 4 { 16 } else { 12 },
                    w * w
                ),
            ));
        }
        Ok(())
    }
}

impl LatticeArgs {
    /// Flags over the config file, then validation.
    pub fn resolve(&self) -> Result<LatticeConfig, ConfigError> {
        let file = match &self.config {
            Some(p) => {
                super::strict::check_file(p, super::strict::FileKind::Lattice)?;
                Some((p.as_path(), read_table(p, "lattice")?))
            }
            None => None,
        };
        merge_args(self, file)?.validate()
    }
}

/// m² of a signed mass m: m·|m|, so that a negative m means a tachyonic m² = −m².
/// The one place a mass becomes an m².
pub fn m2_of_mass(m: f64) -> f64 {
    m * m.abs()
}

/// The signed mass of an m² (the inverse of `m2_of_mass`, up to rounding).
pub fn mass_of_m2(m2: f64) -> f64 {
    m2.signum() * m2.abs().sqrt()
}

/// Most fields a lattice may hold (WebGPU's default workgroups per dimension).
pub const MAX_FIELDS: usize = 65535;

/// Most e-folds a lattice run may span: a³ in f32 overflows at e^{88.7/3} ≈ 29.6.
pub const MAX_EFOLDS: f64 = 20.0;

fn is_one(v: &usize) -> bool {
    *v == 1
}

#[cfg(test)]
mod tests;

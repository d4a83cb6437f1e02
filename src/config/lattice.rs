//! `nncosmo-gpu lattice`: raw flags and the validated lattice configuration.

use std::path::PathBuf;

use clap::{ArgAction, Args};
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::lattice::scheme::{Integrator, stability_bound};

use super::{
    ConfigError, finite, finite32, merge_args, parse_named, positive, positive_real, read_table,
};

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

    fn validate(&self) -> Result<LatticeConfig, ConfigError> {
        let grid = positive("grid", self.grid.unwrap_or(64))?;
        if grid < 4 {
            return Err(ConfigError::invalid(
                "grid",
                format!("must be at least 4 (got {grid})"),
            ));
        }
        let dx = spacing("dx", self.dx.unwrap_or(1.0))?;
        let dt = positive_real("dt", self.dt.unwrap_or(0.05))?;
        let hubble = finite("hubble", self.hubble.unwrap_or(0.5))?;
        let fields = positive("fields", self.fields.unwrap_or(1))?;
        // Each field is one workgroup along z, whose count WebGPU caps at 65535; the
        // per-field lists below are built only for counts within it.
        if fields > MAX_FIELDS {
            return Err(ConfigError::invalid(
                "fields",
                format!(
                    "is {fields}, but the kernels dispatch one field per workgroup along z: the largest --fields is {MAX_FIELDS}"
                ),
            ));
        }
        let masses = if self.mass.is_empty() {
            vec![1.0]
        } else {
            self.mass.clone()
        };
        if masses.len() != 1 && masses.len() != fields {
            return Err(ConfigError::invalid(
                "mass",
                format!(
                    "was given {} times but --fields is {fields}: give one --mass for every field, or a single one for all",
                    masses.len()
                ),
            ));
        }
        for &m in &masses {
            finite32("mass", m)?;
            finite32("mass", m2_of_mass(m))?;
        }
        if hubble < 0.0 && !self.allow_tachyonic {
            return Err(ConfigError::invalid(
                "hubble",
                format!(
                    "is negative ({hubble}), a contracting background; pass --allow-tachyonic to run it anyway"
                ),
            ));
        }
        if let Some(&m) = masses.iter().find(|m| **m < 0.0)
            && !self.allow_tachyonic
        {
            return Err(ConfigError::invalid(
                "mass",
                format!(
                    "is negative ({m}), which means m² = {} < 0 (tachyonic); pass --allow-tachyonic to run it anyway",
                    m2_of_mass(m)
                ),
            ));
        }
        // One mass per field (a single one applies to all); F = 1 keeps m2s empty,
        // so its configuration (and report.json) is unchanged.
        let masses: Vec<f64> = (0..fields)
            .map(|b| masses[b.min(masses.len() - 1)])
            .collect();
        let lambda = finite32("lambda", self.lambda.unwrap_or(0.0))?;
        if lambda < 0.0 && !self.allow_tachyonic {
            return Err(ConfigError::invalid(
                "lambda",
                format!(
                    "is negative ({lambda}): the potential is unbounded below; pass --allow-tachyonic to run it anyway"
                ),
            ));
        }
        // Checked even when the spectrum does not use them: a bad value is never
        // silently ignored.
        let amplitude = non_negative("amplitude", self.amplitude.unwrap_or(1e-4))?;
        let tilt = finite32("tilt", self.tilt.unwrap_or(-3.0))?;
        let spectrum = match self.spectrum.as_deref().unwrap_or("bunch-davies") {
            "bunch-davies" => Spectrum::BunchDavies,
            "power-law" => Spectrum::PowerLaw {
                amplitude: non_negative("amplitude", amplitude)?,
                tilt: finite("tilt", tilt)?,
            },
            "white" => Spectrum::White {
                amplitude: non_negative("amplitude", amplitude)?,
            },
            "none" => Spectrum::None,
            other => {
                return Err(ConfigError::invalid(
                    "spectrum",
                    format!("must be bunch-davies, power-law, white or none (got `{other}`)"),
                ));
            }
        };
        let velocity = parse_named("velocity", self.velocity.as_deref().unwrap_or("vacuum"))?;
        let integrator = parse_named(
            "integrator",
            self.integrator.as_deref().unwrap_or("leapfrog"),
        )?;
        let stencil = match self.stencil.unwrap_or(2) {
            2 => 2,
            4 => 4,
            s => {
                return Err(ConfigError::invalid(
                    "stencil",
                    format!("must be 2 or 4 (got {s})"),
                ));
            }
        };
        let steps = positive("steps", self.steps.unwrap_or(400))?;
        let output_every = positive("output-every", self.output_every.unwrap_or(20))?;
        let mut cfg = LatticeConfig {
            grid,
            dx,
            dt,
            hubble,
            // Set with the other fields by set_masses below.
            mass: 0.0,
            m2: 0.0,
            fields,
            m2s: Vec::new(),
            spectrum_every: None,
            lambda,
            phi_min: finite32("phi-min", self.phi_min.unwrap_or(0.0))?,
            phi_init: finite32("phi-init", self.phi_init.unwrap_or(1.0))?,
            dphi_init: finite32("dphi-init", self.dphi_init.unwrap_or(0.0))?,
            spectrum,
            velocity,
            integrator,
            stencil,
            steps,
            output_every,
            seed: self.seed.unwrap_or(0),
            out: super::out_dir(
                self.out
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("out/lattice")),
            )?,
            force: self.force,
            checkpoint_every: self
                .checkpoint_every
                .map(|c| positive("checkpoint-every", c))
                .transpose()?,
            resume: self.resume.clone(),
            snapshot_every: match self.snapshot_every {
                None => None,
                Some(v) => {
                    let s = positive("snapshot-every", v)?;
                    if !s.is_multiple_of(output_every) {
                        return Err(ConfigError::invalid(
                            "snapshot-every",
                            format!(
                                "{s} must be a multiple of --output-every {output_every} (snapshots are taken at output steps)"
                            ),
                        ));
                    }
                    Some(s)
                }
            },
            allow_tachyonic: self.allow_tachyonic,
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        };
        cfg.set_masses(&masses);
        cfg.check_courant()?;
        // The lattice holds π = a³φ̇ in f32 and kicks with coefficients ∝ a³, so a³
        // must stay far from f32's 3.4e38 (= e^88.7): the same e-fold cap as `run`.
        let efolds = hubble.abs() * dt * steps as f64;
        if efolds > MAX_EFOLDS {
            let max_steps = (MAX_EFOLDS / (hubble.abs() * dt)).floor();
            return Err(ConfigError::invalid(
                "steps",
                format!(
                    "{steps} spans {efolds:.1} e-folds (|H|·dt·steps with H = {hubble}, dt = {dt}); the lattice keeps a³φ̇ in f32 and follows at most {MAX_EFOLDS} e-folds: the largest --steps is {max_steps}"
                ),
            ));
        }
        Ok(cfg)
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

/// A lattice spacing: the f32 kernels multiply by 1/dx², which must be a normal f32
/// far from overflow, so dx lies in [1e-15, 1e15].
pub fn spacing(flag: &str, v: f64) -> Result<f64, ConfigError> {
    let v = positive_real(flag, v)?;
    if !(1e-15..=1e15).contains(&v) {
        return Err(ConfigError::invalid(
            flag,
            format!("must lie in [1e-15, 1e15] (got {v:?}): the f32 kernels hold 1/dx²"),
        ));
    }
    Ok(v)
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

fn non_negative(flag: &str, v: f64) -> Result<f64, ConfigError> {
    if !(v.is_finite() && (0.0..=f32::MAX as f64).contains(&v)) {
        Err(ConfigError::invalid(
            flag,
            format!("must be finite and ≥ 0 (got {v:?})"),
        ))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defaults, over 40 steps: the large dt of the Courant cases stays within the
    /// e-fold cap.
    fn args() -> LatticeArgs {
        LatticeArgs {
            steps: Some(40),
            ..LatticeArgs::default()
        }
    }

    fn err(a: LatticeArgs) -> String {
        a.resolve().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        let c = args().resolve().unwrap();
        assert_eq!(c.grid, 64);
        assert_eq!(c.m2(), 1.0);
    }

    #[test]
    fn bad_values_name_their_flag() {
        assert!(
            err(LatticeArgs {
                grid: Some(3),
                ..args()
            })
            .starts_with("--grid ")
        );
        assert!(
            err(LatticeArgs {
                dx: Some(0.0),
                ..args()
            })
            .starts_with("--dx ")
        );
        assert!(
            err(LatticeArgs {
                dt: Some(-0.1),
                ..args()
            })
            .starts_with("--dt ")
        );
        let e = err(LatticeArgs {
            dt: Some(0.6),
            ..args()
        });
        assert!(e.starts_with("--dt ") && e.contains("Courant"), "{e}");
        // 4th-order stencil has a larger top eigenvalue (16/dx² against 12/dx²).
        assert!(
            LatticeArgs {
                dt: Some(0.52),
                ..args()
            }
            .resolve()
            .is_ok()
        );
        assert!(
            LatticeArgs {
                dt: Some(0.52),
                stencil: Some(4),
                ..args()
            }
            .resolve()
            .is_err()
        );
        assert!(
            err(LatticeArgs {
                hubble: Some(-1.0),
                ..args()
            })
            .starts_with("--hubble ")
        );
        assert!(
            err(LatticeArgs {
                mass: vec![-1.0],
                ..args()
            })
            .starts_with("--mass ")
        );
        let ok = LatticeArgs {
            mass: vec![-1.0],
            allow_tachyonic: true,
            ..args()
        };
        assert_eq!(ok.resolve().unwrap().m2(), -1.0);
        assert!(
            err(LatticeArgs {
                stencil: Some(3),
                ..args()
            })
            .starts_with("--stencil ")
        );
        assert!(
            err(LatticeArgs {
                velocity: Some("fast".into()),
                ..args()
            })
            .starts_with("--velocity ")
        );
        let e = err(LatticeArgs {
            spectrum: Some("white".into()),
            amplitude: Some(-1.0),
            ..args()
        });
        assert!(e.starts_with("--amplitude "), "{e}");
    }

    #[test]
    fn fields_and_their_masses() {
        // F = 1 keeps the single-field configuration: no m2s, nothing new serialised.
        let one = args().resolve().unwrap();
        assert_eq!((one.fields, one.m2s.len()), (1, 0));
        let json = serde_json::to_value(&one).unwrap();
        assert!(json.get("fields").is_none() && json.get("m2s").is_none());
        let three = LatticeArgs {
            fields: Some(3),
            mass: vec![0.5, 1.0, -2.0],
            allow_tachyonic: true,
            ..args()
        }
        .resolve()
        .unwrap();
        assert_eq!(three.m2s, vec![0.25, 1.0, -4.0]);
        assert_eq!((three.m2(), three.mass()), (0.25, 0.5));
        assert_eq!(three.field_masses(), vec![0.5, 1.0, -2.0]);
        three.check_fields().unwrap();
        // One mass applies to every field.
        let same = LatticeArgs {
            fields: Some(2),
            mass: vec![3.0],
            ..args()
        }
        .resolve()
        .unwrap();
        assert_eq!(same.field_m2s(), vec![9.0, 9.0]);
        // The Courant limit takes the largest m²: fine for m = 1, refused for m = 20.
        let courant = |mass: Vec<f64>| {
            LatticeArgs {
                fields: Some(2),
                mass,
                dt: Some(0.4),
                ..args()
            }
            .resolve()
        };
        assert!(courant(vec![1.0, 1.0]).is_ok());
        assert!(
            courant(vec![1.0, 20.0])
                .unwrap_err()
                .to_string()
                .contains("Courant")
        );
        for (fields, mass, flag) in [
            (Some(0), vec![], "--fields "),
            (Some(-2), vec![], "--fields "),
            (Some(3), vec![1.0, 2.0], "--mass "),
            (Some(2), vec![1.0, f64::NAN], "--mass "),
            (Some(2), vec![1.0, -1.0], "--mass "),
        ] {
            let e = err(LatticeArgs {
                fields,
                mass,
                ..args()
            });
            assert!(e.starts_with(flag), "{e}");
        }
        // set_masses and set_m2s keep field 0's mass and m² and the per-field list in
        // step; m2s that disagree with m2 (which only this module could set) are
        // refused.
        let mut c = LatticeConfig::defaults();
        c.set_m2s(&[0.64]);
        assert_eq!((c.fields, c.field_m2s()), (1, vec![0.64]));
        c.set_masses(&[-0.5]);
        assert_eq!(
            (c.m2(), c.mass(), c.field_masses()),
            (-0.25, -0.5, vec![-0.5])
        );
        c.set_masses(&[0.5, 2.0]);
        assert_eq!((c.fields, c.field_m2s()), (2, vec![0.25, 4.0]));
        c.set_m2s(&[0.3, 1.0, 2.5]);
        assert_eq!((c.fields, c.m2()), (3, 0.3));
        c.check_fields().unwrap();
        c.m2 = 0.64;
        assert!(
            c.check_fields()
                .unwrap_err()
                .to_string()
                .starts_with("--mass ")
        );
    }

    #[test]
    fn mass_in_a_config_file_is_one_number_or_a_list() {
        let parse = |text: &str| -> LatticeArgs {
            merge_args(
                &args(),
                Some((std::path::Path::new("x.toml"), text.parse().unwrap())),
            )
            .unwrap()
        };
        assert_eq!(parse("mass = 1.5").mass, vec![1.5]);
        assert_eq!(parse("mass = 2").mass, vec![2.0]);
        assert_eq!(
            parse("fields = 3\nmass = [0.5, 1.0, 2]").mass,
            vec![0.5, 1.0, 2.0]
        );
        // Flags override the file.
        let flags = LatticeArgs {
            mass: vec![0.1, 0.2],
            ..args()
        };
        let m = merge_args(
            &flags,
            Some((
                std::path::Path::new("x.toml"),
                "mass = 3.0".parse().unwrap(),
            )),
        )
        .unwrap();
        assert_eq!(m.mass, vec![0.1, 0.2]);
    }
}

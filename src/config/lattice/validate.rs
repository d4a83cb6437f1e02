//! Validation of the `lattice` flags into a `LatticeConfig`: every value is checked
//! and named by its flag, the masses are expanded per field, and the Courant limit
//! and e-fold cap are enforced.

use super::{
    LatticeArgs, LatticeConfig, LatticeDefaults, MAX_EFOLDS, MAX_FIELDS, Spectrum, SpectrumKind,
    m2_of_mass,
};
use crate::config::{ConfigError, finite, finite32, positive, positive_real};

impl LatticeArgs {
    pub(super) fn validate(&self, d: &LatticeDefaults) -> Result<LatticeConfig, ConfigError> {
        let grid = positive("grid", self.grid.unwrap_or(d.grid))?;
        if grid < 4 {
            return Err(ConfigError::invalid(
                "grid",
                format!("must be at least 4 (got {grid})"),
            ));
        }
        let dx = spacing("dx", self.dx.unwrap_or(d.dx))?;
        let dt = positive_real("dt", self.dt.unwrap_or(d.dt))?;
        let hubble = finite("hubble", self.hubble.unwrap_or(d.hubble))?;
        let fields = positive("fields", self.fields.unwrap_or(d.fields))?;
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
            vec![d.mass]
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
        let lambda = finite32("lambda", self.lambda.unwrap_or(d.lambda))?;
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
        let amplitude = non_negative("amplitude", self.amplitude.unwrap_or(d.amplitude))?;
        let tilt = finite32("tilt", self.tilt.unwrap_or(d.tilt))?;
        let spectrum = match self.spectrum.unwrap_or(d.spectrum) {
            SpectrumKind::BunchDavies => Spectrum::BunchDavies,
            SpectrumKind::PowerLaw => Spectrum::PowerLaw { amplitude, tilt },
            SpectrumKind::White => Spectrum::White { amplitude },
            SpectrumKind::None => Spectrum::None,
        };
        let velocity = self.velocity.unwrap_or(d.velocity);
        let integrator = self.integrator.unwrap_or(d.integrator);
        let stencil = crate::config::stencil_order(self.stencil.unwrap_or(d.stencil))?;
        let steps = positive("steps", self.steps.unwrap_or(d.steps))?;
        let output_every = positive("output-every", self.output_every.unwrap_or(d.output_every))?;
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
            phi_min: finite32("phi-min", self.phi_min.unwrap_or(d.phi_min))?,
            phi_init: finite32("phi-init", self.phi_init.unwrap_or(d.phi_init))?,
            dphi_init: finite32("dphi-init", self.dphi_init.unwrap_or(d.dphi_init))?,
            spectrum,
            velocity,
            integrator,
            stencil,
            steps,
            output_every,
            seed: self.seed.unwrap_or(d.seed),
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

/// A non-negative value that f32 holds.
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

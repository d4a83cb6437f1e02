//! Validation of the `lattice` flags into a `LatticeConfig`: every value is checked
//! and named by its flag, the masses are expanded per field, and the Courant limit
//! and e-fold cap are enforced.

use super::{
    LatticeArgs, LatticeConfig, MAX_EFOLDS, MAX_FIELDS, Spectrum, SpectrumKind, m2_of_mass,
};
use crate::config::{ConfigError, finite, finite32, given, positive, positive_real};

impl LatticeArgs {
    pub(super) fn validate(&self) -> Result<LatticeConfig, ConfigError> {
        let grid = positive("grid", given(self.grid, "grid")?)?;
        if grid < 4 {
            return Err(ConfigError::invalid(
                "grid",
                format!("must be at least 4 (got {grid})"),
            ));
        }
        let dx = spacing("dx", given(self.dx, "dx")?)?;
        let dt = positive_real("dt", given(self.dt, "dt")?)?;
        let hubble = finite("hubble", given(self.hubble, "hubble")?)?;
        let fields = positive("fields", given(self.fields, "fields")?)?;
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
        let masses = self.mass.clone();
        if masses.is_empty() {
            return Err(ConfigError::invalid(
                "mass",
                "has no value (and no default)",
            ));
        }
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
        let lambda = finite32("lambda", given(self.lambda, "lambda")?)?;
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
        let amplitude = non_negative("amplitude", given(self.amplitude, "amplitude")?)?;
        let tilt = finite32("tilt", given(self.tilt, "tilt")?)?;
        let spectrum = match given(self.spectrum, "spectrum")? {
            SpectrumKind::BunchDavies => Spectrum::BunchDavies,
            SpectrumKind::PowerLaw => Spectrum::PowerLaw { amplitude, tilt },
            SpectrumKind::White => Spectrum::White { amplitude },
            SpectrumKind::None => Spectrum::None,
        };
        let velocity = given(self.velocity, "velocity")?;
        let integrator = given(self.integrator, "integrator")?;
        let stencil = crate::config::stencil_order(given(self.stencil, "stencil")?)?;
        let steps = positive("steps", given(self.steps, "steps")?)?;
        let output_every = positive("output-every", given(self.output_every, "output-every")?)?;
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
            phi_min: finite32("phi-min", given(self.phi_min, "phi-min")?)?,
            phi_init: finite32("phi-init", given(self.phi_init, "phi-init")?)?,
            dphi_init: finite32("dphi-init", given(self.dphi_init, "dphi-init")?)?,
            spectrum,
            velocity,
            integrator,
            stencil,
            steps,
            output_every,
            seed: given(self.seed, "seed")?,
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

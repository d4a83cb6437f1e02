//! `nncosmo-gpu run`: the network flags, the lattice knobs of the duality run, and
//! the validated configuration.
//!
//! A run config file has up to three tables: `[nn]` (the keys of `nncosmo-gpu nn`),
//! `[lattice]` (the keys below) and nothing else. Flags override the file. The lattice
//! is otherwise set up from the dictionary (H, m², φ̄(0), dt, length), so only the
//! grid and the numerical scheme are free.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::lattice::Integrator;
use super::nn::{NnConfig, nn_defaults};
use super::{ConfigError, Target, given, merge_args, positive, positive_real};
use crate::cli::OutputArgs;
use crate::cli::nn::NnArgs;
use crate::cli::run::{DictionaryArgs, LatticeKnobs, RunArgs};

/// The resolved lattice knobs (the dictionary fills in the rest).
#[derive(Debug, Clone, Serialize)]
pub struct LatticeChoice {
    pub dual: Dual,
    pub matching: Matching,
    pub dual_gradient: f64,
    pub eft_cubic: bool,
    pub grid: Option<usize>,
    pub dx: Option<f64>,
    pub stencil: u32,
    pub integrator: Integrator,
    pub substeps: Option<usize>,
    pub outputs: usize,
    pub seed: u64,
}

/// Which cosmological model plays the network (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dual {
    /// One field per mode row with its own mass, one Hubble patch per network (§4.2),
    /// plus the disorder dual (§4.4) whenever every member's traces and NTK are kept.
    MultiField,
    /// As multi-field, and the disorder dual is required: refused without traces.
    Disorder,
    /// Removed; still parsed (not listed) so that the refusal can say why.
    #[value(hide = true)]
    SingleField,
}

/// How the recurrence is mapped onto de Sitter (DESIGN §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Matching {
    /// H_d, m_d²: the continuous solution passes through the recurrence's values.
    Discrete,
    /// H = (1 − β)/(3√η), m² = κ: the continuum limit of the recurrence.
    Continuum,
}

/// Most lattice steps per network step that `--substeps` may ask for (16 times the
/// automatic choice's cap).
pub const MAX_GIVEN_SUBSTEPS: usize = 4096;

/// The validated configuration of a duality run, and where it writes (`target`,
/// which is not part of the configuration that report.json and checkpoints record).
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    pub nn: NnConfig,
    pub lattice: LatticeChoice,
    #[serde(skip)]
    pub target: Target,
}

/// Defaults of the duality run where they differ from `nncosmo-gpu nn`: every step
/// is recorded (the EFT fit uses consecutive steps), a continuum-friendly step and
/// momentum, and a run length that the lattice can follow in f32.
pub fn run_defaults() -> NnArgs {
    NnArgs {
        record_every: Some(1),
        steps: Some(400),
        lr: Some(0.01),
        momentum: Some(0.97),
        output: OutputArgs::to("out/run"),
        ..nn_defaults()
    }
}

/// A sweep's network defaults: the run's, writing to out/sweep.
pub fn sweep_defaults() -> NnArgs {
    let mut d = run_defaults();
    d.output.out = Some("out/sweep".into());
    d
}

/// The defaults of the lattice knobs (`--grid`, `--dx`, `--substeps` and
/// `--lattice-seed` default to what the plan derives).
pub fn knob_defaults() -> LatticeKnobs {
    LatticeKnobs {
        stencil: Some(2),
        integrator: Some(Integrator::Leapfrog),
        lattice_outputs: Some(8),
        dual: Some(Dual::MultiField),
        matching: Some(Matching::Discrete),
        dual_gradient: Some(0.05),
        ..LatticeKnobs::default()
    }
}

/// The tables of a run config file: (`[nn]`, `[lattice]`); any other key is refused.
pub fn read_run_file(path: &Path) -> Result<(toml::Table, toml::Table), ConfigError> {
    let table = super::read_toml(path)?;
    let mut nn = toml::Table::new();
    let mut lat = toml::Table::new();
    for (k, v) in table {
        match (k.as_str(), v) {
            ("nn", toml::Value::Table(t)) => nn = t,
            ("lattice", toml::Value::Table(t)) => lat = t,
            ("sweep", toml::Value::Table(_)) => {}
            (other, _) => {
                return Err(ConfigError::Parse {
                    path: path.display().to_string(),
                    message: format!(
                        "unknown key `{other}` (a run config holds the tables [nn], [lattice] and, for sweeps, [sweep])"
                    ),
                });
            }
        }
    }
    Ok((nn, lat))
}

/// The network arguments of a run: the defaults `d`, then the file's `[nn]`, then
/// flags; `extra` (key, value) pairs are applied last (the sweep's varied parameters).
pub fn merged_nn_args(
    flags: &NnArgs,
    file: Option<&Path>,
    nn_table: toml::Table,
    extra: &[(String, toml::Value)],
    d: &NnArgs,
) -> Result<NnArgs, ConfigError> {
    let path = file.unwrap_or(Path::new("<flags>"));
    let mut args: NnArgs = merge_args(flags, Some((path, nn_table)), d)?;
    if !extra.is_empty() {
        let mut t = toml::Table::try_from(&args).map_err(|e| ConfigError::Parse {
            path: "<sweep>".into(),
            message: e.to_string(),
        })?;
        for (k, v) in extra {
            t.insert(k.clone(), v.clone());
        }
        args = NnArgs::deserialize(toml::Value::Table(t)).map_err(|e| ConfigError::Parse {
            path: "<sweep>".into(),
            message: e.message().replace("unknown field", "unknown key"),
        })?;
    }
    args.config = None;
    Ok(args)
}

impl RunArgs {
    /// Flags over the config file over the run defaults, then validation.
    pub fn resolve(&self) -> Result<RunConfig, ConfigError> {
        self.resolve_with(&[])
    }

    /// As [`RunArgs::resolve`], with network keys overridden by `extra`.
    pub fn resolve_with(&self, extra: &[(String, toml::Value)]) -> Result<RunConfig, ConfigError> {
        self.resolve_with_defaults(extra, &run_defaults())
    }

    /// As [`RunArgs::resolve_with`], with the network defaults `d` (a sweep's).
    pub fn resolve_with_defaults(
        &self,
        extra: &[(String, toml::Value)],
        d: &NnArgs,
    ) -> Result<RunConfig, ConfigError> {
        let merged = self.merged_with(extra, d)?;
        let nn = merged.nn.validate()?;
        let target = merged.nn.target()?;
        if nn.record_every != 1 {
            return Err(ConfigError::invalid(
                "record-every",
                format!(
                    "must be 1 for a duality run (got {}): the EFT fit uses consecutive steps",
                    nn.record_every
                ),
            ));
        }
        if !nn.steps.is_multiple_of(nn.ntk_every) {
            return Err(ConfigError::invalid(
                "ntk-every",
                format!(
                    "{} must divide --steps {} in a duality run: the members' NTK drift is compared across runs and widths on an even grid that ends at the last step",
                    nn.ntk_every, nn.steps
                ),
            ));
        }
        let lattice = merged.lattice.validate(nn.seed)?;
        if lattice.dual == Dual::Disorder && nn.member_traces == 0 {
            return Err(ConfigError::invalid(
                "dual",
                "disorder needs every member's initial mode amplitudes, but --member-traces is 0",
            ));
        }
        Ok(RunConfig {
            nn,
            lattice,
            target,
        })
    }
}

impl RunArgs {
    /// The flags over the config file over the run defaults, as one set of flags
    /// (no file): what a shard records so that `merge` can rebuild the run.
    pub fn merged(&self) -> Result<RunArgs, ConfigError> {
        self.merged_with(&[], &run_defaults())
    }

    fn merged_with(
        &self,
        extra: &[(String, toml::Value)],
        d: &NnArgs,
    ) -> Result<RunArgs, ConfigError> {
        let path = self.nn.config.as_deref();
        let (nn_t, lat_t) = match path {
            Some(p) => {
                super::strict::check_file(p, super::strict::FileKind::Run)?;
                read_run_file(p)?
            }
            None => (toml::Table::new(), toml::Table::new()),
        };
        Ok(RunArgs {
            nn: merged_nn_args(&self.nn, path, nn_t, extra, d)?,
            lattice: merge_args(&self.lattice, path.map(|p| (p, lat_t)), &knob_defaults())?,
        })
    }
}

impl LatticeKnobs {
    fn validate(&self, nn_seed: u64) -> Result<LatticeChoice, ConfigError> {
        let grid = self.grid.map(|g| positive("grid", g)).transpose()?;
        if let Some(g) = grid
            && g < 4
        {
            return Err(ConfigError::invalid(
                "grid",
                format!("must be at least 4 (got {g})"),
            ));
        }
        let dual = given(self.dual, "dual")?;
        if dual == Dual::SingleField {
            return Err(ConfigError::invalid(
                "dual",
                "single-field was removed: one field's k-shells redshift to the mass of mode 0, so it cannot follow any mode j ≥ 1 (DESIGN §4.1); use --dual multi-field",
            ));
        }
        let matching = given(self.matching, "matching")?;
        let dual_gradient =
            positive_real("dual-gradient", given(self.dual_gradient, "dual-gradient")?)?;
        let stencil = super::stencil_order(given(self.stencil, "stencil")?)?;
        let integrator = given(self.integrator, "integrator")?;
        Ok(LatticeChoice {
            dual,
            matching,
            dual_gradient,
            eft_cubic: self.eft_cubic,
            grid,
            dx: self
                .dx
                .map(|d| super::lattice::spacing("dx", d))
                .transpose()?,
            stencil,
            integrator,
            substeps: self
                .substeps
                .map(|s| {
                    let s = positive("substeps", s)?;
                    // The plan steps the host's twin of the lattice through every
                    // substep; beyond this the lattice's dt is far below any error.
                    if s > MAX_GIVEN_SUBSTEPS {
                        return Err(ConfigError::invalid(
                            "substeps",
                            format!("{s} is more than any dual needs: the largest --substeps is {MAX_GIVEN_SUBSTEPS}"),
                        ));
                    }
                    Ok(s)
                })
                .transpose()?,
            outputs: positive(
                "lattice-outputs",
                given(self.lattice_outputs, "lattice-outputs")?,
            )?,
            seed: self.lattice_seed.unwrap_or(nn_seed),
        })
    }
}

/// A validated dictionary request.
#[derive(Debug, Clone, PartialEq)]
pub enum DictionaryRequest {
    Forward {
        lr: f64,
        momentum: f64,
        kappa: Vec<f64>,
    },
    Inverse {
        hubble: f64,
        mass: f64,
        lr: Option<f64>,
    },
}

impl DictionaryArgs {
    pub fn resolve(&self) -> Result<DictionaryRequest, ConfigError> {
        if let Some(h) = self.hubble {
            let mass = self
                .mass
                .ok_or_else(|| ConfigError::invalid("mass", "is required with --hubble"))?;
            if self.momentum.is_some() || !self.kappa.is_empty() {
                return Err(ConfigError::invalid(
                    "hubble",
                    "asks for the inverse direction, which takes --mass and optionally --lr, not --momentum or --kappa",
                ));
            }
            let hubble = positive_real("hubble", h)?;
            if !(mass.is_finite() && mass >= 0.0) {
                return Err(ConfigError::invalid(
                    "mass",
                    format!("must be finite and ≥ 0 (got {mass:?})"),
                ));
            }
            let lr = self.lr.map(|l| positive_real("lr", l)).transpose()?;
            return Ok(DictionaryRequest::Inverse { hubble, mass, lr });
        }
        if self.mass.is_some() {
            return Err(ConfigError::invalid("hubble", "is required with --mass"));
        }
        let lr = self.lr.ok_or_else(|| {
            ConfigError::invalid(
                "lr",
                "is required: give --lr η --momentum β [--kappa κ…], or --hubble H --mass m [--lr η]",
            )
        })?;
        let lr = positive_real("lr", lr)?;
        let momentum = self.momentum.unwrap_or(0.9);
        if !(0.0..1.0).contains(&momentum) {
            return Err(ConfigError::invalid(
                "momentum",
                format!("must lie in [0, 1) (got {momentum:?})"),
            ));
        }
        for &k in &self.kappa {
            if !(k.is_finite() && k >= 0.0) {
                return Err(ConfigError::invalid(
                    "kappa",
                    format!("must be finite and ≥ 0 (got {k:?})"),
                ));
            }
        }
        Ok(DictionaryRequest::Forward {
            lr,
            momentum,
            kappa: self.kappa.clone(),
        })
    }
}

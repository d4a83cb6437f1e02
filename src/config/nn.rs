//! `nncosmo-gpu nn`: raw flags and the validated ensemble configuration.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::scale::{Devices, Shard};
use super::{ConfigError, finite32, merge_args, parse_named, positive, positive_real, read_table};
use crate::theory::{Activation, Parametrization};

/// Raw flags of `nncosmo-gpu nn`; every one is also a config key.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnArgs {
    /// TOML config file (keys = flag names with underscores; an [nn] table is used if present).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Hidden-layer width n.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    /// Number of hidden layers L.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    /// Number of ensemble members E.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<i64>,
    /// erf | relu | tanh | identity.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// ntk | standard.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parametrization: Option<String>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_w: Option<f64>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_b: Option<f64>,
    /// ring | teacher | FILE.csv (columns x0..x{d-1},y).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Training points N (ring and teacher).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    /// Input dimension d of the teacher data set.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_dim: Option<i64>,
    /// y₀ of the ring target y = y₀ + A·cos θ.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_offset: Option<f64>,
    /// A of the ring target y = y₀ + A·cos θ.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_amplitude: Option<f64>,
    /// Training steps.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    /// Learning rate η.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Heavy-ball momentum β in [0, 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Record statistics every this many steps.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_every: Option<i64>,
    /// Measure the empirical NTK every this many steps (default: start and end).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntk_every: Option<i64>,
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
    /// Run even when η·κ_max ≥ 2(1+β) (the infinite-width dynamics diverge).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub allow_unstable: bool,
    /// Members per GPU chunk (default: as many as the adapter's binding limit allows).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<i64>,
    /// Record the mode amplitudes of members 0..K at every recorded step (default: all
    /// members while E·N·records ≤ 2^25 floats, else as many as fit; 0: none).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_traces: Option<i64>,
    /// Write a checkpoint (OUT/checkpoint) every this many steps, and on SIGINT/SIGTERM.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<i64>,
    /// Continue from a checkpoint (its directory, or the run's --out); the flags must
    /// describe the same run.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<PathBuf>,
    /// Train only shard I of N: members [I·E/N, (I+1)·E/N) of the same seed; writes
    /// their exact statistics to OUT/shard for `nncosmo-gpu merge`.
    #[arg(long, value_name = "I/N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Spread the members over several devices: `all` adapters, or K (K adapters, or K
    /// devices of the only one); the statistics merge in memory.
    #[arg(long, value_name = "all|K")]
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "super::scale::text_or_int"
    )]
    pub devices: Option<String>,
    /// Backend: vulkan, metal, dx12, gl (default: WGPU_BACKEND or all).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Adapter name substring (default: WGPU_ADAPTER_NAME or the best adapter).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// Where the training data come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    Ring,
    Teacher,
    Csv(PathBuf),
}

/// The resolved, validated ensemble configuration.
#[derive(Debug, Clone, Serialize)]
pub struct NnConfig {
    pub width: usize,
    pub depth: usize,
    pub ensemble: usize,
    pub activation: Activation,
    pub parametrization: Parametrization,
    pub sigma_w: f64,
    pub sigma_b: f64,
    pub data: DataSource,
    pub points: usize,
    pub input_dim: usize,
    pub target_offset: f64,
    pub target_amplitude: f64,
    pub steps: usize,
    pub lr: f64,
    pub momentum: f64,
    pub record_every: usize,
    pub ntk_every: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub force: bool,
    pub allow_unstable: bool,
    pub chunk: Option<usize>,
    /// K: members whose per-mode amplitudes every record carries.
    pub member_traces: usize,
    /// `--member-traces` as given; `None` re-applies the default budget once the data's
    /// N is known (`member_traces_for`: a CSV file's N is only known once it is read).
    #[serde(skip)]
    pub member_traces_flag: Option<usize>,
    /// Steps between checkpoints (None: only on SIGINT/SIGTERM).
    pub checkpoint_every: Option<usize>,
    /// The checkpoint to continue from.
    pub resume: Option<PathBuf>,
    /// Shard I/N (None: the whole ensemble).
    pub shard: Option<Shard>,
    /// Devices this process trains on.
    pub devices: Devices,
    pub backend: Option<String>,
    pub adapter: Option<String>,
}

/// Floats of member traces the default K keeps over a run: 2^25 (128 MiB of f32).
pub const MEMBER_TRACE_BUDGET: usize = 1 << 25;

/// Recorded steps of a run: every `record_every`-th step from 0, and the last.
pub fn recorded_steps(steps: usize, record_every: usize) -> usize {
    steps / record_every + 1 + usize::from(!steps.is_multiple_of(record_every))
}

/// The default K: every member when E·N·records ≤ `MEMBER_TRACE_BUDGET`, otherwise the
/// largest K within it.
pub fn default_member_traces(ensemble: usize, points: usize, records: usize) -> usize {
    (MEMBER_TRACE_BUDGET / (points * records).max(1)).min(ensemble)
}

impl NnConfig {
    /// The adapter this run asked for (`--backend`, `--adapter`).
    pub fn device_choice(&self) -> crate::gpu::BackendChoice {
        crate::gpu::BackendChoice {
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        }
    }

    /// The global indices of the members this process trains.
    pub fn members(&self) -> std::ops::Range<usize> {
        self.shard
            .map_or(0..self.ensemble, |s| s.members(self.ensemble))
    }

    /// K for a data set of `points` points: the flag's value, or the default budget.
    pub fn member_traces_for(&self, points: usize) -> usize {
        self.member_traces_flag.unwrap_or_else(|| {
            default_member_traces(
                self.ensemble,
                points,
                recorded_steps(self.steps, self.record_every),
            )
        })
    }
}

impl NnArgs {
    /// Flags over the config file, then validation.
    pub fn resolve(&self) -> Result<NnConfig, ConfigError> {
        self.merged()?.validate()
    }

    /// The flags over the config file, as one set of flags (no file): what a shard
    /// records so that `merge` can rebuild the run.
    pub fn merged(&self) -> Result<NnArgs, ConfigError> {
        let file = match &self.config {
            Some(p) => {
                super::strict::check_file(p, super::strict::FileKind::Nn)?;
                Some((p.as_path(), read_table(p, "nn")?))
            }
            None => None,
        };
        let mut a: NnArgs = merge_args(self, file)?;
        a.config = None;
        Ok(a)
    }

    fn validate(&self) -> Result<NnConfig, ConfigError> {
        let activation = parse_named("activation", self.activation.as_deref().unwrap_or("erf"))?;
        let parametrization = parse_named(
            "parametrization",
            self.parametrization.as_deref().unwrap_or("ntk"),
        )?;
        let data = match self.data.as_deref().unwrap_or("ring") {
            "ring" => DataSource::Ring,
            "teacher" => DataSource::Teacher,
            f if f.ends_with(".csv") => DataSource::Csv(PathBuf::from(f)),
            other => {
                return Err(ConfigError::invalid(
                    "data",
                    format!("must be ring, teacher or a .csv file (got `{other}`)"),
                ));
            }
        };
        let steps = positive("steps", self.steps.unwrap_or(1000))?;
        let lr = finite32("lr", positive_real("lr", self.lr.unwrap_or(0.5))?)?;
        let momentum = self.momentum.unwrap_or(0.9);
        if !(0.0..1.0).contains(&momentum) {
            return Err(ConfigError::invalid(
                "momentum",
                format!("must lie in [0, 1) (got {momentum:?})"),
            ));
        }
        let sigma_w = finite32(
            "sigma-w",
            positive_real("sigma-w", self.sigma_w.unwrap_or(1.0))?,
        )?;
        let sigma_b = self.sigma_b.unwrap_or(0.1);
        if !(sigma_b.is_finite() && (0.0..=f32::MAX as f64).contains(&sigma_b)) {
            return Err(ConfigError::invalid(
                "sigma-b",
                format!("must be finite and ≥ 0 (got {sigma_b:?})"),
            ));
        }
        let record_every = positive("record-every", self.record_every.unwrap_or(10))?;
        let ntk_every = match self.ntk_every {
            Some(v) => positive("ntk-every", v)?,
            None => steps,
        };
        let input_dim = match (&data, self.input_dim) {
            (DataSource::Ring, Some(d)) if d != 2 => {
                return Err(ConfigError::invalid(
                    "input-dim",
                    format!(
                        "is {d}, but the ring data set is 2-D (give --data teacher for other dimensions)"
                    ),
                ));
            }
            (DataSource::Ring, _) => 2,
            _ => positive("input-dim", self.input_dim.unwrap_or(2))?,
        };
        let ensemble = positive("ensemble", self.ensemble.unwrap_or(64))?;
        let points = positive("points", self.points.unwrap_or(16))?;
        let member_traces_flag = match self.member_traces {
            None => None,
            Some(k) if k < 0 => {
                return Err(ConfigError::invalid(
                    "member-traces",
                    format!("must be a non-negative integer (got {k})"),
                ));
            }
            Some(k) if k as u64 > ensemble as u64 => {
                return Err(ConfigError::invalid(
                    "member-traces",
                    format!("must not exceed --ensemble {ensemble} (got {k})"),
                ));
            }
            Some(k) => Some(k as usize),
        };
        let width = positive("width", self.width.unwrap_or(1024))?;
        if width % 4 != 0 {
            return Err(ConfigError::invalid(
                "width",
                format!("must be a multiple of 4 (got {width}): the kernels read rows as vec4"),
            ));
        }
        let shard = self
            .shard
            .as_deref()
            .map(|t| Shard::parse(t, ensemble))
            .transpose()?;
        let mine = shard.map_or(ensemble, |s| s.members(ensemble).len());
        let devices = match self.devices.as_deref() {
            Some(t) => Devices::parse(t, mine)?,
            None => Devices::Count(1),
        };
        if !devices.is_one() && (self.checkpoint_every.is_some() || self.resume.is_some()) {
            return Err(ConfigError::invalid(
                "devices",
                format!(
                    "{devices} cannot be combined with --checkpoint-every or --resume: give each device its own --shard I/N, which checkpoints, and merge them"
                ),
            ));
        }
        let mut cfg = NnConfig {
            width,
            depth: positive("depth", self.depth.unwrap_or(1))?,
            ensemble,
            activation,
            parametrization,
            sigma_w,
            sigma_b,
            data,
            points,
            input_dim,
            target_offset: finite32("target-offset", self.target_offset.unwrap_or(0.5))?,
            target_amplitude: finite32("target-amplitude", self.target_amplitude.unwrap_or(1.0))?,
            steps,
            lr,
            momentum,
            record_every,
            ntk_every,
            seed: self.seed.unwrap_or(0),
            out: super::out_dir(self.out.clone().unwrap_or_else(|| PathBuf::from("out/nn")))?,
            force: self.force,
            allow_unstable: self.allow_unstable,
            chunk: self.chunk.map(|c| positive("chunk", c)).transpose()?,
            member_traces: 0,
            member_traces_flag,
            checkpoint_every: self
                .checkpoint_every
                .map(|c| positive("checkpoint-every", c))
                .transpose()?,
            resume: self.resume.clone(),
            shard,
            devices,
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        };
        cfg.member_traces = cfg.member_traces_for(points);
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(flags: &[(&str, i64)]) -> Result<NnConfig, ConfigError> {
        let mut a = NnArgs::default();
        for &(k, v) in flags {
            match k {
                "ensemble" => a.ensemble = Some(v),
                "points" => a.points = Some(v),
                "steps" => a.steps = Some(v),
                "record_every" => a.record_every = Some(v),
                "member_traces" => a.member_traces = Some(v),
                _ => unreachable!(),
            }
        }
        a.resolve()
    }

    #[test]
    fn recorded_steps_counts_the_run_loop_records() {
        for (steps, every) in [(400, 1), (20, 5), (21, 5), (7, 10), (1, 1)] {
            let want = (0..=steps)
                .filter(|s: &usize| s.is_multiple_of(every) || *s == steps)
                .count();
            assert_eq!(recorded_steps(steps, every), want, "{steps} / {every}");
        }
    }

    #[test]
    fn member_traces_default_keeps_all_members_within_the_budget() {
        // The headline run: 1024 members × 16 points × 401 records = 6.6 M floats.
        let c = resolve(&[
            ("ensemble", 1024),
            ("points", 16),
            ("steps", 400),
            ("record_every", 1),
        ])
        .unwrap();
        assert_eq!(c.member_traces, 1024);
        // 4096 × 64 × 1001 floats exceed 2^25: the largest K within it is 523.
        let c = resolve(&[
            ("ensemble", 4096),
            ("points", 64),
            ("steps", 1000),
            ("record_every", 1),
        ])
        .unwrap();
        assert_eq!(c.member_traces, (1 << 25) / (64 * 1001));
        assert!(c.member_traces * 64 * 1001 <= 1 << 25);
        assert!((c.member_traces + 1) * 64 * 1001 > 1 << 25);
        // The default is re-evaluated for a CSV data set's own N; a given K is kept.
        assert_eq!(c.member_traces_for(8), 4096);
        let c = resolve(&[("ensemble", 8), ("member_traces", 3)]).unwrap();
        assert_eq!((c.member_traces, c.member_traces_for(512)), (3, 3));
    }

    #[test]
    fn member_traces_beyond_the_ensemble_or_negative_are_refused() {
        for (k, want) in [
            (9, "--member-traces must not exceed --ensemble 8 (got 9)"),
            (
                -1,
                "--member-traces must be a non-negative integer (got -1)",
            ),
        ] {
            let e = resolve(&[("ensemble", 8), ("member_traces", k)]).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        assert_eq!(
            resolve(&[("ensemble", 8), ("member_traces", 0)])
                .unwrap()
                .member_traces,
            0
        );
    }
}

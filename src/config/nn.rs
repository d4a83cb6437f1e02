//! `nncosmo-gpu nn`: raw flags and the validated ensemble configuration.

use std::path::PathBuf;

use serde::Serialize;

use super::scale::{Devices, Shard};
use super::{
    ConfigError, Target, finite32, given, merge_args, positive, positive_real, read_table,
};
use crate::cli::OutputArgs;
use crate::cli::nn::NnArgs;
use crate::theory::{Activation, Parametrization};

/// `nncosmo-gpu nn`'s defaults, typed, as the flags that give them: validation
/// merges the flags and the config file over them, and `--help` shows them.
pub fn nn_defaults() -> NnArgs {
    NnArgs {
        width: Some(1024),
        depth: Some(1),
        ensemble: Some(64),
        activation: Some(Activation::Erf),
        parametrization: Some(Parametrization::Ntk),
        sigma_w: Some(1.0),
        sigma_b: Some(0.1),
        data: Some("ring".into()),
        points: Some(16),
        input_dim: Some(2),
        target_offset: Some(0.5),
        target_amplitude: Some(1.0),
        steps: Some(1000),
        lr: Some(0.5),
        momentum: Some(0.9),
        record_every: Some(10),
        seed: Some(0),
        output: OutputArgs::to("out/nn"),
        ..NnArgs::default()
    }
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
    /// Flags over the config file over `nn`'s defaults, then validation.
    pub fn resolve(&self) -> Result<NnConfig, ConfigError> {
        self.merged()?.validate()
    }

    /// As [`NnArgs::resolve`], with where the run writes and on which adapter.
    pub fn resolve_target(&self) -> Result<(NnConfig, Target), ConfigError> {
        let m = self.merged()?;
        Ok((m.validate()?, m.target()?))
    }

    /// `--out`/`--force` and `--backend`/`--adapter` of merged flags.
    pub(crate) fn target(&self) -> Result<Target, ConfigError> {
        Ok(Target {
            output: self.output.resolve()?,
            device: (&self.device).into(),
        })
    }

    /// The flags over the config file over the defaults, as one set of flags (no
    /// file): what a shard records so that `merge` can rebuild the run.
    pub fn merged(&self) -> Result<NnArgs, ConfigError> {
        let file = match &self.config {
            Some(p) => {
                super::strict::check_file(p, super::strict::FileKind::Nn)?;
                Some((p.as_path(), read_table(p, "nn")?))
            }
            None => None,
        };
        let mut a: NnArgs = merge_args(self, file, &nn_defaults())?;
        a.config = None;
        Ok(a)
    }

    pub(crate) fn validate(&self) -> Result<NnConfig, ConfigError> {
        let data = match given(self.data.as_deref(), "data")? {
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
        let steps = positive("steps", given(self.steps, "steps")?)?;
        let lr = finite32("lr", positive_real("lr", given(self.lr, "lr")?)?)?;
        let momentum = given(self.momentum, "momentum")?;
        if !(0.0..1.0).contains(&momentum) {
            return Err(ConfigError::invalid(
                "momentum",
                format!("must lie in [0, 1) (got {momentum:?})"),
            ));
        }
        let sigma_w = finite32(
            "sigma-w",
            positive_real("sigma-w", given(self.sigma_w, "sigma-w")?)?,
        )?;
        let sigma_b = given(self.sigma_b, "sigma-b")?;
        if !(sigma_b.is_finite() && (0.0..=f32::MAX as f64).contains(&sigma_b)) {
            return Err(ConfigError::invalid(
                "sigma-b",
                format!("must be finite and ≥ 0 (got {sigma_b:?})"),
            ));
        }
        let record_every = positive("record-every", given(self.record_every, "record-every")?)?;
        let ntk_every = positive("ntk-every", self.ntk_every.unwrap_or(steps))?;
        let input_dim = match (&data, self.input_dim) {
            (DataSource::Ring, Some(n)) if n != 2 => {
                return Err(ConfigError::invalid(
                    "input-dim",
                    format!(
                        "is {n}, but the ring data set is 2-D (give --data teacher for other dimensions)"
                    ),
                ));
            }
            (DataSource::Ring, _) => 2,
            _ => positive("input-dim", given(self.input_dim, "input-dim")?)?,
        };
        let ensemble = positive("ensemble", given(self.ensemble, "ensemble")?)?;
        let points = positive("points", given(self.points, "points")?)?;
        let member_traces_flag = match self.member_traces {
            Some(k) if k > ensemble => {
                return Err(ConfigError::invalid(
                    "member-traces",
                    format!("must not exceed --ensemble {ensemble} (got {k})"),
                ));
            }
            k => k,
        };
        let width = positive("width", given(self.width, "width")?)?;
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
            depth: positive("depth", given(self.depth, "depth")?)?,
            ensemble,
            activation: given(self.activation, "activation")?,
            parametrization: given(self.parametrization, "parametrization")?,
            sigma_w,
            sigma_b,
            data,
            points,
            input_dim,
            target_offset: finite32("target-offset", given(self.target_offset, "target-offset")?)?,
            target_amplitude: finite32(
                "target-amplitude",
                given(self.target_amplitude, "target-amplitude")?,
            )?,
            steps,
            lr,
            momentum,
            record_every,
            ntk_every,
            seed: given(self.seed, "seed")?,
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
        };
        cfg.member_traces = cfg.member_traces_for(points);
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(flags: &[(&str, usize)]) -> Result<NnConfig, ConfigError> {
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
    fn member_traces_beyond_the_ensemble_are_refused() {
        let e = resolve(&[("ensemble", 8), ("member_traces", 9)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--member-traces must not exceed --ensemble 8 (got 9)"
        );
        assert_eq!(
            resolve(&[("ensemble", 8), ("member_traces", 0)])
                .unwrap()
                .member_traces,
            0
        );
    }

    #[test]
    fn zero_counts_built_in_code_are_refused_as_flags_are() {
        let e = resolve(&[("steps", 0)]).unwrap_err();
        assert_eq!(e.to_string(), "--steps must be a positive integer (got 0)");
    }
}

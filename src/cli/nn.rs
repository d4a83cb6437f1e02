//! Raw flags of `nncosmo-gpu nn` (also the network flags of `run` and `sweep`);
//! `config::nn` validates them.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::common::{
    DeviceArgs, OutputArgs, count, count_key, non_negative_count, non_negative_count_key,
};
use crate::theory::{Activation, Parametrization};

/// Raw flags of `nncosmo-gpu nn`; every one is also a config key. `None` is "not
/// given", so that a config file's value shows through; the defaults (shown in
/// `--help`) are `config::nn::nn_defaults`.
///
/// No `deny_unknown_fields`: serde cannot combine it with the flattened output and
/// device keys; `config::strict` refuses unknown keys by the clap argument list.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
pub struct NnArgs {
    /// TOML config file (keys = flag names with underscores; an [nn] table is used if present).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Hidden-layer width n (a multiple of 4).
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub width: Option<usize>,
    /// Number of hidden layers L.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub depth: Option<usize>,
    /// Number of ensemble members E.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub ensemble: Option<usize>,
    /// Pointwise non-linearity of the hidden layers.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// How the weights enter the forward pass.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parametrization: Option<Parametrization>,
    /// Weight scale σ_w.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_w: Option<f64>,
    /// Bias scale σ_b.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_b: Option<f64>,
    /// ring | teacher | FILE.csv (columns x0..x{d-1},y).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Training points N (ring and teacher).
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub points: Option<usize>,
    /// Input dimension d of the teacher data set.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub input_dim: Option<usize>,
    /// y₀ of the ring target y = y₀ + A·cos θ.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_offset: Option<f64>,
    /// A of the ring target y = y₀ + A·cos θ.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_amplitude: Option<f64>,
    /// Training steps.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub steps: Option<usize>,
    /// Learning rate η.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Heavy-ball momentum β in [0, 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Record statistics every this many steps.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub record_every: Option<usize>,
    /// Measure the empirical NTK every this many steps [default: start and end].
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub ntk_every: Option<usize>,
    /// Seed of the initial parameters and data.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    pub output: OutputArgs,
    /// Run even when η·κ_max ≥ 2(1+β) (the infinite-width dynamics diverge).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub allow_unstable: bool,
    /// Members per GPU chunk [default: as many as the adapter's binding limit allows].
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub chunk: Option<usize>,
    /// Record the mode amplitudes of members 0..K at every recorded step [default: all
    /// members while E·N·records ≤ 2^25 floats, else as many as fit; 0: none].
    #[arg(long, value_parser = non_negative_count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_negative_count_key"
    )]
    pub member_traces: Option<usize>,
    /// Write a checkpoint (OUT/checkpoint) every this many steps, and on SIGINT/SIGTERM.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub checkpoint_every: Option<usize>,
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
        deserialize_with = "crate::config::scale::text_or_int"
    )]
    pub devices: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub device: DeviceArgs,
}

//! Command-line interface: the clap structs of every subcommand (validated by
//! `config`), the flags they share (`common`), and `parse`, which shows the typed
//! defaults in `--help` and turns a refused flag value into one line.

pub mod common;
mod help;
pub mod lattice;
pub mod nn;
pub mod run;
pub mod sweep;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use common::{Backend, DeviceArgs, OutputArgs};
pub use help::{command, config_keys, error_line, parse};
use lattice::LatticeArgs;
use nn::NnArgs;
use run::{DictionaryArgs, RunArgs};
use sweep::SweepArgs;

#[derive(Debug, Parser)]
#[command(
    name = "nncosmo-gpu",
    version,
    about = "Wide-network ensembles and a de Sitter lattice field in WGSL compute kernels, compared through the NN-cosmology dictionary",
    allow_negative_numbers = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand, the flags of `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List GPU adapters with the limits and features that matter here.
    Info(InfoArgs),
    /// Train an ensemble of wide networks and record its statistics.
    #[command(allow_negative_numbers = true, args_override_self = true)]
    Nn(NnArgs),
    /// Evolve a scalar field on a 3-D lattice in de Sitter and record its statistics.
    #[command(allow_negative_numbers = true, args_override_self = true)]
    Lattice(LatticeArgs),
    /// Measure throughput (steps/s, GFLOP/s, site-updates/s).
    Bench(BenchArgs),
    /// The duality run: train, fit the EFT, map through the dictionary, run the dual lattice, compare and report (the default).
    #[command(allow_negative_numbers = true)]
    Run(RunArgs),
    /// Map network hyperparameters to de Sitter parameters (--lr, --momentum, --kappa) or back (--hubble, --mass).
    #[command(allow_negative_numbers = true)]
    Dictionary(DictionaryArgs),
    /// EFT fits over a grid of network hyperparameters (--vary KEY=V1,V2,...).
    #[command(allow_negative_numbers = true)]
    Sweep(SweepArgs),
    /// Combine the shards of one `nn` or `run` (each trained with --shard I/N) into the unsharded run's outputs.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
#[command(mut_arg("out", |a| a.required(true).help("Output directory of the merged run.")))]
pub struct MergeArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// The adapter of a `run`'s dual lattice.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// The shards' output directories (or their shard/ statistics directories).
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<PathBuf>,
}

/// `--backend` and `--adapter` are global: `bench nn --backend vulkan` works too.
#[derive(Debug, Args)]
#[command(mut_arg("backend", |a| a.global(true)), mut_arg("adapter", |a| a.global(true)))]
pub struct BenchArgs {
    #[command(subcommand)]
    pub target: BenchTarget,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Ensemble training step: (E=64, n=1024, N=64) and (E=1024, n=4096, N=64) by default,
    /// then depth 2 and 3 at (E=256, n=1024, N=16) and depth 2 at (E=64, n=4096, N=16).
    Nn(BenchNnArgs),
    /// Lattice leapfrog step at 128³ and 256³.
    Lattice,
}

#[derive(Debug, Args)]
pub struct BenchNnArgs {
    /// Benchmark only this ensemble size (with --width).
    #[arg(long)]
    pub ensemble: Option<usize>,
    #[arg(long)]
    pub width: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub depth: usize,
    #[arg(long, default_value_t = 64)]
    pub points: usize,
    /// Timed steps (default: about 2 s of work at an assumed 5 GFLOP/s).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Also time each dispatch of a step on its own and print the shares.
    #[arg(long)]
    pub profile: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Backends to list (comma list) [default: WGPU_BACKEND, else every primary backend].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub backend: Vec<Backend>,
}

//! Command-line interface: subcommands and their raw arguments.

use clap::{Args, Parser, Subcommand};

use crate::config::lattice::LatticeArgs;
use crate::config::nn::NnArgs;

#[derive(Debug, Parser)]
#[command(
    name = "nncosmo-gpu",
    version,
    about = "Wide-network ensembles and a de Sitter lattice field in WGSL compute kernels, compared through the NN-cosmology dictionary",
    allow_negative_numbers = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List GPU adapters with the limits and features that matter here.
    Info(InfoArgs),
    /// Train an ensemble of wide networks and record its statistics.
    #[command(allow_negative_numbers = true)]
    Nn(NnArgs),
    /// Evolve a scalar field on a 3-D lattice in de Sitter and record its statistics.
    #[command(allow_negative_numbers = true)]
    Lattice(LatticeArgs),
    /// Benchmarks: `bench lattice`.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to benchmark: lattice.
    pub what: String,
    /// Backend: vulkan, metal, dx12, gl (default: WGPU_BACKEND or all).
    #[arg(long)]
    pub backend: Option<String>,
    /// Adapter name substring.
    #[arg(long)]
    pub adapter: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Backends to list (vulkan, metal, dx12, gl; comma list).
    #[arg(long)]
    pub backend: Option<String>,
}

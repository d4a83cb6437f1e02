//! Command-line interface: subcommands and their raw arguments.

use clap::{Args, Parser, Subcommand};

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

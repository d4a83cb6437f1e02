//! Raw flags of `nncosmo-gpu sweep`; `config::sweep` validates them.

use clap::Args;

use super::common::count;
use super::run::RunArgs;

/// Raw flags of `nncosmo-gpu sweep`.
#[derive(Debug, Clone, Default, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// A network parameter and its values, KEY=V1,V2,... (repeat for a grid).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub vary: Vec<String>,
    /// Independent repeats of every grid point (seeds seed, seed+1, ...) [default: 1].
    #[arg(long, value_parser = count)]
    pub repeats: Option<usize>,
}

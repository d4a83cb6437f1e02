//! The duality pipeline: train the ensemble, fit the EFT, map it through both
//! dictionaries, run the dual lattice, compare and report (DESIGN §3–§5); and the
//! sweeps over network hyperparameters.

pub mod class_stats;
pub mod cli;
pub mod compare;
pub mod dictionary;
pub mod disorder;
pub mod duals;
pub mod fit;
pub mod initial;
pub mod members;
pub mod plan;
pub mod plots;
pub mod run;
pub mod sweep;
pub mod sweep_summary;
pub mod width_laws;

use thiserror::Error;

use crate::config::ConfigError;
use crate::gpu::GpuError;
use crate::lattice::LatticeError;
use crate::nn::run::RunError;
use crate::report::ReportError;
use crate::theory::dictionary::DictionaryError;

#[derive(Debug, Error)]
pub enum DualityError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Nn(#[from] RunError),
    #[error(transparent)]
    Lattice(#[from] LatticeError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{0}")]
    Dictionary(String),
    /// The lattice cannot follow the requested run.
    #[error("{0}")]
    Plan(String),
}

impl From<DictionaryError> for DualityError {
    fn from(e: DictionaryError) -> Self {
        DualityError::Dictionary(format!("refused: {e}"))
    }
}

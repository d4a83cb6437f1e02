//! The de Sitter lattice engine: a real scalar field on a periodic N³ grid in a fixed
//! background a = e^{Ht}, evolved by exactly integrated kick and drift sub-flows in
//! WGSL kernels (DESIGN §2).

pub mod bench;
pub mod engine;
pub mod initial;
pub mod output;
pub mod run;
pub mod scheme;
pub mod spectrum;
pub mod theory;

pub use engine::{Lattice, LatticeResults, Observables};

use thiserror::Error;

use crate::config::ConfigError;
use crate::gpu::GpuError;
use crate::report::ReportError;

#[derive(Debug, Error)]
pub enum LatticeError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The initial spectrum or the evolution produced NaN or infinity.
    #[error("{0}")]
    NonFinite(String),
}

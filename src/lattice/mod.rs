//! The de Sitter lattice engine: F uncoupled real scalar fields, each with its own
//! mass, on a periodic N³ grid in a fixed background a = e^{Ht}, evolved by exactly
//! integrated kick and drift sub-flows in WGSL kernels (DESIGN §2, §4.2).

pub mod bench;
pub mod engine;
pub mod initial;
pub mod output;
pub mod run;
pub mod scheme;
pub mod spectrum;
pub mod theory;

pub use engine::{FieldRow, Lattice, LatticeResults, Observables};

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
    /// An array handed to the engine is not F·N³ long.
    #[error("{what} holds {got} values, but the lattice has {expected} (fields × N³, field-major)")]
    Length {
        what: String,
        got: usize,
        expected: usize,
    },
    /// A per-field list whose length is not the number of fields.
    #[error("{got} {what} given for {fields} fields (one per field)")]
    Count {
        what: String,
        got: usize,
        fields: usize,
    },
}

//! The de Sitter lattice engine: F real scalar fields, each with its own mass, on a
//! periodic N³ grid in a fixed background a = e^{Ht}, evolved by exactly integrated
//! kick and drift sub-flows in WGSL kernels (DESIGN §2, §4.2). The fields are
//! uncoupled unless `Lattice::set_mass_matrices` couples them through a mass
//! matrix per patch (the disorder dual, DESIGN §4.4).

pub mod bench;
pub mod checkpoint;
pub mod coupled;
pub mod energy;
pub mod engine;
pub mod initial;
pub mod kernels;
pub mod output;
pub mod results;
pub mod run;
pub mod scheme;
pub mod spectrum;
pub mod theory;

pub use engine::Lattice;
pub use results::{Divergence, FieldRow, LatticeResults, Observables};

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
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// SIGINT or SIGTERM: the outputs so far and a checkpoint were written.
    #[error(transparent)]
    Interrupted(#[from] crate::signals::Interrupted),
    /// The initial spectrum or the evolution produced NaN or infinity.
    #[error("{0}")]
    NonFinite(String),
    /// The evolution overflowed; the outputs up to `last_good` were kept.
    #[error(
        "the lattice diverged: {reason}; results up to step {last_good} are in {out} (status diverged)"
    )]
    Diverged {
        reason: String,
        last_good: usize,
        out: String,
    },
    /// An array handed to the engine is not F·N³ long.
    #[error("{what} holds {got} values, but the lattice has {expected} (fields × N³, field-major)")]
    Length {
        what: String,
        got: usize,
        expected: usize,
    },
    /// Mass matrices or a patch map that `Lattice::set_mass_matrices` refuses.
    #[error(transparent)]
    Coupling(#[from] CouplingError),
    /// A per-field list whose length is not the number of fields.
    #[error("{got} {what} given for {fields} fields (one per field)")]
    Count {
        what: String,
        got: usize,
        fields: usize,
    },
}

/// Why `Lattice::set_mass_matrices` refuses its input (the sizes and the Courant
/// limit are refused as `GpuError::TooLarge` and `ConfigError` on `dt`).
#[derive(Debug, Error)]
pub enum CouplingError {
    #[error(
        "{got} mass-matrix values given, but {fields} fields need a positive multiple of {fields}×{fields} = {} (P matrices, row-major)",
        fields * fields
    )]
    MatrixLength { got: usize, fields: usize },
    #[error(
        "the patch map holds {got} indices, but the lattice has {sites} sites (N³, x + N(y + Nz))"
    )]
    PatchLength { got: usize, sites: usize },
    #[error("site {site} uses mass matrix {index}, but only {matrices} were given")]
    PatchIndex {
        site: usize,
        index: u32,
        matrices: usize,
    },
    #[error("mass matrix {matrix} is not finite: entry ({row}, {col}) is {value}")]
    NonFinite {
        matrix: usize,
        row: usize,
        col: usize,
        value: f32,
    },
    #[error(
        "mass matrix {matrix} is not symmetric: entry ({row}, {col}) is {a} but ({col}, {row}) is {b}"
    )]
    NotSymmetric {
        matrix: usize,
        row: usize,
        col: usize,
        a: f32,
        b: f32,
    },
    #[error(
        "coupled fields need 1 ≤ F ≤ {max} (the force kernel keeps a site's fields in registers), got F = {fields}"
    )]
    TooManyFields { fields: usize, max: usize },
    #[error(
        "the coupled model takes V = ½φᵀMφ, so it needs λ = 0 and φ₀ = 0 (got λ = {lambda}, φ₀ = {phi0})"
    )]
    Potential { lambda: f64, phi0: f64 },
}

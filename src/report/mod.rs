//! Output writers: atomic files, tidy CSV, JSON, the output directory and progress bars.

pub mod atomic;
pub mod csv;
pub mod html;
pub mod outdir;
pub mod plots;
pub mod progress;
pub mod status;

pub use atomic::{write_atomic, write_json};
pub use csv::CsvTable;
pub use outdir::prepare_out_dir;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "--out {0} already holds a run (report.json or a results folder); pass --force to overwrite it, or choose another --out"
    )]
    OutExists(String),
    #[error("cannot serialise {what}: {message}")]
    Serialise { what: String, message: String },
}

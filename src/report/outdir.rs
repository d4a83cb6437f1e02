//! The output directory: refuse to overwrite an earlier run unless asked to.

use std::path::Path;

use super::ReportError;

/// Entries whose presence marks a directory as holding a run.
const RUN_MARKERS: &[&str] = &[
    "report.json",
    "nn",
    "lattice",
    "compare",
    "sweep",
    "index.html",
];

pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<(), ReportError> {
    let holds_run = RUN_MARKERS.iter().any(|m| dir.join(m).exists());
    if holds_run && !force {
        return Err(ReportError::OutExists(dir.display().to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|e| ReportError::Io {
        path: dir.display().to_string(),
        source: e,
    })
}

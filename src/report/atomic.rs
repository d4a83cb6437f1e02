//! Atomic file writes: write a temporary file beside the target, flush it to disk,
//! then rename, so an interrupted run never leaves a half-written result.

use std::io::Write;
use std::path::Path;

use super::ReportError;

fn io_err(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
    })();
    if written.is_err() {
        // A full disk or a vanished directory must not leave a stray temporary file.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Pretty JSON, written atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ReportError::Serialise {
        what: path.display().to_string(),
        message: e.to_string(),
    })?;
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("nncosmo-atomic-{}", std::process::id()));
        let p = dir.join("a/b.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

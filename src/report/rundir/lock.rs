//! The writer's lock on `OUT` (`OUT/.lock`, an advisory `flock`), and the clean-up
//! of the staging directories of killed runs.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::{LOCK_FILE, io_err, unwritable};
use crate::report::ReportError;

#[cfg(unix)]
pub(super) fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
pub(super) fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

/// Takes `OUT/.lock` (writing our PID into it), or names the process that holds it.
/// A lock file whose process died is simply taken over: the kernel released its lock.
pub(super) fn take_lock(out: &Path, shown: &Path) -> Result<File, ReportError> {
    let path = out.join(LOCK_FILE);
    for _ in 0..8 {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| unwritable(shown, e))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = f.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(ReportError::Locked {
                    out: shown.display().to_string(),
                    holder: if pid.is_empty() {
                        "another process".into()
                    } else {
                        format!("process {pid}")
                    },
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&path, e)),
        }
        // The holder may have removed the file between our open and our lock: then
        // we hold a lock on an orphan and must open the path again.
        if !same_file(&f, &path) {
            continue;
        }
        f.set_len(0).map_err(|e| io_err(&path, e))?;
        f.rewind().map_err(|e| io_err(&path, e))?;
        writeln!(f, "{}", std::process::id()).map_err(|e| io_err(&path, e))?;
        return Ok(f);
    }
    Err(ReportError::Locked {
        out: shown.display().to_string(),
        holder: "another process".into(),
    })
}

/// Removes `NAME.tmp-PID` directories beside `OUT` whose process is gone (a run
/// killed while writing a generation). With the lock held no live process writes
/// them. When `OUT` itself was missing a killed two-rename swap may have left the
/// only copy there, so nothing is removed then.
pub(super) fn remove_stale_siblings(parent: &Path, name: &str, out_was_missing: bool) {
    if out_was_missing {
        return;
    }
    let prefix = format!("{name}.tmp-");
    let Ok(rd) = fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = n.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

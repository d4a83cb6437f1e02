//! The file-system side of a generation: hard-link copies of the previous one, and
//! the swap that puts a new one in place of `OUT` whole.

use std::fs::{self, File};
use std::path::Path;

use super::io_err;
use crate::report::ReportError;

#[cfg(unix)]
pub(super) fn is_mount_point(dir: &Path, parent: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(dir), fs::metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
pub(super) fn is_mount_point(_: &Path, _: &Path) -> bool {
    false
}

/// Copies the tree `from` into the existing directory `to`, hard-linking files
/// (copying where links are not supported); `keep(name, top_level)` filters entries.
pub(super) fn clone_tree(
    from: &Path,
    to: &Path,
    keep: &dyn Fn(&str, bool) -> bool,
) -> Result<(), ReportError> {
    clone_level(from, to, keep, true)
}

fn clone_level(
    from: &Path,
    to: &Path,
    keep: &dyn Fn(&str, bool) -> bool,
    top: bool,
) -> Result<(), ReportError> {
    let rd = fs::read_dir(from).map_err(|e| io_err(from, e))?;
    for e in rd {
        let e = e.map_err(|e| io_err(from, e))?;
        let name = e.file_name();
        if !keep(&name.to_string_lossy(), top) {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        let ty = e.file_type().map_err(|e| io_err(&src, e))?;
        if ty.is_dir() {
            fs::create_dir(&dst).map_err(|e| io_err(&dst, e))?;
            clone_level(&src, &dst, keep, false)?;
        } else if ty.is_symlink() {
            let target = fs::read_link(&src).map_err(|e| io_err(&src, e))?;
            symlink(&target, &dst).map_err(|e| io_err(&dst, e))?;
        } else if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).map_err(|e| io_err(&dst, e))?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    fs::copy(target, link).map(|_| ())
}

pub(super) fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Puts `new` in place of `out` and leaves the previous `out` at `new`'s path.
/// Linux swaps the two in one `renameat2(RENAME_EXCHANGE)`; where that is not
/// supported, `out` is renamed to `OUT.old-PID` and `new` into place, a window of
/// two renames in which a killed process leaves the previous generation there.
pub(super) fn swap(new: &Path, out: &Path) -> Result<(), ReportError> {
    if exchange(new, out)? {
        return Ok(());
    }
    swap_by_renames(new, out)
}

pub(super) fn swap_by_renames(new: &Path, out: &Path) -> Result<(), ReportError> {
    let old = out.with_file_name(format!(
        "{}.old-{}",
        out.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    fs::rename(out, &old).map_err(|e| io_err(out, e))?;
    if let Err(e) = fs::rename(new, out) {
        let _ = fs::rename(&old, out);
        return Err(io_err(out, e));
    }
    fs::rename(&old, new).map_err(|e| io_err(new, e))
}

/// One atomic exchange; Ok(false) where the file system or OS does not offer it.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool, ReportError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| ReportError::OutPath(format!("--out {} holds a NUL byte", p.display())))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
        _ => Err(io_err(b, e)),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> Result<bool, ReportError> {
    Ok(false)
}

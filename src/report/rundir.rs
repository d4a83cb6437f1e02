//! The output directory of a run, kept whole.
//!
//! A run never edits its `--out` directory file by file. Each time it writes its
//! results (periodically while it runs, and once at the end) it writes a whole new
//! *generation* into a sibling `OUT.tmp-PID`, stamps `status` and `last_step` into
//! its report, and swaps that directory with `OUT` in one `renameat2(RENAME_EXCHANGE)`
//! (on file systems without it: two renames, see `swap`). So whatever stops the
//! process, `OUT` holds one complete generation, in which every file ends at the
//! same `last_step`, or the previous one.
//!
//! A generation starts as a hard-link copy of the previous one, so files a writer
//! does not rewrite (a checkpoint, a snapshot) are carried over at no cost. Writers
//! must therefore *replace* files (`write_atomic`), never modify them in place: an
//! in-place edit would reach the published generation through the shared inode.
//!
//! The same type holds the writer's lock (`OUT/.lock`, an advisory `flock`, which
//! the kernel drops when the process dies, so a stale lock needs no clean-up), checks
//! that `OUT` and its parent are writable before any computing, and on drop removes
//! its temporary directory, its lock and, when nothing was written, the `OUT` it
//! created.

mod lock;
mod tree;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ReportError;
use super::status::RunStatus;
use lock::{remove_stale_siblings, same_file, take_lock};
use tree::{clone_tree, is_mount_point, swap, sync_dir};

/// Top-level entries that belong to a run: their presence marks a directory as
/// holding one, and `--force` drops them (with top-level `*.svg`) instead of
/// carrying them into the new run. Anything else already in `OUT` is kept.
pub const RUN_ENTRIES: &[&str] = &[
    "report.json",
    "index.html",
    "nn",
    "lattice",
    "compare",
    "sweep",
    "checkpoint",
    "snapshots",
    "shard",
];

/// Run entries a run writes into `OUT` itself, between generations.
const RESTART_ENTRIES: [&str; 2] = ["checkpoint", "snapshots"];

/// The lock file inside `OUT`.
pub const LOCK_FILE: &str = ".lock";

/// Seconds between periodic rewrites of a long run's outputs (`NNCOSMO_REWRITE_S`
/// overrides it; tests use a fraction of a second).
const REWRITE_DEFAULT_S: f64 = 10.0;

fn io_err(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A run's output directory: locked, checked, and written generation by generation.
#[derive(Debug)]
pub struct RunDir {
    /// The final directory (absolute, symbolic links resolved).
    out: PathBuf,
    /// `OUT.tmp-PID`, beside `out` so that the swap is a rename.
    staging: PathBuf,
    /// The report inside a generation that gets `status` and `last_step`.
    report: PathBuf,
    lock: Option<File>,
    /// The next generation drops the run entries `OUT` held at the start (--force).
    replace: bool,
    /// `out` did not exist before this run.
    created: bool,
    published: bool,
    last_publish: Instant,
    every: Duration,
}

impl RunDir {
    /// Opens `out` for a new run: creates it if needed, takes its lock, refuses a
    /// directory that holds a run unless `force` (whose files then stay until this
    /// run's first generation replaces them), and checks that `out` and its parent
    /// can be written. Call it before any heavy computing.
    pub fn create(out: &Path, force: bool) -> Result<Self, ReportError> {
        let mut dir = Self::open(out)?;
        if holds_run(&dir.out) {
            if !force {
                return Err(ReportError::OutExists(out.display().to_string()));
            }
            dir.replace = true;
            // The old run's restart files go now: this run writes its own checkpoints
            // and snapshots straight into OUT (carried from generation to generation),
            // and the first generation must not drop them as the old run's.
            for name in RESTART_ENTRIES {
                let p = dir.out.join(name);
                if fs::symlink_metadata(&p).is_ok() {
                    fs::remove_dir_all(&p).map_err(|e| io_err(&p, e))?;
                }
            }
        }
        Ok(dir)
    }

    /// Opens `out` to continue the run it holds (a resume): like `create` with no
    /// refusal, and everything in `out` is carried into the new generations until
    /// the run overwrites it.
    pub fn adopt(out: &Path) -> Result<Self, ReportError> {
        Self::open(out)
    }

    fn open(out: &Path) -> Result<Self, ReportError> {
        if out.as_os_str().is_empty() {
            return Err(ReportError::OutPath(
                "--out is empty; name a directory".into(),
            ));
        }
        let abs = std::path::absolute(out).map_err(|e| io_err(out, e))?;
        let existed = fs::symlink_metadata(&abs).is_ok();
        if existed && !abs.is_dir() {
            return Err(ReportError::OutPath(format!(
                "--out {} exists and is not a directory",
                out.display()
            )));
        }
        fs::create_dir_all(&abs).map_err(|e| unwritable(out, e))?;
        let canon = fs::canonicalize(&abs).map_err(|e| io_err(&abs, e))?;
        let (Some(parent), Some(name)) = (canon.parent(), canon.file_name()) else {
            return Err(ReportError::OutPath(format!(
                "--out {} is a file-system root; name a directory inside it",
                out.display()
            )));
        };
        if is_mount_point(&canon, parent) {
            return Err(ReportError::OutPath(format!(
                "--out {} is a mount point, which cannot be replaced whole; name a directory inside it",
                out.display()
            )));
        }
        let name = name.to_string_lossy().into_owned();
        let staging = parent.join(format!("{name}.tmp-{}", std::process::id()));
        let mut dir = Self {
            out: canon.clone(),
            staging,
            report: PathBuf::from("report.json"),
            lock: None,
            replace: false,
            created: !existed,
            published: false,
            last_publish: Instant::now(),
            every: rewrite_interval(),
        };
        // The lock's file proves `out` writable; the staging directory, its parent.
        dir.lock = Some(take_lock(&canon, out)?);
        remove_stale_siblings(parent, &name, dir.created);
        fs::create_dir(&dir.staging).map_err(|e| {
            ReportError::OutPath(format!(
                "--out {}: its parent directory {} is not writable ({e}); a run is written beside it and renamed into place",
                out.display(),
                parent.display()
            ))
        })?;
        fs::remove_dir(&dir.staging).map_err(|e| io_err(&dir.staging, e))?;
        Ok(dir)
    }

    /// The final directory.
    pub fn path(&self) -> &Path {
        &self.out
    }

    /// Where the report of a generation lives, relative to it (default
    /// `report.json`; a sweep's is `sweep/report.json`).
    pub fn set_report(&mut self, relative: impl Into<PathBuf>) {
        self.report = relative.into();
    }

    /// Whether a periodic rewrite is due (see `REWRITE_DEFAULT_S`).
    pub fn due(&self) -> bool {
        self.last_publish.elapsed() >= self.every
    }

    /// Writes a whole generation and puts it in place of `OUT`: `write` gets the new
    /// generation's directory (holding the previous generation's files) and writes
    /// the files of this step; the report then gets `status` and `last_step` (a
    /// report holding only these is made if `write` wrote none), and the directory
    /// replaces `OUT` in one swap. On error `OUT` keeps the previous generation.
    pub fn publish<E: From<ReportError>>(
        &mut self,
        status: RunStatus,
        last_step: usize,
        write: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(), E> {
        let result = self.publish_inner(status, last_step, write);
        if result.is_err() {
            let _ = fs::remove_dir_all(&self.staging);
        }
        result
    }

    fn publish_inner<E: From<ReportError>>(
        &mut self,
        status: RunStatus,
        last_step: usize,
        write: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<(), E> {
        let st = self.staging.clone();
        if fs::symlink_metadata(&st).is_ok() {
            fs::remove_dir_all(&st).map_err(|e| io_err(&st, e))?;
        }
        fs::create_dir(&st).map_err(|e| io_err(&st, e))?;
        let replace = self.replace;
        clone_tree(&self.out, &st, &|name: &str, top: bool| {
            !(is_temp(name) || (replace && top && is_run_entry(name)))
        })?;
        write(&st)?;
        stamp_report(&st.join(&self.report), status, last_step)?;
        sync_dir(&st);
        swap(&st, &self.out)?;
        self.replace = false;
        self.published = true;
        self.last_publish = Instant::now();
        // The staging path now holds the previous generation.
        if fs::symlink_metadata(&st).is_ok() {
            fs::remove_dir_all(&st).map_err(|e| io_err(&st, e))?;
        }
        if let Some(p) = self.out.parent() {
            sync_dir(p);
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if fs::symlink_metadata(&self.staging).is_ok() {
            let _ = fs::remove_dir_all(&self.staging);
        }
        if let Some(lock) = self.lock.take() {
            let path = self.out.join(LOCK_FILE);
            if same_file(&lock, &path) {
                let _ = fs::remove_file(&path);
            }
            drop(lock);
        }
        if self.created && !self.published {
            // Only an empty directory: anything else someone else put there.
            let _ = fs::remove_dir(&self.out);
        }
    }
}

fn unwritable(out: &Path, e: std::io::Error) -> ReportError {
    ReportError::OutPath(format!("--out {} is not writable: {e}", out.display()))
}

fn rewrite_interval() -> Duration {
    let s = std::env::var("NNCOSMO_REWRITE_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(REWRITE_DEFAULT_S);
    Duration::from_secs_f64(s)
}

fn is_run_entry(name: &str) -> bool {
    RUN_ENTRIES.contains(&name) || name.ends_with(".svg")
}

/// Temporary files of an atomic write (`.NAME.PID.tmp`), left by a killed process.
fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Whether `dir` holds (part of) a run.
pub fn holds_run(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| is_run_entry(&e.file_name().to_string_lossy()))
    })
}

/// Adds `status` and `last_step` to the JSON object in `path` (making one if absent).
fn stamp_report(path: &Path, status: RunStatus, last_step: usize) -> Result<(), ReportError> {
    let mut report = match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| ReportError::Serialise {
            what: path.display().to_string(),
            message: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(io_err(path, e)),
    };
    if let Some(o) = report.as_object_mut() {
        o.insert("status".into(), serde_json::json!(status));
        o.insert("last_step".into(), serde_json::json!(last_step));
    }
    super::write_json(path, &report)
}

#[cfg(test)]
mod tests {
    use super::tree::swap_by_renames;
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nncosmo-rundir-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn report(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
    }

    #[test]
    fn generations_replace_each_other_and_carry_unwritten_files() {
        let out = scratch("gen");
        let mut d = RunDir::create(&out, false).unwrap();
        d.publish(RunStatus::Interrupted, 5, |p| {
            super::super::write_atomic(&p.join("nn/loss.csv"), b"5")?;
            super::super::write_atomic(&p.join("checkpoint/state"), b"a")
        })
        .unwrap();
        assert_eq!(report(&out)["status"], "interrupted");
        assert_eq!(report(&out)["last_step"], 5);
        d.publish::<ReportError>(RunStatus::Complete, 9, |p| {
            super::super::write_atomic(&p.join("nn/loss.csv"), b"9")
        })
        .unwrap();
        assert_eq!(fs::read(out.join("nn/loss.csv")).unwrap(), b"9");
        assert_eq!(fs::read(out.join("checkpoint/state")).unwrap(), b"a");
        assert_eq!(report(&out)["status"], "complete");
        assert_eq!(report(&out)["last_step"], 9);
        let parent = names(out.parent().unwrap());
        let tag = out.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !parent.iter().any(|n| n.starts_with(&format!("{tag}.tmp-"))),
            "staging left: {parent:?}"
        );
        drop(d);
        assert_eq!(names(&out), ["checkpoint", "nn", "report.json"]);
        fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn a_second_writer_is_refused_and_force_drops_only_the_old_run() {
        let out = scratch("lock");
        let first = RunDir::create(&out, false).unwrap();
        let err = RunDir::create(&out, true).unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        let mut d = RunDir::create(&out, false).unwrap();
        d.publish::<ReportError>(RunStatus::Complete, 1, |p| {
            super::super::write_atomic(&p.join("old.svg"), b"")
        })
        .unwrap();
        drop(d);
        fs::write(out.join("notes.txt"), b"mine").unwrap();
        assert!(matches!(
            RunDir::create(&out, false),
            Err(ReportError::OutExists(_))
        ));
        let mut d = RunDir::create(&out, true).unwrap();
        // Until the new run writes, the old one is intact.
        assert!(out.join("old.svg").exists());
        d.publish::<ReportError>(RunStatus::Complete, 2, |_| Ok(()))
            .unwrap();
        drop(d);
        assert_eq!(names(&out), ["notes.txt", "report.json"]);
        fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn both_swaps_exchange_the_directories() {
        for (i, by_renames) in [false, true].into_iter().enumerate() {
            let (a, b) = (
                scratch(&format!("swap-a{i}")),
                scratch(&format!("swap-b{i}")),
            );
            fs::create_dir_all(&a).unwrap();
            fs::create_dir_all(&b).unwrap();
            fs::write(a.join("new"), b"").unwrap();
            fs::write(b.join("old"), b"").unwrap();
            if by_renames {
                swap_by_renames(&a, &b).unwrap();
            } else {
                swap(&a, &b).unwrap();
            }
            assert_eq!(names(&b), ["new"]);
            assert_eq!(names(&a), ["old"]);
            let tag = b.file_name().unwrap().to_string_lossy().into_owned();
            let left: Vec<String> = names(b.parent().unwrap())
                .into_iter()
                .filter(|n| n.starts_with(&format!("{tag}.")))
                .collect();
            assert!(left.is_empty(), "{left:?}");
            fs::remove_dir_all(a).unwrap();
            fs::remove_dir_all(b).unwrap();
        }
    }

    #[test]
    fn a_failed_run_leaves_nothing_behind() {
        let out = scratch("fail");
        let mut d = RunDir::create(&out, false).unwrap();
        let r = d.publish(RunStatus::Complete, 1, |p| {
            fs::write(p.join("half.csv"), b"x").unwrap();
            Err(ReportError::OutPath("boom".into()))
        });
        assert!(r.is_err());
        drop(d);
        assert!(!out.exists(), "the directory this run created is removed");
        let parent = names(out.parent().unwrap());
        let tag = out.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!parent.iter().any(|n| n.starts_with(&tag)), "{parent:?}");
    }
}

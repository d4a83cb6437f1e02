//! A shard's statistics on disk (OUT/shard): the exact f64 sums over its members in
//! the checkpoint format (NumPy `.npy` arrays and a JSON manifest), with what
//! `merge` needs to rebuild the run: the resolved arguments, the member range, and
//! the shard's timings and adapter.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::checkpoint::{Accumulated, read_stats, write_stats};
use super::results::{NnResults, NnTimings};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointWriter, Manifest};
use crate::gpu::AdapterSummary;
use crate::report::RunStatus;

/// The statistics directory inside a run's output directory.
pub const SHARD_DIR: &str = "shard";

/// The configuration as it identifies an ensemble: without the shard, which is the
/// one key shards of one run differ in (at the top level, or in a run's `nn` table).
pub fn ensemble_config(config: &Value) -> Value {
    let mut v = config.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("shard");
        if let Some(Value::Object(nn)) = m.get_mut("nn") {
            nn.remove("shard");
        }
    }
    v
}

/// Writes `res`'s statistics to `dir` (normally OUT/shard). `command` is `nn` or
/// `run`, `config` the run's resolved configuration and `args` its resolved
/// arguments (flags over file over defaults), from which `merge` rebuilds the run.
pub fn write(
    res: &NnResults,
    dir: &Path,
    command: &str,
    config: &Value,
    args: Value,
    status: RunStatus,
) -> Result<(), CheckpointError> {
    let n = res.data.points();
    let traced = res.records.first().map_or(0, |r| r.traces.len() / n.max(1));
    let mut w = CheckpointWriter::new(dir)?;
    write_stats(
        &mut w,
        &res.records,
        &res.ntk,
        res.ntk_members0.as_deref(),
        traced,
        n,
    )?;
    let mut m = Manifest::new(
        command,
        ensemble_config(config),
        res.last_step() as u64,
        res.config.seed,
    );
    let scalars = [
        ("first_member", json!(res.members.start)),
        ("end_member", json!(res.members.end)),
        ("traced", json!(traced)),
        ("args", args),
        ("status", json!(status)),
        ("timings", json!(res.timings)),
        ("adapter", json!(res.adapter)),
        ("chunks", json!(res.chunks)),
        ("fused", json!(res.fused)),
        ("params_per_member", json!(res.params_per_member)),
        ("devices", json!(res.devices)),
        ("diverged", json!(res.diverged)),
    ];
    for (k, v) in scalars {
        m.scalars.insert(k.into(), v);
    }
    w.commit(m)
}

/// One shard's statistics, opened and checked for completeness.
pub struct ShardFile {
    /// Where the user pointed (a run directory, or its `shard/`).
    pub given: PathBuf,
    pub ckpt: Checkpoint,
    pub members: Range<usize>,
    pub status: RunStatus,
}

impl ShardFile {
    /// Opens `path`/shard, or `path` itself when it is the statistics directory.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let inner = path.join(SHARD_DIR);
        let dir = if inner.join(crate::checkpoint::MANIFEST).is_file() {
            inner
        } else {
            path.to_path_buf()
        };
        let ckpt = Checkpoint::open(&dir)?;
        let first: usize = ckpt.scalar("first_member")?;
        let end: usize = ckpt.scalar("end_member")?;
        let status: RunStatus = ckpt.scalar("status")?;
        Ok(ShardFile {
            given: path.to_path_buf(),
            ckpt,
            members: first..end,
            status,
        })
    }

    /// The statistics, for targets `y`.
    pub fn stats(&self, y: &[f64]) -> Result<Accumulated, CheckpointError> {
        let traced: usize = self.ckpt.scalar("traced")?;
        read_stats(&self.ckpt, y, traced, self.members.len())
    }

    pub fn timings(&self) -> Result<NnTimings, CheckpointError> {
        self.ckpt.scalar("timings")
    }

    pub fn adapter(&self) -> Result<AdapterSummary, CheckpointError> {
        self.ckpt.scalar("adapter")
    }
}

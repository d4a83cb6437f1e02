//! Checkpoints and field snapshots: a directory of NumPy `.npy` arrays and a JSON
//! manifest (program version, command, configuration and its hash, step, RNG
//! position, and a CRC-32 of every array file).
//!
//! A directory is written whole or not at all: the arrays and the manifest go into a
//! hidden sibling `.NAME.tmp-PID`, each file is flushed to disk, and the directory is
//! renamed into place. An existing checkpoint is first renamed to `.NAME.old` and
//! removed only once the new one is in place, so a kill at any moment leaves one
//! complete checkpoint (`open` falls back to `.NAME.old` when NAME is missing).
//!
//! Resuming checks the run's configuration against the manifest's (the resumed run
//! is configured by its own flags and config file, as the interrupted one was):
//! every key that changes the computation must match, and the first that differs
//! is named with its flag. Keys that only say where or how to write (`out`,
//! `force`, `backend`, `adapter`, `checkpoint_every`, `snapshot_every`, `resume`)
//! may differ.

mod keys;
mod writer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use keys::{FREE_KEYS, config_difference, config_hash, config_sides};
pub use writer::CheckpointWriter;
use writer::hidden_sibling;

/// The manifest's file name inside a checkpoint or snapshot directory.
pub const MANIFEST: &str = "manifest.json";
/// Format version of the manifest and the array set (3: members padded to 8 floats).
pub const FORMAT: u32 = 3;
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("cannot write checkpoint {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read checkpoint {path}: {message}")]
    Read { path: String, message: String },
    #[error(
        "--resume {0}: no checkpoint there (no manifest.json in it or in its checkpoint/ folder)"
    )]
    Missing(String),
    /// The checkpoint belongs to another program version, command or configuration.
    #[error("--resume {path}: {message}")]
    Mismatch { path: String, message: String },
    #[error("checkpoint {path}: array {name} is corrupt (CRC-32 {got}, the manifest says {want})")]
    Corrupt {
        path: String,
        name: String,
        got: String,
        want: String,
    },
}

/// One array of a checkpoint: its file, NumPy dtype, shape and CRC-32 of the file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArrayEntry {
    pub file: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub crc32: String,
}

/// The position of the run's random streams. Both engines draw counter-based
/// (Philox) normals keyed by the seed during initialisation only, so after step 0
/// the position is the seed and the number of draws made since (always 0).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RngPosition {
    pub generator: String,
    pub seed: u64,
    pub draws_after_init: u64,
}

impl RngPosition {
    pub fn philox(seed: u64) -> Self {
        RngPosition {
            generator: "philox4x32-10".into(),
            seed,
            draws_after_init: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub program: String,
    pub version: String,
    /// `nn`, `lattice`, `run` or `snapshot`.
    pub command: String,
    /// The phase the run had reached (`run`: `training` or `duals`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// CRC-32 of the canonical JSON of `config` without the free keys.
    pub config_hash: String,
    pub config: serde_json::Value,
    pub step: u64,
    pub rng: RngPosition,
    /// Small values (times, counters) that travel with the arrays.
    #[serde(default)]
    pub scalars: BTreeMap<String, serde_json::Value>,
    pub arrays: BTreeMap<String, ArrayEntry>,
}

impl Manifest {
    /// A manifest for this program version; arrays are added by the writer.
    pub fn new(command: &str, config: serde_json::Value, step: u64, seed: u64) -> Self {
        Manifest {
            format: FORMAT,
            program: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: command.into(),
            phase: None,
            config_hash: config_hash(&config),
            config,
            step,
            rng: RngPosition::philox(seed),
            scalars: BTreeMap::new(),
            arrays: BTreeMap::new(),
        }
    }
}

/// Element types stored in checkpoints (plain numbers: their in-memory bytes on a
/// little-endian host are the `.npy` little-endian data).
pub trait Element: npyz::AutoSerialize + npyz::Deserialize + bytemuck::Pod {}
impl Element for f32 {}
impl Element for f64 {}
impl Element for u64 {}
impl Element for u32 {}

/// A checkpoint read back: its manifest and its arrays, checked against their CRCs.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Checkpoint {
    /// Opens `path`: a checkpoint directory, or a run's output directory holding one
    /// in `checkpoint/`. A checkpoint caught between its two renames is found under
    /// its `.old` name.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let candidates = [
            path.to_path_buf(),
            path.join("checkpoint"),
            hidden_sibling(path, "old"),
            hidden_sibling(&path.join("checkpoint"), "old"),
        ];
        let dir = candidates
            .into_iter()
            .find(|d| d.join(MANIFEST).is_file())
            .ok_or_else(|| CheckpointError::Missing(path.display().to_string()))?;
        let mpath = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&mpath).map_err(|e| CheckpointError::Read {
            path: mpath.display().to_string(),
            message: e.to_string(),
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| CheckpointError::Read {
                path: mpath.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(Checkpoint { dir, manifest })
    }

    /// Whether this checkpoint belongs to the run in `out` (is its `checkpoint/`):
    /// a resumed run may write into its own directory, but not over another run.
    pub fn belongs_to(&self, out: &Path) -> bool {
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        match (self.dir.parent().and_then(canon), canon(out)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// Refuses a checkpoint of another format, program version, command or
    /// configuration, naming what differs.
    pub fn check(&self, command: &str, config: &serde_json::Value) -> Result<(), CheckpointError> {
        let m = &self.manifest;
        let mismatch = |message: String| CheckpointError::Mismatch {
            path: self.dir.display().to_string(),
            message,
        };
        if m.format != FORMAT || m.program != env!("CARGO_PKG_NAME") {
            return Err(mismatch(format!(
                "checkpoint format {} of {} is not format {FORMAT} of {}",
                m.format,
                m.program,
                env!("CARGO_PKG_NAME")
            )));
        }
        if m.version != env!("CARGO_PKG_VERSION") {
            return Err(mismatch(format!(
                "checkpoint was written by version {}, this is version {}",
                m.version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if m.command != command {
            return Err(mismatch(format!(
                "checkpoint was written by `{}`, this run is `{command}`",
                m.command
            )));
        }
        if let Some(d) = config_difference(&m.config, config) {
            return Err(mismatch(d));
        }
        if m.config_hash != config_hash(config) || m.config_hash != config_hash(&m.config) {
            return Err(mismatch(format!(
                "the configuration hash differs (checkpoint {}, this run {})",
                m.config_hash,
                config_hash(config)
            )));
        }
        Ok(())
    }

    /// Reads array `name`, checking its CRC-32, dtype and element count.
    pub fn array<T: Element>(&self, name: &str) -> Result<(Vec<u64>, Vec<T>), CheckpointError> {
        let rerr = |message: String| CheckpointError::Read {
            path: self.dir.display().to_string(),
            message,
        };
        let entry = self
            .manifest
            .arrays
            .get(name)
            .ok_or_else(|| rerr(format!("the manifest lists no array {name}")))?;
        let path = self.dir.join(&entry.file);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| rerr(format!("{}: {e}", path.display())))?;
        let got = format!("{:08x}", crc32fast::hash(&bytes));
        if got != entry.crc32 {
            return Err(CheckpointError::Corrupt {
                path: self.dir.display().to_string(),
                name: name.into(),
                got,
                want: entry.crc32.clone(),
            });
        }
        let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| rerr(format!("{name}: {e}")))?;
        let shape = npy.shape().to_vec();
        let data: Vec<T> = npy.into_vec().map_err(|e| rerr(format!("{name}: {e}")))?;
        if shape != entry.shape || shape.iter().product::<u64>() != data.len() as u64 {
            return Err(rerr(format!(
                "{name} has shape {shape:?}, the manifest says {:?}",
                entry.shape
            )));
        }
        Ok((shape, data))
    }

    /// Array `name`, which must hold exactly `len` elements.
    pub fn vec<T: Element>(&self, name: &str, len: usize) -> Result<Vec<T>, CheckpointError> {
        let (_, v) = self.array::<T>(name)?;
        if v.len() != len {
            return Err(CheckpointError::Read {
                path: self.dir.display().to_string(),
                message: format!("{name} holds {} values, this run needs {len}", v.len()),
            });
        }
        Ok(v)
    }

    /// A scalar of the manifest.
    pub fn scalar<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, CheckpointError> {
        self.manifest
            .scalars
            .get(name)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| CheckpointError::Read {
                path: self.dir.display().to_string(),
                message: format!("the manifest has no scalar {name}"),
            })
    }
}

/// The output directory, locked and checked (see `RunDir`): refused when it holds a
/// run (unless --force), except that a resumed run continues in the directory whose
/// checkpoint it resumes, keeping everything there.
pub fn open_run_dir(
    out: &Path,
    force: bool,
    resume: Option<&Checkpoint>,
) -> Result<crate::report::RunDir, crate::report::ReportError> {
    if resume.is_some_and(|c| c.belongs_to(out)) {
        crate::report::RunDir::adopt(out)
    } else {
        crate::report::RunDir::create(out, force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_round_trip_and_a_flipped_byte_is_caught() {
        let root = std::env::temp_dir().join(format!("nncosmo-ckpt-unit-{}", std::process::id()));
        let dir = root.join("checkpoint");
        let a: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b = vec![f64::NAN, 1e300, -0.0];
        for round in 0..2 {
            let mut w = CheckpointWriter::new(&dir).unwrap();
            w.array("a", &[2, 3, 4], &a).unwrap();
            w.array("b", &[3], &b).unwrap();
            w.commit(Manifest::new("nn", json!({"lr": 0.5}), 7 + round, 1))
                .unwrap();
        }
        // Only the committed directory is left beside it.
        let names: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert_eq!(names.len(), 1);
        let c = Checkpoint::open(&root).unwrap();
        assert_eq!(c.manifest.step, 8);
        let (shape, got) = c.array::<f32>("a").unwrap();
        assert_eq!((shape, got), (vec![2, 3, 4], a));
        let got: Vec<f64> = c.vec("b", 3).unwrap();
        assert!(got[0].is_nan() && got[1] == 1e300 && got[2].to_bits() == (-0.0f64).to_bits());
        assert_eq!(c.manifest.arrays["a"].dtype, "<f4");
        c.check("nn", &json!({"lr": 0.5, "out": "elsewhere"}))
            .unwrap();
        let e = c.check("nn", &json!({"lr": 0.25})).unwrap_err().to_string();
        assert!(
            e.ends_with("checkpoint was written with --lr 0.5, this run has --lr 0.25"),
            "{e}"
        );
        assert!(c.check("lattice", &json!({"lr": 0.5})).is_err());
        // Corrupt one byte of the data (past the header).
        let p = c.dir.join("a.npy");
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&p, bytes).unwrap();
        assert!(matches!(
            c.array::<f32>("a"),
            Err(CheckpointError::Corrupt { .. })
        ));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn nested_tables_name_the_inner_key() {
        let a = json!({"lr": 0.5, "lattice": {"grid": 8}});
        let b = json!({"lr": 0.5, "lattice": {"grid": 16}});
        assert_eq!(
            config_difference(&a, &b).unwrap(),
            "checkpoint was written with --grid 8, this run has --grid 16"
        );
        assert_eq!(
            config_hash(&a),
            config_hash(&json!({"lattice": {"grid": 8}, "lr": 0.5}))
        );
        assert_ne!(config_hash(&a), config_hash(&b));
    }
}

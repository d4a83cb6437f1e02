//! Writing a checkpoint or snapshot directory: every array flushed to disk with its
//! CRC-32, in a hidden sibling renamed into place whole (see the module docs).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use super::{ArrayEntry, CheckpointError, Element, MANIFEST, Manifest};

/// A writer that keeps the CRC-32 of everything written through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Builds a checkpoint or snapshot directory in a temporary sibling; `commit`
/// renames it into place.
pub struct CheckpointWriter {
    dir: PathBuf,
    tmp: PathBuf,
    arrays: BTreeMap<String, ArrayEntry>,
}

fn werr(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Write {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn hidden_sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("checkpoint");
    dir.with_file_name(format!(".{name}.{suffix}"))
}

impl CheckpointWriter {
    pub fn new(dir: &Path) -> Result<Self, CheckpointError> {
        let tmp = hidden_sibling(dir, &format!("tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| werr(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| werr(&tmp, e))?;
        Ok(CheckpointWriter {
            dir: dir.to_path_buf(),
            tmp,
            arrays: BTreeMap::new(),
        })
    }

    /// Writes `data` (C order, `shape`) as NAME.npy and flushes it to disk.
    pub fn array<T: Element>(
        &mut self,
        name: &str,
        shape: &[u64],
        data: &[T],
    ) -> Result<(), CheckpointError> {
        debug_assert_eq!(shape.iter().product::<u64>(), data.len() as u64);
        let file = format!("{name}.npy");
        let path = self.tmp.join(&file);
        let f = File::create(&path).map_err(|e| werr(&path, e))?;
        let mut w = CrcWriter {
            inner: BufWriter::with_capacity(1 << 20, f),
            crc: crc32fast::Hasher::new(),
        };
        let io = |e| werr(&path, e);
        let options = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut w);
        if cfg!(target_endian = "little") {
            // The header from npyz, then the data as one block: element-wise
            // serialisation costs seconds for the E·P parameters of a large ensemble.
            options.write_header_only().map_err(io)?;
            w.write_all(bytemuck::cast_slice(data)).map_err(io)?;
        } else {
            let mut npy = options.begin_nd().map_err(io)?;
            npy.extend(data.iter().copied()).map_err(io)?;
            npy.finish().map_err(io)?;
        }
        let crc = w.crc.finalize();
        let f = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        let dtype = match <T as npyz::AutoSerialize>::default_dtype() {
            npyz::DType::Plain(t) => t.to_string(),
            other => other.descr(),
        };
        self.arrays.insert(
            name.to_string(),
            ArrayEntry {
                file,
                dtype,
                shape: shape.to_vec(),
                crc32: format!("{crc:08x}"),
            },
        );
        Ok(())
    }

    /// Writes the manifest (with the arrays' entries) and renames the directory into
    /// place, keeping the previous one until the new one is there.
    pub fn commit(self, mut manifest: Manifest) -> Result<(), CheckpointError> {
        manifest.arrays = self.arrays;
        let path = self.tmp.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        let mut f = File::create(&path).map_err(|e| werr(&path, e))?;
        f.write_all(text.as_bytes()).map_err(|e| werr(&path, e))?;
        f.sync_all().map_err(|e| werr(&path, e))?;
        sync_dir(&self.tmp)?;
        let old = hidden_sibling(&self.dir, "old");
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| werr(&old, e))?;
        }
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old).map_err(|e| werr(&self.dir, e))?;
        }
        std::fs::rename(&self.tmp, &self.dir).map_err(|e| werr(&self.dir, e))?;
        if let Some(parent) = self.dir.parent() {
            sync_dir(parent)?;
        }
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| werr(&old, e))?;
        }
        Ok(())
    }
}

/// Flushes a directory's entries (the renames) to disk.
fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| werr(d, e))
}

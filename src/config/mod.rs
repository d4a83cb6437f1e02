//! Raw arguments → validated configuration.
//!
//! Every flag of a subcommand is also a config key (underscores for dashes). A TOML
//! file given with `--config` supplies values, flags override them, and unknown keys
//! are refused with the key's name. Validation then produces a resolved config whose
//! every field is concrete and which is written verbatim into `report.json`.

pub mod lattice;
pub mod nn;
pub mod run;
pub mod scale;
pub mod strict;
pub mod sweep;

use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{flag} {message}")]
    Invalid { flag: String, message: String },
}

impl ConfigError {
    /// An invalid value, named by its flag (the config key is the same with underscores).
    pub fn invalid(flag: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            flag: format!("--{flag}"),
            message: message.into(),
        }
    }
}

/// The whole TOML file at `path`.
pub fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    text.parse()
        .map_err(|e: toml::de::Error| strict::located(&path.display().to_string(), &text, &e))
}

/// Reads `path` as TOML and returns the table for `section` when the file has one,
/// otherwise the whole file (so flat files work for single-engine runs).
pub fn read_table(path: &Path, section: &str) -> Result<toml::Table, ConfigError> {
    let mut table = read_toml(path)?;
    match table.remove(section) {
        Some(toml::Value::Table(t)) => Ok(t),
        _ => Ok(table),
    }
}

/// Overlays the flags given on the command line onto the config file's values,
/// and those onto `defaults` (the typed defaults, themselves a set of flags), and
/// deserialises the result.
pub fn merge_args<T: Serialize + DeserializeOwned>(
    flags: &T,
    file: Option<(&Path, toml::Table)>,
    defaults: &T,
) -> Result<T, ConfigError> {
    let table_of = |v: &T| {
        toml::Table::try_from(v).map_err(|e| ConfigError::Parse {
            path: "<flags>".into(),
            message: e.to_string(),
        })
    };
    let mut table = table_of(defaults)?;
    let path = match file {
        Some((p, t)) => {
            table.extend(t);
            p.display().to_string()
        }
        None => "<flags>".to_string(),
    };
    table.extend(table_of(flags)?);
    T::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        // Name the key whose value is refused (a count of 0 set in code, say): the
        // file's keys were checked with their lines already.
        let culprit = table.iter().find_map(|(k, v)| {
            let one = toml::Table::from_iter([(k.clone(), v.clone())]);
            T::deserialize(toml::Value::Table(one))
                .err()
                .map(|e| (k, e))
        });
        match culprit {
            Some((k, e)) => strict::key_error(&path, k, e.message()),
            None => ConfigError::Parse {
                path,
                message: e.message().replace("unknown field", "unknown key"),
            },
        }
    })
}

/// The value of a key that the defaults always give (`merge_args`); a set of flags
/// built without them is refused by the key's name rather than guessed.
pub fn given<T>(v: Option<T>, flag: &str) -> Result<T, ConfigError> {
    v.ok_or_else(|| ConfigError::invalid(flag, "has no value (and no default)"))
}

/// A positive integer flag (counts, sizes). The flags' parser refuses 0 already; a
/// config file or code can still give it.
pub fn positive(flag: &str, v: usize) -> Result<usize, ConfigError> {
    if v == 0 {
        Err(ConfigError::invalid(
            flag,
            "must be a positive integer (got 0)",
        ))
    } else {
        Ok(v)
    }
}

/// The Laplacian's order, `--stencil`: 2 or 4.
pub fn stencil_order(v: u32) -> Result<u32, ConfigError> {
    match v {
        2 => Ok(2),
        4 => Ok(4),
        s => Err(ConfigError::invalid(
            "stencil",
            format!("must be 2 or 4 (got {s})"),
        )),
    }
}

/// A finite, strictly positive real flag.
pub fn positive_real(flag: &str, v: f64) -> Result<f64, ConfigError> {
    if !(v.is_finite() && v > 0.0) {
        Err(ConfigError::invalid(
            flag,
            format!("must be a finite number > 0 (got {v:?})"),
        ))
    } else {
        Ok(v)
    }
}

/// Where a run writes: the validated `--out` and `--force`. Kept apart from the
/// physics configs, which do not depend on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    pub out: PathBuf,
    pub force: bool,
}

/// Where a run writes and which adapter runs it: what a driver takes beside the
/// validated config.
#[derive(Debug, Clone)]
pub struct Target {
    pub output: Output,
    pub device: crate::gpu::BackendChoice,
}

/// A real flag the f32 kernels hold: finite and within f32's range.
pub fn finite32(flag: &str, v: f64) -> Result<f64, ConfigError> {
    finite(flag, v)?;
    if v.abs() > f32::MAX as f64 {
        return Err(ConfigError::invalid(
            flag,
            format!("must lie within f32's range ±3.4e38, which the GPU kernels use (got {v:?})"),
        ));
    }
    Ok(v)
}

/// A finite real flag.
pub fn finite(flag: &str, v: f64) -> Result<f64, ConfigError> {
    if !v.is_finite() {
        Err(ConfigError::invalid(
            flag,
            format!("must be finite (got {v:?})"),
        ))
    } else {
        Ok(v)
    }
}

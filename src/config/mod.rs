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

use std::path::Path;

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

/// Overlays the flags given on the command line onto the config file's values and
/// deserialises the result; unknown keys in the file are errors naming the key.
pub fn merge_args<T: Serialize + DeserializeOwned>(
    flags: &T,
    file: Option<(&Path, toml::Table)>,
) -> Result<T, ConfigError> {
    let (path, mut table) = match file {
        Some((p, t)) => (p.display().to_string(), t),
        None => ("<flags>".to_string(), toml::Table::new()),
    };
    let given = toml::Table::try_from(flags).map_err(|e| ConfigError::Parse {
        path: "<flags>".into(),
        message: e.to_string(),
    })?;
    for (k, v) in given {
        table.insert(k, v);
    }
    T::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
        path,
        message: e.message().replace("unknown field", "unknown key"),
    })
}

/// A positive integer flag (counts, sizes).
pub fn positive(flag: &str, v: i64) -> Result<usize, ConfigError> {
    if v <= 0 {
        Err(ConfigError::invalid(
            flag,
            format!("must be a positive integer (got {v})"),
        ))
    } else {
        Ok(v as usize)
    }
}

/// The Laplacian's order, `--stencil`: 2 or 4.
pub fn stencil_order(v: i64) -> Result<u32, ConfigError> {
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

/// Parses a named choice through serde so the error lists the valid names.
pub(crate) fn parse_named<T: serde::de::DeserializeOwned>(
    flag: &str,
    value: &str,
) -> Result<T, ConfigError> {
    T::deserialize(toml::Value::String(value.to_string())).map_err(|e| {
        ConfigError::invalid(
            flag,
            e.message().replace("unknown variant", "unknown value"),
        )
    })
}

/// The output directory (`--out` or a config's `out`): a non-empty path.
pub fn out_dir(v: std::path::PathBuf) -> Result<std::path::PathBuf, ConfigError> {
    if v.as_os_str().is_empty() {
        return Err(ConfigError::invalid(
            "out",
            "must not be empty (give a directory, e.g. --out out/nn)",
        ));
    }
    Ok(v)
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

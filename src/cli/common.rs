//! The flags every run-like subcommand shares, declared once and flattened into each:
//! where the outputs go (`OutputArgs`) and which adapter runs it (`DeviceArgs`);
//! and the parsers of typed numeric flags, whose errors read like the validation's.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::{ConfigError, Output};
use crate::gpu::BackendChoice;

/// `--out` and `--force` (also the config keys `out` and `force`).
#[derive(Debug, Clone, Default, PartialEq, Args, Serialize, Deserialize)]
pub struct OutputArgs {
    /// Output directory.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// Overwrite an output directory that already holds a run.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

impl OutputArgs {
    /// `--out dir` without `--force` (a default output).
    pub fn to(dir: &str) -> Self {
        OutputArgs {
            out: Some(dir.into()),
            force: false,
        }
    }

    /// The validated output of merged flags (whose defaults give an `out`).
    pub fn resolve(&self) -> Result<Output, ConfigError> {
        let out = crate::config::given(self.out.clone(), "out")?;
        if out.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "out",
                "must not be empty (give a directory, e.g. --out out/nn)",
            ));
        }
        Ok(Output {
            out,
            force: self.force,
        })
    }
}

/// A wgpu backend a run may be restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl Backend {
    /// The name wgpu's `Backends::from_comma_list` reads.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Vulkan => "vulkan",
            Backend::Metal => "metal",
            Backend::Dx12 => "dx12",
            Backend::Gl => "gl",
        }
    }
}

/// `--backend` and `--adapter` (also the config keys `backend` and `adapter`).
#[derive(Debug, Clone, Default, PartialEq, Args, Serialize, Deserialize)]
pub struct DeviceArgs {
    /// Backend [default: WGPU_BACKEND, else every primary backend].
    #[arg(long, value_enum)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Backend>,
    /// Adapter name substring [default: WGPU_ADAPTER_NAME, else the best adapter].
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

impl From<&DeviceArgs> for BackendChoice {
    fn from(d: &DeviceArgs) -> Self {
        BackendChoice {
            backend: d.backend.map(|b| b.name().to_string()),
            adapter: d.adapter.clone(),
        }
    }
}

/// A count flag (`--width`, `--steps`, ...): an integer ≥ 1. Parsed as i64 first so
/// that the message is the same for `-3`, `0` and values past i64 (which no count
/// needs), as the config file's check gives for the key.
pub fn count(text: &str) -> Result<usize, String> {
    match text.parse::<i64>() {
        Ok(v) if v > 0 => Ok(v as usize),
        _ => Err(format!("must be a positive integer (got {text})")),
    }
}

/// A non-negative count flag (`--member-traces`): an integer ≥ 0.
pub fn non_negative_count(text: &str) -> Result<usize, String> {
    match text.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(v as usize),
        _ => Err(format!("must be a non-negative integer (got {text})")),
    }
}

/// A count config key: refused in the words of [`count`].
pub fn count_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    checked(d, count)
}

/// A non-negative count config key: refused in the words of [`non_negative_count`].
pub fn non_negative_count_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    checked(d, non_negative_count)
}

/// An integer key checked by the flag's own parser, so that a file and the command
/// line refuse a value alike.
fn checked<'de, D: Deserializer<'de>>(
    d: D,
    parse: fn(&str) -> Result<usize, String>,
) -> Result<Option<usize>, D::Error> {
    Option::<i64>::deserialize(d)?
        .map(|v| parse(&v.to_string()).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refuse_what_is_not_a_count_in_the_validations_words() {
        assert_eq!(count("12"), Ok(12));
        for bad in ["0", "-3", "1.5", "abc", "", "9223372036854775808"] {
            assert_eq!(
                count(bad),
                Err(format!("must be a positive integer (got {bad})"))
            );
        }
        assert_eq!(non_negative_count("0"), Ok(0));
        assert_eq!(
            non_negative_count("-1"),
            Err("must be a non-negative integer (got -1)".into())
        );
    }

    #[test]
    fn device_args_make_the_backend_choice() {
        let d = DeviceArgs {
            backend: Some(Backend::Vulkan),
            adapter: Some("llvmpipe".into()),
        };
        let c = BackendChoice::from(&d);
        assert_eq!(c.backend.as_deref(), Some("vulkan"));
        assert_eq!(c.adapter.as_deref(), Some("llvmpipe"));
        assert!(
            BackendChoice::from(&DeviceArgs::default())
                .backend
                .is_none()
        );
    }

    #[test]
    fn an_empty_out_is_refused() {
        let o = OutputArgs::to("out/nn").resolve().unwrap();
        assert_eq!((o.out, o.force), (PathBuf::from("out/nn"), false));
        let e = OutputArgs {
            out: Some(PathBuf::new()),
            force: true,
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().starts_with("--out must not be empty"), "{e}");
    }
}

//! `nncosmo-gpu nn`: raw flags and the validated ensemble configuration.

use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{ConfigError, finite, merge_args, positive, positive_real, read_table};
use crate::theory::{Activation, Parametrization};

/// Raw flags of `nncosmo-gpu nn`; every one is also a config key.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnArgs {
    /// TOML config file (keys = flag names with underscores; an [nn] table is used if present).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Hidden-layer width n.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    /// Number of hidden layers L.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    /// Number of ensemble members E.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<i64>,
    /// erf | relu | tanh | identity.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// ntk | standard.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parametrization: Option<String>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_w: Option<f64>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_b: Option<f64>,
    /// ring | teacher | FILE.csv (columns x0..x{d-1},y).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Training points N (ring and teacher).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<i64>,
    /// Input dimension d of the teacher data set.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_dim: Option<i64>,
    /// y₀ of the ring target y = y₀ + A·cos θ.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_offset: Option<f64>,
    /// A of the ring target y = y₀ + A·cos θ.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_amplitude: Option<f64>,
    /// Training steps.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<i64>,
    /// Learning rate η.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Heavy-ball momentum β in [0, 1).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Record statistics every this many steps.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_every: Option<i64>,
    /// Measure the empirical NTK every this many steps (default: start and end).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntk_every: Option<i64>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Output directory.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// Overwrite an output directory that already holds a run.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub force: bool,
    /// Run even when η·κ_max ≥ 2(1+β) (the infinite-width dynamics diverge).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub allow_unstable: bool,
    /// Members per GPU chunk (default: as many as the adapter's binding limit allows).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<i64>,
    /// Backend: vulkan, metal, dx12, gl (default: WGPU_BACKEND or all).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Adapter name substring (default: WGPU_ADAPTER_NAME or the best adapter).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// Where the training data come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    Ring,
    Teacher,
    Csv(PathBuf),
}

/// The resolved, validated ensemble configuration.
#[derive(Debug, Clone, Serialize)]
pub struct NnConfig {
    pub width: usize,
    pub depth: usize,
    pub ensemble: usize,
    pub activation: Activation,
    pub parametrization: Parametrization,
    pub sigma_w: f64,
    pub sigma_b: f64,
    pub data: DataSource,
    pub points: usize,
    pub input_dim: usize,
    pub target_offset: f64,
    pub target_amplitude: f64,
    pub steps: usize,
    pub lr: f64,
    pub momentum: f64,
    pub record_every: usize,
    pub ntk_every: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub force: bool,
    pub allow_unstable: bool,
    pub chunk: Option<usize>,
    pub backend: Option<String>,
    pub adapter: Option<String>,
}

impl NnArgs {
    /// Flags over the config file, then validation.
    pub fn resolve(&self) -> Result<NnConfig, ConfigError> {
        let file = match &self.config {
            Some(p) => Some((p.as_path(), read_table(p, "nn")?)),
            None => None,
        };
        merge_args(self, file)?.validate()
    }

    fn validate(&self) -> Result<NnConfig, ConfigError> {
        let activation = parse_named("activation", self.activation.as_deref().unwrap_or("erf"))?;
        let parametrization = parse_named(
            "parametrization",
            self.parametrization.as_deref().unwrap_or("ntk"),
        )?;
        let data = match self.data.as_deref().unwrap_or("ring") {
            "ring" => DataSource::Ring,
            "teacher" => DataSource::Teacher,
            f if f.ends_with(".csv") => DataSource::Csv(PathBuf::from(f)),
            other => {
                return Err(ConfigError::invalid(
                    "data",
                    format!("must be ring, teacher or a .csv file (got `{other}`)"),
                ));
            }
        };
        let steps = positive("steps", self.steps.unwrap_or(1000))?;
        let lr = positive_real("lr", self.lr.unwrap_or(0.5))?;
        let momentum = self.momentum.unwrap_or(0.9);
        if !(0.0..1.0).contains(&momentum) {
            return Err(ConfigError::invalid(
                "momentum",
                format!("must lie in [0, 1) (got {momentum})"),
            ));
        }
        let sigma_w = positive_real("sigma-w", self.sigma_w.unwrap_or(1.0))?;
        let sigma_b = self.sigma_b.unwrap_or(0.1);
        if !(sigma_b.is_finite() && sigma_b >= 0.0) {
            return Err(ConfigError::invalid(
                "sigma-b",
                format!("must be finite and ≥ 0 (got {sigma_b})"),
            ));
        }
        let record_every = positive("record-every", self.record_every.unwrap_or(10))?;
        let ntk_every = match self.ntk_every {
            Some(v) => positive("ntk-every", v)?,
            None => steps,
        };
        let input_dim = match data {
            DataSource::Ring => 2,
            _ => positive("input-dim", self.input_dim.unwrap_or(2))?,
        };
        let width = positive("width", self.width.unwrap_or(1024))?;
        if width % 4 != 0 {
            return Err(ConfigError::invalid(
                "width",
                format!("must be a multiple of 4 (got {width}): the kernels read rows as vec4"),
            ));
        }
        Ok(NnConfig {
            width,
            depth: positive("depth", self.depth.unwrap_or(1))?,
            ensemble: positive("ensemble", self.ensemble.unwrap_or(64))?,
            activation,
            parametrization,
            sigma_w,
            sigma_b,
            data,
            points: positive("points", self.points.unwrap_or(16))?,
            input_dim,
            target_offset: finite("target-offset", self.target_offset.unwrap_or(0.5))?,
            target_amplitude: finite("target-amplitude", self.target_amplitude.unwrap_or(1.0))?,
            steps,
            lr,
            momentum,
            record_every,
            ntk_every,
            seed: self.seed.unwrap_or(0),
            out: self.out.clone().unwrap_or_else(|| PathBuf::from("out/nn")),
            force: self.force,
            allow_unstable: self.allow_unstable,
            chunk: self.chunk.map(|c| positive("chunk", c)).transpose()?,
            backend: self.backend.clone(),
            adapter: self.adapter.clone(),
        })
    }
}

/// Parses a named choice through serde so the error lists the valid names.
fn parse_named<T: serde::de::DeserializeOwned>(flag: &str, value: &str) -> Result<T, ConfigError> {
    T::deserialize(toml::Value::String(value.to_string())).map_err(|e| {
        ConfigError::invalid(
            flag,
            e.message().replace("unknown variant", "unknown value"),
        )
    })
}

//! `nncosmo-gpu sweep`: a grid over network parameters, each point a run of the
//! network side with its EFT fits.
//!
//! `--vary KEY=V1,V2,...` (repeatable) names any network key of `nncosmo-gpu nn`
//! (dashes or underscores); the grid is their Cartesian product. A config file may
//! hold the same in a `[sweep]` table: `vary = ["lr=1e-3,3e-3"]`, `repeats = 2`.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::run::{RunConfig, sweep_defaults};
use crate::cli::nn::NnArgs;
use crate::cli::run::RunArgs;
use crate::cli::sweep::SweepArgs;

/// Most runs (grid points × repeats) one sweep may ask for.
pub const MAX_SWEEP_RUNS: usize = 10_000;

/// Network keys a sweep may vary.
pub const VARIABLE_KEYS: &[&str] = &[
    "width",
    "depth",
    "ensemble",
    "activation",
    "parametrization",
    "sigma_w",
    "sigma_b",
    "data",
    "points",
    "input_dim",
    "target_offset",
    "target_amplitude",
    "steps",
    "lr",
    "momentum",
    "ntk_every",
    "seed",
    "chunk",
];

/// One varied parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// The validated sweep: the base run and the grid.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The run arguments every grid point starts from.
    pub base_args: RunArgs,
    pub base: RunConfig,
    pub axes: Vec<Axis>,
    pub repeats: usize,
}

impl SweepConfig {
    /// The grid points, each a list of (key, value), in row-major order of the axes.
    pub fn points(&self) -> Vec<Vec<(String, toml::Value)>> {
        let mut pts: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for a in &self.axes {
            let mut next = Vec::new();
            for p in &pts {
                for v in &a.values {
                    let mut q = p.clone();
                    q.push((a.key.clone(), v.clone()));
                    next.push(q);
                }
            }
            pts = next;
        }
        pts
    }
}

fn scalar(text: &str) -> toml::Value {
    if let Ok(i) = text.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = text.parse::<f64>() {
        toml::Value::Float(f)
    } else {
        toml::Value::String(text.to_string())
    }
}

/// Parses one `KEY=V1,V2,...`; errors are one line naming `--vary`. Unknown keys are
/// refused by `VARIABLE_KEYS` (NnArgs accepts unknown keys, see its docs).
pub fn parse_axis(spec: &str) -> Result<Axis, ConfigError> {
    let bad = |m: String| ConfigError::invalid("vary", m);
    let (key, list) = spec
        .split_once('=')
        .ok_or_else(|| bad(format!("`{spec}` is malformed: expected KEY=V1,V2,...")))?;
    let key = key.trim().replace('-', "_");
    if !VARIABLE_KEYS.contains(&key.as_str()) {
        return Err(bad(format!(
            "`{key}` is not a network parameter; one of: {}",
            VARIABLE_KEYS.join(", ")
        )));
    }
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    if items.iter().any(|s| s.is_empty()) {
        return Err(bad(format!(
            "`{spec}` is malformed: an empty value in the list (expected KEY=V1,V2,...)"
        )));
    }
    let mut values = Vec::new();
    for it in items {
        let mut v = scalar(it);
        // Integers are also valid reals (lr=1 is fine).
        let mut t = toml::Table::new();
        t.insert(key.clone(), v.clone());
        if NnArgs::deserialize(toml::Value::Table(t.clone())).is_err() {
            if let toml::Value::Integer(i) = v {
                v = toml::Value::Float(i as f64);
                t.insert(key.clone(), v.clone());
            }
            if NnArgs::deserialize(toml::Value::Table(t)).is_err() {
                return Err(bad(format!(
                    "`{key}={it}`: the value has the wrong type for {key}"
                )));
            }
        }
        values.push(v);
    }
    Ok(Axis { key, values })
}

/// The `[sweep]` table of a config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SweepTable {
    #[serde(default)]
    vary: Vec<String>,
    repeats: Option<usize>,
}

fn read_sweep_table(path: &Path) -> Result<SweepTable, ConfigError> {
    let mut table = super::read_toml(path)?;
    match table.remove("sweep") {
        Some(v) => SweepTable::deserialize(v).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: format!(
                "[sweep]: {}",
                e.message().replace("unknown field", "unknown key")
            ),
        }),
        None => Ok(SweepTable::default()),
    }
}

impl SweepArgs {
    pub fn resolve(&self) -> Result<SweepConfig, ConfigError> {
        // A sweep is many short runs; checkpoints and splitting the ensemble belong
        // to nn, lattice and run.
        for (flag, given) in [
            ("checkpoint-every", self.run.nn.checkpoint_every.is_some()),
            ("resume", self.run.nn.resume.is_some()),
            ("shard", self.run.nn.shard.is_some()),
            ("devices", self.run.nn.devices.is_some()),
        ] {
            if given {
                return Err(ConfigError::invalid(
                    flag,
                    "is not supported by sweep (only by nn, lattice and run)",
                ));
            }
        }
        let file = match self.run.nn.config.as_deref() {
            Some(p) => {
                super::strict::check_file(p, super::strict::FileKind::Run)?;
                read_sweep_table(p)?
            }
            None => SweepTable::default(),
        };
        // Flags replace the file's list for the same key.
        let mut axes: Vec<Axis> = Vec::new();
        for spec in file.vary.iter().chain(&self.vary) {
            let a = parse_axis(spec)?;
            match axes.iter_mut().find(|b| b.key == a.key) {
                Some(b) => *b = a,
                None => axes.push(a),
            }
        }
        if axes.is_empty() {
            return Err(ConfigError::invalid(
                "vary",
                "is required: give at least one KEY=V1,V2,... (e.g. --vary lr=1e-3,3e-3)",
            ));
        }
        if let Some(w) = axes.iter().find(|a| a.key == "width") {
            let mut distinct: Vec<String> = w.values.iter().map(|v| v.to_string()).collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() < 3 {
                return Err(ConfigError::invalid(
                    "vary",
                    format!(
                        "width needs at least 3 distinct widths for the finite-width exponents (got {})",
                        distinct.len()
                    ),
                ));
            }
        }
        let repeats = super::positive("repeats", self.repeats.or(file.repeats).unwrap_or(1))?;
        let grid_points = axes
            .iter()
            .fold(1usize, |n, a| n.saturating_mul(a.values.len()));
        if grid_points.saturating_mul(repeats) > MAX_SWEEP_RUNS {
            return Err(ConfigError::invalid(
                "repeats",
                format!(
                    "{repeats} × {grid_points} grid points is more than {MAX_SWEEP_RUNS} runs: the largest --repeats is {}",
                    (MAX_SWEEP_RUNS / grid_points).max(1)
                ),
            ));
        }
        let base_args = self.run.clone();
        let base = base_args.resolve_with_defaults(&[], &sweep_defaults())?;
        Ok(SweepConfig {
            base_args,
            base,
            axes,
            repeats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_and_refuse() {
        let a = parse_axis("lr=1e-3,3e-3, 0.01").unwrap();
        assert_eq!(a.key, "lr");
        assert_eq!(a.values.len(), 3);
        assert_eq!(a.values[2], toml::Value::Float(0.01));
        let w = parse_axis("width=256,1024").unwrap();
        assert_eq!(w.values[1], toml::Value::Integer(1024));
        // An integer is accepted where a real is expected.
        let sw = parse_axis("sigma-w=1,2.5").unwrap();
        assert_eq!(sw.key, "sigma_w");
        assert_eq!(sw.values[1], toml::Value::Float(2.5));
        for bad in ["lr", "foo=1,2", "lr=1,,2", "lr=", "width=abc", "width=1.5"] {
            let e = parse_axis(bad).unwrap_err().to_string();
            assert!(e.starts_with("--vary "), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
        // NnArgs itself accepts unknown keys (its output and device keys are
        // flattened): the key list refuses them, naming the key.
        let e = parse_axis("foo=1").unwrap_err().to_string();
        assert!(
            e.starts_with("--vary `foo` is not a network parameter"),
            "{e}"
        );
        // Keys outside the network's physics are not varied either.
        for key in ["out", "force", "backend", "adapter"] {
            let e = parse_axis(&format!("{key}=x")).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`{key}` is not a network parameter")),
                "{e}"
            );
        }
    }
}

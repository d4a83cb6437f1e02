//! Raw flags of `nncosmo-gpu lattice`; `config::lattice` validates them.

use std::path::PathBuf;

use clap::{ArgAction, Args};
use serde::{Deserialize, Deserializer, Serialize};

use super::common::{DeviceArgs, OutputArgs, count, count_key};
use crate::config::lattice::{Integrator, SpectrumKind, Velocity};

/// Raw flags of `nncosmo-gpu lattice`; every one is also a config key. `None` is
/// "not given"; the defaults (shown in `--help`) are `config::lattice::lattice_defaults`.
///
/// No `deny_unknown_fields`: serde cannot combine it with the flattened output and
/// device keys; `config::strict` refuses unknown keys by the clap argument list.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
pub struct LatticeArgs {
    /// TOML config file (keys = flag names with underscores; a [lattice] table is used if present).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Sites per dimension N (the grid is N³, periodic; at least 4).
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub grid: Option<usize>,
    /// Comoving lattice spacing.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dx: Option<f64>,
    /// Time step (cosmic time).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dt: Option<f64>,
    /// Hubble rate H of the de Sitter background a = exp(H t); 0 is flat space.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hubble: Option<f64>,
    /// Number of fields F, evolved together on the same grid and background.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub fields: Option<usize>,
    /// Mass m (not m²); a negative value means m² = −m² (tachyonic, needs --allow-tachyonic).
    /// Repeat once per field (--fields) to give each its own; a single one applies to all.
    #[arg(long, action = ArgAction::Append)]
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub mass: Vec<f64>,
    /// Quartic coupling λ of V = ½m²(φ−φ₀)² + (λ/4)(φ−φ₀)⁴.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// Potential minimum φ₀.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi_min: Option<f64>,
    /// Homogeneous initial field φ̄(0).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi_init: Option<f64>,
    /// Homogeneous initial velocity φ̄̇(0).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dphi_init: Option<f64>,
    /// Initial fluctuations.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<SpectrumKind>,
    /// Power of the white and power-law spectra: P(k) = A·k^n.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amplitude: Option<f64>,
    /// Tilt n of the power-law spectrum P(k) = A·k^n.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tilt: Option<f64>,
    /// Initial fluctuation velocity.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    /// Time integrator.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrator: Option<Integrator>,
    /// Laplacian order: 2 (7-point) or 4 (13-point).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stencil: Option<u32>,
    /// Number of time steps.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub steps: Option<usize>,
    /// Record observables and spectra every this many steps.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub output_every: Option<usize>,
    /// Seed of the initial fluctuations.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    pub output: OutputArgs,
    /// Write a checkpoint (OUT/checkpoint) at the first output step past every this
    /// many steps, and on SIGINT/SIGTERM.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub checkpoint_every: Option<usize>,
    /// Continue from a checkpoint (its directory, or the run's --out); the flags must
    /// describe the same run.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<PathBuf>,
    /// Write φ and φ̇ of every field (OUT/snapshots/step-S/*.npy) at output steps that
    /// are multiples of this.
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub snapshot_every: Option<usize>,
    /// Accept a negative H or a negative m².
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub allow_tachyonic: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub device: DeviceArgs,
}

/// A config value given as one number (`mass = 1.0`) or a list (`mass = [0.5, 1.0]`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number or a list of numbers")
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(vec![v])
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v as f64])
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v as f64])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(x) = seq.next_element::<f64>()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

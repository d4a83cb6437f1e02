//! Raw flags of `nncosmo-gpu run` (the network flags and the lattice knobs of the
//! duality run) and of `dictionary`; `config::run` validates them.

use clap::Args;
use serde::{Deserialize, Serialize};

use super::common::{count, count_key};
use super::nn::NnArgs;
use crate::config::lattice::Integrator;
use crate::config::run::{Dual, Matching};

/// The lattice knobs of the duality run; every one is also a `[lattice]` key. The
/// defaults (shown in `--help`) are `config::run::knob_defaults`.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatticeKnobs {
    /// Lattice sites per dimension: M³ Hubble patches, each playing one network [default: 32].
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub grid: Option<usize>,
    /// Comoving lattice spacing [default: from --dual-gradient, so every lattice mode is outside the horizon at t = 0].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dx: Option<f64>,
    /// Laplacian order of the lattice: 2 or 4 (the patches are superhorizon, so the stencil's accuracy hardly matters).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stencil: Option<u32>,
    /// Lattice integrator.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrator: Option<Integrator>,
    /// Lattice steps per network step [default: the fewest that keep the lattice's own dt error below 1e-4 of each field's amplitude].
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub substeps: Option<usize>,
    /// Number of lattice spectra P(k) over the run (the per-field means and variances are sampled at every network step).
    #[arg(long, value_parser = count)]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "count_key"
    )]
    pub lattice_outputs: Option<usize>,
    /// Seed of the lattice's initial fluctuations [default: the network's --seed].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lattice_seed: Option<u64>,
    /// The dual: multi-field (one field per network mode row, one Hubble patch per
    /// network), or disorder (as multi-field, and the disorder dual is required).
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dual: Option<Dual>,
    /// Dictionary of the dual: discrete (H_d, m_d², exact at the sampled steps) or continuum (H, m² = κ).
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matching: Option<Matching>,
    /// Separate-universe bound ε: the spacing puts k_max/a(0) ≤ ε·H.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dual_gradient: Option<f64>,
    /// Add a cubic term g·c³ to the per-member EFT fits.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub eft_cubic: bool,
}

/// Raw flags of `nncosmo-gpu run`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub nn: NnArgs,
    #[command(flatten)]
    pub lattice: LatticeKnobs,
}

/// Raw flags of `nncosmo-gpu dictionary`.
#[derive(Debug, Clone, Default, Args)]
pub struct DictionaryArgs {
    /// Learning rate η (forward: network → cosmology; with --hubble, fixes η of the inverse).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Momentum β in [0, 1) (forward direction) [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Eigenvalues κ of Θ/N to classify (forward direction; repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub kappa: Vec<f64>,
    /// Hubble rate H (inverse: cosmology → network; needs --mass).
    #[arg(long)]
    pub hubble: Option<f64>,
    /// Field mass m (inverse direction).
    #[arg(long)]
    pub mass: Option<f64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

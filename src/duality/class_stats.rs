//! Per-class statistics of each side of the comparison, with their standard
//! errors: the network's (from its records and member traces) and the dual
//! lattice's (from its spatial samples), and the z-score of a difference.

use serde::Serialize;

use crate::nn::results::NnResults;

/// An estimate with its standard error.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub se: f64,
}

/// One side's statistics of one class at one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClassStats {
    /// Mean residual on the class's first row.
    pub mean: Estimate,
    /// Unbiased power, averaged over the class's rows.
    pub power: Estimate,
}

/// Network statistics per recorded step: (mean residual, power) per mode.
pub struct NnSeries {
    pub steps: Vec<usize>,
    pub mean: Vec<Vec<f64>>,
    pub power: Vec<Vec<f64>>,
}

impl NnSeries {
    pub fn new(res: &NnResults) -> Self {
        let nm = res.modes.kappa.len();
        let mut s = NnSeries {
            steps: Vec::new(),
            mean: vec![Vec::new(); nm],
            power: vec![Vec::new(); nm],
        };
        for r in &res.records {
            s.steps.push(r.step);
            for (j, (m, p)) in res.mode_values(r).into_iter().enumerate() {
                s.mean[j].push(m);
                s.power[j].push(p);
            }
        }
        s
    }
}

/// Unbiased variance of n samples whose biased (1/n) variance is `var`, with its
/// standard error for Gaussian samples: Var(s²) = 2σ⁴/(n − 1).
fn gaussian_power(var: f64, n: usize) -> Estimate {
    let n = n as f64;
    let p = var * n / (n - 1.0);
    Estimate {
        value: p,
        se: p * (2.0 / (n - 1.0)).sqrt(),
    }
}

/// Unbiased variance of the samples `c` and its standard error from their own
/// fourth moment, sd((c − c̄)²)/√n (no Gaussian assumption: finite-width
/// ensembles are not Gaussian).
fn empirical_power(c: impl Iterator<Item = f64> + Clone) -> Estimate {
    let n = c.clone().count() as f64;
    let mean = c.clone().sum::<f64>() / n;
    let d2: Vec<f64> = c.map(|v| (v - mean) * (v - mean)).collect();
    let p = d2.iter().sum::<f64>() / (n - 1.0);
    let m = d2.iter().sum::<f64>() / n;
    let var_d2 = d2.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / (n - 1.0);
    Estimate {
        value: p,
        se: (var_d2 / n).sqrt(),
    }
}

/// Class statistics from per-row (mean, power) estimates of `n` samples: the mean
/// on the primary row with its standard error √(P/n), the power averaged over the
/// rows (independent at infinite width).
fn class_stats(
    rows: &[usize],
    primary: usize,
    n: usize,
    row: impl Fn(usize) -> (f64, Estimate),
) -> ClassStats {
    let r = rows.len() as f64;
    let per: Vec<Estimate> = rows.iter().map(|&b| row(b).1).collect();
    let (mean, p_primary) = row(primary);
    ClassStats {
        mean: Estimate {
            value: mean,
            se: (p_primary.value.max(0.0) / n as f64).sqrt(),
        },
        power: Estimate {
            value: per.iter().map(|e| e.value).sum::<f64>() / r,
            se: per.iter().map(|e| e.se * e.se).sum::<f64>().sqrt() / r,
        },
    }
}

/// Per recorded step and class, the network's statistics. The power comes from
/// the per-member traces when every member is traced, otherwise from the GPU's
/// reduced power with the Gaussian standard error.
pub fn network_stats(res: &NnResults) -> Vec<Vec<ClassStats>> {
    let modes = &res.modes;
    let e = res.config.ensemble;
    let n = modes.mode_of_basis.len();
    let k = res.config.member_traces;
    res.records
        .iter()
        .map(|rec| {
            let row = |b: usize| -> (f64, Estimate) {
                let p = if k == e && rec.traces.len() == k * n {
                    empirical_power((0..k).map(|m| rec.traces[m * n + b] as f64))
                } else {
                    gaussian_power(rec.proj_power[b], e)
                };
                (rec.proj_mean[b], p)
            };
            (0..modes.n_modes())
                .map(|j| class_stats(&modes.rows_of_mode(j), modes.primary[j], e, row))
                .collect()
        })
        .collect()
}

/// The dual lattice sampled at the network's recorded steps: per field, the
/// spatial mean and the biased spatial variance over `sites` patches.
#[derive(Clone, Debug, Default)]
pub struct LatticeSamples {
    pub steps: Vec<usize>,
    pub t: Vec<f64>,
    pub mean: Vec<Vec<f64>>,
    pub var: Vec<Vec<f64>>,
    pub sites: usize,
}

/// Per sample and class, the lattice's statistics (fields are rows).
pub fn lattice_stats(s: &LatticeSamples, res: &NnResults) -> Vec<Vec<ClassStats>> {
    let modes = &res.modes;
    (0..s.steps.len())
        .map(|i| {
            let row = |b: usize| (s.mean[i][b], gaussian_power(s.var[i][b], s.sites));
            (0..modes.n_modes())
                .map(|j| class_stats(&modes.rows_of_mode(j), modes.primary[j], s.sites, row))
                .collect()
        })
        .collect()
}

/// |a − b| in units of their combined standard error.
pub fn z_score(a: Estimate, b: Estimate) -> f64 {
    let d = (a.value - b.value).abs();
    let s = (a.se * a.se + b.se * b.se).sqrt();
    if s > 0.0 {
        d / s
    } else if d == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

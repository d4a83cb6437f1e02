//! The comparison of DESIGN §4: background, per-mode growth, and the EFT table.

use serde::Serialize;

use super::dictionary::Dictionary;
use super::fit::{ModeFit, fit_trajectory, signed_amplitude};
use super::plan::LatticePlan;
use crate::lattice::LatticeResults;
use crate::nn::run::NnResults;
use crate::report::CsvTable;
use crate::row;
use crate::theory::desitter::background;

pub const BACKGROUND_HEADER: &[&str] = &["tau", "efolds", "nn", "lattice", "theory"];
pub const MODES_HEADER: &[&str] = &[
    "tau",
    "efolds",
    "mode",
    "nn_growth",
    "lattice_growth",
    "superhorizon_growth",
];

/// (k/a)² below this fraction of κ_j + (3H/2)² counts as no longer mattering.
pub const GRADIENT_IRRELEVANT: f64 = 0.01;

/// One lattice output's spectrum: (step, t, [(k, P)] per bin).
type Spectrum = (usize, f64, Vec<(f64, f64)>);
/// One row of compare/modes.csv: (τ, N, mode, nn, lattice, superhorizon).
pub type ModeRow = (f64, f64, usize, f64, f64, f64);

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

    fn index_of(&self, step: usize) -> Option<usize> {
        self.steps.binary_search(&step).ok()
    }
}

/// Network-side fits: every mode of the mean and of the fluctuations.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkFits {
    pub time_step: f64,
    pub mean: Vec<ModeFit>,
    pub fluctuations: Vec<ModeFit>,
}

pub fn network_fits(series: &NnSeries, eta: f64, beta: f64) -> NetworkFits {
    let dt = eta.sqrt();
    let first = beta == 0.0;
    let consecutive = series.steps.windows(2).all(|w| w[1] == w[0] + 1);
    let fit = |j: usize, c: &[f64]| {
        if consecutive {
            fit_trajectory(j, c, dt, first)
        } else {
            ModeFit::failed(
                j,
                "fit skipped: the records are not consecutive steps".into(),
            )
        }
    };
    NetworkFits {
        time_step: dt,
        mean: series
            .mean
            .iter()
            .enumerate()
            .map(|(j, c)| fit(j, c))
            .collect(),
        fluctuations: series
            .power
            .iter()
            .enumerate()
            .map(|(j, p)| fit(j, &signed_amplitude(p)))
            .collect(),
    }
}

/// Per-mode comparison numbers.
#[derive(Clone, Debug, Serialize)]
pub struct ModeMetrics {
    pub mode: usize,
    pub kappa: f64,
    /// Paired lattice shell: k_j = j·dk and the bin's mean k_eff (null for mode 0).
    pub k: f64,
    pub k_eff: Option<f64>,
    /// e-fold after which (k/a)² < 1% of κ_j + (3H/2)² (0 when it never mattered).
    pub gradient_irrelevant_efold: f64,
    /// max over the run of |growth_nn − growth_superhorizon| (growths are 1 at τ = 0).
    pub nn_vs_superhorizon: f64,
    /// max |growth_nn − growth_lattice|.
    pub nn_vs_lattice: Option<f64>,
    /// max |growth_lattice − growth_superhorizon(m² = κ₀)| after the gradient stops mattering.
    pub lattice_vs_superhorizon_late: Option<f64>,
    /// Whether the superhorizon prediction is expected to hold (fit ok, continuum regime).
    pub fits: bool,
}

/// Lattice-side fits on the sampled background and the paired shells.
#[derive(Clone, Debug, Serialize)]
pub struct LatticeFits {
    pub time_step: f64,
    pub background: ModeFit,
    /// Per ring mode j ≥ 1: the paired shell's amplitude after its k/a stops mattering.
    pub modes: Vec<ModeFit>,
}

/// Everything the comparison produces.
pub struct Comparison {
    pub background: CsvTable,
    pub modes: CsvTable,
    pub metrics: serde_json::Value,
    pub mode_metrics: Vec<ModeMetrics>,
    pub lattice_fits: LatticeFits,
    pub background_max_rel_dev: f64,
    /// (tau, efolds, nn, lattice, theory).
    pub background_rows: Vec<[f64; 5]>,
    /// (tau, efolds, mode, nn, lattice, superhorizon).
    pub mode_rows: Vec<ModeRow>,
}

fn max_abs_dev(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

pub fn compare(
    nn: &NnResults,
    series: &NnSeries,
    fits: &NetworkFits,
    dict: &Dictionary,
    plan: &LatticePlan,
    lat: &LatticeResults,
) -> Comparison {
    let h = dict.hubble;
    let kappa = &nn.modes.kappa;
    let nm = kappa.len();
    let sqrt_eta = nn.config.lr.sqrt();
    let sub = plan.substeps;
    let b0 = series.mean[0][0];
    // Lattice outputs ↔ network steps.
    let outs: Vec<(usize, f64)> = lat
        .background
        .iter()
        .filter_map(|r| {
            (r.step % sub == 0)
                .then(|| series.index_of(r.step / sub).map(|i| (i, r.t)))
                .flatten()
        })
        .collect();
    let lat_b: Vec<f64> = lat
        .background
        .iter()
        .filter(|r| r.step % sub == 0 && series.index_of(r.step / sub).is_some())
        .map(|r| r.obs.phi_mean - plan.config.phi_min)
        .collect();
    let mut bg = CsvTable::new(BACKGROUND_HEADER);
    let mut background_rows = Vec::new();
    let (mut nn_b, mut th_b) = (Vec::new(), Vec::new());
    for ((i, t), l) in outs.iter().zip(&lat_b) {
        let n = series.mean[0][*i];
        let th = background(h, kappa[0], b0, 0.0, *t).0;
        bg.push(row![*t, h * t, n, *l, th]);
        background_rows.push([*t, h * t, n, *l, th]);
        nn_b.push(n);
        th_b.push(th);
    }
    let scale = b0.abs().max(1e-300);
    let background_max_rel_dev = max_abs_dev(&nn_b, &lat_b) / scale;

    // Lattice spectra per output, and the bin of every ring mode.
    let mut spectra: Vec<Spectrum> = Vec::new();
    for r in &lat.spectrum {
        if spectra.last().map(|s| s.0) != Some(r.step) {
            spectra.push((r.step, r.t, Vec::new()));
        }
        spectra.last_mut().unwrap().2.push((r.k, r.power));
    }
    let bin_of: Vec<Option<usize>> = (0..nm)
        .map(|j| {
            spectra.first().and_then(|s| {
                s.2.iter()
                    .position(|(k, _)| j >= 1 && (k / plan.dk).round() as usize == j)
            })
        })
        .collect();
    let lat_power = |out: usize, j: usize| -> f64 {
        if j == 0 {
            lat_b[out] * lat_b[out]
        } else {
            bin_of[j]
                .and_then(|b| spectra.get(out).map(|s| s.2[b].1))
                .unwrap_or(f64::NAN)
        }
    };
    let mut md = CsvTable::new(MODES_HEADER);
    let mut mode_rows = Vec::new();
    let mut mode_metrics = Vec::new();
    let mut lattice_mode_fits = Vec::new();
    let out_dt = plan.output_every_nn_steps as f64 * sqrt_eta;
    for j in 0..nm {
        let p0 = series.power[j][0];
        let l0 = lat_power(0, j);
        let kj = j as f64 * plan.dk;
        let thresh = GRADIENT_IRRELEVANT * (kappa[j].max(0.0) + 2.25 * h * h);
        let n_irr = if j == 0 {
            0.0
        } else {
            (0.5 * (kj * kj / thresh).ln()).max(0.0)
        };
        let (mut g_nn, mut g_lat, mut g_sh, mut g_sh0, mut late) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (o, (i, t)) in outs.iter().enumerate() {
            let gn = series.power[j][*i] / p0;
            let gl = lat_power(o, j) / l0;
            let gs = background(h, kappa[j], 1.0, 0.0, *t).0.powi(2);
            let gs0 = background(h, kappa[0], 1.0, 0.0, *t).0.powi(2);
            md.push(row![*t, h * t, j, gn, gl, gs]);
            mode_rows.push((*t, h * t, j, gn, gl, gs));
            g_nn.push(gn);
            g_lat.push(gl);
            g_sh.push(gs);
            g_sh0.push(gs0);
            late.push(h * t >= n_irr);
        }
        let lat_ok = g_lat.iter().all(|v| v.is_finite());
        let late_dev = lat_ok.then(|| {
            // After the crossing, compare growth relative to the value at the crossing.
            let first = late.iter().position(|&l| l);
            match first {
                Some(f) => g_lat[f..]
                    .iter()
                    .zip(&g_sh0[f..])
                    .map(|(l, s)| (l / g_lat[f] - s / g_sh0[f]).abs())
                    .fold(0.0, f64::max),
                None => f64::NAN,
            }
        });
        let fit_ok = fits.fluctuations[j].status == "ok";
        mode_metrics.push(ModeMetrics {
            mode: j,
            kappa: kappa[j],
            k: kj,
            k_eff: bin_of[j].and_then(|b| spectra.first().map(|s| s.2[b].0)),
            gradient_irrelevant_efold: n_irr,
            nn_vs_superhorizon: max_abs_dev(&g_nn, &g_sh),
            nn_vs_lattice: lat_ok.then(|| max_abs_dev(&g_nn, &g_lat)),
            lattice_vs_superhorizon_late: late_dev,
            fits: fit_ok && dict.modes[j].continuum_ok,
        });
        // Lattice fit of the paired shell after the gradient stops mattering.
        if j >= 1 && lat_ok {
            let first = late.iter().position(|&l| l).unwrap_or(late.len());
            let amp: Vec<f64> = (first..outs.len()).map(|o| lat_power(o, j)).collect();
            let f = if amp.len() >= 6 {
                fit_trajectory(j, &signed_amplitude(&amp), out_dt, false)
            } else {
                ModeFit::failed(
                    j,
                    format!(
                        "too few outputs after N_e = {n_irr:.2} (where k/a stops mattering) to fit"
                    ),
                )
            };
            lattice_mode_fits.push(f);
        }
    }
    let lattice_fits = LatticeFits {
        time_step: out_dt,
        background: fit_trajectory(0, &lat_b, out_dt, false),
        modes: lattice_mode_fits,
    };
    let fitted: Vec<&ModeMetrics> = mode_metrics.iter().filter(|m| m.fits).collect();
    let sh_max = fitted
        .iter()
        .map(|m| m.nn_vs_superhorizon)
        .fold(0.0, f64::max);
    let hubble_rel = dict.hubble_rel_diff();
    let m2_rel_max = dict
        .modes
        .iter()
        .filter_map(|m| m.m2_discrete_rel_diff)
        .map(f64::abs)
        .fold(0.0, f64::max);
    let no_dual: Vec<usize> = dict
        .modes
        .iter()
        .filter(|m| m.discrete.hubble_m2().is_none())
        .map(|m| m.mode)
        .collect();
    let ntk_drift = nn.ntk.last().map(|n| n.drift);
    let mut why = Vec::new();
    let disc = hubble_rel
        .map(f64::abs)
        .unwrap_or(f64::INFINITY)
        .max(m2_rel_max);
    if disc > 0.02 || !no_dual.is_empty() {
        why.push(format!(
            "discrete-step effects: the continuum and discrete dictionaries differ (H_d/H − 1 = {}, max |m_d²/κ − 1| = {:.2}%{})",
            hubble_rel
                .map(|r| format!("{:+.2}%", 100.0 * r))
                .unwrap_or_else(|| "∞ (first order)".into()),
            100.0 * m2_rel_max,
            if no_dual.is_empty() {
                String::new()
            } else {
                format!("; modes {no_dual:?} have no continuum dual")
            }
        ));
    }
    if let Some(d) = ntk_drift
        && d > 0.05
    {
        why.push(format!(
            "finite width: the empirical NTK drifted by {:.1}% (a time-dependent mass)",
            100.0 * d
        ));
    }
    let metrics = serde_json::json!({
        "background_max_rel_dev": background_max_rel_dev,
        "background_nn_vs_theory": max_abs_dev(&nn_b, &th_b) / scale,
        "background_lattice_vs_theory": max_abs_dev(&lat_b, &th_b) / scale,
        "B_NN0": b0,
        "superhorizon_vs_nn_max": sh_max,
        "superhorizon_fitted_modes": fitted.iter().map(|m| m.mode).collect::<Vec<_>>(),
        "modes": mode_metrics,
        "hubble_discrete_rel_diff": hubble_rel,
        "m2_discrete_max_rel_diff": m2_rel_max,
        "no_continuum_dual_modes": no_dual,
        "ntk_final_drift": ntk_drift,
        "efolds": plan.efolds,
        "explanation": why,
    });
    Comparison {
        background: bg,
        modes: md,
        metrics,
        mode_metrics,
        lattice_fits,
        background_max_rel_dev,
        background_rows,
        mode_rows,
    }
}

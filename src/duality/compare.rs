//! The comparison of DESIGN §4.3: per mode class and recorded step, the network,
//! the multi-field dual lattice and the infinite-width theory, with every
//! deviation in sampling-error units.

use serde::Serialize;

use super::fit::{ModeFit, fit_pooled, fit_trajectory, signed_amplitude};
use super::plan::DualPlan;
use crate::config::run::{Dual, Matching};
use crate::nn::results::NnResults;
use crate::report::CsvTable;
use crate::report::csv::sci;
use crate::theory::desitter::background;
use crate::theory::propagator::mode_propagator;

// The statistics live in their own module; their old paths still work.
pub use super::class_stats::{
    ClassStats, Estimate, LatticeSamples, NnSeries, lattice_stats, network_stats, z_score,
};

/// A row of `compare/background.csv`: mode 0's mean on each side.
#[derive(Default, Serialize)]
pub struct BackgroundCsv {
    #[serde(serialize_with = "sci")]
    tau: f64,
    #[serde(serialize_with = "sci")]
    efolds: f64,
    #[serde(serialize_with = "sci")]
    nn: f64,
    #[serde(serialize_with = "sci")]
    lattice: f64,
    #[serde(serialize_with = "sci")]
    theory: f64,
}

/// A row of `compare/modes.csv`: one mode class on every side.
#[derive(Default, Serialize)]
pub struct ModesCsv {
    step: usize,
    #[serde(serialize_with = "sci")]
    tau: f64,
    #[serde(serialize_with = "sci")]
    efolds: f64,
    mode: usize,
    #[serde(serialize_with = "sci")]
    kappa: f64,
    #[serde(serialize_with = "sci")]
    m2: f64,
    #[serde(serialize_with = "sci")]
    nn_mean: f64,
    #[serde(serialize_with = "sci")]
    lattice_mean: f64,
    #[serde(serialize_with = "sci")]
    theory_mean: f64,
    #[serde(serialize_with = "sci")]
    nn_power: f64,
    #[serde(serialize_with = "sci")]
    nn_power_se: f64,
    #[serde(serialize_with = "sci")]
    lattice_power: f64,
    #[serde(serialize_with = "sci")]
    lattice_power_se: f64,
    #[serde(serialize_with = "sci")]
    theory_power: f64,
}

/// Deviations count where the theory power is at least this fraction of its
/// initial value: below it a class has decayed into f32 round-off of the outputs.
pub const POWER_WINDOW: f64 = 1e-4;
/// |z| above this (of ~10³ correlated comparisons, where the largest of pure
/// sampling noise stays below ~4) marks a real departure.
pub const Z_FLAG: f64 = 5.0;

/// The largest z of the means and of the powers, and where each occurs.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MaxZ {
    pub mean_max_z: f64,
    pub mean_mode: usize,
    pub mean_step: usize,
    pub power_max_z: f64,
    pub power_mode: usize,
    pub power_step: usize,
}

impl MaxZ {
    fn add(&mut self, mode: usize, step: usize, zm: f64, zp: f64) {
        if zm > self.mean_max_z || zm.is_nan() {
            (self.mean_max_z, self.mean_mode, self.mean_step) = (zm, mode, step);
        }
        if zp > self.power_max_z || zp.is_nan() {
            (self.power_max_z, self.power_mode, self.power_step) = (zp, mode, step);
        }
    }

    pub fn max(&self) -> f64 {
        self.mean_max_z.max(self.power_max_z)
    }
}

/// One class's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct ClassMetrics {
    pub mode: usize,
    pub kappa: f64,
    pub m2: f64,
    pub rows: usize,
    pub nn_vs_lattice: MaxZ,
    pub nn_vs_theory: MaxZ,
    pub lattice_vs_theory: MaxZ,
    /// Recorded steps inside the comparison window.
    pub steps_compared: usize,
    /// The lattice's own dt error per unit initial amplitude (from the plan).
    pub lattice_dt_error: f64,
    /// max_s |continuum solution − recurrence| per unit initial amplitude: what
    /// continuum matching costs this class.
    pub continuum_limit_error: f64,
    /// The network leaves every infinite-width dual here (lattice and theory).
    pub finite_width: bool,
}

/// `metrics` of report.json.
#[derive(Clone, Debug, Serialize)]
pub struct DualMetrics {
    pub dual: Dual,
    pub matching: Matching,
    pub nn_vs_lattice: MaxZ,
    pub nn_vs_theory: MaxZ,
    pub lattice_vs_theory: MaxZ,
    pub window: String,
    pub z_flag: f64,
    pub classes: Vec<ClassMetrics>,
    /// Classes where the network leaves every infinite-width dual.
    pub finite_width_classes: Vec<usize>,
    /// Plain-language findings (also on the terminal and the page).
    pub findings: Vec<String>,
    pub members: usize,
    pub members_traced: usize,
    pub lattice_patches: usize,
    /// k_max/(a(0)·H) of the lattice.
    pub gradient: f64,
    pub efolds: f64,
    /// ‖Θ_s − Θ_0‖/‖Θ_0‖ of the ensemble-mean empirical NTK at the last measurement.
    pub ntk_final_drift: Option<f64>,
}

/// Lattice-side EFT fits per class: its mean and its power (every patch follows
/// the same linear propagator, so √P's fit is that propagator's).
#[derive(Clone, Debug, Serialize)]
pub struct LatticeFits {
    pub time_step: f64,
    pub mean: Vec<ModeFit>,
    pub fluctuations: Vec<ModeFit>,
}

/// Network-side fits per class: the ensemble mean, and the members' fluctuations
/// pooled (DESIGN §4.5).
#[derive(Clone, Debug, Serialize)]
pub struct NetworkFits {
    pub time_step: f64,
    pub mean: Vec<ModeFit>,
    pub fluctuations: Vec<ModeFit>,
}

/// Fits of the network's classes: the mean residual's trajectory, and every traced
/// member's fluctuation δc_{e,b}(s) = c_{e,b}(s) − c̄_b(s) over the class's rows,
/// pooled into one least-squares problem (fitting √P instead would dephase the
/// members and bias H_eff).
pub fn network_fits(res: &NnResults, series: &NnSeries) -> NetworkFits {
    let (eta, beta) = (res.config.lr, res.config.momentum);
    let dt = eta.sqrt();
    let first = beta == 0.0;
    let consecutive = series.steps.windows(2).all(|w| w[1] == w[0] + 1);
    let skip = || {
        ModeFit::failed(
            0,
            "fit skipped: the records are not consecutive steps".into(),
        )
    };
    let modes = &res.modes;
    let n = modes.mode_of_basis.len();
    let k = res.config.member_traces;
    let traced = k > 0 && res.records.iter().all(|r| r.traces.len() == k * n);
    let fluct = |j: usize| -> ModeFit {
        if !consecutive {
            return skip();
        }
        if !traced {
            return ModeFit::failed(
                j,
                "no per-member traces (--member-traces 0): the fluctuation fit pools members"
                    .into(),
            );
        }
        let mut trajectories = Vec::new();
        for b in modes.rows_of_mode(j) {
            for m in 0..k {
                trajectories.push(
                    res.records
                        .iter()
                        .map(|r| r.traces[m * n + b] as f64 - r.proj_mean[b])
                        .collect::<Vec<f64>>(),
                );
            }
        }
        fit_pooled(j, &trajectories, dt, first)
    };
    NetworkFits {
        time_step: dt,
        mean: series
            .mean
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if consecutive {
                    fit_trajectory(j, c, dt, first)
                } else {
                    skip()
                }
            })
            .collect(),
        fluctuations: (0..modes.n_modes()).map(fluct).collect(),
    }
}

/// One recorded step: per class, the three sides.
#[derive(Clone, Debug)]
pub struct CompareRow {
    pub step: usize,
    pub tau: f64,
    pub nn: Vec<ClassStats>,
    pub lattice: Vec<ClassStats>,
    pub theory: Vec<ClassStats>,
}

/// Everything the comparison produces.
pub struct Comparison {
    pub background: CsvTable<BackgroundCsv>,
    pub modes: CsvTable<ModesCsv>,
    pub metrics: DualMetrics,
    pub lattice_fits: LatticeFits,
    pub rows: Vec<CompareRow>,
}

/// max_s |continuum solution − recurrence| of one class per unit amplitude.
fn continuum_limit_error(eta: f64, beta: f64, kappa: f64, steps: usize) -> f64 {
    let h = (1.0 - beta) / (3.0 * eta.sqrt());
    mode_propagator(eta, beta, kappa, steps)
        .iter()
        .enumerate()
        .map(|(s, p)| (background(h, kappa, 1.0, 0.0, s as f64 * eta.sqrt()).0 - p).abs())
        .fold(0.0, f64::max)
}

pub fn compare(nn: &NnResults, plan: &DualPlan, lat: &LatticeSamples) -> Comparison {
    let modes = &nn.modes;
    let nm = modes.n_modes();
    let (eta, beta) = (nn.config.lr, nn.config.momentum);
    let h = plan.hubble;
    let net = network_stats(nn);
    let latt = lattice_stats(lat, nn);
    let mut bg = CsvTable::new();
    let mut md = CsvTable::new();
    let mut rows = Vec::new();
    let mut total = [MaxZ::default(); 3];
    let mut per_class = vec![[MaxZ::default(); 3]; nm];
    let mut compared = vec![0usize; nm];
    let power0: Vec<f64> = nn
        .theory
        .steps
        .first()
        .map(|t| t.mode_power.clone())
        .unwrap_or_default();
    for (i, rec) in nn.records.iter().enumerate() {
        let Some(li) = lat.steps.iter().position(|&s| s == rec.step) else {
            continue;
        };
        let Some(th) = nn.theory.at(rec.step) else {
            continue;
        };
        let tau = rec.step as f64 * eta.sqrt();
        let theory: Vec<ClassStats> = (0..nm)
            .map(|j| ClassStats {
                mean: Estimate {
                    value: th.mode_mean_residual[j],
                    se: 0.0,
                },
                power: Estimate {
                    value: th.mode_power[j],
                    se: 0.0,
                },
            })
            .collect();
        let (a, b) = (&net[i], &latt[li]);
        bg.push(BackgroundCsv {
            tau,
            efolds: h * tau,
            nn: a[0].mean.value,
            lattice: b[0].mean.value,
            theory: theory[0].mean.value,
        });
        for j in 0..nm {
            md.push(ModesCsv {
                step: rec.step,
                tau,
                efolds: h * tau,
                mode: j,
                kappa: modes.kappa[j],
                m2: plan.fields[modes.primary[j]].m2,
                nn_mean: a[j].mean.value,
                lattice_mean: b[j].mean.value,
                theory_mean: theory[j].mean.value,
                nn_power: a[j].power.value,
                nn_power_se: a[j].power.se,
                lattice_power: b[j].power.value,
                lattice_power_se: b[j].power.se,
                theory_power: theory[j].power.value,
            });
            if theory[j].power.value < POWER_WINDOW * power0.get(j).copied().unwrap_or(0.0) {
                continue;
            }
            compared[j] += 1;
            for (slot, (x, y)) in [(a, b), (a, &theory), (b, &theory)].into_iter().enumerate() {
                let zm = z_score(x[j].mean, y[j].mean);
                let zp = z_score(x[j].power, y[j].power);
                total[slot].add(j, rec.step, zm, zp);
                per_class[j][slot].add(j, rec.step, zm, zp);
            }
        }
        rows.push(CompareRow {
            step: rec.step,
            tau,
            nn: a.clone(),
            lattice: b.clone(),
            theory,
        });
    }
    let mut classes = Vec::new();
    let mut findings = Vec::new();
    let mut finite = Vec::new();
    for j in 0..nm {
        let [nl, nt, lt] = per_class[j];
        let fw = nl.max() > Z_FLAG && nt.max() > Z_FLAG;
        if fw {
            finite.push(j);
            let (z, kind, step) = if nl.power_max_z >= nl.mean_max_z {
                (nl.power_max_z, "power", nl.power_step)
            } else {
                (nl.mean_max_z, "mean", nl.mean_step)
            };
            findings.push(format!(
                "class {j} (κ = {:.4}): finite-width effect: the network's {kind} leaves every infinite-width dual (vs lattice z = {z:.1} at step {step}, vs theory z = {:.1}) while the lattice follows the theory (z = {:.1})",
                modes.kappa[j],
                nt.max(),
                lt.max()
            ));
        }
        if lt.max() > Z_FLAG {
            findings.push(format!(
                "class {j}: the lattice departs from the infinite-width recursion (z = {:.1} at step {}): {}",
                lt.max(),
                if lt.mean_max_z >= lt.power_max_z { lt.mean_step } else { lt.power_step },
                match plan.matching {
                    Matching::Continuum => "continuum matching is not exact at this step size (the continuum-limit error)",
                    Matching::Discrete => "the lattice's dt error or its gradient coupling between patches",
                }
            ));
        }
        classes.push(ClassMetrics {
            mode: j,
            kappa: modes.kappa[j],
            m2: plan.fields[modes.primary[j]].m2,
            rows: modes.rows_of_mode(j).len(),
            nn_vs_lattice: nl,
            nn_vs_theory: nt,
            lattice_vs_theory: lt,
            steps_compared: compared[j],
            lattice_dt_error: plan.dt_error[j],
            continuum_limit_error: continuum_limit_error(
                eta,
                beta,
                modes.kappa[j],
                nn.config.steps,
            ),
            finite_width: fw,
        });
    }
    if findings.is_empty() {
        findings.push(format!(
            "every class agrees within z ≤ {Z_FLAG}: network, dual lattice and infinite-width theory are one dynamics at this width"
        ));
    }
    let dt = eta.sqrt();
    let first = beta == 0.0;
    let lat_fits = LatticeFits {
        time_step: dt,
        mean: (0..nm)
            .map(|j| {
                let c: Vec<f64> = rows.iter().map(|r| r.lattice[j].mean.value).collect();
                fit_trajectory(j, &c, dt, first)
            })
            .collect(),
        fluctuations: (0..nm)
            .map(|j| {
                let p: Vec<f64> = rows.iter().map(|r| r.lattice[j].power.value).collect();
                fit_trajectory(j, &signed_amplitude(&p), dt, first)
            })
            .collect(),
    };
    let metrics = DualMetrics {
        dual: plan.dual,
        matching: plan.matching,
        nn_vs_lattice: total[0],
        nn_vs_theory: total[1],
        lattice_vs_theory: total[2],
        window: format!(
            "per class, the recorded steps where the theory power is ≥ {POWER_WINDOW:e} of its initial value"
        ),
        z_flag: Z_FLAG,
        classes,
        finite_width_classes: finite,
        findings,
        members: nn.config.ensemble,
        members_traced: nn.config.member_traces,
        lattice_patches: lat.sites,
        gradient: plan.gradient,
        efolds: plan.efolds,
        ntk_final_drift: nn.recorded_ntk().last().map(|n| n.drift),
    };
    Comparison {
        background: bg,
        modes: md,
        metrics,
        lattice_fits: lat_fits,
        rows,
    }
}

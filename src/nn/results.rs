//! What an `nn` run produced, in memory: the records, the NTK samples, timings, and
//! the summary report.json carries (the duality pipeline and the shards read these).

use serde::Serialize;

use super::data::Dataset;
use super::engine::Record;
use super::stats::NtkSums;
use crate::config::nn::NnConfig;
use crate::gpu::AdapterSummary;
use crate::theory::modes::Modes;
use crate::theory::propagator::{TheoryLines, max_stable_lr};

/// One empirical-NTK measurement. The member columns are NaN when the engine could
/// not hold every member's NTK (E·N² floats past one binding).
#[derive(Clone, Debug, Serialize)]
pub struct NtkSample {
    pub step: usize,
    /// tr(Θ)/N = Σ_j κ_j of the ensemble-mean empirical NTK.
    pub trace: f64,
    /// ‖Θ_s − Θ_0‖_F / ‖Θ_0‖_F of the ensemble mean.
    pub drift: f64,
    /// Mean over members of ‖Θ_e(s) − Θ_e(0)‖_F / ‖Θ_e(0)‖_F.
    pub drift_member_mean: f64,
    /// Their standard deviation over members (E − 1 in the denominator).
    pub drift_member_sd: f64,
    /// Member-to-member spread of off-diagonal entries in the mode basis, relative to
    /// the mean diagonal: see `NtkSums::member_stats`.
    pub offdiag_rel_sd: f64,
    /// The same for the diagonal entries.
    pub diag_rel_sd: f64,
    /// The sums over members these are derived from.
    #[serde(skip)]
    pub sums: NtkSums,
}

impl NtkSample {
    /// The measurement of `sums`, its drifts taken against the step-0 measurement `first`.
    pub fn new(sums: NtkSums, first: &NtkSums) -> Self {
        let th = sums.mean();
        let base = first.mean();
        let n = th.len().isqrt();
        let trace = (0..n).map(|i| th[i * n + i]).sum::<f64>() / n as f64;
        let diff: Vec<f64> = th.iter().zip(&base).map(|(a, b)| a - b).collect();
        let (drift_member_mean, drift_member_sd, offdiag_rel_sd, diag_rel_sd) = sums.member_stats();
        NtkSample {
            step: sums.step,
            trace,
            drift: frob(&diff) / frob(&base),
            drift_member_mean,
            drift_member_sd,
            offdiag_rel_sd,
            diag_rel_sd,
            sums,
        }
    }

    /// The samples of a run's measurements (the first is step 0's).
    pub fn series(sums: Vec<NtkSums>) -> Vec<NtkSample> {
        let Some(first) = sums.first().cloned() else {
            return Vec::new();
        };
        sums.into_iter()
            .map(|s| NtkSample::new(s, &first))
            .collect()
    }
}

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct NnTimings {
    pub setup_s: f64,
    pub init_s: f64,
    pub train_s: f64,
    pub ntk_s: f64,
    pub write_s: f64,
    /// Writing checkpoints (inside `train_s`), and how many were written.
    pub checkpoint_s: f64,
    pub checkpoints: usize,
    pub steps_per_s: f64,
    pub flops_per_step: f64,
    pub gflop_per_s: f64,
}

/// Everything a run produced, in memory (the duality pipeline reads this).
pub struct NnResults {
    pub config: NnConfig,
    pub data: Dataset,
    pub modes: Modes,
    pub nngp: Vec<f64>,
    pub records: Vec<Record>,
    pub theory: TheoryLines,
    pub ntk: Vec<NtkSample>,
    /// Every member's empirical NTK at s = 0, E×N×N (Θ_e, not Θ_e/N); None when the
    /// engine measured the mean alone. The disorder dual's per-patch mass matrices.
    pub ntk_members0: Option<Vec<f32>>,
    pub timings: NnTimings,
    pub adapter: AdapterSummary,
    pub chunks: Vec<usize>,
    pub fused: bool,
    pub params_per_member: usize,
    pub diverged: Option<(usize, f32)>,
    /// (step, signal) when SIGINT or SIGTERM stopped the run after that step.
    pub interrupted: Option<(usize, i32)>,
    /// The global members these results cover (a shard's or device's slice, or all).
    pub members: std::ops::Range<usize>,
    /// Devices the members were trained on (after a merge, the shards' total).
    pub devices: usize,
}

impl NnResults {
    /// The last step whose statistics were recorded (0 before the first batch).
    pub fn last_step(&self) -> usize {
        self.records.last().map(|r| r.step).unwrap_or(0)
    }

    /// The NTK measurements up to `last_step`: the one at a segment's end is taken
    /// before that step's record, which comes with the next segment, so what is
    /// reported (tables and summary, partial or final) stops at one step.
    pub fn recorded_ntk(&self) -> &[NtkSample] {
        let last = self.last_step();
        &self.ntk[..self.ntk.partition_point(|s| s.step <= last)]
    }

    /// Per mode j of a record: (signed mean residual, power per basis vector).
    pub fn mode_values(&self, rec: &Record) -> Vec<(f64, f64)> {
        mode_values(&self.modes, &rec.proj_mean, &rec.proj_power)
    }
}

/// Groups per-basis-row projections into modes: the primary row's signed residual
/// and the mean power over the mode's rows.
pub fn mode_values(modes: &Modes, proj_mean: &[f64], proj_power: &[f64]) -> Vec<(f64, f64)> {
    (0..modes.kappa.len())
        .map(|j| {
            let rows: Vec<usize> = (0..modes.mode_of_basis.len())
                .filter(|&b| modes.mode_of_basis[b] == j)
                .collect();
            let p = rows.iter().map(|&b| proj_power[b]).sum::<f64>() / rows.len() as f64;
            (proj_mean[modes.primary[j]], p)
        })
        .collect()
}

fn frob(a: &[f64]) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// report.json's `nn` section.
#[derive(Serialize)]
pub struct NnSummary {
    pub points: usize,
    pub input_dim: usize,
    pub params_per_member: usize,
    pub chunks: Vec<usize>,
    pub fused_kernels: bool,
    pub kappa: Vec<f64>,
    pub max_stable_lr: f64,
    pub eta_kappa_max: f64,
    pub steps_done: usize,
    pub final_loss_mean: Option<f64>,
    pub final_loss_std: Option<f64>,
    pub ntk: Vec<NtkSample>,
    /// The last measurement's per-member NTK drift, mean and sd over members (null
    /// when member NTKs were unavailable).
    pub ntk_drift_member_mean: Option<f64>,
    pub ntk_drift_member_sd: Option<f64>,
    /// Member-to-member NTK spread at s = 0 in the mode basis (see `NtkSums::member_stats`).
    pub ntk_offdiag_rel_sd0: Option<f64>,
    pub ntk_diag_rel_sd0: Option<f64>,
    /// max over records and points of |μ − μ_theory| / max|y|.
    pub mean_vs_theory: f64,
    /// max over records and modes of |P − P_theory| / P_theory(0) of that mode.
    pub power_vs_theory: f64,
    pub diverged_at: Option<usize>,
}

impl NnResults {
    pub fn summary(&self) -> NnSummary {
        let kmax = self.modes.kappa.iter().cloned().fold(0.0, f64::max);
        let ymax = self
            .data
            .y
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(1e-300);
        let mut mean_dev: f64 = 0.0;
        let mut pow_dev: f64 = 0.0;
        let p0: Vec<f64> = self
            .theory
            .steps
            .first()
            .map(|t| t.mode_power.clone())
            .unwrap_or_default();
        for r in &self.records {
            if let Some(t) = self.theory.at(r.step) {
                for (m, tm) in r.mean.iter().zip(&t.mean) {
                    mean_dev = mean_dev.max((*m - tm).abs() / ymax);
                }
                for (j, (_, p)) in self.mode_values(r).iter().enumerate() {
                    if p0.get(j).copied().unwrap_or(0.0) > 0.0 {
                        pow_dev = pow_dev.max((p - t.mode_power[j]).abs() / p0[j]);
                    }
                }
            }
        }
        let last = self.records.last();
        let ntk = self.recorded_ntk();
        let (first_ntk, last_ntk) = (ntk.first(), ntk.last());
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
        NnSummary {
            points: self.data.points(),
            input_dim: self.data.input_dim(),
            params_per_member: self.params_per_member,
            chunks: self.chunks.clone(),
            fused_kernels: self.fused,
            kappa: self.modes.kappa.clone(),
            max_stable_lr: max_stable_lr(kmax, self.config.momentum),
            eta_kappa_max: self.config.lr * kmax,
            steps_done: last.map(|r| r.step).unwrap_or(0),
            final_loss_mean: last.map(|r| r.loss_mean),
            final_loss_std: last.map(|r| r.loss_std),
            ntk: ntk.to_vec(),
            ntk_drift_member_mean: finite(last_ntk.map(|n| n.drift_member_mean)),
            ntk_drift_member_sd: finite(last_ntk.map(|n| n.drift_member_sd)),
            ntk_offdiag_rel_sd0: finite(first_ntk.map(|n| n.offdiag_rel_sd)),
            ntk_diag_rel_sd0: finite(first_ntk.map(|n| n.diag_rel_sd)),
            mean_vs_theory: mean_dev,
            power_vs_theory: pow_dev,
            diverged_at: self.diverged.map(|d| d.0),
        }
    }
}

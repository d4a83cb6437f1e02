//! `nncosmo-gpu nn`: theory set-up, training with batched read-back, and outputs.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use thiserror::Error;

use super::checkpoint::{self, CheckpointPlan};
use super::data::{DataError, Dataset};
use super::engine::{Ensemble, EnsembleSpec, NnError, RECORD_SLOTS, Record};
use super::layout::NetShape;
use super::stats::NtkSums;
use crate::config::nn::{DataSource, NnArgs, NnConfig};
use crate::gpu::{AdapterSummary, BackendChoice, GpuContext, GpuError};
use crate::report::{self, CsvTable, ReportError, RunStatus, write_json};
use crate::row;
use crate::theory::kernels::{NetSpec, infinite_width_kernels};
use crate::theory::modes::{Modes, eigen_modes, ring_modes};
use crate::theory::propagator::{TheoryLines, max_stable_lr, theory_lines};

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Engine(#[from] NnError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "--lr {lr} is unstable: η·κ_max = {ek:.4} ≥ 2(1+β) = {bound:.4} for the analytic NTK (κ_max = {kappa:.4}); the largest stable --lr is {max:.6} (pass --allow-unstable to run anyway)"
    )]
    Unstable {
        lr: f64,
        ek: f64,
        bound: f64,
        kappa: f64,
        max: f64,
    },
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// SIGINT or SIGTERM: the outputs so far and a checkpoint were written.
    #[error(transparent)]
    Interrupted(#[from] crate::signals::Interrupted),
    #[error(
        "training diverged at step {step}: the statistics overflowed (ensemble-mean loss {value}); results up to step {last_good} are in {out} (status diverged)"
    )]
    Diverged {
        step: usize,
        value: f32,
        last_good: usize,
        out: String,
    },
}

/// Most training steps encoded into one submission.
const MAX_SEGMENT_STEPS: usize = 4096;

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

pub fn load_dataset(cfg: &NnConfig) -> Result<Dataset, DataError> {
    Ok(match &cfg.data {
        DataSource::Ring => Dataset::ring(cfg.points, cfg.target_offset, cfg.target_amplitude),
        DataSource::Teacher => Dataset::teacher(cfg.points, cfg.input_dim, cfg.seed),
        DataSource::Csv(p) => Dataset::from_csv(p)?,
    })
}

/// The analytic side: kernels, modes and the stability check.
pub fn analytic(
    cfg: &NnConfig,
    data: &Dataset,
) -> Result<(Modes, nalgebra::DMatrix<f64>), RunError> {
    let spec = NetSpec {
        input_dim: data.input_dim(),
        width: cfg.width,
        depth: cfg.depth,
        activation: cfg.activation,
        parametrization: cfg.parametrization,
        sigma_w: cfg.sigma_w,
        sigma_b: cfg.sigma_b,
    };
    let k = infinite_width_kernels(&spec, &data.x);
    let modes = if data.is_ring {
        ring_modes(&k.ntk)
    } else {
        eigen_modes(&k.ntk)
    };
    let kappa_max = modes.kappa.iter().cloned().fold(0.0, f64::max);
    let bound = 2.0 * (1.0 + cfg.momentum);
    if cfg.lr * kappa_max >= bound && !cfg.allow_unstable {
        return Err(RunError::Unstable {
            lr: cfg.lr,
            ek: cfg.lr * kappa_max,
            bound,
            kappa: kappa_max,
            max: max_stable_lr(kappa_max, cfg.momentum),
        });
    }
    Ok((modes, k.nngp))
}

/// The host-side set-up of a run: the data set and the analytic kernels and modes,
/// with the stability check passed. Built once, before the output directory or the
/// GPU is touched, and handed to `train`.
#[derive(Clone)]
pub struct Prepared {
    pub data: Dataset,
    pub modes: Modes,
    pub nngp: nalgebra::DMatrix<f64>,
}

pub fn prepare(cfg: &NnConfig) -> Result<Prepared, RunError> {
    // Sizes and cost are checked before the data are drawn (a CSV file's size only
    // once it is read) and before the analytic kernels are built.
    let check = |points, dim| {
        crate::preflight::check_nn_data(cfg, points, dim)
            .map_err(|e| RunError::Engine(NnError::Invalid(e.to_string())))
    };
    if !matches!(cfg.data, DataSource::Csv(_)) {
        check(cfg.points, cfg.input_dim)?;
    }
    let data = load_dataset(cfg)?;
    check(data.points(), data.input_dim())?;
    let (modes, nngp) = analytic(cfg, &data)?;
    Ok(Prepared { data, modes, nngp })
}

fn frob(a: &[f64]) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Mean and standard deviation (E − 1 in the denominator; NaN below two values).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let k = v.len() as f64;
    let mean = v.iter().sum::<f64>() / k;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (mean, var.sqrt())
}

/// Trains the ensemble, calling `on_batch` after every read-back (for partial writes).
pub fn train(
    cfg: &NnConfig,
    prep: Prepared,
    ctx: &GpuContext,
    on_batch: &mut dyn FnMut(&NnResults) -> Result<(), RunError>,
) -> Result<NnResults, RunError> {
    train_with(cfg, prep, ctx, None, on_batch)
}

/// `train` with checkpoints: written every `plan.every` steps (segments end there),
/// and when SIGINT or SIGTERM arrives (the run then stops after the batch in flight,
/// with `interrupted` set); a run with `plan.resume` continues from its checkpoint.
/// Trains the members of `cfg.members()` (the shard's, or all).
pub fn train_with(
    cfg: &NnConfig,
    prep: Prepared,
    ctx: &GpuContext,
    plan: Option<&CheckpointPlan>,
    on_batch: &mut dyn FnMut(&NnResults) -> Result<(), RunError>,
) -> Result<NnResults, RunError> {
    train_part(cfg, prep, ctx, plan, cfg.members(), true, on_batch)
}

/// `train_with` on the global members `members`, with or without a progress bar.
pub fn train_part(
    cfg: &NnConfig,
    prep: Prepared,
    ctx: &GpuContext,
    plan: Option<&CheckpointPlan>,
    members: std::ops::Range<usize>,
    progress: bool,
    on_batch: &mut dyn FnMut(&NnResults) -> Result<(), RunError>,
) -> Result<NnResults, RunError> {
    let t0 = Instant::now();
    let Prepared { data, modes, nngp } = prep;
    // The default K depends on N, which a CSV data set fixes only now.
    let cfg = &NnConfig {
        member_traces: cfg.member_traces_for(data.points()),
        ..cfg.clone()
    };
    let shape = NetShape {
        input_dim: data.input_dim(),
        width: cfg.width,
        depth: cfg.depth,
    };
    // Members 0..K of the ensemble are traced: this part's first K − start of its own.
    let traced = cfg
        .member_traces
        .min(members.end)
        .saturating_sub(members.start);
    let spec = EnsembleSpec {
        shape,
        activation: cfg.activation,
        parametrization: cfg.parametrization,
        sigma_w: cfg.sigma_w,
        sigma_b: cfg.sigma_b,
        ensemble: members.len(),
        lr: cfg.lr,
        momentum: cfg.momentum,
        seed: cfg.seed,
        chunk: cfg.chunk,
        first_member: members.start,
        member_traces: traced,
        record_slots: None,
        ntk_member_bytes: None,
    };
    let basis: Vec<Vec<f64>> = (0..modes.basis.nrows())
        .map(|b| modes.basis.row(b).iter().cloned().collect())
        .collect();
    let part_cfg = NnConfig {
        ensemble: members.len(),
        member_traces_flag: Some(traced),
        ..cfg.clone()
    };
    crate::preflight::check_nn_device(&part_cfg, &data, ctx)
        .map_err(|e| RunError::Engine(NnError::Invalid(e.to_string())))?;
    let ens = Ensemble::new(ctx, &spec, &data, &basis)?;
    let steps = cfg.steps;
    let record = |s: usize| s.is_multiple_of(cfg.record_every) || s == steps;
    let ntk_at = |s: usize| s.is_multiple_of(cfg.ntk_every) || s == steps;
    let record_steps: Vec<usize> = (0..=steps).filter(|&s| record(s)).collect();
    let theory = theory_lines(&modes, &nngp, &data.y, cfg.lr, cfg.momentum, &record_steps);
    let p = ens.params_per_member();
    let flops_per_step =
        6.0 * members.len() as f64 * data.points() as f64 * shape.param_count() as f64;
    let mut res = NnResults {
        config: cfg.clone(),
        data,
        modes,
        nngp: nngp.iter().cloned().collect(),
        records: Vec::new(),
        theory,
        ntk: Vec::new(),
        ntk_members0: None,
        timings: NnTimings {
            setup_s: t0.elapsed().as_secs_f64(),
            flops_per_step,
            ..Default::default()
        },
        adapter: ctx.adapter.clone(),
        chunks: ens.chunk_sizes(),
        fused: ens.is_fused(),
        params_per_member: p,
        diverged: None,
        interrupted: None,
        members: members.clone(),
        devices: 1,
    };

    let t = Instant::now();
    let resumed = match plan.and_then(|p| p.resume.as_ref()) {
        Some(c) => Some(checkpoint::restore(c, &ens, &res.data.y)?),
        None => {
            ens.initialize()?;
            None
        }
    };
    res.timings.init_s = t.elapsed().as_secs_f64();
    let mut s = 0;
    if let Some(r) = resumed {
        s = r.step;
        res.records = r.stats.records;
        res.ntk = r.stats.ntk;
        res.ntk_members0 = r.stats.ntk_members0;
    }
    let start = s;
    let e = members.len();
    // Only s = 0 and the current measurement are held (E·N² floats each).
    let measure = |res: &mut NnResults, step: usize| -> Result<(), RunError> {
        let t = Instant::now();
        let m = ens.measure_ntk()?;
        if step == 0 {
            res.ntk_members0 = m.members.clone();
        }
        let each = match (&m.members, &res.ntk_members0) {
            (Some(now), Some(first)) => Some((now.as_slice(), first.as_slice())),
            _ => None,
        };
        let sums = NtkSums::new(step, e, m.sum, each, &res.modes.basis);
        let first = res.ntk.first().map(|f| f.sums.clone());
        let sample = NtkSample::new(sums.clone(), first.as_ref().unwrap_or(&sums));
        res.ntk.push(sample);
        res.timings.ntk_s += t.elapsed().as_secs_f64();
        Ok(())
    };
    if start == 0 {
        measure(&mut res, 0)?;
    }

    let bar = if progress {
        report::progress::step_bar(steps as u64, "nn")
    } else {
        report::progress::StepBar::hidden()
    };
    bar.set_position(s as u64);
    let mut batch = cfg.record_every.min(steps).min(MAX_SEGMENT_STEPS);
    let train_t = Instant::now();
    let ntk_before = res.timings.ntk_s;
    let every = plan.and_then(|p| p.every);
    let n = res.data.points();
    // The run loop's whole state at step s, as the checkpoint keeps it.
    let save = |res: &mut NnResults, s: usize| -> Result<(), RunError> {
        let t = Instant::now();
        match plan {
            Some(p) => checkpoint::save(
                p,
                &ens,
                cfg.seed,
                s,
                &res.records,
                &res.ntk,
                res.ntk_members0.as_deref(),
                n,
            )?,
            None => return Ok(()),
        }
        res.timings.checkpoint_s += t.elapsed().as_secs_f64();
        res.timings.checkpoints += 1;
        Ok(())
    };
    while s < steps {
        let next_ntk = (s + 1..=steps).find(|&t| ntk_at(t)).unwrap_or(steps);
        // Segments end at checkpoint steps; the records do not depend on where
        // segments end (each step's statistics are taken before its update).
        let next_ckpt = every.map_or(steps, |e| (s / e + 1) * e);
        let end = (s + batch).min(next_ntk).min(next_ckpt).min(steps);
        let t = Instant::now();
        let recs = ens.run_segment(s, end, &|t| record(t) && (t < end || end == steps))?;
        let dt = t.elapsed().as_secs_f64();
        // Aim for submissions of ~0.5–2 s: long enough to amortise the read-back,
        // short enough for a live progress bar and a responsive interrupt.
        // Capped in steps too: a segment's dispatches are encoded into one
        // submission, whose memory grows with its steps (--record-every 10⁶).
        let max_batch = ((RECORD_SLOTS - 1) * cfg.record_every).min(MAX_SEGMENT_STEPS);
        if dt < 0.5 {
            batch = (batch * 2).min(max_batch);
        } else if dt > 2.0 {
            batch = (batch / 2).max(1);
        }
        for r in recs {
            // Any overflow (loss, its spread, or the statistics of f) is divergence:
            // the record and everything after it are dropped.
            if !r.is_finite() && res.diverged.is_none() {
                res.diverged = Some((r.step, r.loss_mean as f32));
            }
            if res.diverged.is_none() {
                res.records.push(r);
            }
        }
        s = end;
        if let Some(l) = res.records.last() {
            bar.set_message(format!("loss {:.3e}", l.loss_mean));
        }
        bar.set_position(s as u64);
        if res.diverged.is_some() {
            break;
        }
        if ntk_at(s) {
            measure(&mut res, s)?;
        }
        on_batch(&res)?;
        if let Some(sig) = crate::signals::pending() {
            if s < steps {
                save(&mut res, s)?;
                res.interrupted = Some((s, sig));
                break;
            }
        } else if every.is_some_and(|e| s.is_multiple_of(e)) && s < steps {
            save(&mut res, s)?;
        }
    }
    // The last step's checkpoint, for a later phase (`run`'s duals) to resume from:
    // kept when checkpoints were asked for, or when a signal stops the run there.
    let keep_end =
        |p: &CheckpointPlan| p.at_end && (p.every.is_some() || crate::signals::pending().is_some());
    if s == steps && s > start && res.diverged.is_none() && plan.is_some_and(keep_end) {
        save(&mut res, s)?;
    }
    bar.finish_and_clear();
    // NTK measurements inside the loop are timed separately.
    res.timings.train_s = train_t.elapsed().as_secs_f64() - (res.timings.ntk_s - ntk_before);
    res.timings.steps_per_s = (s - start) as f64 / res.timings.train_s.max(1e-9);
    res.timings.gflop_per_s = res.timings.steps_per_s * flops_per_step / 1e9;
    Ok(res)
}

/// Writes nn/*.csv (atomically, each file complete).
pub fn write_tables(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    let dir = out.join("nn");
    let d = res.data.input_dim();
    let mut h = vec!["point".to_string()];
    h.extend((0..d).map(|j| format!("x{j}")));
    h.push("y".into());
    let mut ds = CsvTable::new(&h.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, (x, y)) in res.data.x.iter().zip(&res.data.y).enumerate() {
        let mut cells = vec![report::csv::Cell::from(i)];
        cells.extend(x.iter().map(|&v| report::csv::Cell::from(v)));
        cells.push((*y).into());
        ds.push(&cells);
    }
    ds.write(&dir.join("dataset.csv"))?;

    let sqrt_eta = res.config.lr.sqrt();
    let mut bg = CsvTable::new(&["step", "tau", "point", "mean", "var"]);
    let mut md = CsvTable::new(&[
        "step",
        "tau",
        "mode",
        "kappa",
        "mean_residual",
        "power",
        "theory_mean_residual",
        "theory_power",
    ]);
    let mut ls = CsvTable::new(&["step", "tau", "loss_mean", "loss_std"]);
    for r in &res.records {
        let tau = sqrt_eta * r.step as f64;
        for i in 0..r.mean.len() {
            bg.push(row![r.step, tau, i, r.mean[i], r.var[i]]);
        }
        let th = res.theory.at(r.step);
        for (j, (m, p)) in res.mode_values(r).into_iter().enumerate() {
            let (tm, tp) = th
                .map(|t| (t.mode_mean_residual[j], t.mode_power[j]))
                .unwrap_or((f64::NAN, f64::NAN));
            md.push(row![r.step, tau, j, res.modes.kappa[j], m, p, tm, tp]);
        }
        ls.push(row![r.step, tau, r.loss_mean, r.loss_std]);
    }
    bg.write(&dir.join("background.csv"))?;
    md.write(&dir.join("modes.csv"))?;
    ls.write(&dir.join("loss.csv"))?;
    let mut nt = CsvTable::new(&[
        "step",
        "trace",
        "drift",
        "drift_member_mean",
        "drift_member_sd",
        "offdiag_rel_sd",
    ]);
    for s in &res.ntk {
        nt.push(row![
            s.step,
            s.trace,
            s.drift,
            s.drift_member_mean,
            s.drift_member_sd,
            s.offdiag_rel_sd
        ]);
    }
    nt.write(&dir.join("ntk.csv"))
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
        let (first_ntk, last_ntk) = (self.ntk.first(), self.ntk.last());
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
            ntk: self.ntk.clone(),
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

#[derive(Serialize)]
struct NnReport<'a> {
    version: &'static str,
    /// Set for an interrupted run (SIGINT/SIGTERM), with the last step it reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<RunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_step: Option<usize>,
    config: &'a NnConfig,
    adapter: &'a AdapterSummary,
    timings: &'a NnTimings,
    nn: NnSummary,
}

/// All nn outputs plus report.json.
pub fn write_all(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    write_tables(res, out)?;
    write_report(res, out)
}

/// report.json of an `nn` run.
fn write_report(res: &NnResults, out: &Path) -> Result<(), ReportError> {
    write_json(
        &out.join("report.json"),
        &NnReport {
            version: env!("CARGO_PKG_VERSION"),
            status: res.interrupted.map(|_| RunStatus::Interrupted),
            last_step: res.interrupted.map(|i| i.0),
            config: &res.config,
            adapter: &res.adapter,
            timings: &res.timings,
            nn: res.summary(),
        },
    )
}

/// The checkpoint plan of a run configured by `cfg` (OUT/checkpoint), with the
/// checkpoint to resume from opened and checked against `config`.
pub fn checkpoint_plan(
    cfg: &NnConfig,
    command: &'static str,
    config: serde_json::Value,
    at_end: bool,
) -> Result<CheckpointPlan, RunError> {
    let resume = match &cfg.resume {
        Some(dir) => {
            let c = crate::checkpoint::Checkpoint::open(dir)?;
            c.check(command, &config)?;
            Some(c)
        }
        None => None,
    };
    Ok(CheckpointPlan {
        dir: cfg.out.join("checkpoint"),
        command,
        config,
        every: cfg.checkpoint_every,
        at_end,
        resume,
    })
}

/// The error of a run stopped by `signal` after `step`, with its resume command.
pub fn interrupted(step: usize, signal: i32, out: &Path, plan: &CheckpointPlan) -> RunError {
    crate::signals::Interrupted::new(signal, step, out, &plan.dir).into()
}

fn invalid(e: impl std::fmt::Display) -> RunError {
    RunError::Engine(NnError::Invalid(e.to_string()))
}

/// "1024 members", "shard 1/4 (members [256, 512) of 1024)", plus "on 2 devices".
pub fn members_phrase(res: &NnResults) -> String {
    let c = &res.config;
    let mut p = match c.shard {
        Some(sh) => format!(
            "shard {sh} (members [{}, {}) of {})",
            res.members.start, res.members.end, c.ensemble
        ),
        None => format!("{} members", c.ensemble),
    };
    if res.devices > 1 {
        p.push_str(&format!(" over {} devices", res.devices));
    }
    p
}

/// Trains the members of `cfg.members()` split evenly over `ctxs`, one thread per
/// device, and combines their exact sums in memory (as `merge` combines shards).
/// Without checkpoints; a signal stops every device after its batch in flight.
pub fn train_devices(
    cfg: &NnConfig,
    prep: Prepared,
    ctxs: &[GpuContext],
) -> Result<NnResults, RunError> {
    let range = cfg.members();
    let k = ctxs.len();
    let results: Vec<Result<NnResults, RunError>> = std::thread::scope(|sc| {
        let handles: Vec<_> = ctxs
            .iter()
            .enumerate()
            .map(|(d, ctx)| {
                let part = crate::config::scale::split(range.len(), k, d);
                let members = range.start + part.start..range.start + part.end;
                let prep = prep.clone();
                sc.spawn(move || train_part(cfg, prep, ctx, None, members, d == 0, &mut |_| Ok(())))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(invalid("a device's training thread panicked")))
            })
            .collect()
    });
    let parts = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    super::merge::combine(parts).map_err(invalid)
}

/// What a training command publishes besides its tables: its name, resolved
/// configuration and resolved arguments (for the shard statistics).
pub struct Publish<'a> {
    pub command: &'static str,
    pub config: serde_json::Value,
    pub args: serde_json::Value,
    pub dir: &'a mut crate::report::RunDir,
}

/// Trains `cfg.members()` on `ctxs` (one device with checkpoints `plan`, or split
/// over several), publishes the tables, report.json and (for a shard) its
/// statistics, and turns an interrupted or diverged run into its error.
pub fn train_and_publish(
    cfg: &NnConfig,
    prep: Prepared,
    ctxs: &[GpuContext],
    plan: &CheckpointPlan,
    publish: Publish,
) -> Result<NnResults, RunError> {
    let Publish {
        command,
        config,
        args,
        dir,
    } = publish;
    let mut res = if ctxs.len() > 1 {
        train_devices(cfg, prep, ctxs)?
    } else {
        train_with(cfg, prep, &ctxs[0], Some(plan), &mut |r| {
            // Rewrite the outputs now and then so an interrupted run keeps its results.
            if dir.due() {
                dir.publish(RunStatus::Interrupted, r.last_step(), |d| write_all(r, d))?;
            }
            Ok(())
        })?
    };
    let status = match (res.interrupted, res.diverged) {
        (Some(_), _) => RunStatus::Interrupted,
        (None, Some(_)) => RunStatus::Diverged,
        (None, None) => RunStatus::Complete,
    };
    dir.publish(status, res.last_step(), |d| -> Result<(), RunError> {
        // The tables are timed; report.json, which carries that time, is written last.
        let t = Instant::now();
        write_tables(&res, d)?;
        res.timings.write_s = t.elapsed().as_secs_f64();
        if cfg.shard.is_some() {
            let sd = d.join(super::shard::SHARD_DIR);
            super::shard::write(&res, &sd, command, &config, args, status)?;
        }
        Ok(write_report(&res, d)?)
    })?;
    let out = &cfg.out;
    if let Some((step, signal)) = res.interrupted {
        if ctxs.len() > 1 {
            return Err(crate::signals::Interrupted::without_checkpoint(signal, step, out).into());
        }
        return Err(interrupted(step, signal, out, plan));
    }
    if let Some((step, value)) = res.diverged {
        return Err(RunError::Diverged {
            step,
            value,
            last_good: res.last_step(),
            out: out.display().to_string(),
        });
    }
    Ok(res)
}

/// The devices of `--devices` (one unless asked for more).
pub fn open_devices(cfg: &NnConfig) -> Result<Vec<GpuContext>, GpuError> {
    GpuContext::open_devices(
        &BackendChoice {
            backend: cfg.backend.clone(),
            adapter: cfg.adapter.clone(),
        },
        cfg.devices,
    )
}

/// `nncosmo-gpu nn`.
pub fn run_cli(args: &NnArgs) -> Result<(), RunError> {
    let cfg = args.resolve().map_err(invalid)?;
    crate::signals::install();
    let config = serde_json::to_value(&cfg).unwrap_or_default();
    let plan = checkpoint_plan(&cfg, "nn", config.clone(), false)?;
    // Validate the data and the step before touching the output directory, and
    // the output directory (lock, writability, an earlier run) before the GPU; a
    // resumed run continues in its own directory.
    let prep = prepare(&cfg)?;
    let merged = serde_json::to_value(args.merged().map_err(invalid)?).unwrap_or_default();
    let mut dir = crate::checkpoint::open_run_dir(&cfg.out, cfg.force, plan.resume.as_ref())?;
    let ctxs = open_devices(&cfg)?;
    let publish = Publish {
        command: "nn",
        config,
        args: merged,
        dir: &mut dir,
    };
    let res = train_and_publish(&cfg, prep, &ctxs, &plan, publish)?;
    drop(dir);
    let s = res.summary();
    println!(
        "nn: {} × width {} × depth {} on {} ({}): {} steps in {:.2} s ({:.1} steps/s, {:.2} GFLOP/s)",
        members_phrase(&res),
        cfg.width,
        cfg.depth,
        res.adapter.name,
        res.adapter.backend,
        s.steps_done,
        res.timings.train_s,
        res.timings.steps_per_s,
        res.timings.gflop_per_s
    );
    println!(
        "    final loss {:.4e} ± {:.2e}; NTK drift {:.3e} (mean), {:.3e} ± {:.1e} (members); |mean − theory| ≤ {:.3e}·max|y|; results in {}",
        s.final_loss_mean.unwrap_or(f64::NAN),
        s.final_loss_std.unwrap_or(f64::NAN),
        res.ntk.last().map(|n| n.drift).unwrap_or(f64::NAN),
        s.ntk_drift_member_mean.unwrap_or(f64::NAN),
        s.ntk_drift_member_sd.unwrap_or(f64::NAN),
        s.mean_vs_theory,
        cfg.out.display()
    );
    Ok(())
}

//! An `nn` run: theory set-up and training with batched read-back (what it produced
//! is in `results`, its files in `output`, the command in `cli`).

use std::time::Instant;

use thiserror::Error;

use super::checkpoint::{self, CheckpointPlan};
use super::data::{DataError, Dataset};
use super::engine::{Ensemble, EnsembleSpec, NnError, RECORD_SLOTS};
use super::layout::NetShape;
use super::stats::NtkSums;
use crate::config::nn::{DataSource, NnConfig};
use crate::gpu::{GpuContext, GpuError};
use crate::report::{self, ReportError};
use crate::theory::kernels::{NetSpec, infinite_width_kernels};
use crate::theory::modes::{Modes, eigen_modes, ring_modes};
use crate::theory::propagator::{max_stable_lr, theory_lines};

// Results, outputs and the CLI live in their own modules; their old paths still work.
pub use super::cli::{
    Publish, checkpoint_plan, interrupted, members_phrase, open_devices, run_cli, train_and_publish,
};
pub use super::output::{write_all, write_tables};
pub use super::results::{NnResults, NnSummary, NnTimings, NtkSample, mode_values};

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

pub(super) fn invalid(e: impl std::fmt::Display) -> RunError {
    RunError::Engine(NnError::Invalid(e.to_string()))
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

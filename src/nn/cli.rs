//! `nncosmo-gpu nn` and the publishing shared with `run`: checkpoint plans, the
//! devices, training into a run directory, and the errors of interrupted or
//! diverged runs.

use std::path::Path;
use std::time::Instant;

use super::checkpoint::CheckpointPlan;
use super::output::{write_all, write_report, write_tables};
use super::results::NnResults;
use super::run::{Prepared, RunError, invalid, prepare, train_devices, train_with};
use crate::cli::nn::NnArgs;
use crate::config::nn::NnConfig;
use crate::gpu::{GpuContext, GpuError};
use crate::report::RunDir;
use crate::report::RunStatus;

/// The checkpoint plan of a run configured by `cfg` writing to `out`
/// (OUT/checkpoint), with the checkpoint to resume from opened and checked against
/// `config`.
pub fn checkpoint_plan(
    cfg: &NnConfig,
    out: &Path,
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
        dir: out.join("checkpoint"),
        command,
        config,
        every: cfg.checkpoint_every,
        at_end,
        resume,
    })
}

/// The error of a run stopped by `signal` after `step`: with its resume command when
/// it checkpointed to `plan`, otherwise (several devices) saying there is none.
pub fn interrupted(
    step: usize,
    signal: i32,
    out: &Path,
    plan: Option<&CheckpointPlan>,
) -> RunError {
    match plan {
        Some(p) => crate::signals::Interrupted::new(signal, step, out, &p.dir).into(),
        None => crate::signals::Interrupted::without_checkpoint(signal, step, out).into(),
    }
}

/// Trains `cfg.members()` on one device, with checkpoints `plan` and the outputs
/// rewritten into `dir` now and then (so an interrupted run keeps its results), or
/// split over several devices (without either).
pub fn train_on(
    cfg: &NnConfig,
    prep: Prepared,
    ctxs: &[GpuContext],
    plan: Option<&CheckpointPlan>,
    mut dir: Option<&mut RunDir>,
) -> Result<NnResults, RunError> {
    if ctxs.len() > 1 {
        return train_devices(cfg, prep, ctxs);
    }
    train_with(cfg, prep, &ctxs[0], plan, &mut |r| {
        if let Some(d) = dir.as_deref_mut()
            && d.due()
        {
            d.publish(RunStatus::Interrupted, r.last_step(), |p| write_all(r, p))?;
        }
        Ok(())
    })
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

/// What a training command publishes besides its tables: its name, resolved
/// configuration and resolved arguments (for the shard statistics), into `dir`
/// (whose final place is `out`).
pub struct Publish<'a> {
    pub command: &'static str,
    pub out: &'a Path,
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
        out,
        config,
        args,
        dir,
    } = publish;
    let plan = (ctxs.len() == 1).then_some(plan);
    let mut res = train_on(cfg, prep, ctxs, plan, Some(&mut *dir))?;
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
    if let Some((step, signal)) = res.interrupted {
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

/// The devices of `--devices` (one unless asked for more) on the adapter `choice`.
pub fn open_devices(
    cfg: &NnConfig,
    choice: &crate::gpu::BackendChoice,
) -> Result<Vec<GpuContext>, GpuError> {
    GpuContext::open_devices(choice, cfg.devices)
}

/// `nncosmo-gpu nn`.
pub fn run_cli(args: &NnArgs) -> Result<(), RunError> {
    let (cfg, target) = args.resolve_target().map_err(invalid)?;
    let out = &target.output.out;
    crate::signals::install();
    let config = serde_json::to_value(&cfg).unwrap_or_default();
    let plan = checkpoint_plan(&cfg, out, "nn", config.clone(), false)?;
    // Validate the data and the step before touching the output directory, and
    // the output directory (lock, writability, an earlier run) before the GPU; a
    // resumed run continues in its own directory.
    let prep = prepare(&cfg)?;
    let merged = serde_json::to_value(args.merged().map_err(invalid)?).unwrap_or_default();
    let mut dir = crate::checkpoint::open_run_dir(out, target.output.force, plan.resume.as_ref())?;
    let ctxs = open_devices(&cfg, &target.device)?;
    let publish = Publish {
        command: "nn",
        out,
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
        res.recorded_ntk()
            .last()
            .map(|n| n.drift)
            .unwrap_or(f64::NAN),
        s.ntk_drift_member_mean.unwrap_or(f64::NAN),
        s.ntk_drift_member_sd.unwrap_or(f64::NAN),
        s.mean_vs_theory,
        out.display()
    );
    Ok(())
}

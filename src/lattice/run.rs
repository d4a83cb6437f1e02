//! `nncosmo-gpu lattice`: configure, set up, evolve, write.

use std::time::Instant;

use super::engine::RunProgress;
use super::{Lattice, LatticeError, checkpoint, output};
use crate::checkpoint::Checkpoint;
use crate::config::lattice::LatticeArgs;
use crate::gpu::{BackendChoice, GpuContext};
use crate::report::RunStatus;

pub fn run_cli(args: &LatticeArgs) -> Result<(), LatticeError> {
    crate::signals::install();
    let cfg = args.resolve()?;
    let config = serde_json::to_value(&cfg).unwrap_or_default();
    let resume = match &cfg.resume {
        Some(dir) => {
            let c = Checkpoint::open(dir)?;
            c.check("lattice", &config)?;
            Some(c)
        }
        None => None,
    };
    let t0 = Instant::now();
    let ctx = GpuContext::new(&BackendChoice {
        backend: cfg.backend.clone(),
        adapter: cfg.adapter.clone(),
    })?;
    // Sizes against the adapter and the budgets before the output directory or any
    // buffer.
    crate::preflight::check_lattice_run(&cfg, &ctx)?;
    // Refuse an existing, busy or unwritable --out before spending any time (a
    // resumed run continues in its own directory).
    let mut dir = crate::checkpoint::open_run_dir(&cfg.out, cfg.force, resume.as_ref())?;
    let mut lat = Lattice::new(&ctx, &cfg)?;
    let setup = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let start = match &resume {
        Some(c) => checkpoint::restore(c, &mut lat)?,
        None => {
            lat.set_initial_from_config()?;
            RunProgress::default()
        }
    };
    let ic = t1.elapsed().as_secs_f64();
    let ckpt_dir = cfg.out.join("checkpoint");
    let mut last_ckpt = lat.step;
    let mut interrupted = None;
    // Snapshots and checkpoints are taken at output steps.
    let mut res = lat.run_with(true, start, &mut |lat, p| {
        if cfg
            .snapshot_every
            .is_some_and(|e| lat.step.is_multiple_of(e))
        {
            checkpoint::snapshot(&cfg.out, &config, lat)?;
        }
        if lat.step >= cfg.steps {
            return Ok(false);
        }
        if let Some(sig) = crate::signals::pending() {
            checkpoint::save(&ckpt_dir, &config, lat, p)?;
            interrupted = Some((lat.step, sig));
            return Ok(true);
        }
        if cfg
            .checkpoint_every
            .is_some_and(|e| lat.step >= last_ckpt + e)
        {
            checkpoint::save(&ckpt_dir, &config, lat, p)?;
            last_ckpt = lat.step;
        }
        Ok(false)
    })?;
    res.timings.setup_s = setup;
    res.timings.initial_conditions_s = ic;
    let last = res.background.last().expect("step 0 is always recorded");
    let status = match (&interrupted, &res.diverged) {
        (Some(_), _) => RunStatus::Interrupted,
        (None, Some(_)) => RunStatus::Diverged,
        (None, None) => RunStatus::Complete,
    };
    dir.publish(status, last.step, |d| {
        output::write_all(d, &cfg, &ctx.adapter, &res, &res.timings)
    })?;
    drop(dir);
    if let Some((step, signal)) = interrupted {
        return Err(crate::signals::Interrupted::new(signal, step, &cfg.out, &ckpt_dir).into());
    }
    if let Some(d) = &res.diverged {
        return Err(LatticeError::Diverged {
            reason: d.reason.clone(),
            last_good: last.step,
            out: cfg.out.display().to_string(),
        });
    }
    let fields = if cfg.fields > 1 {
        format!(" × {} fields", cfg.fields)
    } else {
        String::new()
    };
    println!(
        "lattice {}³{fields}, {} steps to t = {:.3} ({:.2} e-folds): {:.3e} site-updates/s; max |energy residual| {:.2e}; wrote {}",
        cfg.grid,
        cfg.steps,
        last.t,
        cfg.hubble * last.t,
        res.timings.site_updates_per_s,
        res.background
            .iter()
            .map(|r| r.energy_residual.abs())
            .fold(0.0, f64::max),
        cfg.out.display()
    );
    Ok(())
}

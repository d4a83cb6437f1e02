//! `nncosmo-gpu lattice`: configure, set up, evolve, write.

use std::time::Instant;

use super::{Lattice, LatticeError, output};
use crate::config::lattice::LatticeArgs;
use crate::gpu::{BackendChoice, GpuContext};
use crate::report::{RunDir, RunStatus};

pub fn run_cli(args: &LatticeArgs) -> Result<(), LatticeError> {
    let cfg = args.resolve()?;
    // Refuse an existing run, a busy or unwritable --out before spending any time.
    let mut dir = RunDir::create(&cfg.out, cfg.force)?;
    let t0 = Instant::now();
    let ctx = GpuContext::new(&BackendChoice {
        backend: cfg.backend.clone(),
        adapter: cfg.adapter.clone(),
    })?;
    let mut lat = Lattice::new(&ctx, &cfg)?;
    let setup = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    lat.set_initial_from_config()?;
    let ic = t1.elapsed().as_secs_f64();
    let mut res = lat.run(true)?;
    res.timings.setup_s = setup;
    res.timings.initial_conditions_s = ic;
    let last = res.background.last().expect("step 0 is always recorded");
    let status = match res.diverged {
        Some(_) => RunStatus::Diverged,
        None => RunStatus::Complete,
    };
    dir.publish(status, last.step, |d| {
        output::write_all(d, &cfg, &ctx.adapter, &res, &res.timings)
    })?;
    drop(dir);
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
    eprintln!(
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

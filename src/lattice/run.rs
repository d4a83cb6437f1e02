//! `nncosmo-gpu lattice`: configure, set up, evolve, write.

use std::time::Instant;

use super::{Lattice, LatticeError, output};
use crate::config::lattice::LatticeArgs;
use crate::gpu::{BackendChoice, GpuContext};
use crate::report::prepare_out_dir;

pub fn run_cli(args: &LatticeArgs) -> Result<(), LatticeError> {
    let cfg = args.resolve()?;
    let t0 = Instant::now();
    let ctx = GpuContext::new(&BackendChoice {
        backend: cfg.backend.clone(),
        adapter: cfg.adapter.clone(),
    })?;
    // Sizes against the adapter and the budgets before the output directory or any
    // buffer.
    crate::preflight::check_lattice_run(&cfg, &ctx)?;
    // Refuse an existing run before spending any time.
    prepare_out_dir(&cfg.out, cfg.force)?;
    let mut lat = Lattice::new(&ctx, &cfg)?;
    let setup = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    lat.set_initial_from_config()?;
    let ic = t1.elapsed().as_secs_f64();
    let mut res = lat.run(true)?;
    res.timings.setup_s = setup;
    res.timings.initial_conditions_s = ic;
    output::write_all(&cfg.out, &cfg, &ctx.adapter, &res, &res.timings)?;
    let last = res.background.last().expect("step 0 is always recorded");
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

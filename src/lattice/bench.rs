//! `nncosmo-gpu bench lattice` and `cargo bench --bench lattice`: leapfrog
//! site-updates per second at 128³ and 256³, timed with the device synchronised
//! inside the timed region.

use std::time::Instant;

use serde::Serialize;

use super::{Lattice, LatticeError};
use crate::config::lattice::{LatticeConfig, Spectrum};
use crate::gpu::{BackendChoice, GpuContext};

/// Bytes moved per site-update by the fused kernel: φ and π read, φ' and π written
/// (neighbours counted once, i.e. assuming they hit cache).
pub const BYTES_PER_SITE: f64 = 16.0;

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub grid: usize,
    pub steps: usize,
    pub seconds: f64,
    pub site_updates_per_s: f64,
    pub bandwidth_gb_s: f64,
}

/// Times `steps` leapfrog steps of an N³ de Sitter field (H = 0.5, m = 1, dx = 1, dt = 0.05).
pub fn bench_grid(
    ctx: &GpuContext,
    grid: usize,
    steps: usize,
) -> Result<BenchResult, LatticeError> {
    let mut cfg = LatticeConfig::defaults();
    cfg.grid = grid;
    cfg.spectrum = Spectrum::None;
    let mut lat = Lattice::new(ctx, &cfg)?;
    lat.set_initial_spectrum(&|_| (1e-6, 0.0))?;
    // Warm-up: pipelines compiled and memory touched.
    lat.advance(4);
    lat.wait()?;
    let t0 = Instant::now();
    lat.advance(steps);
    lat.wait()?;
    let seconds = t0.elapsed().as_secs_f64();
    lat.observables()?;
    let rate = (grid as f64).powi(3) * steps as f64 / seconds;
    Ok(BenchResult {
        grid,
        steps,
        seconds,
        site_updates_per_s: rate,
        bandwidth_gb_s: rate * BYTES_PER_SITE / 1e9,
    })
}

pub fn run_cli(backend: Option<String>, adapter: Option<String>) -> Result<(), LatticeError> {
    let ctx = GpuContext::new(&BackendChoice { backend, adapter })?;
    println!("adapter: {} ({})", ctx.adapter.name, ctx.adapter.backend);
    for (grid, steps) in [(128, 200), (256, 50)] {
        let r = bench_grid(&ctx, grid, steps)?;
        println!(
            "lattice leapfrog {}³ × {} steps: {:.3} s, {:.1} M site-updates/s, {:.2} GB/s effective",
            r.grid,
            r.steps,
            r.seconds,
            r.site_updates_per_s / 1e6,
            r.bandwidth_gb_s
        );
    }
    Ok(())
}

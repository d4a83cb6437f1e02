//! `nncosmo-gpu bench lattice` and `cargo bench --bench lattice`: leapfrog
//! site-updates per second at 128³ and 256³, timed with the device synchronised
//! inside the timed region.

use std::time::Instant;

use serde::Serialize;

use super::engine::max_grid;
use super::{Lattice, LatticeError};
use crate::config::lattice::{LatticeConfig, Spectrum};
use crate::gpu::roofline::measure_stream;
use crate::gpu::timing::steps_for;
use crate::gpu::{BackendChoice, GpuContext};

/// Bytes moved per site-update by the fused kernel: φ and π read, φ' and π written
/// (neighbours counted once, i.e. assuming they hit cache).
pub const BYTES_PER_SITE: f64 = 16.0;

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub grid: usize,
    pub kernel: String,
    pub steps: usize,
    pub seconds: f64,
    pub site_updates_per_s: f64,
    pub bandwidth_gb_s: f64,
}

/// Times leapfrog steps of an N³ field (m = 1, dx = 1, dt = 0.05): `steps`, or as
/// many as fill about a second when None. Flat space (H = 0), because H enters only
/// the per-unit coefficients, and a fast GPU's second of de Sitter steps would
/// inflate a = e^{Ht} past f32.
pub fn bench_grid(
    ctx: &GpuContext,
    grid: usize,
    steps: Option<usize>,
) -> Result<BenchResult, LatticeError> {
    let mut cfg = LatticeConfig::defaults();
    cfg.grid = grid;
    cfg.hubble = 0.0;
    cfg.spectrum = Spectrum::None;
    let mut lat = Lattice::new(ctx, &cfg)?;
    lat.set_initial_spectrum(&|_| (1e-6, 0.0))?;
    // Warm-up: pipelines compiled and memory touched; then probes size the run.
    lat.advance(4)?;
    lat.wait()?;
    let steps = match steps {
        Some(s) => s,
        None => steps_for(1.0, 100_000, |k| {
            let t = Instant::now();
            lat.advance(k)?;
            lat.wait()?;
            Ok::<_, LatticeError>(t.elapsed().as_secs_f64())
        })?
        // At least 10 steps, so the closing half-kick of each advance stays small.
        .max(10),
    };
    let t0 = Instant::now();
    lat.advance(steps)?;
    lat.wait()?;
    let seconds = t0.elapsed().as_secs_f64();
    lat.observables()?;
    let rate = (grid as f64).powi(3) * steps as f64 / seconds;
    Ok(BenchResult {
        grid,
        kernel: format!("{:?}", lat.kernel),
        steps,
        seconds,
        site_updates_per_s: rate,
        bandwidth_gb_s: rate * BYTES_PER_SITE / 1e9,
    })
}

/// Prints the memory roofline, then site-updates/s at 128³ and 256³ (and 512³ where
/// one binding holds it) against it.
pub fn run_cli(choice: &BackendChoice) -> Result<(), LatticeError> {
    let ctx = GpuContext::new(choice)?;
    println!("adapter: {} ({})", ctx.adapter.name, ctx.adapter.backend);
    let stream = measure_stream(&ctx)?;
    let roof = stream.gb_per_s * 1e9 / BYTES_PER_SITE;
    println!(
        "memory roofline: stream copy {:.2} GB/s (read + write) -> at most {:.1} M site-updates/s at {} B per site",
        stream.gb_per_s,
        roof / 1e6,
        BYTES_PER_SITE
    );
    let mut grids = vec![128, 256];
    if max_grid(ctx.max_binding()) >= 512 && !ctx.is_cpu() {
        grids.push(512);
    }
    for grid in grids {
        let r = bench_grid(&ctx, grid, None)?;
        println!(
            "lattice leapfrog {}³ × {} steps ({} kernel): {:.3} s, {:.1} M site-updates/s, {:.2} GB/s effective, {:.0}% of the roofline",
            r.grid,
            r.steps,
            r.kernel,
            r.seconds,
            r.site_updates_per_s / 1e6,
            r.bandwidth_gb_s,
            100.0 * r.site_updates_per_s / roof
        );
    }
    Ok(())
}

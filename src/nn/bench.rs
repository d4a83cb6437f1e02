//! Throughput of the training step, timed with the device synchronised.

use std::time::Instant;

use serde::Serialize;

use super::data::Dataset;
use super::engine::{Ensemble, EnsembleSpec, NnError};
use super::layout::NetShape;
use crate::gpu::GpuContext;
use crate::theory::{Activation, Parametrization};

#[derive(Clone, Debug, Serialize)]
pub struct NnBench {
    pub ensemble: usize,
    pub width: usize,
    pub depth: usize,
    pub points: usize,
    pub steps: usize,
    pub seconds: f64,
    pub steps_per_s: f64,
    pub gflop_per_s: f64,
}

/// Times `steps` training steps (one hidden erf layer on the ring unless `depth` > 1),
/// after one warm-up step; FLOPs are the analytic 6·E·N·P per step.
pub fn bench_nn(
    ctx: &GpuContext,
    ensemble: usize,
    width: usize,
    depth: usize,
    points: usize,
    steps: usize,
) -> Result<NnBench, NnError> {
    let data = Dataset::ring(points, 0.5, 1.0);
    let shape = NetShape {
        input_dim: 2,
        width,
        depth,
    };
    let spec = EnsembleSpec {
        shape,
        activation: Activation::Erf,
        parametrization: Parametrization::Ntk,
        sigma_w: 1.0,
        sigma_b: 0.1,
        ensemble,
        lr: 0.1,
        momentum: 0.9,
        seed: 1,
        chunk: None,
    };
    let basis: Vec<Vec<f64>> = (0..points)
        .map(|b| {
            (0..points)
                .map(|i| if i == b { 1.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let ens = Ensemble::new(ctx, &spec, &data, &basis)?;
    ens.initialize()?;
    ens.run_segment(0, 1, &|_| false)?;
    let t = Instant::now();
    // The final record forces a read-back, so the timed region ends synchronised.
    ens.run_segment(1, 1 + steps, &|s| s == 1 + steps)?;
    let seconds = t.elapsed().as_secs_f64();
    let flops = 6.0 * (ensemble * points * shape.param_count()) as f64;
    Ok(NnBench {
        ensemble,
        width,
        depth,
        points,
        steps,
        seconds,
        steps_per_s: steps as f64 / seconds,
        gflop_per_s: steps as f64 * flops / seconds / 1e9,
    })
}

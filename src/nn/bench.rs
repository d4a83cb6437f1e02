//! Throughput of the training step, timed with the device synchronised.

use std::time::Instant;

use serde::Serialize;

use super::data::Dataset;
use super::engine::{Ensemble, EnsembleSpec, NnError};
use super::layout::NetShape;
use crate::gpu::GpuContext;
use crate::gpu::roofline::fma_peak_gflops;
use crate::gpu::timing::steps_for;
use crate::theory::{Activation, Parametrization};

/// Most training steps encoded into one submission.
const MAX_SEGMENT: usize = 4096;

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
    /// The adapter's estimated f32 FMA peak (None where it cannot be estimated).
    pub peak_gflop_per_s: Option<f64>,
    /// GFLOP/s as a percentage of that peak.
    pub percent_of_peak: Option<f64>,
    /// With `--profile`: each dispatch of one step timed on its own, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<DispatchTime>>,
}

/// One dispatch of a training step, timed on its own ([`Ensemble::profile_step`]).
#[derive(Clone, Debug, Serialize)]
pub struct DispatchTime {
    pub kernel: &'static str,
    pub seconds: f64,
}

/// Times `steps` training steps (one hidden erf layer on the ring unless `depth` > 1),
/// or as many as fill about a second when None, after a warm-up step; FLOPs are the
/// analytic 6·E·N·P per step. With `profile`, the same ensemble then times each
/// dispatch of a step on its own.
pub fn bench_nn(
    ctx: &GpuContext,
    ensemble: usize,
    width: usize,
    depth: usize,
    points: usize,
    steps: Option<usize>,
    profile: bool,
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
        // The bench times training alone; `nn` measures the cost of traces.
        member_traces: 0,
        first_member: 0,
        record_slots: None,
        ntk_member_bytes: None,
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
    // Warm-up, then probes size the run. A segment's final record forces a
    // read-back, so each timed region ends synchronised.
    ens.run_segment(0, 1, &|_| false)?;
    let mut done = 1;
    // A segment's dispatches are encoded into one submission, so long runs go in
    // pieces of at most MAX_SEGMENT steps (each ending in a read-back that
    // synchronises): the encoder's memory stays bounded at any --steps.
    let mut segment = |k: usize| {
        let t = Instant::now();
        let end = done + k;
        while done < end {
            let stop = (done + MAX_SEGMENT).min(end);
            ens.run_segment(done, stop, &|s| s == stop)?;
            done = stop;
        }
        Ok::<_, NnError>(t.elapsed().as_secs_f64())
    };
    let steps = match steps {
        Some(s) => s,
        None => steps_for(1.0, 20_000, &mut segment)?.max(3),
    };
    let seconds = segment(steps)?;
    let profile = if profile {
        let mut times: Vec<DispatchTime> = ens
            .profile_step(3)?
            .into_iter()
            .map(|(kernel, seconds)| DispatchTime { kernel, seconds })
            .collect();
        times.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        Some(times)
    } else {
        None
    };
    let flops = 6.0 * (ensemble * points * shape.param_count()) as f64;
    let gflop_per_s = steps as f64 * flops / seconds / 1e9;
    let peak = fma_peak_gflops(ctx);
    Ok(NnBench {
        ensemble,
        width,
        depth,
        points,
        steps,
        seconds,
        steps_per_s: steps as f64 / seconds,
        gflop_per_s,
        peak_gflop_per_s: peak,
        percent_of_peak: peak.map(|p| 100.0 * gflop_per_s / p),
        profile,
    })
}

/// The standard cases, (E=64, n=1024, N=64) and (E=1024, n=4096, N=64), or one case;
/// prints one line (or JSON) per case.
pub fn run_cases(
    ctx: &GpuContext,
    cases: &[(usize, usize)],
    depth: usize,
    points: usize,
    steps: Option<usize>,
    profile: bool,
    json: bool,
) -> Result<Vec<NnBench>, NnError> {
    let mut out = Vec::new();
    for &(e, w) in cases {
        let r = bench_nn(ctx, e, w, depth, points, steps, profile)?;
        print_case(ctx, &r, json);
        out.push(r);
    }
    Ok(out)
}

/// The deep cases, [`DEEP_CASES`]; one line (or JSON) per case.
pub fn run_deep_cases(
    ctx: &GpuContext,
    steps: Option<usize>,
    profile: bool,
    json: bool,
) -> Result<Vec<NnBench>, NnError> {
    let mut out = Vec::new();
    for &(depth, e, w, points) in &DEEP_CASES {
        let r = bench_nn(ctx, e, w, depth, points, steps, profile)?;
        print_case(ctx, &r, json);
        out.push(r);
    }
    Ok(out)
}

fn print_case(ctx: &GpuContext, r: &NnBench, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    let peak = match (r.peak_gflop_per_s, r.percent_of_peak) {
        (Some(p), Some(f)) => format!(" ({f:.1} % of the {p:.0} GFLOP/s FMA peak)"),
        _ => " (FMA peak unknown for this adapter)".into(),
    };
    println!(
        "nn E={} n={} L={} N={} on {}: {} steps in {:.3} s = {:.2} steps/s, {:.2} GFLOP/s{peak}",
        r.ensemble,
        r.width,
        r.depth,
        r.points,
        ctx.adapter.name,
        r.steps,
        r.seconds,
        r.steps_per_s,
        r.gflop_per_s
    );
    if let Some(times) = &r.profile {
        let total: f64 = times.iter().map(|t| t.seconds).sum();
        println!("profile of one step ({total:.3} s dispatched one by one):");
        for t in times {
            let (ms, share) = (1e3 * t.seconds, 100.0 * t.seconds / total);
            println!("  {ms:>9.3} ms {share:>5.1} %  {}", t.kernel);
        }
    }
}

/// The default cases of `nncosmo-gpu bench nn` and `cargo bench --bench nn`.
pub const DEFAULT_CASES: [(usize, usize); 2] = [(64, 1024), (1024, 4096)];

/// Deep cases, (depth, E, n, N), where the work is batched hidden-to-hidden matrix
/// multiplies; run after the default ones.
pub const DEEP_CASES: [(usize, usize, usize, usize); 3] =
    [(2, 256, 1024, 16), (3, 256, 1024, 16), (2, 64, 4096, 16)];

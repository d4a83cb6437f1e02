//! Ensemble training throughput (steps/s, GFLOP/s, % of the FMA peak) for the standard
//! and deep cases
//! (see `nncosmo-gpu bench nn`).

use nncosmo_gpu::gpu::{BackendChoice, GpuContext};
use nncosmo_gpu::nn::bench::{DEFAULT_CASES, run_cases, run_deep_cases};

fn main() {
    let result = GpuContext::new(&BackendChoice::default())
        .map_err(|e| e.to_string())
        .and_then(|ctx| {
            run_cases(&ctx, &DEFAULT_CASES, 1, 64, None, false, false)
                .and_then(|_| run_deep_cases(&ctx, None, false, false))
                .map_err(|e| e.to_string())
        });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

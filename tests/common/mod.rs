#![allow(dead_code)]
pub mod guard;
pub mod sums;
use nncosmo_gpu::gpu::{BackendChoice, GpuContext};

/// The adapter chosen by WGPU_BACKEND / WGPU_ADAPTER_NAME (lavapipe in CI).
pub fn ctx() -> GpuContext {
    GpuContext::new(&BackendChoice::default()).expect("a GPU adapter (install mesa-vulkan-drivers)")
}

/// Orthonormal real Fourier basis on N points (rows).
pub fn fourier_basis(n: usize) -> Vec<Vec<f64>> {
    let th = |i: usize| std::f64::consts::TAU * i as f64 / n as f64;
    let mut rows = vec![vec![1.0 / (n as f64).sqrt(); n]];
    for j in 1..n.div_ceil(2) {
        let s = (2.0 / n as f64).sqrt();
        rows.push((0..n).map(|i| s * (j as f64 * th(i)).cos()).collect());
        rows.push((0..n).map(|i| s * (j as f64 * th(i)).sin()).collect());
    }
    if n.is_multiple_of(2) {
        rows.push(
            (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } / (n as f64).sqrt())
                .collect(),
        );
    }
    rows
}

/// max |a − b| / (1 + max |b|): f32 kernels against f64 twins.
pub fn rel_err<T: Copy + Into<f64>>(a: &[T], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = 1.0 + b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max(((*x).into() - y).abs()))
        / scale
}

/// The `config` keys DESIGN §5 requires in every report.json.
pub const REPORT_CONFIG_KEYS: [&str; 12] = [
    "seed",
    "width",
    "depth",
    "ensemble",
    "lr",
    "momentum",
    "sigma_w",
    "sigma_b",
    "activation",
    "points",
    "steps",
    "record_every",
];

/// A `run` small enough for a test: 32 members of width 128 on 8 points, 150 steps,
/// a 16³ dual lattice (add `--out`).
pub const TINY_RUN: &[&str] = &[
    "run",
    "--width",
    "128",
    "--ensemble",
    "32",
    "--points",
    "8",
    "--steps",
    "150",
    "--lr",
    "0.05",
    "--momentum",
    "0.97",
    "--ntk-every",
    "50",
    "--grid",
    "16",
    "--lattice-outputs",
    "3",
];

//! Linear-theory lines for the lattice: the binned spectrum predicted by the f64 mode
//! ODE with the lattice's own k_eff and the realised initial amplitudes.
//!
//! For λ = 0 each mode evolves as (δφ̃, δφ̇̃)(t) = T(k_eff², t)·(δφ̃, δφ̇̃)(0), so the
//! bin power follows from three sums per class of the initial data:
//! Σ|φ̃|², ΣRe(φ̃ φ̇̃*) and Σ|φ̇̃|². Using the realisation (not the ensemble mean)
//! makes the comparison free of sampling noise.

use super::spectrum::ModeTable;
use crate::theory::desitter::mode_transfer;

/// Per-class sums of the initial Fourier data (already normalised to P(k) units).
#[derive(Clone, Debug, Default)]
pub struct ClassSums {
    pub ff: Vec<f64>,
    pub fv: Vec<f64>,
    pub vv: Vec<f64>,
}

/// Transfer matrices for every class at the given times. With many classes they are
/// interpolated linearly in k from a table fine enough that the phase ∫k/a dt moves
/// by under 1/16 rad between nodes (relative error below 1e-3).
fn class_transfer(table: &ModeTable, m2: f64, h: f64, times: &[f64]) -> Vec<Vec<[[f64; 2]; 2]>> {
    const EXACT: usize = 2048;
    if table.classes() <= EXACT {
        return crate::par::map(table.classes(), |c| {
            mode_transfer(table.class_k2[c], m2, h, times)
        });
    }
    let tmax = times.iter().cloned().fold(0.0, f64::max);
    let span = if h == 0.0 {
        tmax
    } else {
        -(-h * tmax).exp_m1() / h
    };
    let kmax = table.class_k2.iter().cloned().fold(0.0, f64::max).sqrt();
    let nodes = ((16.0 * kmax * span).ceil() as usize).clamp(512, 16384);
    let node_t = crate::par::map(nodes, |i| {
        let k = kmax * i as f64 / (nodes - 1) as f64;
        mode_transfer(k * k, m2, h, times)
    });
    table
        .class_k2
        .iter()
        .map(|&k2| {
            let x = (k2.sqrt() / kmax * (nodes - 1) as f64).clamp(0.0, (nodes - 1) as f64);
            let i = (x.floor() as usize).min(nodes - 2);
            let w = x - i as f64;
            (0..times.len())
                .map(|t| {
                    let (a, b) = (node_t[i][t], node_t[i + 1][t]);
                    let mut m = [[0.0; 2]; 2];
                    for r in 0..2 {
                        for c in 0..2 {
                            m[r][c] = a[r][c] * (1.0 - w) + b[r][c] * w;
                        }
                    }
                    m
                })
                .collect()
        })
        .collect()
}

/// theory_power[time][bin] for the given output times.
pub fn theory_power(
    table: &ModeTable,
    sums: &ClassSums,
    m2: f64,
    h: f64,
    times: &[f64],
) -> Vec<Vec<f64>> {
    let tr = class_transfer(table, m2, h, times);
    (0..times.len())
        .map(|ti| {
            let mut bins = vec![0.0; table.bin_k.len()];
            for c in 0..table.classes() {
                let t = tr[c][ti];
                let p = t[0][0] * t[0][0] * sums.ff[c]
                    + 2.0 * t[0][0] * t[0][1] * sums.fv[c]
                    + t[0][1] * t[0][1] * sums.vv[c];
                bins[table.class_bin[c]] += p;
            }
            bins.iter()
                .zip(&table.bin_count)
                .map(|(p, &n)| p / n as f64)
                .collect()
        })
        .collect()
}

//! Fourier-space bookkeeping on the host: 3-D FFTs, classes of modes with equal
//! k_eff², and the binned power spectrum.
//!
//! Convention: φ̃_k = Σ_x φ(x) e^{−ik·x} and P(k) = |φ̃_k|²·dx³/N³, so that
//! Var φ = (1/V) Σ_k P(k) = ∫d³k/(2π)³ P(k); a vacuum mode function u_k has P = |u_k|².

use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

use super::scheme::{k_eff2, signed_mode};

/// In-place 3-D FFT of an N³ array in layout x + N·(y + N·z); unnormalised both ways.
/// Lines along x and y lie inside one z-plane, so planes go to threads whole; the
/// z-lines are gathered into a transposed copy, transformed contiguously, and
/// scattered back plane by plane.
pub fn fft3(data: &mut [Complex64], n: usize, inverse: bool) {
    let mut planner = FftPlanner::new();
    let fft = if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    };
    let nn = n * n;
    let scratch_len = fft.get_inplace_scratch_len();
    crate::par::chunks_mut(data, nn, |_, plane| {
        let mut scratch = vec![Complex64::default(); scratch_len];
        fft.process_with_scratch(plane, &mut scratch);
        let mut buf = vec![Complex64::default(); n];
        for x in 0..n {
            for (y, b) in buf.iter_mut().enumerate() {
                *b = plane[x + n * y];
            }
            fft.process_with_scratch(&mut buf, &mut scratch);
            for (y, b) in buf.iter().enumerate() {
                plane[x + n * y] = *b;
            }
        }
    });
    // Row c = x + N·y of `t` holds the z-line of column c; a chunk is the N rows
    // of one y.
    let mut t = vec![Complex64::default(); data.len()];
    let src = &*data;
    crate::par::chunks_mut(&mut t, nn, |y, rows| {
        for (x, row) in rows.chunks_exact_mut(n).enumerate() {
            for (z, v) in row.iter_mut().enumerate() {
                *v = src[x + n * y + nn * z];
            }
        }
        let mut scratch = vec![Complex64::default(); scratch_len];
        fft.process_with_scratch(rows, &mut scratch);
    });
    let t = &t;
    crate::par::chunks_mut(data, nn, |z, plane| {
        for (c, v) in plane.iter_mut().enumerate() {
            *v = t[c * n + z];
        }
    });
}

/// Every mode of the grid sorted into classes of equal k_eff² (same folded |n_i| up
/// to permutation) and into spectrum bins of width 2π/(N·dx) in k_eff.
#[derive(Clone, Debug)]
pub struct ModeTable {
    pub n: usize,
    pub dx: f64,
    /// Dense map from the sorted folded triple to a class id (u32::MAX: k = 0).
    dense: Vec<u32>,
    /// k_eff² of each class.
    pub class_k2: Vec<f64>,
    /// Number of modes (of the full N³ cube) in each class.
    pub class_count: Vec<u64>,
    /// Bin of each class.
    pub class_bin: Vec<usize>,
    /// Mean k_eff and mode count of each bin (bins with no modes are dropped).
    pub bin_k: Vec<f64>,
    pub bin_count: Vec<u64>,
}

impl ModeTable {
    pub fn new(n: usize, dx: f64, stencil: u32) -> Self {
        let h = n / 2 + 1;
        let mut dense = vec![u32::MAX; h * h * h];
        let mut class_k2 = Vec::new();
        for a in 0..h {
            for b in a..h {
                for c in b..h {
                    if a + b + c == 0 {
                        continue;
                    }
                    dense[(a * h + b) * h + c] = class_k2.len() as u32;
                    class_k2.push(k_eff2(stencil, n, dx, [a as i64, b as i64, c as i64]));
                }
            }
        }
        let classes = class_k2.len();
        let fold = |i: usize| signed_mode(i, n).unsigned_abs() as usize;
        let mut t = Self {
            n,
            dx,
            dense,
            class_k2,
            class_count: Vec::new(),
            class_bin: Vec::new(),
            bin_k: Vec::new(),
            bin_count: Vec::new(),
        };
        let class_count = crate::par::accumulate(n, classes, |planes, count: &mut [u64]| {
            for k in planes {
                for j in 0..n {
                    for i in 0..n {
                        if let Some(c) = t.class_of_folded(fold(i), fold(j), fold(k)) {
                            count[c] += 1;
                        }
                    }
                }
            }
        });
        let dk = std::f64::consts::TAU / (n as f64 * dx);
        let raw_bin: Vec<usize> = t
            .class_k2
            .iter()
            .map(|k2| ((k2.sqrt() / dk).round() as usize).max(1))
            .collect();
        let nb = raw_bin.iter().max().copied().unwrap_or(0) + 1;
        let mut ksum = vec![0.0; nb];
        let mut cnt = vec![0u64; nb];
        for (c, &b) in raw_bin.iter().enumerate() {
            ksum[b] += t.class_k2[c].sqrt() * class_count[c] as f64;
            cnt[b] += class_count[c];
        }
        // Compact the bins that hold modes.
        let mut remap = vec![usize::MAX; nb];
        for b in 0..nb {
            if cnt[b] > 0 {
                remap[b] = t.bin_k.len();
                t.bin_k.push(ksum[b] / cnt[b] as f64);
                t.bin_count.push(cnt[b]);
            }
        }
        t.class_bin = raw_bin.iter().map(|&b| remap[b]).collect();
        t.class_count = class_count;
        t
    }

    fn class_of_folded(&self, a: usize, b: usize, c: usize) -> Option<usize> {
        let mut s = [a, b, c];
        s.sort_unstable();
        let h = self.n / 2 + 1;
        let id = self.dense[(s[0] * h + s[1]) * h + s[2]];
        (id != u32::MAX).then_some(id as usize)
    }

    /// Class of the mode at array index m (None for k = 0).
    pub fn class_of(&self, m: usize) -> Option<usize> {
        let n = self.n;
        let f = |i: usize| signed_mode(i, n).unsigned_abs() as usize;
        self.class_of_folded(f(m % n), f((m / n) % n), f(m / (n * n)))
    }

    pub fn classes(&self) -> usize {
        self.class_k2.len()
    }

    /// Normalisation from |φ̃_k|² to P(k).
    pub fn power_norm(&self) -> f64 {
        self.dx.powi(3) / (self.n as f64).powi(3)
    }

    /// Bin-averaged P(k) of a real field (its mean is dropped with the k = 0 mode).
    pub fn power(&self, field: &[f32]) -> Vec<f64> {
        let mut data: Vec<Complex64> = field
            .iter()
            .map(|&v| Complex64::new(v as f64, 0.0))
            .collect();
        fft3(&mut data, self.n, false);
        self.bin_power(&data)
    }

    /// Bin-averaged P(k) of Fourier amplitudes φ̃_k.
    pub fn bin_power(&self, modes: &[Complex64]) -> Vec<f64> {
        let sums = crate::par::accumulate(modes.len(), self.bin_k.len(), |r, sums: &mut [f64]| {
            for m in r {
                if let Some(c) = self.class_of(m) {
                    sums[self.class_bin[c]] += modes[m].norm_sqr();
                }
            }
        });
        let norm = self.power_norm();
        sums.iter()
            .zip(&self.bin_count)
            .map(|(s, &c)| s * norm / c as f64)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft3_matches_a_direct_dft() {
        let n = 4;
        let f: Vec<Complex64> = (0..n * n * n)
            .map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
            .collect();
        let mut g = f.clone();
        fft3(&mut g, n, false);
        let tau = std::f64::consts::TAU;
        for km in [0usize, 5, 17, 63] {
            let k = [km % n, (km / n) % n, km / (n * n)];
            let mut s = Complex64::default();
            for (xm, v) in f.iter().enumerate() {
                let x = [xm % n, (xm / n) % n, xm / (n * n)];
                let ph = -tau * (0..3).map(|d| (k[d] * x[d]) as f64).sum::<f64>() / n as f64;
                s += v * Complex64::from_polar(1.0, ph);
            }
            assert!((s - g[km]).norm() < 1e-12);
        }
        fft3(&mut g, n, true);
        for (a, b) in f.iter().zip(&g) {
            assert!((a * (n * n * n) as f64 - b).norm() < 1e-12);
        }
    }

    #[test]
    fn classes_cover_every_mode_once() {
        let t = ModeTable::new(8, 0.5, 2);
        assert_eq!(t.class_count.iter().sum::<u64>(), 8 * 8 * 8 - 1);
        assert_eq!(t.bin_count.iter().sum::<u64>(), 8 * 8 * 8 - 1);
        // (1,0,0) has 6 images; (4,4,4) (all Nyquist) one.
        let c = t.class_of(1).unwrap();
        assert_eq!(t.class_count[c], 6);
        assert!(
            (t.class_k2[c] - 4.0 * (std::f64::consts::PI / 8.0).sin().powi(2) / 0.25).abs() < 1e-12
        );
    }
}

//! The dual lattice's initial state (DESIGN §4.2): every patch is a fresh draw of a
//! network's initial mode amplitudes from the infinite-width distribution,
//! independent of the trained ensemble, so that the two sides are independent
//! samples of one distribution (what the z-scores assume).

use nalgebra::{DMatrix, SymmetricEigen};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::plan::DualPlan;
use crate::theory::modes::Modes;

/// Field-major φ and φ̇ of F fields on `sites` patches, and the infinite-width
/// initial mean c̄_b(0) of each field.
pub struct DualInitial {
    pub phi: Vec<f32>,
    pub dphi: Vec<f32>,
    pub mean0: Vec<f64>,
}

/// Stream separating these draws from any other use of the run's seed.
const STREAM: u64 = 0x6475_616c_2d69_6e69; // "dual-ini"

/// φ_b(x, 0) = c̄_b(0) + δφ_b(x) with c̄_b(0) = −u_bᵀy (the outputs start with mean
/// zero) and δφ(x) ~ N(0, U·K·Uᵀ) independently per patch (K the NNGP kernel, U the
/// mode basis; diagonal with the NNGP eigenvalues on the ring). φ̇_b = g_b·φ_b, the
/// matching's velocity factor, so every patch starts on the recurrence's zero
/// initial momentum.
pub fn draw(
    plan: &DualPlan,
    modes: &Modes,
    nngp: &DMatrix<f64>,
    y: &[f64],
    sites: usize,
) -> DualInitial {
    let u = &modes.basis;
    let f = u.nrows();
    let yv = nalgebra::DVector::from_column_slice(y);
    let mean0: Vec<f64> = (u * &yv).iter().map(|c| -c).collect();
    let cov = u * nngp * u.transpose();
    let cov = 0.5 * (&cov + cov.transpose());
    // A = V·√Λ with Λ clamped at 0: a square root of the covariance that survives
    // the round-off negatives of a numerically singular kernel.
    let eig = SymmetricEigen::new(cov);
    let mut a = eig.eigenvectors.clone();
    for (c, l) in eig.eigenvalues.iter().enumerate() {
        a.column_mut(c).scale_mut(l.max(0.0).sqrt());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(plan.config.seed ^ STREAM);
    let mut phi = vec![0f32; f * sites];
    let mut dphi = vec![0f32; f * sites];
    let mut z = vec![0f64; f];
    for x in 0..sites {
        for v in z.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        for b in 0..f {
            let d: f64 = (0..f).map(|c| a[(b, c)] * z[c]).sum();
            let value = mean0[b] + d;
            phi[b * sites + x] = value as f32;
            dphi[b * sites + x] = (plan.fields[b].velocity_factor * value) as f32;
        }
    }
    DualInitial { phi, dphi, mean0 }
}

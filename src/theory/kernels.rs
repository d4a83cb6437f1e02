//! Analytic infinite-width NNGP kernel K and neural tangent kernel Θ (DESIGN §1).
//!
//! Both are built by the standard layer recursion over pairs of inputs. For each
//! pair the pre-activations (u, v) of a layer are jointly Gaussian with the 2×2
//! covariance taken from the previous layer's K, and the recursion needs only
//! E[φ(u)φ(v)] and E[φ'(u)φ'(v)] ([`pair_expectations`]).

use std::sync::OnceLock;

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use super::activation::{Activation, Parametrization};

/// Architecture of the scalar-output MLP (DESIGN §1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    pub input_dim: usize,
    /// Hidden width n; only enters the standard-parametrisation NTK.
    pub width: usize,
    /// Number of hidden layers L (≥ 1).
    pub depth: usize,
    pub activation: Activation,
    pub parametrization: Parametrization,
    pub sigma_w: f64,
    pub sigma_b: f64,
}

/// Output-layer kernels on a set of inputs (N × N, symmetric).
#[derive(Clone, Debug)]
pub struct Kernels {
    pub nngp: DMatrix<f64>,
    pub ntk: DMatrix<f64>,
}

/// Infinite-width NNGP K and NTK Θ of the network output f = h^{L+1} on `xs`.
///
/// NTK parametrisation:
///   K¹ = σ_w²·x·x'/d + σ_b²,  Θ¹ = K¹,
///   K^{l+1} = σ_w²·E[φ(u)φ(v)] + σ_b²,
///   Θ^{l+1} = K^{l+1} + σ_w²·E[φ'(u)φ'(v)]·Θ^l,   (u, v) ~ N(0, K^l).
///
/// Standard parametrisation (h = W z + b, W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²)):
/// the forward pass has the same distribution, so K is identical. The NTK is the
/// gradient inner product w.r.t. the *standard* parameters, which rescales each
/// layer's weight contribution by fan_in/σ_w² and each bias contribution by 1/σ_b²:
///   Θ¹ = x·x' + 1,
///   Θ^{l+1} = n·E[φ(u)φ(v)] + 1 + σ_w²·E[φ'(u)φ'(v)]·Θ^l,
/// with n = `spec.width` the fan-in of every layer after the first. Biases count as
/// trained parameters even when σ_b = 0 (they then start at zero), hence the "+1".
/// This NTK grows linearly with the width: that is the known reason the standard
/// parametrisation needs η ∝ 1/n.
///
/// Panics if `depth == 0` or if a point's length differs from `input_dim`.
pub fn infinite_width_kernels(spec: &NetSpec, xs: &[Vec<f64>]) -> Kernels {
    assert!(
        spec.depth >= 1,
        "depth (number of hidden layers) must be ≥ 1"
    );
    let n = xs.len();
    let d = spec.input_dim as f64;
    let sw2 = spec.sigma_w * spec.sigma_w;
    let sb2 = spec.sigma_b * spec.sigma_b;
    let standard = spec.parametrization == Parametrization::Standard;
    let width = spec.width as f64;

    let mut k = DMatrix::<f64>::zeros(n, n);
    let mut theta = DMatrix::<f64>::zeros(n, n);
    for i in 0..n {
        assert_eq!(xs[i].len(), spec.input_dim, "point {i} has wrong dimension");
        for j in 0..=i {
            let dot: f64 = xs[i].iter().zip(&xs[j]).map(|(a, b)| a * b).sum();
            let kij = sw2 * dot / d + sb2;
            let tij = if standard { dot + 1.0 } else { kij };
            k[(i, j)] = kij;
            k[(j, i)] = kij;
            theta[(i, j)] = tij;
            theta[(j, i)] = tij;
        }
    }

    for _layer in 0..spec.depth {
        let mut k_next = DMatrix::<f64>::zeros(n, n);
        let mut t_next = DMatrix::<f64>::zeros(n, n);
        for i in 0..n {
            for j in 0..=i {
                let (e_phi, e_dphi) =
                    pair_expectations(spec.activation, k[(i, i)], k[(j, j)], k[(i, j)]);
                let kij = sw2 * e_phi + sb2;
                let tij = if standard {
                    width * e_phi + 1.0 + sw2 * e_dphi * theta[(i, j)]
                } else {
                    kij + sw2 * e_dphi * theta[(i, j)]
                };
                k_next[(i, j)] = kij;
                k_next[(j, i)] = kij;
                t_next[(i, j)] = tij;
                t_next[(j, i)] = tij;
            }
        }
        k = k_next;
        theta = t_next;
    }
    Kernels {
        nngp: k,
        ntk: theta,
    }
}

/// (E[φ(u)φ(v)], E[φ'(u)φ'(v)]) for (u, v) ~ N(0, [[kuu, kuv], [kuv, kvv]]).
///
/// Closed forms for erf (arcsin kernel), relu (arc-cosine kernels of orders 1 and
/// 0) and identity; 64×64-node Gauss–Hermite quadrature for tanh.
pub fn pair_expectations(act: Activation, kuu: f64, kvv: f64, kuv: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    match act {
        Activation::Identity => (kuv, 1.0),
        Activation::Erf => {
            let a = 1.0 + 2.0 * kuu;
            let b = 1.0 + 2.0 * kvv;
            let s = (2.0 * kuv / (a * b).sqrt()).clamp(-1.0, 1.0);
            let e_phi = 2.0 / PI * s.asin();
            // (1+2a)(1+2b) − 4c² ≥ 1 for any PSD covariance, so no clamp is needed
            // beyond guarding round-off.
            let det = (a * b - 4.0 * kuv * kuv).max(f64::MIN_POSITIVE);
            (e_phi, 4.0 / PI / det.sqrt())
        }
        Activation::Relu => {
            if kuu <= 0.0 || kvv <= 0.0 {
                // A degenerate (identically zero) pre-activation: relu(0) = relu'(0) = 0.
                return (0.0, 0.0);
            }
            let norm = (kuu * kvv).sqrt();
            let cos = (kuv / norm).clamp(-1.0, 1.0);
            let th = cos.acos();
            let e_phi = norm / (2.0 * PI) * (th.sin() + (PI - th) * cos);
            (e_phi, (PI - th) / (2.0 * PI))
        }
        Activation::Tanh => quadrature_expectations(act, kuu, kvv, kuv),
    }
}

/// Number of Gauss–Hermite nodes per dimension of the quadrature path.
pub const GH_NODES: usize = 64;

/// Gauss–Hermite rule for E[f(Z)], Z ~ N(0, 1): returns (nodes z_i, weights w_i)
/// with Σ w_i f(z_i) ≈ E[f(Z)] (exact for polynomials of degree < 2n).
///
/// Golub–Welsch: the nodes of the physicists' rule are the eigenvalues of the
/// symmetric Jacobi matrix with off-diagonal √(k/2); the weights are √π times the
/// squared first eigenvector components. Rescaling x → √2·x and dividing by √π
/// turns weight e^{-x²} into the standard normal density.
pub fn gauss_hermite_normal(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut jac = DMatrix::<f64>::zeros(n, n);
    for k in 1..n {
        let off = (k as f64 / 2.0).sqrt();
        jac[(k - 1, k)] = off;
        jac[(k, k - 1)] = off;
    }
    let eig = SymmetricEigen::new(jac);
    let mut pairs: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let v0 = eig.eigenvectors[(0, i)];
            (std::f64::consts::SQRT_2 * eig.eigenvalues[i], v0 * v0)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Normalise so the weights sum to exactly one (removes eigenvector round-off).
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    (
        pairs.iter().map(|p| p.0).collect(),
        pairs.iter().map(|p| p.1 / total).collect(),
    )
}

fn gh64() -> &'static (Vec<f64>, Vec<f64>) {
    static RULE: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    RULE.get_or_init(|| gauss_hermite_normal(GH_NODES))
}

/// The generic quadrature path: 2-D tensor Gauss–Hermite after a Cholesky
/// factorisation u = l11·z1, v = l21·z1 + l22·z2 of the pair covariance. Exposed
/// (crate-wide) so the closed forms can be checked against it.
pub(crate) fn quadrature_expectations(act: Activation, kuu: f64, kvv: f64, kuv: f64) -> (f64, f64) {
    let (z, w) = gh64();
    let l11 = kuu.max(0.0).sqrt();
    let (l21, l22) = if l11 > 0.0 {
        let l21 = kuv / l11;
        (l21, (kvv - l21 * l21).max(0.0).sqrt())
    } else {
        (0.0, kvv.max(0.0).sqrt())
    };
    let mut e_phi = 0.0;
    let mut e_dphi = 0.0;
    for (&z1, &w1) in z.iter().zip(w) {
        let u = l11 * z1;
        let (pu, du) = (act.eval(u), act.deriv(u));
        let mut s_phi = 0.0;
        let mut s_dphi = 0.0;
        for (&z2, &w2) in z.iter().zip(w) {
            let v = l21 * z1 + l22 * z2;
            s_phi += w2 * act.eval(v);
            s_dphi += w2 * act.deriv(v);
        }
        e_phi += w1 * pu * s_phi;
        e_dphi += w1 * du * s_dphi;
    }
    (e_phi, e_dphi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::test_rng::Rng;
    use std::f64::consts::PI;

    /// Covariances used throughout: small/large variances, positive/negative and
    /// near-degenerate correlations.
    const COVS: [(f64, f64, f64); 6] = [
        (1.0, 1.0, 0.3),
        (0.5, 2.0, -0.7),
        (1.3, 1.3, 1.29),
        (0.2, 0.9, 0.0),
        (3.0, 0.4, 1.0),
        (1.0, 1.0, -0.999),
    ];

    #[test]
    fn gauss_hermite_integrates_moments() {
        let (z, w) = gauss_hermite_normal(GH_NODES);
        let moment = |p: i32| z.iter().zip(&w).map(|(x, w)| w * x.powi(p)).sum::<f64>();
        assert!((moment(0) - 1.0).abs() < 1e-14);
        assert!(moment(1).abs() < 1e-13);
        assert!((moment(2) - 1.0).abs() < 1e-12);
        assert!((moment(4) - 3.0).abs() < 1e-11);
        assert!((moment(8) - 105.0).abs() < 1e-9);
    }

    #[test]
    fn erf_closed_form_matches_quadrature() {
        for &(a, b, c) in &COVS {
            let cf = pair_expectations(Activation::Erf, a, b, c);
            let q = quadrature_expectations(Activation::Erf, a, b, c);
            // 64-node GH is ~1e-15 accurate at unit variance; at variance 3 the
            // narrow Gaussian erf'(u)·erf'(v) needs more nodes and the error is ~3e-8.
            let tol = if a.max(b) > 2.0 { 1e-7 } else { 1e-8 };
            assert!((cf.0 - q.0).abs() < tol, "{:?} {cf:?} {q:?}", (a, b, c));
            assert!((cf.1 - q.1).abs() < tol, "{:?} {cf:?} {q:?}", (a, b, c));
        }
    }

    #[test]
    fn identity_closed_form_matches_quadrature() {
        for &(a, b, c) in &COVS {
            let q = quadrature_expectations(Activation::Identity, a, b, c);
            assert!((q.0 - c).abs() < 1e-12 && (q.1 - 1.0).abs() < 1e-12);
        }
    }

    /// Gauss–Legendre nodes/weights on [-1, 1] by Golub–Welsch.
    fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut jac = DMatrix::<f64>::zeros(n, n);
        for k in 1..n {
            let kf = k as f64;
            let off = kf / (4.0 * kf * kf - 1.0).sqrt();
            jac[(k - 1, k)] = off;
            jac[(k, k - 1)] = off;
        }
        let eig = SymmetricEigen::new(jac);
        let z = eig.eigenvalues.iter().copied().collect();
        let w = (0..n)
            .map(|i| 2.0 * eig.eigenvectors[(0, i)].powi(2))
            .collect();
        (z, w)
    }

    /// Relu's kink defeats tensor Gauss–Hermite (only ~1e-3 accurate), so the relu
    /// closed form is checked against a quadrature that respects the kinks: relu is
    /// positively homogeneous, so in polar coordinates z = r·e(ψ) the radial integral
    /// is exact (∫r³e^{-r²/2} = 2, ∫r e^{-r²/2} = 1) and the angular integrand is
    /// smooth between the four angles where u or v changes sign. Gauss–Legendre on
    /// each arc is then accurate to round-off.
    fn relu_polar(a: f64, b: f64, c: f64) -> (f64, f64) {
        let l11 = a.sqrt();
        let l21 = c / l11;
        let l22 = (b - l21 * l21).max(0.0).sqrt();
        let lu = [l11, 0.0];
        let lv = [l21, l22];
        let mut cuts: Vec<f64> = Vec::new();
        for l in [lu, lv] {
            let base = l[0].atan2(-l[1]);
            for k in 0..2 {
                cuts.push((base + k as f64 * PI).rem_euclid(2.0 * PI));
            }
        }
        cuts.sort_by(f64::total_cmp);
        cuts.push(cuts[0] + 2.0 * PI);
        let (gz, gw) = gauss_legendre(40);
        let (mut e_phi, mut e_dphi) = (0.0, 0.0);
        for seg in cuts.windows(2) {
            let (lo, hi) = (seg[0], seg[1]);
            let half = 0.5 * (hi - lo);
            for (&x, &w) in gz.iter().zip(&gw) {
                let psi = lo + half * (x + 1.0);
                let e = [psi.cos(), psi.sin()];
                let u = lu[0] * e[0] + lu[1] * e[1];
                let v = lv[0] * e[0] + lv[1] * e[1];
                let wt = w * half / (2.0 * PI);
                e_phi += wt * 2.0 * u.max(0.0) * v.max(0.0);
                e_dphi += wt * Activation::Relu.deriv(u) * Activation::Relu.deriv(v);
            }
        }
        (e_phi, e_dphi)
    }

    #[test]
    fn relu_closed_form_matches_polar_quadrature() {
        for &(a, b, c) in &COVS {
            let cf = pair_expectations(Activation::Relu, a, b, c);
            let q = relu_polar(a, b, c);
            assert!((cf.0 - q.0).abs() < 1e-10, "{:?} {cf:?} {q:?}", (a, b, c));
            assert!((cf.1 - q.1).abs() < 1e-10, "{:?} {cf:?} {q:?}", (a, b, c));
            // The generic tensor-GH path still agrees, at its kink-limited accuracy
            // (~1e-3 for E[φφ], ~1e-2 for the step function E[φ'φ']).
            let gh = quadrature_expectations(Activation::Relu, a, b, c);
            assert!((cf.0 - gh.0).abs() < 3e-2 && (cf.1 - gh.1).abs() < 3e-2);
        }
    }

    /// Monte-Carlo check of every activation's expectations. With M samples the
    /// standard error is s/√M (s the sample std of the integrand); we accept
    /// deviations below 5 standard errors, a ~1e-6 false-failure rate per check.
    #[test]
    fn expectations_match_monte_carlo() {
        let mut rng = Rng::new(12345);
        let m = 200_000;
        for act in Activation::ALL {
            for &(a, b, c) in &COVS[..4] {
                let l11 = a.sqrt();
                let l21 = c / l11;
                let l22 = (b - l21 * l21).sqrt();
                let (mut s1, mut s1sq, mut s2, mut s2sq) = (0.0, 0.0, 0.0, 0.0);
                for _ in 0..m {
                    let (z1, z2) = (rng.normal(), rng.normal());
                    let (u, v) = (l11 * z1, l21 * z1 + l22 * z2);
                    let f1 = act.eval(u) * act.eval(v);
                    let f2 = act.deriv(u) * act.deriv(v);
                    s1 += f1;
                    s1sq += f1 * f1;
                    s2 += f2;
                    s2sq += f2 * f2;
                }
                let mf = m as f64;
                let (m1, m2) = (s1 / mf, s2 / mf);
                let se1 = ((s1sq / mf - m1 * m1) / mf).sqrt();
                let se2 = ((s2sq / mf - m2 * m2) / mf).sqrt();
                let (e1, e2) = pair_expectations(act, a, b, c);
                assert!(
                    (m1 - e1).abs() < 5.0 * se1 + 1e-12,
                    "{act} {a} {b} {c}: {m1} vs {e1}"
                );
                assert!(
                    (m2 - e2).abs() < 5.0 * se2 + 1e-12,
                    "{act} {a} {b} {c}: {m2} vs {e2}"
                );
            }
        }
    }

    fn ring(n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|j| {
                let t = 2.0 * PI * j as f64 / n as f64;
                vec![t.cos(), t.sin()]
            })
            .collect()
    }

    fn spec(act: Activation, par: Parametrization, depth: usize) -> NetSpec {
        NetSpec {
            input_dim: 2,
            width: 512,
            depth,
            activation: act,
            parametrization: par,
            sigma_w: 1.3,
            sigma_b: 0.4,
        }
    }

    #[test]
    fn identity_depth_one_by_hand() {
        let s = spec(Activation::Identity, Parametrization::Ntk, 1);
        let xs = vec![vec![0.5, -1.0], vec![2.0, 0.25]];
        let kern = infinite_width_kernels(&s, &xs);
        let (sw2, sb2) = (1.69, 0.16);
        // x·x' for the three distinct pairs.
        for (i, j, dot) in [(0, 0, 1.25), (1, 1, 4.0625), (0, 1, 0.75)] {
            let k1 = sw2 * dot / 2.0 + sb2;
            let k2 = sw2 * k1 + sb2;
            let t2 = k2 + sw2 * k1;
            assert!((kern.nngp[(i, j)] - k2).abs() < 1e-14);
            assert!((kern.ntk[(i, j)] - t2).abs() < 1e-14);
            assert_eq!(kern.ntk[(i, j)], kern.ntk[(j, i)]);
        }
    }

    #[test]
    fn standard_vs_ntk_parametrisation() {
        let xs = ring(7);
        for act in Activation::ALL {
            // Depth 1: both NTKs share E[φ'φ'] =: D. From the NTK side,
            // D = (Θ − K)/(σ_w²K¹); from the standard side
            // Θ_std = n·(K − σ_b²)/σ_w² + 1 + σ_w²·D·(x·x' + 1).
            let ntk = infinite_width_kernels(&spec(act, Parametrization::Ntk, 1), &xs);
            let std = infinite_width_kernels(&spec(act, Parametrization::Standard, 1), &xs);
            assert!((&ntk.nngp - &std.nngp).amax() < 1e-14, "NNGP must agree");
            let (sw2, sb2, n) = (1.69, 0.16, 512.0);
            for i in 0..xs.len() {
                for j in 0..xs.len() {
                    let dot = xs[i][0] * xs[j][0] + xs[i][1] * xs[j][1];
                    let k1 = sw2 * dot / 2.0 + sb2;
                    let d = (ntk.ntk[(i, j)] - ntk.nngp[(i, j)]) / (sw2 * k1);
                    let pred = n * (ntk.nngp[(i, j)] - sb2) / sw2 + 1.0 + sw2 * d * (dot + 1.0);
                    assert!((std.ntk[(i, j)] - pred).abs() < 1e-9 * pred.abs(), "{act}");
                }
            }
            // Deeper: Θ_std is affine in the width with slope Σ_l (Π backprop)·E[φφ];
            // check linearity via three widths.
            let mut s3 = spec(act, Parametrization::Standard, 3);
            let t: Vec<_> = [100, 200, 300]
                .iter()
                .map(|&w| {
                    s3.width = w;
                    infinite_width_kernels(&s3, &xs).ntk
                })
                .collect();
            let second_diff = &t[0] - 2.0 * &t[1] + &t[2];
            assert!(second_diff.amax() < 1e-9 * t[2].amax(), "{act}");
        }
    }

    #[test]
    fn ring_kernels_are_circulant_and_psd() {
        let xs = ring(12);
        for act in Activation::ALL {
            let k = infinite_width_kernels(&spec(act, Parametrization::Ntk, 2), &xs);
            for i in 0..12 {
                for j in 0..12 {
                    let d = (j + 12 - i) % 12;
                    assert!((k.ntk[(i, j)] - k.ntk[(0, d)]).abs() < 1e-12);
                    assert!((k.nngp[(i, j)] - k.nngp[(0, d)]).abs() < 1e-12);
                }
            }
            let min_eig = SymmetricEigen::new(k.ntk.clone()).eigenvalues.min();
            assert!(min_eig > -1e-10, "{act}: {min_eig}");
        }
    }
}

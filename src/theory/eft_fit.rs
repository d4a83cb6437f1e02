//! EFT fit of sampled trajectories to the momentum recurrence (DESIGN §3).
//!
//! c_{s+1} − c_s = β_eff·(c_s − c_{s−1}) − (ηκ)_eff·c_s is linear in the two
//! unknowns, so the fit is ordinary least squares on the pooled samples.

use serde::{Deserialize, Serialize};

/// Fitted recurrence coefficients with OLS standard errors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EftFit {
    pub beta: f64,
    pub beta_err: f64,
    pub eta_kappa: f64,
    pub eta_kappa_err: f64,
    /// Number of (c_{s−1}, c_s, c_{s+1}) triples used.
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("too few samples for the EFT fit: {got} triples, need at least 3")]
    TooFewSamples { got: usize },
    #[error("non-finite value in trajectory {trajectory} at sample {index}")]
    NonFinite { trajectory: usize, index: usize },
    #[error("singular design: the trajectories do not determine both β and ηκ")]
    Singular,
}

/// The first non-finite sample of any trajectory, as an error.
fn check_finite(trajectories: &[&[f64]]) -> Result<(), FitError> {
    for (ti, tr) in trajectories.iter().enumerate() {
        if let Some(index) = tr.iter().position(|v| !v.is_finite()) {
            return Err(FitError::NonFinite {
                trajectory: ti,
                index,
            });
        }
    }
    Ok(())
}

/// Fit β_eff and (ηκ)_eff on consecutive samples (stride 1) of one or more
/// trajectories, pooled. Each trajectory of length L contributes L − 2 triples.
///
/// Standard errors: σ̂² = RSS/(n − 2), cov = σ̂²(XᵀX)⁻¹ with regressors
/// x₁ = c_s − c_{s−1}, x₂ = −c_s and response y = c_{s+1} − c_s. They assume
/// independent residuals, so for pooled ensemble members they are the
/// statistical errors of the average dynamics.
pub fn fit_momentum_recurrence(trajectories: &[&[f64]]) -> Result<EftFit, FitError> {
    check_finite(trajectories)?;
    let triples = || {
        trajectories
            .iter()
            .flat_map(|tr| tr.windows(3))
            .map(|w| (w[1] - w[0], -w[1], w[2] - w[1]))
    };
    let n = triples().count();
    if n < 3 {
        return Err(FitError::TooFewSamples { got: n });
    }
    let (mut s11, mut s12, mut s22, mut s1y, mut s2y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x1, x2, y) in triples() {
        s11 += x1 * x1;
        s12 += x1 * x2;
        s22 += x2 * x2;
        s1y += x1 * y;
        s2y += x2 * y;
    }
    if s11 <= 0.0 || s22 <= 0.0 {
        return Err(FitError::Singular);
    }
    // Solve in column-normalised form (unit-diagonal Gram matrix) so that the
    // singularity test is scale free: 1 − ρ² with ρ the regressors' cosine.
    let (n1, n2) = (s11.sqrt(), s22.sqrt());
    let rho = s12 / (n1 * n2);
    let det = 1.0 - rho * rho;
    if det < 1e-13 {
        return Err(FitError::Singular);
    }
    let (b1, b2) = (s1y / n1, s2y / n2);
    let beta = (b1 - rho * b2) / det / n1;
    let eta_kappa = (b2 - rho * b1) / det / n2;
    // Residuals from the data (not the normal-equation identity) so an exact fit
    // gives RSS at round-off level.
    let rss: f64 = triples()
        .map(|(x1, x2, y)| {
            let r = y - beta * x1 - eta_kappa * x2;
            r * r
        })
        .sum();
    let sigma2 = rss / (n - 2) as f64;
    // (XᵀX)⁻¹ diagonal in the original scale: 1/(det·n_i²).
    Ok(EftFit {
        beta,
        beta_err: (sigma2 / (det * s11)).sqrt(),
        eta_kappa,
        eta_kappa_err: (sigma2 / (det * s22)).sqrt(),
        samples: n,
    })
}

/// First-order fit c_{s+1} − c_s = −(ηκ)_eff·c_s with β fixed at 0 (reported
/// with `beta = beta_err = 0`), for plain gradient descent. A noise-free β = 0
/// trajectory is geometric, and for a geometric sequence the two regressors of
/// [`fit_momentum_recurrence`] are collinear, so that fit is (correctly)
/// singular; this one-parameter fit is the well-posed alternative.
pub fn fit_first_order(trajectories: &[&[f64]]) -> Result<EftFit, FitError> {
    check_finite(trajectories)?;
    let pairs = || {
        trajectories
            .iter()
            .flat_map(|tr| tr.windows(2))
            .map(|w| (-w[0], w[1] - w[0]))
    };
    let n = pairs().count();
    if n < 2 {
        return Err(FitError::TooFewSamples { got: n });
    }
    let (sxx, sxy) = pairs().fold((0.0, 0.0), |(a, b), (x, y)| (a + x * x, b + x * y));
    if sxx <= 0.0 {
        return Err(FitError::Singular);
    }
    let eta_kappa = sxy / sxx;
    let rss: f64 = pairs().map(|(x, y)| (y - eta_kappa * x).powi(2)).sum();
    Ok(EftFit {
        beta: 0.0,
        beta_err: 0.0,
        eta_kappa,
        eta_kappa_err: (rss / (n - 1) as f64 / sxx).sqrt(),
        samples: n,
    })
}

/// The recurrence with a cubic self-interaction, c_{s+1} − c_s =
/// β·(c_s − c_{s−1}) − (ηκ)·c_s − g·c_s³: the first anharmonic term of an EFT whose
/// potential is ½m²φ² + (λ/4)φ⁴ (g = ηλ in the network's units).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CubicFit {
    pub fit: EftFit,
    pub g: f64,
    pub g_err: f64,
}

/// Ordinary least squares of [`CubicFit`] on consecutive samples, pooled over the
/// trajectories; standard errors from σ̂²(XᵀX)⁻¹ as in [`fit_momentum_recurrence`].
pub fn fit_momentum_cubic(trajectories: &[&[f64]]) -> Result<CubicFit, FitError> {
    check_finite(trajectories)?;
    let rows = || {
        trajectories
            .iter()
            .flat_map(|tr| tr.windows(3))
            .map(|w| ([w[1] - w[0], -w[1], -w[1] * w[1] * w[1]], w[2] - w[1]))
    };
    let n = rows().count();
    if n < 4 {
        return Err(FitError::TooFewSamples { got: n });
    }
    let mut xtx = nalgebra::Matrix3::<f64>::zeros();
    let mut xty = nalgebra::Vector3::<f64>::zeros();
    for (x, y) in rows() {
        let xv = nalgebra::Vector3::from(x);
        xtx += xv * xv.transpose();
        xty += xv * y;
    }
    // Column scaling keeps the conditioning test scale free (c³ and c differ by
    // orders of magnitude).
    let d = nalgebra::Vector3::from_fn(|i, _| xtx[(i, i)].sqrt());
    if d.iter().any(|v| v.is_nan() || *v <= 0.0) {
        return Err(FitError::Singular);
    }
    let scaled = xtx.component_div(&(d * d.transpose()));
    let eig = nalgebra::SymmetricEigen::new(scaled);
    if eig.eigenvalues.min() < 1e-13 * eig.eigenvalues.max() {
        return Err(FitError::Singular);
    }
    let inv = scaled
        .try_inverse()
        .ok_or(FitError::Singular)?
        .component_div(&(d * d.transpose()));
    let coef = inv * xty;
    let rss: f64 = rows()
        .map(|(x, y)| {
            let r = y - coef.dot(&nalgebra::Vector3::from(x));
            r * r
        })
        .sum();
    let sigma2 = rss / (n - 3) as f64;
    Ok(CubicFit {
        fit: EftFit {
            beta: coef[0],
            beta_err: (sigma2 * inv[(0, 0)]).sqrt(),
            eta_kappa: coef[1],
            eta_kappa_err: (sigma2 * inv[(1, 1)]).sqrt(),
            samples: n,
        },
        g: coef[2],
        g_err: (sigma2 * inv[(2, 2)]).sqrt(),
    })
}

/// Effective de Sitter parameters from a fit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EftParams {
    pub hubble: f64,
    pub hubble_err: f64,
    pub m2: f64,
    pub m2_err: f64,
    pub lambda: f64,
    pub lambda_err: f64,
}

/// Map a fit to (H, m², Λ) with the sample interval `time_step` (√η for a
/// network sampled every step, or the lattice's output interval):
/// H = (1 − β)/(3Δ), m² = (ηκ)/Δ², Λ = 3H². Errors are propagated linearly
/// (the β–ηκ covariance does not enter because each output depends on one of them).
pub fn eft_params(fit: &EftFit, time_step: f64) -> EftParams {
    let hubble = (1.0 - fit.beta) / (3.0 * time_step);
    let hubble_err = fit.beta_err / (3.0 * time_step);
    let dt2 = time_step * time_step;
    EftParams {
        hubble,
        hubble_err,
        m2: fit.eta_kappa / dt2,
        m2_err: fit.eta_kappa_err / dt2,
        lambda: 3.0 * hubble * hubble,
        lambda_err: 6.0 * hubble.abs() * hubble_err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theory::dictionary::continuum;
    use crate::theory::propagator::mode_propagator;
    use crate::theory::test_rng::Rng;

    #[test]
    fn recovers_exact_recurrence() {
        for &(eta, beta, kappa) in &[
            (0.1, 0.9, 1.0),
            (0.01, 0.5, 3.0),
            (0.3, 0.2, 0.5),
            (0.05, 0.95, 20.0),
        ] {
            let p = mode_propagator(eta, beta, kappa, 80);
            let scaled: Vec<f64> = p.iter().map(|v| -2.5 * v).collect();
            let fit = fit_momentum_recurrence(&[&p, &scaled]).unwrap();
            assert_eq!(fit.samples, 2 * 79);
            assert!((fit.beta - beta).abs() < 1e-9, "{fit:?}");
            assert!((fit.eta_kappa - eta * kappa).abs() < 1e-9, "{fit:?}");
            assert!(fit.beta_err < 1e-8 && fit.eta_kappa_err < 1e-8, "{fit:?}");
            // Through the dictionary: Δ = √η gives the continuum H and m² = κ.
            let params = eft_params(&fit, eta.sqrt());
            let c = continuum(eta, beta);
            assert!((params.hubble - c.hubble).abs() < 1e-7 * c.hubble.max(1.0));
            assert!((params.m2 - kappa).abs() < 1e-7 * kappa);
            assert!((params.lambda - c.lambda).abs() < 1e-6 * c.lambda.max(1.0));
        }
    }

    /// Process noise ε_s ~ N(0, σ²) added to each step keeps OLS unbiased with
    /// correct standard errors; many independent members are pooled.
    #[test]
    fn noisy_fit_within_standard_errors() {
        let mut rng = Rng::new(99);
        let (eta, beta, kappa) = (0.05, 0.8, 2.0);
        let a = 1.0 + beta - eta * kappa;
        for trial in 0..5 {
            let trajs: Vec<Vec<f64>> = (0..20)
                .map(|_| {
                    let mut c = vec![1.0 + 0.3 * rng.normal()];
                    c.push(c[0] * (1.0 - eta * kappa));
                    for s in 1..60 {
                        let next = a * c[s] - beta * c[s - 1] + 0.01 * rng.normal();
                        c.push(next);
                    }
                    c
                })
                .collect();
            let refs: Vec<&[f64]> = trajs.iter().map(|t| t.as_slice()).collect();
            let fit = fit_momentum_recurrence(&refs).unwrap();
            assert!(fit.beta_err > 0.0 && fit.eta_kappa_err > 0.0);
            assert!(
                (fit.beta - beta).abs() < 4.0 * fit.beta_err,
                "trial {trial}: {fit:?}"
            );
            assert!(
                (fit.eta_kappa - eta * kappa).abs() < 4.0 * fit.eta_kappa_err,
                "trial {trial}: {fit:?}"
            );
            // Errors propagate linearly.
            let p = eft_params(&fit, eta.sqrt());
            assert!((p.hubble_err - fit.beta_err / (3.0 * eta.sqrt())).abs() < 1e-15);
            assert!((p.lambda_err - 6.0 * p.hubble * p.hubble_err).abs() < 1e-12);
        }
    }

    #[test]
    fn fit_errors() {
        let zeros = [0.0; 10];
        assert_eq!(fit_momentum_recurrence(&[&zeros]), Err(FitError::Singular));
        assert_eq!(
            fit_momentum_recurrence(&[&[1.0, 0.5, 0.2, 0.1]]),
            Err(FitError::TooFewSamples { got: 2 })
        );
        assert_eq!(
            fit_momentum_recurrence(&[]),
            Err(FitError::TooFewSamples { got: 0 })
        );
        assert_eq!(
            fit_momentum_recurrence(&[&[1.0, 0.5, f64::NAN, 0.1, 0.0]]),
            Err(FitError::NonFinite {
                trajectory: 0,
                index: 2
            })
        );
        // A pure geometric decay (plain GD, one root) cannot separate β from ηκ...
        let geo = mode_propagator(0.3, 0.0, 0.5, 30);
        assert_eq!(fit_momentum_recurrence(&[&geo]), Err(FitError::Singular));
        // ...but the first-order fit recovers its drift rate exactly.
        let fo = fit_first_order(&[&geo]).unwrap();
        assert!((fo.eta_kappa - 0.15).abs() < 1e-12 && fo.eta_kappa_err < 1e-12);
        assert_eq!(fo.samples, 30);
        assert_eq!(fit_first_order(&[&zeros]), Err(FitError::Singular));
    }

    /// A trajectory of the cubic recurrence gives back its three coefficients; a
    /// harmonic one gives g ≈ 0.
    #[test]
    fn cubic_fit_recovers_the_anharmonic_term() {
        let (beta, ek, g) = (0.9, 0.05, 0.02);
        let run = |g: f64, c0: f64| {
            let (mut prev, mut cur) = (c0, c0);
            let mut c = vec![cur];
            for _ in 0..200 {
                let next = cur + beta * (cur - prev) - ek * cur - g * cur * cur * cur;
                prev = cur;
                cur = next;
                c.push(cur);
            }
            c
        };
        let (a, b) = (run(g, 2.0), run(g, -1.5));
        let f = fit_momentum_cubic(&[&a, &b]).unwrap();
        assert!((f.fit.beta - beta).abs() < 1e-9, "{f:?}");
        assert!((f.fit.eta_kappa - ek).abs() < 1e-9, "{f:?}");
        assert!((f.g - g).abs() < 1e-9, "{f:?}");
        let h = run(0.0, 2.0);
        let f = fit_momentum_cubic(&[&h]).unwrap();
        assert!(f.g.abs() < 1e-9, "{f:?}");
    }
}

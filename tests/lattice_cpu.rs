//! The integrator, stencils and mode evolution on the f64 CPU twins, against
//! closed forms (no GPU needed).

use nncosmo_gpu::config::lattice::Integrator;
use nncosmo_gpu::lattice::scheme::{Stepper, k_eff2};
use nncosmo_gpu::reference::lattice::{self as cpu, Potential};
use nncosmo_gpu::theory::desitter::{background, conformal_mode, massless_mode};
use num_complex::Complex64;

/// Runs `steps` steps of the shared scheme on the CPU twin of the fused kernel.
#[allow(clippy::too_many_arguments)]
fn evolve(
    integ: Integrator,
    stencil: u32,
    n: usize,
    dx: f64,
    h: f64,
    dt: f64,
    steps: usize,
    pot: &Potential,
    phi: &mut [f64],
    pi: &mut [f64],
) {
    let mut s = Stepper::new(integ, h, dt);
    for u in s.units(0.0, steps) {
        cpu::kick_drift(
            stencil,
            n,
            u.c_lap / (dx * dx),
            u.c_pot,
            u.c_drift,
            pot,
            phi,
            pi,
        );
    }
}

fn homogeneous_error(integ: Integrator, dt: f64) -> f64 {
    let (h, m2, t_end) = (0.5, 1.3, 10.0);
    let pot = Potential {
        m2,
        lambda: 0.0,
        phi0: 0.0,
    };
    let n = 4;
    let mut phi = vec![1.0; n * n * n];
    let mut pi = vec![0.0; n * n * n];
    let steps = (t_end / dt).round() as usize;
    evolve(integ, 2, n, 1.0, h, dt, steps, &pot, &mut phi, &mut pi);
    let (x, _) = background(h, m2, 1.0, 0.0, t_end);
    (phi[0] - x).abs()
}

#[test]
fn convergence_order_against_the_closed_form_background() {
    // Reference figures at dt = 0.1: 1.2e-5 (leapfrog), 2.1e-7 (Yoshida).
    for (integ, order, reference) in [
        (Integrator::Leapfrog, 2.0, 1.2e-5),
        (Integrator::Yoshida4, 4.0, 2.1e-7),
    ] {
        let errs: Vec<f64> = [0.2, 0.1, 0.05]
            .iter()
            .map(|&dt| homogeneous_error(integ, dt))
            .collect();
        for w in errs.windows(2) {
            let p = (w[0] / w[1]).log2();
            assert!(
                (p - order).abs() < 0.25,
                "{integ:?}: observed order {p} from {errs:?}"
            );
        }
        assert!(
            errs[1] < 2.0 * reference && errs[1] > 0.25 * reference,
            "{integ:?}: {errs:?}"
        );
    }
}

#[test]
fn stencils_have_the_exact_plane_wave_eigenvalues() {
    let n = 8;
    let dx = 0.3;
    let tau = std::f64::consts::TAU;
    for stencil in [2, 4] {
        for m in [[1i64, 0, 0], [2, 3, 1], [4, 4, 4], [-3, 1, 2]] {
            let mut f = Vec::new();
            for z in 0..n {
                for y in 0..n {
                    for x in 0..n {
                        let ph = tau * (m[0] * x as i64 + m[1] * y as i64 + m[2] * z as i64) as f64
                            / n as f64;
                        f.push(ph.cos() + 0.5 * ph.sin());
                    }
                }
            }
            let lap = cpu::laplacian(stencil, &f, n);
            let k2 = k_eff2(stencil, n, dx, m);
            for (l, v) in lap.iter().zip(&f) {
                assert!(
                    (l / (dx * dx) + k2 * v).abs() < 1e-11 * k2.max(1.0),
                    "stencil {stencil}, mode {m:?}"
                );
            }
        }
    }
}

/// Evolves one plane wave n = (1, 0, 0) from the analytic mode at t = 0 and returns
/// the lattice's (u, u̇) at t_end, projected back out of the field.
fn lattice_mode(
    m2: f64,
    h: f64,
    t_end: f64,
    dt: f64,
    init: (Complex64, Complex64),
) -> (Complex64, Complex64) {
    let (n, dx) = (8, 0.5);
    let tau = std::f64::consts::TAU;
    let wave: Vec<Complex64> = (0..n * n * n)
        .map(|i| Complex64::from_polar(1.0, tau * (i % n) as f64 / n as f64))
        .collect();
    let (u0, du0) = init;
    let mut phi: Vec<f64> = wave.iter().map(|w| (u0 * w).re).collect();
    let mut pi: Vec<f64> = wave.iter().map(|w| (du0 * w).re).collect();
    let pot = Potential {
        m2,
        lambda: 0.0,
        phi0: 0.0,
    };
    let steps = (t_end / dt).round() as usize;
    evolve(
        Integrator::Yoshida4,
        2,
        n,
        dx,
        h,
        dt,
        steps,
        &pot,
        &mut phi,
        &mut pi,
    );
    let inv_a3 = (-3.0 * h * t_end).exp();
    let proj = |f: &[f64]| -> Complex64 {
        f.iter()
            .zip(&wave)
            .map(|(v, w)| *v * w.conj())
            .sum::<Complex64>()
            * (2.0 / (n * n * n) as f64)
    };
    (proj(&phi), proj(&pi) * inv_a3)
}

#[test]
fn single_modes_follow_the_closed_form_mode_functions() {
    let h = 0.5;
    let k = k_eff2(2, 8, 0.5, [1, 0, 0]).sqrt();
    let t_end = 6.0; // three e-folds: the mode crosses the horizon (k/aH ≈ 0.1 at the end)
    for (m2, f) in [
        (
            0.0,
            massless_mode as fn(f64, f64, f64) -> (Complex64, Complex64),
        ),
        (2.0 * h * h, conformal_mode),
    ] {
        let (u, du) = lattice_mode(m2, h, t_end, 0.01, f(k, h, 0.0));
        let (ue, due) = f(k, h, t_end);
        let tol = 1e-7;
        assert!((u - ue).norm() < tol * ue.norm(), "m2 {m2}: u {u} vs {ue}");
        assert!(
            (du - due).norm() < tol * (due.norm() + ue.norm() * h),
            "m2 {m2}: du {du} vs {due}"
        );
        // Wronskian a³(u u̇* − c.c.) = i, to the integrator's accuracy.
        let a3 = (3.0 * h * t_end).exp();
        let w = a3 * (u * du.conj() - u.conj() * du);
        assert!(
            (w - Complex64::new(0.0, 1.0)).norm() < 1e-6,
            "m2 {m2}: Wronskian {w}"
        );
    }
}

#[test]
fn the_batched_twin_evolves_each_field_with_its_own_mass() {
    // Three homogeneous fields stacked field-major: each follows the closed-form
    // background of its own m² (a swap of two masses would miss by O(1)).
    let (h, dt, steps, n) = (0.5, 0.05, 120, 4);
    let m2s = [0.3, 1.0, 2.5];
    let pot = Potential {
        m2: f64::NAN, // never used: every field takes its own m²
        lambda: 0.0,
        phi0: 0.0,
    };
    let sites = n * n * n;
    let mut phi = vec![1.0; 3 * sites];
    let mut pi = vec![0.0; 3 * sites];
    let mut s = Stepper::new(Integrator::Yoshida4, h, dt);
    for u in s.units(0.0, steps) {
        let sums = cpu::kick_drift_fields(
            2, n, u.c_lap, u.c_pot, u.c_drift, &pot, &m2s, &mut phi, &mut pi,
        );
        assert_eq!(sums.len(), 3);
    }
    let t = dt * steps as f64;
    for (b, &m2) in m2s.iter().enumerate() {
        let (x, _) = background(h, m2, 1.0, 0.0, t);
        let got = phi[b * sites];
        assert!((got - x).abs() < 1e-6, "field {b}: {got} vs {x}");
        for (c, &other) in m2s.iter().enumerate() {
            if c != b {
                assert!((got - background(h, other, 1.0, 0.0, t).0).abs() > 1e-2);
            }
        }
    }
}

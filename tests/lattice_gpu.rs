//! GPU kernels against their f64 CPU twins, and the engine against closed forms.

use nncosmo_gpu::config::lattice::{Integrator, LatticeConfig, Spectrum, Velocity};
use nncosmo_gpu::gpu::{BackendChoice, GpuContext};
use nncosmo_gpu::lattice::Lattice;
use nncosmo_gpu::lattice::engine::{KickDrift, kd_segment};
use nncosmo_gpu::lattice::initial;
use nncosmo_gpu::lattice::scheme::{Unit, k_eff2};
use nncosmo_gpu::lattice::spectrum::fft3;
use nncosmo_gpu::reference::lattice as cpu;
use nncosmo_gpu::reference::rng::seed_key;
use nncosmo_gpu::theory::desitter::{background, massless_mode};
use num_complex::Complex64;

fn ctx() -> GpuContext {
    GpuContext::new(&BackendChoice::default()).expect("a GPU adapter (lavapipe in CI)")
}

fn cfg(n: usize) -> LatticeConfig {
    let mut c = LatticeConfig::defaults();
    c.grid = n;
    c.spectrum = Spectrum::None;
    c
}

/// A smooth, non-trivial field with all three axes and both stencil rings excited.
fn test_field(n: usize) -> (Vec<f64>, Vec<f64>) {
    test_fields(n, 1)
}

/// `f` such fields stacked field-major, each with its own offset, phases and
/// amplitudes (field 0 is `test_field`), so that a kernel that mixed up fields or
/// their masses could not match the twin.
fn test_fields(n: usize, f: usize) -> (Vec<f64>, Vec<f64>) {
    let tau = std::f64::consts::TAU;
    let mut phi = Vec::new();
    let mut dphi = Vec::new();
    for b in 0..f {
        let (o, g) = (0.1 * b as f64, 1.0 + 0.4 * b as f64);
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let (fx, fy, fz) = (
                        x as f64 / n as f64 + 0.13 * b as f64,
                        y as f64 / n as f64,
                        z as f64 / n as f64 - 0.07 * b as f64,
                    );
                    phi.push(
                        0.8 + o
                            + 0.3 * g * (tau * fx).sin() * (tau * 2.0 * fy).cos()
                            + 0.2 * (tau * 3.0 * fz + 0.4).sin()
                            + 0.05 * ((x * 7 + y * 3 + z * 5 + b) % 11) as f64 / 11.0,
                    );
                    dphi.push(0.1 * g * (tau * (fx + fz)).cos() - 0.05 * (tau * 3.0 * fy).sin());
                }
            }
        }
    }
    (phi, dphi)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn pot(c: &LatticeConfig) -> cpu::Potential {
    cpu::Potential {
        m2: c.m2(),
        lambda: c.lambda,
        phi0: c.phi_min,
    }
}

fn max_rel(a: &[f32], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn kick_drift_matches_cpu_twin() {
    check_kick_drift(&[1.0]);
}

#[test]
fn batched_kick_drift_matches_the_twin_for_three_fields_of_different_mass() {
    check_kick_drift(&[0.3, 1.0, 2.5]);
}

/// Every kick–drift kernel against the batched twin, for fields of m² = m2s[b]
/// (different data per field): φ, π and each field's energy sums.
fn check_kick_drift(m2s: &[f64]) {
    let ctx = ctx();
    let nf = m2s.len();
    // Every kernel on this one device: N = 16, 8, 24 and 12 give segments of 4, 2,
    // 2 and 1 vec4s in the blocked kernel; the column kernel takes any N, including
    // 10, with whole columns (as on CPU drivers) or short segments (as on GPUs).
    let blocked = [(16usize, 4usize), (8, 2), (24, 2), (12, 1)]
        .into_iter()
        .map(|(n, v)| (n, KickDrift::Blocked { v }));
    assert_eq!(kd_segment(16), Some(2));
    assert_eq!(kd_segment(12), Some(1));
    assert_eq!(kd_segment(256), Some(4));
    assert_eq!(kd_segment(10), None);
    let any_n = [12usize, 10]
        .into_iter()
        .flat_map(|n| {
            [
                (n, KickDrift::Column { zb: n }),
                (n, KickDrift::Column { zb: 2 }),
            ]
        })
        .chain([16usize, 24].map(|n| (n, KickDrift::Column { zb: 8 })));
    for (n, kernel, stencil) in blocked
        .chain(any_n)
        .flat_map(|(n, k)| [(n, k, 2u32), (n, k, 4)])
    {
        let mut c = cfg(n);
        c.set_m2s(m2s);
        c.stencil = stencil;
        c.dx = 0.7;
        c.lambda = 0.3;
        c.phi_min = 0.1;
        // H only scales the kinetic energy sum here (w = e^(−3H·t/2)), which the
        // host divides out again.
        c.hubble = 0.5;
        let mut lat = Lattice::with_kernel(&ctx, &c, kernel).unwrap();
        let (mut phi, mut pi) = test_fields(n, nf);
        lat.upload(&f32s(&phi), &f32s(&pi)).unwrap();
        // The same data with two masses swapped, to show that the comparison
        // below would catch it.
        let mut swapped = m2s.to_vec();
        swapped.swap(0, nf - 1);
        let (mut sphi, mut spi) = (phi.clone(), pi.clone());
        let units = [
            Unit {
                c_lap: 0.05,
                c_pot: 0.02,
                c_drift: 0.1,
                t: 0.0,
            },
            // At t = 4 the kernel scales π by w² = e^(−3) before squaring.
            Unit {
                c_lap: 0.1,
                c_pot: 0.07,
                c_drift: 0.0,
                t: 4.0,
            },
            Unit {
                c_lap: 0.0,
                c_pot: 0.0,
                c_drift: -0.2,
                t: 0.0,
            },
        ];
        let gsums = lat.apply_units(&units).unwrap();
        let (gphi, gpi) = lat.read_field().unwrap();
        let p = pot(&c);
        assert_eq!(gsums.len(), units.len() * nf);
        for (u, g) in units.iter().zip(gsums.chunks_exact(nf)) {
            let sums = cpu::kick_drift_fields(
                stencil,
                n,
                u.c_lap / (c.dx * c.dx),
                u.c_pot,
                u.c_drift,
                &p,
                m2s,
                &mut phi,
                &mut pi,
            );
            cpu::kick_drift_fields(
                stencil,
                n,
                u.c_lap / (c.dx * c.dx),
                u.c_pot,
                u.c_drift,
                &p,
                &swapped,
                &mut sphi,
                &mut spi,
            );
            // f32 sums of O(N³) terms of one sign (Σπ², ΣV) or with a shift (the
            // gradient sum): a few ulps times a modest growth.
            for (b, (g, sums)) in g.iter().zip(&sums).enumerate() {
                for q in 0..3 {
                    assert!(
                        (g[q] - sums[q]).abs() < 1e-5 * sums[q].abs().max(1e-3 * sums[0]),
                        "{kernel:?} N {n} stencil {stencil} field {b}: energy sum {q}: {} vs {}",
                        g[q],
                        sums[q]
                    );
                }
            }
        }
        let (ef, ep) = (max_rel(&gphi, &phi), max_rel(&gpi, &pi));
        assert!(
            ef < 1e-5 && ep < 1e-5,
            "{kernel:?} N {n} stencil {stencil} F {nf}: phi {ef:e}, pi {ep:e}"
        );
        if nf > 1 {
            assert!(
                max_rel(&gpi, &spi) > 1e-3,
                "{kernel:?}: swapping two fields' masses must show"
            );
        }
    }
}

#[test]
fn reduction_matches_cpu_twin() {
    let ctx = ctx();
    for stencil in [2u32, 4] {
        let mut c = cfg(16);
        c.stencil = stencil;
        c.dx = 0.6;
        c.lambda = 0.5;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        let (phi, pi) = test_field(16);
        lat.upload(&f32s(&phi), &f32s(&pi)).unwrap();
        let g = lat.reduce_sums(&[0.8]).unwrap()[0];
        let (phi32, pi32): (Vec<f64>, Vec<f64>) = (
            f32s(&phi).iter().map(|&v| v as f64).collect(),
            f32s(&pi).iter().map(|&v| v as f64).collect(),
        );
        let r = cpu::reduce(
            stencil,
            16,
            1.0,
            0.8,
            1.0 / (c.dx * c.dx),
            &pot(&c),
            &phi32,
            &pi32,
        );
        for q in 0..6 {
            // Sums of 4096 f32 terms: relative 1e-5 of the sum of magnitudes.
            let scale = r[q].abs().max(1.0);
            assert!(
                (g[q] - r[q]).abs() < 1e-5 * scale,
                "stencil {stencil} sum {q}: {} vs {}",
                g[q],
                r[q]
            );
        }
    }
}

#[test]
fn initial_noise_matches_twin_is_hermitian_and_independent_of_slabs() {
    let ctx = ctx();
    let mut c = cfg(8);
    c.seed = 12345;
    let lat = Lattice::new(&ctx, &c).unwrap();
    let a = lat.noise(1 << 20).unwrap();
    let b = lat.noise(37).unwrap();
    assert_eq!(a, b, "the draw depends on the slab size");
    let twin = cpu::ic_noise(8, seed_key(12345));
    let n = 8;
    for m in 0..n * n * n {
        for q in 0..4 {
            assert!(
                (a[m][q] as f64 - twin[m][q]).abs() < 1e-5 * (1.0 + twin[m][q].abs()),
                "mode {m}"
            );
        }
        let (i, j, k) = (m % n, (m / n) % n, m / (n * n));
        let p = (n - i) % n + n * ((n - j) % n + n * ((n - k) % n));
        // Hermitian: B_{-k} = conj(B_k), C likewise.
        assert_eq!(
            (a[p][0], a[p][1], a[p][2], a[p][3]),
            (a[m][0], -a[m][1], a[m][2], -a[m][3])
        );
    }
}

#[test]
fn initial_field_is_real_and_has_the_requested_spectrum() {
    let ctx = ctx();
    let n = 32;
    let mut c = cfg(n);
    c.hubble = 0.5;
    c.spectrum = Spectrum::BunchDavies;
    c.velocity = Velocity::Vacuum;
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    let bd = initial::from_config(&c, &lat.table).unwrap().unwrap();
    let pl = initial::from_power(&lat.table, &|k| (1e-3 * k.powf(-2.5), 0.0));
    for (name, modes) in [("bunch-davies", bd), ("power-law", pl)] {
        // Requested bin power: mean of |u|² over the bin's modes.
        let mut want = vec![0.0; lat.table.bin_k.len()];
        for cl in 0..lat.table.classes() {
            want[lat.table.class_bin[cl]] +=
                modes[cl].0.norm_sqr() * lat.table.class_count[cl] as f64;
        }
        // 32 seeds: a bin of ≥ 100 modes (≥ 50 independent) then has ≤ 2.5 % sampling
        // error, so 10 % is a 4σ bound.
        let seeds = 32;
        let mut got = vec![0.0; want.len()];
        for s in 0..seeds {
            lat.cfg.seed = 1000 + s;
            lat.set_initial_modes(&modes).unwrap();
            let (phi, _) = lat.read_field().unwrap();
            if s == 0 {
                // Real field with a Hermitian DFT: the imaginary parts of φ̃_k + φ̃_{-k}^* vanish.
                let mut z: Vec<Complex64> =
                    phi.iter().map(|&v| Complex64::new(v as f64, 0.0)).collect();
                fft3(&mut z, n, false);
                let scale = z.iter().skip(1).map(|v| v.norm()).fold(0.0, f64::max);
                for m in 0..n * n * n {
                    let (i, j, k) = (m % n, (m / n) % n, m / (n * n));
                    let p = (n - i) % n + n * ((n - j) % n + n * ((n - k) % n));
                    assert!((z[m] - z[p].conj()).norm() < 1e-9 * scale * 1e3);
                }
            }
            for (g, p) in got.iter_mut().zip(lat.table.power(&phi)) {
                *g += p / seeds as f64;
            }
        }
        for b in 0..want.len() {
            if lat.table.bin_count[b] >= 100 {
                let w = want[b] / lat.table.bin_count[b] as f64;
                assert!(
                    (got[b] / w - 1.0).abs() < 0.10,
                    "{name} bin {b} (k = {:.3}): {} vs {w}",
                    lat.table.bin_k[b],
                    got[b]
                );
            }
        }
    }
}

#[test]
fn linear_theory_matches_the_measured_spectrum_at_both_stencils() {
    let ctx = ctx();
    for stencil in [2u32, 4] {
        let mut c = cfg(32);
        c.stencil = stencil;
        c.hubble = 0.5;
        c.set_m2s(&[0.64]);
        c.dt = 0.05;
        c.steps = 160; // t = 8: four e-folds
        c.output_every = 40;
        c.spectrum = Spectrum::BunchDavies;
        c.velocity = Velocity::Vacuum;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        lat.set_initial_from_config().unwrap();
        let res = lat.run(false).unwrap();
        let mut checked = 0;
        for r in &res.spectrum {
            if r.modes >= 100 {
                let d = (r.power / r.theory_power - 1.0).abs();
                assert!(
                    d < 0.03,
                    "stencil {stencil} step {} k {:.3}: {} vs theory {} ({d:.4})",
                    r.step,
                    r.k,
                    r.power,
                    r.theory_power
                );
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked}");
        // The mean follows the closed-form background (λ = 0: fluctuations average out exactly).
        for (row, (p, _)) in res.background.iter().zip(&res.background_theory) {
            assert!(
                (row.obs.phi_mean - p).abs() < 2e-4,
                "step {}: {} vs {p}",
                row.step,
                row.obs.phi_mean
            );
        }
    }
}

#[test]
fn flat_space_energy_is_conserved() {
    let ctx = ctx();
    let mut c = cfg(16);
    c.hubble = 0.0;
    c.dt = 0.01;
    c.steps = 1000;
    c.output_every = 100;
    c.spectrum = Spectrum::White { amplitude: 1e-3 };
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    lat.set_initial_from_config().unwrap();
    let res = lat.run(false).unwrap();
    let rho0 = res.background[0].obs.rho();
    assert!(
        res.background[0].obs.rho_grad > 1e-3 * rho0,
        "gradients must take part"
    );
    for r in &res.background {
        assert!(
            r.energy_residual.abs() < 1e-4,
            "step {}: {}",
            r.step,
            r.energy_residual
        );
        assert!((r.obs.rho() / rho0 - 1.0).abs() < 1e-4);
    }
}

#[test]
fn de_sitter_energy_residual_is_small_and_of_the_integrators_order_at_any_cadence() {
    let ctx = ctx();
    // Two e-folds, written only every 50 steps: the flux integral is accumulated unit
    // by unit along the sub-flows, so the residual is the integrator's own error (dt²
    // for leapfrog, dt⁴ for Yoshida), not a quadrature error of the outputs.
    let worst = |dt: f64, integrator: Integrator| {
        let mut c = cfg(16);
        c.hubble = 0.5;
        // dx ≠ 1, so that a wrong power of dx in the flux would show.
        c.dx = 0.8;
        c.dt = dt;
        c.steps = (4.0 / dt).round() as usize;
        c.output_every = 50;
        c.integrator = integrator;
        c.spectrum = Spectrum::BunchDavies;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        lat.set_initial_from_config().unwrap();
        let res = lat.run(false).unwrap();
        res.background
            .iter()
            .map(|r| r.energy_residual.abs())
            .fold(0.0, f64::max)
    };
    for (integrator, expected) in [(Integrator::Leapfrog, 2.0), (Integrator::Yoshida4, 4.0)] {
        let (coarse, fine) = (worst(0.04, integrator), worst(0.02, integrator));
        assert!(fine < 1e-3, "{integrator:?}: residual {fine}");
        let order = (coarse / fine).log2();
        assert!(
            (order - expected).abs() < 0.4,
            "{integrator:?}: residual {coarse:e} -> {fine:e}, order {order}"
        );
    }
}

#[test]
fn gpu_background_matches_the_closed_form_at_coarse_steps() {
    let ctx = ctx();
    for (integ, dt) in [(Integrator::Leapfrog, 0.4), (Integrator::Yoshida4, 0.4)] {
        let mut c = cfg(4);
        c.hubble = 0.5;
        c.set_m2s(&[1.3]);
        c.dt = dt;
        c.integrator = integ;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        lat.advance(25).unwrap();
        let o = lat.observables().unwrap();
        let (x, _) = background(0.5, 1.3, 1.0, 0.0, 10.0);
        // CPU twin error at these steps (see lattice_cpu): leapfrog ≈ 2e-4, Yoshida ≈ 5e-5;
        // f32 rounding is below 1e-6 here.
        let mut phi = vec![1.0f64; 64];
        let mut pi = vec![0.0f64; 64];
        let mut st = nncosmo_gpu::lattice::scheme::Stepper::new(integ, 0.5, dt);
        for u in st.units(0.0, 25) {
            cpu::kick_drift(
                2,
                4,
                u.c_lap,
                u.c_pot,
                u.c_drift,
                &pot(&c),
                &mut phi,
                &mut pi,
            );
        }
        let (eg, ec) = ((o.phi_mean - x).abs(), (phi[0] - x).abs());
        assert!(ec > 1e-5, "{integ:?}: error {ec} too small to test");
        assert!(
            (eg - ec).abs() < 0.05 * ec,
            "{integ:?}: GPU error {eg} vs twin {ec}"
        );
    }
}

#[test]
fn gpu_massless_mode_follows_the_closed_form() {
    let ctx = ctx();
    let (n, dx, h) = (8, 0.5, 0.5);
    let mut c = cfg(n);
    c.dx = dx;
    c.hubble = h;
    c.set_masses(&[0.0]);
    c.phi_init = 0.0;
    c.dt = 0.01;
    c.integrator = Integrator::Yoshida4;
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    let k = k_eff2(2, n, dx, [1, 0, 0]).sqrt();
    let (u0, du0) = massless_mode(k, h, 0.0);
    let tau = std::f64::consts::TAU;
    let wave: Vec<Complex64> = (0..n * n * n)
        .map(|i| Complex64::from_polar(1.0, tau * (i % n) as f64 / n as f64))
        .collect();
    let phi: Vec<f32> = wave.iter().map(|w| (u0 * w).re as f32).collect();
    let dphi: Vec<f32> = wave.iter().map(|w| (du0 * w).re as f32).collect();
    lat.upload(&phi, &dphi).unwrap();
    lat.advance(400).unwrap();
    let (gphi, gdphi) = lat.read_field().unwrap();
    let proj = |f: &[f32]| -> Complex64 {
        f.iter()
            .zip(&wave)
            .map(|(v, w)| *v as f64 * w.conj())
            .sum::<Complex64>()
            * (2.0 / (n * n * n) as f64)
    };
    let (u, du) = (proj(&gphi), proj(&gdphi));
    let (ue, due) = massless_mode(k, h, 4.0);
    assert!((u - ue).norm() < 1e-4 * ue.norm(), "{u} vs {ue}");
    let a3 = (3.0 * h * 4.0f64).exp();
    let w = a3 * (u * du.conj() - u.conj() * du);
    assert!(
        (w - Complex64::new(0.0, 1.0)).norm() < 1e-3,
        "Wronskian {w}"
    );
    let _ = due;
}

#[test]
fn same_seed_gives_identical_output() {
    let ctx = ctx();
    let mut c = cfg(16);
    c.spectrum = Spectrum::PowerLaw {
        amplitude: 1e-3,
        tilt: -1.0,
    };
    c.seed = 99;
    c.steps = 30;
    c.output_every = 10;
    let run = || {
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        lat.set_initial_from_config().unwrap();
        let r = lat.run(false).unwrap();
        (
            lat.read_field().unwrap(),
            r.background
                .iter()
                .map(|b| b.obs.phi_var)
                .collect::<Vec<_>>(),
        )
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    c.seed = 100;
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    lat.set_initial_from_config().unwrap();
    assert_ne!(lat.read_field().unwrap().0, {
        let mut c99 = c.clone();
        c99.seed = 99;
        let mut l2 = Lattice::new(&ctx, &c99).unwrap();
        l2.set_initial_from_config().unwrap();
        l2.read_field().unwrap().0
    });
}

#[test]
fn a_grid_too_large_for_one_binding_is_refused_with_the_largest_size() {
    let ctx = ctx();
    let c = cfg(4096);
    let e = Lattice::new(&ctx, &c)
        .err()
        .expect("4096³ f32 is 256 GiB")
        .to_string();
    let nmax = nncosmo_gpu::lattice::engine::max_grid(ctx.max_binding());
    assert!(e.contains(&format!("--grid {nmax}")), "{e}");
    assert!(
        (nmax as u64).pow(3) * 4 <= ctx.max_binding()
            && ((nmax + 1) as u64).pow(3) * 4 > ctx.max_binding()
    );
}

#[test]
fn a_spectrum_that_makes_the_field_nan_is_refused() {
    let ctx = ctx();
    let mut c = cfg(8);
    c.spectrum = Spectrum::PowerLaw {
        amplitude: 1.0,
        tilt: 2000.0,
    };
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    let e = lat.set_initial_from_config().unwrap_err().to_string();
    assert!(e.contains("NaN or infinite"), "{e}");
    let e = lat
        .set_initial_spectrum(&|_| (f64::NAN, 0.0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN"), "{e}");
}

const M2S: [f64; 3] = [0.3, 1.0, 2.5];

#[test]
fn batched_reduction_and_field_observables_match_the_twin_per_field() {
    let ctx = ctx();
    let n = 12;
    for stencil in [2u32, 4] {
        let mut c = cfg(n);
        c.set_m2s(&M2S);
        c.stencil = stencil;
        c.dx = 0.6;
        c.lambda = 0.5;
        c.phi_min = 0.1;
        c.hubble = 0.5;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        let (phi, dphi) = test_fields(n, 3);
        let (phi32, dphi32) = (f32s(&phi), f32s(&dphi));
        lat.set_initial_fields(&phi32, &dphi32).unwrap();
        let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let (phi64, dphi64) = (widen(&phi32), widen(&dphi32));
        let twin = |shifts: &[f64], m2s: &[f64]| {
            cpu::reduce_fields(
                stencil,
                n,
                1.0,
                shifts,
                1.0 / (c.dx * c.dx),
                &pot(&c),
                m2s,
                &phi64,
                &dphi64,
            )
        };
        let close = |g: &[f64; 6], r: &[f64; 6]| {
            (0..6).all(|q| (g[q] - r[q]).abs() < 1e-5 * r[q].abs().max(1.0))
        };
        // Raw sums with per-field shifts, against the twin; swapped masses or
        // shifts would not match.
        let shifts = [0.8, 0.5, 1.1];
        let g = lat.reduce_sums(&shifts).unwrap();
        let r = twin(&shifts, &M2S);
        for b in 0..3 {
            assert!(
                close(&g[b], &r[b]),
                "stencil {stencil} field {b}: {:?} vs {:?}",
                g[b],
                r[b]
            );
        }
        let swapped_m2 = twin(&shifts, &[2.5, 1.0, 0.3]);
        let swapped_shift = twin(&[1.1, 0.5, 0.8], &M2S);
        assert!(!close(&g[0], &swapped_m2[0]) && !close(&g[0], &swapped_shift[0]));
        // Observables: set_initial_fields made each field's mean its shift.
        let obs = lat.field_observables().unwrap();
        let sites = (n * n * n) as f64;
        for (b, o) in obs.iter().enumerate() {
            let f = &phi64[b * n * n * n..(b + 1) * n * n * n];
            let v = &dphi64[b * n * n * n..(b + 1) * n * n * n];
            let mean = f.iter().sum::<f64>() / sites;
            let var = f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / sites;
            let s = &twin(&[mean; 3], &M2S)[b];
            let want = [
                (o.phi_mean, mean),
                (o.dphi_mean, v.iter().sum::<f64>() / sites),
                (o.phi_var, var),
                (
                    o.rho_kin,
                    0.5 * v.iter().map(|x| x * x).sum::<f64>() / sites,
                ),
                (o.rho_grad, 0.5 * s[4] / sites),
                (o.rho_pot, s[5] / sites),
            ];
            for (q, (got, want)) in want.iter().enumerate() {
                assert!(
                    (got - want).abs() < 1e-5 * want.abs().max(1e-2),
                    "stencil {stencil} field {b} observable {q}: {got} vs {want}"
                );
            }
        }
        // The whole-lattice observables: energies summed, φ columns NaN.
        let total = lat.observables().unwrap();
        assert!(total.phi_mean.is_nan() && total.phi_var.is_nan());
        // (Its reduction ran with the shifts the last one left: f32 rounding only.)
        let want: f64 = obs.iter().map(|o| o.rho()).sum();
        assert!((total.rho() - want).abs() < 1e-6 * want.abs());
    }
}

#[test]
fn set_initial_fields_refuses_bad_input() {
    let ctx = ctx();
    let mut c = cfg(4);
    c.set_m2s(&M2S);
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    let good = vec![0.5f32; 3 * 64];
    let mut bad = good.clone();
    bad[64 + 5] = f32::NAN;
    let e = lat.set_initial_fields(&bad, &good).unwrap_err();
    assert!(
        matches!(e, nncosmo_gpu::lattice::LatticeError::NonFinite(_)),
        "{e}"
    );
    assert!(e.to_string().contains("field 1"), "{e}");
    bad[69] = 0.0;
    bad[130] = f32::INFINITY;
    assert!(matches!(
        lat.set_initial_fields(&good, &bad),
        Err(nncosmo_gpu::lattice::LatticeError::NonFinite(_))
    ));
    let e = lat
        .set_initial_fields(&good[..64], &good[..64])
        .unwrap_err();
    assert!(e.to_string().contains("192"), "{e}");
    lat.set_initial_fields(&good, &good).unwrap();
    // Per-field lists must have one entry per field.
    assert!(lat.reduce_sums(&[0.0]).is_err());
    let modes = initial::from_power(&lat.table, &|_| (1e-6, 0.0));
    let e = lat.set_initial_field_modes(&[modes]).unwrap_err();
    assert!(e.to_string().contains("3 fields"), "{e}");
}

#[test]
fn each_field_draws_its_own_noise_and_field_0_draws_the_single_fields() {
    let ctx = ctx();
    let n = 8;
    let mut c = cfg(n);
    c.seed = 77;
    c.spectrum = Spectrum::White { amplitude: 1e-3 };
    let mut one = Lattice::new(&ctx, &c).unwrap();
    one.set_initial_from_config().unwrap();
    let (p1, v1) = one.read_field().unwrap();
    c.set_m2s(&[1.0, 1.0, 2.5]);
    let mut three = Lattice::new(&ctx, &c).unwrap();
    three.set_initial_from_config().unwrap();
    let (p3, v3) = three.read_field().unwrap();
    let s = n * n * n;
    // Field 0 is the single field, bit for bit; field 1 (same mass) draws anew.
    assert_eq!((&p3[..s], &v3[..s]), (&p1[..], &v1[..]));
    assert_ne!(&p3[s..2 * s], &p3[..s]);
    assert_ne!(&p3[2 * s..], &p3[s..2 * s]);
    for b in 0..3u32 {
        let g = three.field_noise(b as usize, 100).unwrap();
        let twin = cpu::ic_noise_field(n, seed_key(77), b);
        for m in 0..s {
            for q in 0..4 {
                assert!(
                    (g[m][q] as f64 - twin[m][q]).abs() < 1e-5 * (1.0 + twin[m][q].abs()),
                    "field {b} mode {m}"
                );
            }
        }
    }
}

#[test]
fn each_homogeneous_field_follows_the_closed_form_background_of_its_own_mass() {
    let ctx = ctx();
    let (h, dt, steps, every) = (0.5, 0.01, 600, 150);
    for integrator in [Integrator::Leapfrog, Integrator::Yoshida4] {
        let mut c = cfg(8);
        c.set_m2s(&M2S);
        c.hubble = h;
        c.dt = dt;
        c.steps = steps;
        c.output_every = every;
        c.integrator = integrator;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        lat.set_initial_from_config().unwrap();
        let res = lat.run(false).unwrap();
        assert_eq!(res.field_rows.len(), 3 * res.background.len());
        // Leapfrog at dt = 0.01 misses the closed form by up to 2e-5 in φ̄ and 3e-5
        // in φ̄̇ (the heavy field's phase error ω³dt²t/24) and closes the energy
        // budget to 6e-5; Yoshida's errors are f32 rounding (≲ 1e-6 and 1e-5).
        let (tol, resid_tol) = match integrator {
            Integrator::Leapfrog => (1e-4, 3e-4),
            Integrator::Yoshida4 => (5e-6, 5e-5),
        };
        // How far each field is from the other fields' closed forms.
        let mut apart = [f64::INFINITY; 3];
        for r in &res.field_rows {
            let (x, v) = background(h, M2S[r.field], 1.0, 0.0, r.t);
            assert_eq!(r.m2, M2S[r.field]);
            assert!(
                (r.obs.phi_mean - x).abs() < tol && (r.obs.dphi_mean - v).abs() < 2.0 * tol,
                "{integrator:?} field {} t {}: ({}, {}) vs ({x}, {v})",
                r.field,
                r.t,
                r.obs.phi_mean,
                r.obs.dphi_mean
            );
            // Homogeneous: Var φ is f32 rounding of (φ − shift)² only.
            assert!(r.obs.phi_var < 1e-7, "{}", r.obs.phi_var);
            // A homogeneous field's budget closes to the integrator's error.
            assert!(r.energy_residual.abs() < resid_tol, "{}", r.energy_residual);
            let theory = res.field_theory[r.field][r.step / every];
            assert!((theory.0 - x).abs() < 1e-12);
            for (b, &m2) in M2S.iter().enumerate() {
                if b != r.field && r.step == steps {
                    let other = background(h, m2, 1.0, 0.0, r.t).0;
                    apart[r.field] = apart[r.field].min((r.obs.phi_mean - other).abs());
                }
            }
        }
        // A swap of two masses would fail the tolerance many times over.
        assert!(apart.iter().all(|&d| d > 100.0 * tol), "{apart:?}");
        // The background row holds the totals; its φ columns mean nothing.
        for (i, row) in res.background.iter().enumerate() {
            let fields = &res.field_rows[3 * i..3 * i + 3];
            assert!(row.obs.phi_mean.is_nan() && row.obs.dphi_mean.is_nan());
            let rho: f64 = fields.iter().map(|r| r.obs.rho()).sum();
            assert!((row.obs.rho() - rho).abs() < 1e-12 * rho);
            assert!(row.energy_residual.abs() < resid_tol);
        }
    }
}

#[test]
fn per_field_energy_residuals_are_small_and_of_the_integrators_order() {
    let ctx = ctx();
    // As the single-field test, for three fields of different mass in one engine:
    // each field's own budget closes to the integrator's order, and so does the total.
    let worst = |dt: f64, integrator: Integrator| {
        let mut c = cfg(16);
        c.set_m2s(&M2S);
        c.hubble = 0.5;
        c.dx = 0.8;
        c.dt = dt;
        c.steps = (4.0 / dt).round() as usize;
        c.output_every = 50;
        c.integrator = integrator;
        c.spectrum = Spectrum::BunchDavies;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        lat.set_initial_from_config().unwrap();
        let res = lat.run(false).unwrap();
        let mut w = [0.0f64; 4];
        for r in &res.field_rows {
            w[r.field] = w[r.field].max(r.energy_residual.abs());
        }
        for r in &res.background {
            w[3] = w[3].max(r.energy_residual.abs());
        }
        w
    };
    for (integrator, expected) in [(Integrator::Leapfrog, 2.0), (Integrator::Yoshida4, 4.0)] {
        let (coarse, fine) = (worst(0.04, integrator), worst(0.02, integrator));
        for b in 0..4 {
            assert!(
                fine[b] < 1e-3,
                "{integrator:?} field {b}: residual {}",
                fine[b]
            );
            let order = (coarse[b] / fine[b]).log2();
            assert!(
                (order - expected).abs() < 0.4,
                "{integrator:?} field {b} (3 = total): residual {:e} -> {:e}, order {order}",
                coarse[b],
                fine[b]
            );
        }
    }
}

#[test]
fn each_fields_spectrum_follows_its_own_linear_theory() {
    let ctx = ctx();
    let mut c = cfg(32);
    c.set_m2s(&[0.3, 0.8, 1.5]);
    c.hubble = 0.5;
    c.dt = 0.05;
    c.steps = 160;
    c.output_every = 80;
    c.spectrum = Spectrum::BunchDavies;
    c.velocity = Velocity::Vacuum;
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    lat.set_initial_from_config().unwrap();
    let res = lat.run(false).unwrap();
    let mut checked = [0; 3];
    for r in &res.spectrum {
        if r.modes >= 100 {
            let d = (r.power / r.theory_power - 1.0).abs();
            assert!(
                d < 0.03,
                "field {} step {} k {:.3}: {} vs theory {} ({d:.4})",
                r.field,
                r.step,
                r.k,
                r.power,
                r.theory_power
            );
            checked[r.field] += 1;
        }
    }
    assert!(checked.iter().all(|&c| c > 20), "{checked:?}");
    // The masses matter: at the end the light field has more long-wavelength power.
    let last = res.spectrum.last().unwrap().step;
    let low = |b: usize| {
        res.spectrum
            .iter()
            .find(|r| r.step == last && r.field == b)
            .unwrap()
            .power
    };
    assert!(low(0) > 1.5 * low(2), "{} vs {}", low(0), low(2));
}

#[test]
fn too_many_fields_for_one_binding_are_refused_with_the_largest_count() {
    let ctx = ctx();
    let limit = ctx.max_binding();
    let n = 64usize;
    let per_field = (n as u64).pow(3) * 4;
    let fmax = (limit / per_field) as usize;
    let mut c = cfg(n);
    c.set_m2s(&vec![1.0; fmax + 1]);
    let e = Lattice::new(&ctx, &c)
        .err()
        .expect("one field more than fits")
        .to_string();
    assert!(
        e.contains(&format!("--fields {fmax} fit")) && e.contains("--grid"),
        "{e}"
    );
}

// ---- Coupled fields (disorder dual, DESIGN §4.4) ----

/// P = 4 symmetric positive-definite 3×3 mass matrices with sizeable off-diagonals
/// (row-major, one after the other).
const MASS_MATRICES: [f64; 36] = [
    1.0, 0.4, -0.3, 0.4, 1.5, 0.6, -0.3, 0.6, 2.0, //
    0.5, -0.2, 0.1, -0.2, 0.8, 0.3, 0.1, 0.3, 1.2, //
    2.0, 0.9, 0.5, 0.9, 1.1, -0.4, 0.5, -0.4, 1.6, //
    0.7, 0.3, 0.35, 0.3, 0.9, 0.25, 0.35, 0.25, 0.6,
];

/// A pattern of the 4 matrices over an N³ grid (site x + N(y + Nz)); `shift` moves it
/// by that many sites along x (the wrong-patch control).
fn patch_map(n: usize, shift: usize) -> Vec<u32> {
    patch_map_of(n, shift, 4)
}

/// `patch_map` over p matrices.
fn patch_map_of(n: usize, shift: usize, np: usize) -> Vec<u32> {
    let mut p = Vec::with_capacity(n * n * n);
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let xs = (x + shift) % n;
                p.push(((xs / 2 + 3 * (y / 3) + z + (xs * y) % 3) % np) as u32);
            }
        }
    }
    p
}

/// A config of 3 fields whose m² the coupled model must ignore.
fn coupled_cfg(n: usize) -> LatticeConfig {
    let mut c = cfg(n);
    c.set_m2s(&[5.0, 0.1, 3.0]);
    c.lambda = 0.0;
    c.phi_min = 0.0;
    c
}

#[test]
fn coupled_kick_drift_matches_the_twin_for_every_kernel() {
    let kernels = [
        (16usize, KickDrift::Blocked { v: 2 }, 2u32),
        (16, KickDrift::Blocked { v: 2 }, 4),
        (12, KickDrift::Blocked { v: 1 }, 2),
        (10, KickDrift::Column { zb: 10 }, 4),
        (12, KickDrift::Column { zb: 2 }, 2),
        (16, KickDrift::Column { zb: 8 }, 4),
    ];
    check_coupled(&MASS_MATRICES, 3, &kernels);
    // F = 6: rows of two vec4s (padded), which F = 3 (one vec4) cannot tell from a
    // wrong row stride; P = 3 matrices, dense and diagonally dominant.
    let nf = 6;
    let mut mats = vec![0.0; 3 * nf * nf];
    for p in 0..3 {
        for b in 0..nf {
            for d in 0..nf {
                let (lo, hi) = (b.min(d), b.max(d));
                mats[(p * nf + b) * nf + d] = if b == d {
                    2.0 + 0.3 * b as f64 + 0.5 * p as f64
                } else {
                    0.25 * (((lo * 7 + hi * 3 + p * 5) % 9) as f64 / 9.0 - 0.4)
                };
            }
        }
    }
    check_coupled(
        &mats,
        nf,
        &[
            (8, KickDrift::Blocked { v: 2 }, 2),
            (8, KickDrift::Column { zb: 4 }, 2),
        ],
    );
}

/// The coupled kick–drift of nf fields with these matrices (P = len / nf²) against
/// the twin, for each (N, kernel, stencil): φ, π, energy sums per field and the
/// reduction's potential energy per field.
fn check_coupled(matrices: &[f64], nf: usize, kernels: &[(usize, KickDrift, u32)]) {
    let ctx = ctx();
    let np = matrices.len() / (nf * nf);
    let mats = f32s(matrices);
    let m64: Vec<f64> = mats.iter().map(|&x| x as f64).collect();
    for &(n, kernel, stencil) in kernels {
        let mut c = cfg(n);
        // m² the coupled model must ignore.
        c.set_m2s(&(0..nf).map(|b| 0.5 + b as f64).collect::<Vec<_>>());
        c.stencil = stencil;
        c.dx = 0.7;
        c.hubble = 0.5;
        let patch = patch_map_of(n, 0, np);
        let mut lat = Lattice::with_kernel(&ctx, &c, kernel).unwrap();
        let (mut phi, mut pi) = test_fields(n, nf);
        lat.upload(&f32s(&phi), &f32s(&pi)).unwrap();
        lat.set_mass_matrices(&mats, &patch).unwrap();
        // The same evolution with the pattern moved by one site: a kernel that read
        // the wrong patch (or the wrong field of a site) would land near it.
        let wrong = patch_map_of(n, 1, np);
        let (mut wphi, mut wpi) = (phi.clone(), pi.clone());
        let units = [
            Unit {
                c_lap: 0.05,
                c_pot: 0.03,
                c_drift: 0.1,
                t: 0.0,
            },
            Unit {
                c_lap: 0.1,
                c_pot: 0.07,
                c_drift: 0.08,
                t: 4.0,
            },
            Unit {
                c_lap: 0.08,
                c_pot: 0.05,
                c_drift: -0.2,
                t: 1.0,
            },
            Unit {
                c_lap: 0.04,
                c_pot: 0.06,
                c_drift: 0.0,
                t: 2.0,
            },
        ];
        let gsums = lat.apply_units(&units).unwrap();
        let (gphi, gpi) = lat.read_field().unwrap();
        for (u, g) in units.iter().zip(gsums.chunks_exact(nf)) {
            let c_lap = u.c_lap / (c.dx * c.dx);
            let sums = cpu::kick_drift_coupled(
                stencil, n, c_lap, u.c_pot, u.c_drift, &m64, &patch, &mut phi, &mut pi,
            );
            cpu::kick_drift_coupled(
                stencil, n, c_lap, u.c_pot, u.c_drift, &m64, &wrong, &mut wphi, &mut wpi,
            );
            for (b, (g, s)) in g.iter().zip(&sums).enumerate() {
                for q in 0..3 {
                    assert!(
                        (g[q] - s[q]).abs() < 1e-5 * s[q].abs().max(1e-3 * s[0]),
                        "{kernel:?} N {n} stencil {stencil} field {b}: energy sum {q}: {} vs {}",
                        g[q],
                        s[q]
                    );
                }
            }
        }
        let (ef, ep) = (max_rel(&gphi, &phi), max_rel(&gpi, &pi));
        assert!(
            ef < 1e-5 && ep < 1e-5,
            "{kernel:?} N {n} stencil {stencil}: phi {ef:e}, pi {ep:e}"
        );
        let miss = max_rel(&gpi, &wpi);
        assert!(
            miss > 1e-3,
            "{kernel:?}: a shifted patch map must show ({miss:e})"
        );
        // The reduction's potential energy per field is ½φ_b·(Mφ)_b, with the config's
        // m² ignored.
        let obs = lat.field_observables().unwrap();
        let force = cpu::coupled_force(&m64, &patch, &phi);
        let sites = n * n * n;
        for (b, o) in obs.iter().enumerate() {
            let v: f64 = (0..sites)
                .map(|x| 0.5 * phi[b * sites + x] * force[b * sites + x])
                .sum::<f64>()
                / sites as f64;
            assert!(
                (o.rho_pot - v).abs() < 1e-5 * v.abs().max(1e-3),
                "{kernel:?} field {b}: ρ_V {} vs {v}",
                o.rho_pot
            );
        }
    }
}

/// Max over sites and fields of |φ − exact| after `t_end` for homogeneous patches:
/// each patch's field vector against the closed form of φ̈ + 3Hφ̇ + Mφ = 0, solved
/// per eigenmode of M = QΛQᵀ. dx is so large that neighbouring patches feel each
/// other's fields only at O(dt²·t²/dx²) ~ 1e-8, far below the integrator's error.
/// Also returns the distance to the solution with the patches' matrices shifted
/// (patch p given matrix p + 1), which a wrong patch index would approach.
fn homogeneous_patch_error(ctx: &GpuContext, dt: f64, integrator: Integrator) -> (f64, f64) {
    use nalgebra::{DMatrix, DVector, SymmetricEigen};
    let (n, nf, h, t_end) = (4usize, 3usize, 0.2, 8.0);
    let mut c = coupled_cfg(n);
    c.hubble = h;
    c.dx = 1e4;
    c.dt = dt;
    c.integrator = integrator;
    let mats = f32s(&MASS_MATRICES);
    let patch = patch_map(n, 0);
    let sites = n * n * n;
    let init = |p: usize| {
        let p = p as f64;
        (
            [1.0 - 0.3 * p, -0.5 + 0.4 * p, 0.2 + 0.1 * p],
            [0.1 * p, 0.3 - 0.2 * p, -0.2],
        )
    };
    let mut phi = vec![0.0f32; nf * sites];
    let mut dphi = vec![0.0f32; nf * sites];
    for x in 0..sites {
        let (f, v) = init(patch[x] as usize);
        for b in 0..nf {
            phi[b * sites + x] = f[b] as f32;
            dphi[b * sites + x] = v[b] as f32;
        }
    }
    let mut lat = Lattice::new(ctx, &c).unwrap();
    lat.set_initial_fields(&phi, &dphi).unwrap();
    lat.set_mass_matrices(&mats, &patch).unwrap();
    lat.advance((t_end / dt).round() as usize).unwrap();
    let (gphi, _) = lat.read_field().unwrap();
    let exact = |m: usize, p: usize| -> Vec<f64> {
        let mm = DMatrix::from_fn(nf, nf, |b, c| mats[m * nf * nf + b * nf + c] as f64);
        let eig = SymmetricEigen::new(mm);
        let (f0, v0) = init(p);
        let q0 = eig.eigenvectors.transpose() * DVector::from_column_slice(&f0);
        let qd0 = eig.eigenvectors.transpose() * DVector::from_column_slice(&v0);
        let q = DVector::from_fn(nf, |k, _| {
            background(h, eig.eigenvalues[k], q0[k], qd0[k], t_end).0
        });
        (&eig.eigenvectors * q).iter().copied().collect()
    };
    let (mut err, mut apart) = (0.0f64, f64::INFINITY);
    for p in 0..4 {
        let (e, w) = (exact(p, p), exact((p + 1) % 4, p));
        let d: f64 = e
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        apart = apart.min(d);
        for x in (0..sites).filter(|&x| patch[x] as usize == p) {
            for b in 0..nf {
                err = err.max((gphi[b * sites + x] as f64 - e[b]).abs());
            }
        }
    }
    (err, apart)
}

#[test]
fn homogeneous_coupled_patches_follow_the_eigenmode_closed_forms() {
    let ctx = ctx();
    for (integrator, expected) in [(Integrator::Leapfrog, 2.0), (Integrator::Yoshida4, 4.0)] {
        let (dt, fine_tol) = match integrator {
            // Leapfrog's phase error ω³dt²t/24 ≈ 7e-4 at ω ≈ 1.7, t = 8, dt = 0.02,
            // times the amplitude (≲ 1, damped by e^{−3Ht/2} ≈ 0.09): ≈ 6e-5.
            Integrator::Leapfrog => (0.04, 2e-4),
            // Yoshida at dt = 0.1: ~1e-5, still well above f32 rounding (~1e-6).
            Integrator::Yoshida4 => (0.2, 1e-4),
        };
        let (coarse, apart) = homogeneous_patch_error(&ctx, dt, integrator);
        let (fine, _) = homogeneous_patch_error(&ctx, dt / 2.0, integrator);
        let order = (coarse / fine).log2();
        eprintln!(
            "{integrator:?}: error {coarse:e} (dt {dt}) -> {fine:e}, order {order:.2}; patches apart {apart:e}"
        );
        assert!(fine < fine_tol, "{integrator:?}: error {fine:e}");
        assert!(
            (order - expected).abs() < 0.4,
            "{integrator:?}: error {coarse:e} -> {fine:e}, order {order}"
        );
        // Another patch's matrix would miss by far more than the error.
        assert!(apart > 100.0 * coarse, "{apart:e} vs {coarse:e}");
    }
}

#[test]
fn coupled_energy_budget_closes_to_the_integrators_order() {
    let ctx = ctx();
    let n = 16;
    let mats = f32s(&MASS_MATRICES);
    let worst = |dt: f64, integrator: Integrator| {
        let mut c = coupled_cfg(n);
        c.hubble = 0.5;
        c.dx = 0.8;
        c.dt = dt;
        c.steps = (3.6 / dt).round() as usize;
        // Outputs at the same times for both dt, so that the maxima compare.
        c.output_every = (0.6 / dt).round() as usize;
        c.integrator = integrator;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        let (phi, dphi) = test_fields(n, 3);
        lat.set_initial_fields(&f32s(&phi), &f32s(&dphi)).unwrap();
        lat.set_mass_matrices(&mats, &patch_map(n, 0)).unwrap();
        let res = lat.run(false).unwrap();
        // Gradients, potential and kinetic energy all take part.
        let o = res.background[0].obs;
        assert!(o.rho_grad > 0.05 * o.rho() && o.rho_pot > 0.05 * o.rho());
        // No closed forms for coupled fields.
        assert!(res.field_theory.is_empty());
        let total = res
            .background
            .iter()
            .map(|r| r.energy_residual.abs())
            .fold(0.0, f64::max);
        let mut per_field = [0.0f64; 3];
        for r in &res.field_rows {
            assert!(r.energy_residual.is_finite());
            per_field[r.field] = per_field[r.field].max(r.energy_residual.abs());
        }
        (total, per_field)
    };
    // Yoshida at a coarser dt: at dt = 0.02 its residual (~1e-7) is f32 rounding.
    for (integrator, dt, expected) in [
        (Integrator::Leapfrog, 0.04, 2.0),
        (Integrator::Yoshida4, 0.12, 4.0),
    ] {
        let ((coarse, _), (fine, fields)) = (worst(dt, integrator), worst(dt / 2.0, integrator));
        let order = (coarse / fine).log2();
        eprintln!(
            "{integrator:?}: total residual {coarse:e} (dt {dt}) -> {fine:e} (order {order:.2}); per field at dt/2 {fields:?}"
        );
        assert!(fine < 1e-3, "{integrator:?}: residual {fine}");
        assert!(
            (order - expected).abs() < 0.4,
            "{integrator:?}: residual {coarse:e} -> {fine:e}, order {order}"
        );
        // Energy flows between coupled fields: their own budgets do not close.
        assert!(
            fields.iter().any(|&f| f > 100.0 * fine),
            "{integrator:?}: per-field {fields:?} vs total {fine:e}"
        );
    }
}

#[test]
fn set_mass_matrices_refuses_bad_input() {
    let ctx = ctx();
    let n = 4;
    let c = coupled_cfg(n);
    let mats = f32s(&MASS_MATRICES);
    let patch = patch_map(n, 0);
    let mut lat = Lattice::new(&ctx, &c).unwrap();
    let err = |lat: &mut Lattice, m: &[f32], p: &[u32]| {
        lat.set_mass_matrices(m, p).unwrap_err().to_string()
    };
    let e = err(&mut lat, &mats[..10], &patch);
    assert!(e.contains("10 mass-matrix values"), "{e}");
    let e = err(&mut lat, &mats, &patch[1..]);
    assert!(e.contains("63 indices"), "{e}");
    let mut bad = patch.clone();
    bad[5] = 4;
    let e = err(&mut lat, &mats, &bad);
    assert!(e.contains("site 5 uses mass matrix 4"), "{e}");
    let mut asym = mats.clone();
    asym[9 + 1] += 0.01;
    let e = err(&mut lat, &asym, &patch);
    assert!(e.contains("matrix 1 is not symmetric"), "{e}");
    // f32 rounding of a symmetric matrix passes.
    let mut ulp = mats.clone();
    ulp[9 + 1] = f32::from_bits(ulp[9 + 1].to_bits() + 1);
    lat.set_mass_matrices(&ulp, &patch).unwrap();
    let mut nan = mats.clone();
    nan[18 + 4] = f32::NAN;
    let e = err(&mut lat, &nan, &patch);
    assert!(e.contains("matrix 2 is not finite"), "{e}");
    // A stiff matrix breaks the Courant limit: the message names the eigenvalue.
    let mut stiff = mats.clone();
    stiff[27] = 1e4;
    let e = err(&mut lat, &stiff, &patch);
    assert!(e.contains("Courant") && e.contains("matrix 3"), "{e}");
    // Too many matrices for one binding (zeroed pages: nothing is touched).
    let limit = ctx.max_binding() as usize;
    let many = vec![0.0f32; (limit / 48 + 1) * 9];
    let e = err(&mut lat, &many, &patch);
    assert!(
        e.contains("mass matrices of 3×3") && e.contains("at most"),
        "{e}"
    );
    // The coupled potential has no λ or φ₀.
    let mut q = c.clone();
    q.lambda = 0.1;
    let mut lat = Lattice::new(&ctx, &q).unwrap();
    let e = err(&mut lat, &mats, &patch);
    assert!(e.contains("λ = 0 and φ₀ = 0"), "{e}");
}

/// Seconds per leapfrog step of 16 fields on 32³, uncoupled and coupled (F² per
/// site more work): `cargo test --release --test lattice_gpu -- --ignored --nocapture`.
#[test]
#[ignore]
fn coupled_step_speed() {
    use std::time::Instant;
    let ctx = ctx();
    let (n, nf) = (32usize, 16usize);
    let mut c = cfg(n);
    c.set_m2s(&vec![1.0; nf]);
    c.hubble = 0.0;
    let sites = n * n * n;
    let mut mats = vec![0.0f32; 4 * nf * nf];
    for p in 0..4 {
        for b in 0..nf {
            for d in 0..nf {
                mats[(p * nf + b) * nf + d] = if b == d { 1.0 } else { 0.01 * (p + 1) as f32 };
            }
        }
    }
    let patch = patch_map(n, 0);
    for coupled in [false, true] {
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        let phi: Vec<f32> = (0..nf * sites).map(|i| 1e-3 * (i % 17) as f32).collect();
        lat.set_initial_fields(&phi, &vec![0.0; nf * sites])
            .unwrap();
        if coupled {
            lat.set_mass_matrices(&mats, &patch).unwrap();
        }
        lat.advance(5).unwrap();
        lat.wait().unwrap();
        let steps = 40;
        let t = Instant::now();
        lat.advance(steps).unwrap();
        lat.wait().unwrap();
        let s = t.elapsed().as_secs_f64() / steps as f64;
        eprintln!(
            "{:?} coupled {coupled}: {:.2} ms per step, {:.3e} site-updates/s",
            lat.kernel,
            1e3 * s,
            (nf * sites) as f64 / s
        );
    }
}

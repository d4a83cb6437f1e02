//! GPU kernels against their f64 CPU twins, and the engine against closed forms.

use nncosmo_gpu::config::lattice::{Integrator, LatticeConfig, Spectrum, Velocity};
use nncosmo_gpu::gpu::{BackendChoice, GpuContext};
use nncosmo_gpu::lattice::Lattice;
use nncosmo_gpu::lattice::scheme::{Stepper, Unit};
use nncosmo_gpu::reference::lattice as cpu;

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
    let tau = std::f64::consts::TAU;
    let mut phi = Vec::new();
    let mut dphi = Vec::new();
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let (fx, fy, fz) = (x as f64 / n as f64, y as f64 / n as f64, z as f64 / n as f64);
                phi.push(0.8 + 0.3 * (tau * fx).sin() * (tau * 2.0 * fy).cos() + 0.2 * (tau * 3.0 * fz + 0.4).sin() + 0.05 * ((x * 7 + y * 3 + z * 5) % 11) as f64 / 11.0);
                dphi.push(0.1 * (tau * (fx + fz)).cos() - 0.05 * (tau * 3.0 * fy).sin());
            }
        }
    }
    (phi, dphi)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn pot(c: &LatticeConfig) -> cpu::Potential {
    cpu::Potential { m2: c.m2, lambda: c.lambda, phi0: c.phi_min }
}

fn max_rel(a: &[f32], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    a.iter().zip(b).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max) / scale
}

#[test]
fn kick_drift_matches_cpu_twin() {
    let ctx = ctx();
    for stencil in [2u32, 4] {
        let mut c = cfg(16);
        c.stencil = stencil;
        c.dx = 0.7;
        c.lambda = 0.3;
        c.phi_min = 0.1;
        c.hubble = 0.0;
        let mut lat = Lattice::new(&ctx, &c).unwrap();
        let (mut phi, mut pi) = test_field(16);
        lat.upload(&f32s(&phi), &f32s(&pi)).unwrap();
        let units = [
            Unit { c_lap: 0.05, c_pot: 0.02, c_drift: 0.1 },
            Unit { c_lap: 0.1, c_pot: 0.07, c_drift: 0.0 },
            Unit { c_lap: 0.0, c_pot: 0.0, c_drift: -0.2 },
        ];
        lat.apply_units(&units);
        let (gphi, gpi) = lat.read_field().unwrap();
        let p = pot(&c);
        for u in units {
            cpu::kick_drift(stencil, 16, u.c_lap / (c.dx * c.dx), u.c_pot, u.c_drift, &p, &mut phi, &mut pi);
        }
        let (ef, ep) = (max_rel(&gphi, &phi), max_rel(&gpi, &pi));
        assert!(ef < 1e-5 && ep < 1e-5, "stencil {stencil}: phi {ef:e}, pi {ep:e}");
    }
}

//! The time-stepping scheme, independent of where it runs (GPU kernels or CPU twin).
//!
//! With π = a³φ̇ the equations split into two exactly solvable sub-flows (DESIGN §2):
//! the drift holds π fixed, the kick holds φ fixed. Over [t₀, t₁]
//!
//!   drift: φ += π·∫a⁻³dt,   kick: π += ∇²φ·∫a dt − V'(φ)·∫a³dt,
//!
//! and these integrals are additive, so consecutive kicks merge exactly. Every
//! integrator here is a list of sub-flows with their own time intervals (so the scale
//! factor is always evaluated on the right sub-interval); a [`Stepper`] merges the
//! kicks and pairs each with the following drift into one fused kick–drift unit.

use serde::{Deserialize, Serialize};

/// The time integrator: a composition of kick and drift sub-flows (`--integrator`,
/// config key `integrator`: leapfrog | yoshida4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Integrator {
    Leapfrog,
    Yoshida4,
}

/// dt·ω at which the integrator's map for a harmonic oscillator stops being stable:
/// 2 for leapfrog; for the Yoshida composition the half-trace of the composed map
/// reaches 1 at 1.5734 (see the test below).
pub fn stability_bound(integrator: Integrator) -> f64 {
    match integrator {
        Integrator::Leapfrog => 2.0,
        Integrator::Yoshida4 => 1.5734,
    }
}

/// e^{x}−1 over x times δ, i.e. (e^{xδ} − 1)/x, smooth through x = 0 (where it is δ).
fn expm1_over(x: f64, delta: f64) -> f64 {
    if x == 0.0 {
        delta
    } else {
        (x * delta).exp_m1() / x
    }
}

/// ∫_{t0}^{t1} a dt for a = e^{Ht}.
pub fn int_a(h: f64, t0: f64, t1: f64) -> f64 {
    (h * t0).exp() * expm1_over(h, t1 - t0)
}

/// ∫_{t0}^{t1} a³ dt.
pub fn int_a3(h: f64, t0: f64, t1: f64) -> f64 {
    (3.0 * h * t0).exp() * expm1_over(3.0 * h, t1 - t0)
}

/// ∫_{t0}^{t1} a⁻³ dt.
pub fn int_inv_a3(h: f64, t0: f64, t1: f64) -> f64 {
    (-3.0 * h * t0).exp() * expm1_over(-3.0 * h, t1 - t0)
}

/// One exactly integrated sub-flow over [t0, t1] (t1 < t0 runs backwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Flow {
    Kick { t0: f64, t1: f64 },
    Drift { t0: f64, t1: f64 },
}

/// Yoshida's 4th-order weights: a leapfrog of w₁δ, one of w₀δ (negative), one of w₁δ.
pub fn yoshida_weights() -> (f64, f64) {
    let c = 2f64.powf(1.0 / 3.0);
    (1.0 / (2.0 - c), -c / (2.0 - c))
}

fn leapfrog(t: f64, h: f64, out: &mut Vec<Flow>) {
    out.push(Flow::Kick {
        t0: t,
        t1: t + 0.5 * h,
    });
    out.push(Flow::Drift { t0: t, t1: t + h });
    out.push(Flow::Kick {
        t0: t + 0.5 * h,
        t1: t + h,
    });
}

/// The sub-flows of one step from t to t + dt.
pub fn step_flows(integrator: Integrator, t: f64, dt: f64) -> Vec<Flow> {
    let mut f = Vec::with_capacity(9);
    match integrator {
        Integrator::Leapfrog => leapfrog(t, dt, &mut f),
        Integrator::Yoshida4 => {
            let (w1, w0) = yoshida_weights();
            leapfrog(t, w1 * dt, &mut f);
            leapfrog(t + w1 * dt, w0 * dt, &mut f);
            leapfrog(t + (w1 + w0) * dt, w1 * dt, &mut f);
        }
    }
    f
}

/// A fused unit: π += c_lap·∇²φ − c_pot·V'(φ), then φ += c_drift·π (in that order,
/// at every site). c_lap here multiplies the Laplacian without its 1/dx².
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Unit {
    pub c_lap: f64,
    pub c_pot: f64,
    pub c_drift: f64,
    /// Start of the unit's last kick: the time at which a³ scales its energy sums.
    pub t: f64,
}

/// Turns steps into fused units, carrying the pending kick across step boundaries so
/// that the half-kicks of consecutive leapfrogs merge into one.
#[derive(Clone, Debug)]
pub struct Stepper {
    pub integrator: Integrator,
    pub h: f64,
    pub dt: f64,
    pending: Unit,
}

impl Stepper {
    pub fn new(integrator: Integrator, h: f64, dt: f64) -> Self {
        Self {
            integrator,
            h,
            dt,
            pending: Unit::default(),
        }
    }

    /// Appends the units of the step starting at t; the last kick stays pending.
    pub fn step(&mut self, t: f64, out: &mut Vec<Unit>) {
        for flow in step_flows(self.integrator, t, self.dt) {
            match flow {
                Flow::Kick { t0, t1 } => {
                    self.pending.c_lap += int_a(self.h, t0, t1);
                    self.pending.c_pot += int_a3(self.h, t0, t1);
                    self.pending.t = t0;
                }
                Flow::Drift { t0, t1 } => {
                    let mut u = std::mem::take(&mut self.pending);
                    u.c_drift = int_inv_a3(self.h, t0, t1);
                    out.push(u);
                }
            }
        }
    }

    /// Applies the pending kick (a unit with no drift), so φ and π refer to the same time.
    pub fn sync(&mut self, out: &mut Vec<Unit>) {
        let u = std::mem::take(&mut self.pending);
        if u.c_lap != 0.0 || u.c_pot != 0.0 {
            out.push(u);
        }
    }

    /// The units of `steps` steps from t, ending synchronised.
    pub fn units(&mut self, t: f64, steps: usize) -> Vec<Unit> {
        let mut out = Vec::new();
        for s in 0..steps {
            self.step(t + s as f64 * self.dt, &mut out);
        }
        self.sync(&mut out);
        out
    }
}

/// Eigenvalue of −∇² (times dx²) along one axis for phase θ = k·dx.
pub fn axis_eigen(stencil: u32, theta: f64) -> f64 {
    if stencil == 4 {
        // (−1/12, 4/3, −5/2, 4/3, −1/12) applied to e^{iθj}.
        2.5 - (8.0 / 3.0) * theta.cos() + (1.0 / 6.0) * (2.0 * theta).cos()
    } else {
        let s = (0.5 * theta).sin();
        4.0 * s * s
    }
}

/// k_eff² of the lattice mode with integer wave numbers n (any sign, taken mod N):
/// the exact eigenvalue of −∇² of the stencil on the plane wave.
pub fn k_eff2(stencil: u32, n: usize, dx: f64, modes: [i64; 3]) -> f64 {
    let tau = std::f64::consts::TAU;
    modes
        .iter()
        .map(|&m| axis_eigen(stencil, tau * m as f64 / n as f64))
        .sum::<f64>()
        / (dx * dx)
}

/// Signed wave number of index i on an N-point axis (−N/2 < m ≤ N/2).
pub fn signed_mode(i: usize, n: usize) -> i64 {
    if i <= n / 2 {
        i as i64
    } else {
        i as i64 - n as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrals_are_smooth_through_flat_space() {
        let d = 0.1;
        for f in [int_a, int_a3, int_inv_a3] {
            assert!((f(0.0, 3.0, 3.0 + d) - d).abs() < 1e-15);
            // Tiny H differs from flat space only at O(H·δ).
            assert!((f(1e-9, 0.0, d) - d).abs() < 1e-10);
        }
        // Closed forms at H = 0.5.
        let (h, t0, t1): (f64, f64, f64) = (0.5, 1.0, 1.3);
        assert!((int_a(h, t0, t1) - ((h * t1).exp() - (h * t0).exp()) / h).abs() < 1e-14);
        assert!(
            (int_inv_a3(h, t0, t1) - ((-3.0 * h * t0).exp() - (-3.0 * h * t1).exp()) / (3.0 * h))
                .abs()
                < 1e-14
        );
    }

    #[test]
    fn leapfrog_half_kicks_merge() {
        let mut s = Stepper::new(Integrator::Leapfrog, 0.5, 0.1);
        let u = s.units(0.0, 3);
        // Three drifts and one closing kick.
        assert_eq!(u.len(), 4);
        assert!((u[1].c_lap - int_a(0.5, 0.05, 0.15)).abs() < 1e-15);
        assert!((u[3].c_lap - int_a(0.5, 0.25, 0.3)).abs() < 1e-15);
        assert_eq!(u[3].c_drift, 0.0);
        // Total kick and drift integrals cover [0, 0.3] exactly.
        let tot: f64 = u.iter().map(|x| x.c_pot).sum();
        assert!((tot - int_a3(0.5, 0.0, 0.3)).abs() < 1e-14);
        let d: f64 = u.iter().map(|x| x.c_drift).sum();
        assert!((d - int_inv_a3(0.5, 0.0, 0.3)).abs() < 1e-14);
    }

    #[test]
    fn yoshida_covers_the_step() {
        let mut s = Stepper::new(Integrator::Yoshida4, 0.7, 0.2);
        let u = s.units(1.0, 2);
        assert_eq!(u.len(), 7);
        let d: f64 = u.iter().map(|x| x.c_drift).sum();
        assert!((d - int_inv_a3(0.7, 1.0, 1.4)).abs() < 1e-13);
        let k: f64 = u.iter().map(|x| x.c_lap).sum();
        assert!((k - int_a(0.7, 1.0, 1.4)).abs() < 1e-13);
    }

    /// Half-trace of the integrator's one-step map for ẍ = −x at step x·dt.
    fn half_trace(integrator: Integrator, wdt: f64) -> f64 {
        let mut s = Stepper::new(integrator, 0.0, wdt);
        let units = s.units(0.0, 1);
        let mut m = [[1.0, 0.0], [0.0, 1.0]];
        for u in units {
            // kick p −= c_pot·x, then drift x += c_drift·p
            let k = [[1.0, 0.0], [-u.c_pot, 1.0]];
            let d = [[1.0, u.c_drift], [0.0, 1.0]];
            for op in [k, d] {
                let mut r = [[0.0; 2]; 2];
                for i in 0..2 {
                    for j in 0..2 {
                        r[i][j] = op[i][0] * m[0][j] + op[i][1] * m[1][j];
                    }
                }
                m = r;
            }
        }
        0.5 * (m[0][0] + m[1][1])
    }

    #[test]
    fn stability_bounds_are_where_the_maps_turn_unstable() {
        for integ in [Integrator::Leapfrog, Integrator::Yoshida4] {
            let b = stability_bound(integ);
            let mut x = 0.01;
            while x < b - 1e-3 {
                assert!(half_trace(integ, x).abs() <= 1.0, "{integ:?} at {x}");
                x += 0.01;
            }
            assert!(half_trace(integ, b + 2e-3).abs() > 1.0, "{integ:?}");
        }
    }

    #[test]
    fn stencil_eigenvalues_are_the_continuum_ones_at_small_k() {
        // θ² − θ⁴/12 (2nd order) and θ² − θ⁶/90 (4th order).
        let th: f64 = 0.05;
        assert!((axis_eigen(2, th) - th * th).abs() < th.powi(4) / 11.0);
        assert!((axis_eigen(4, th) - th * th).abs() < th.powi(6) / 80.0);
        assert!((axis_eigen(2, std::f64::consts::PI) - 4.0).abs() < 1e-14);
        assert!((axis_eigen(4, std::f64::consts::PI) - 16.0 / 3.0).abs() < 1e-14);
    }
}

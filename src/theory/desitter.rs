//! De Sitter closed forms and the linear mode equation (DESIGN §2).
//!
//! Background a(t) = e^{Ht}, a(0) = 1; conformal time η = −e^{−Ht}/H. A Fourier
//! mode of the field obeys δφ̈ + 3Hδφ̇ + (k²/a² + m²)δφ = 0; k² is passed directly
//! so that lattice callers can use their k_eff².

use num_complex::Complex64;

/// Exact homogeneous solution of φ̈ + 3Hφ̇ + m²(φ − φ_min) = 0 from
/// (φ − φ_min, φ̇) = (x0, v0) at t = 0. Returns (φ(t) − φ_min, φ̇(t)).
///
/// With α = 3H/2 and g = α² − m² = H²ν² the solution is
/// x = e^{−αt}[x0·C(t) + (v0 + αx0)·S(t)], where C'' = gC, S'' = gS, C(0) = 1,
/// S(0) = 0, S'(0) = 1: cosh/sinh for real ν (g > 0), cos/sin for imaginary ν,
/// and C = 1, S = t for ν = 0. For g > 0 the damped hyperbolic functions are
/// built from e^{(±q−α)t} directly so nothing overflows at late times, and via
/// expm1 when qt is small so ν → 0 is continuous. H = 0 is flat space (g = −m²).
pub fn background(h: f64, m2: f64, phi0_minus_min: f64, dphi0: f64, t: f64) -> (f64, f64) {
    let alpha = 1.5 * h;
    let g = alpha * alpha - m2;
    let (x0, w) = (phi0_minus_min, dphi0 + alpha * phi0_minus_min);
    // cd = e^{−αt}C(t), sd = e^{−αt}S(t).
    let (cd, sd) = if g > 0.0 {
        let q = g.sqrt();
        // q − α without cancellation when the field is light (q ≈ α).
        let slow = if alpha > 0.0 {
            -m2 / (q + alpha)
        } else {
            q - alpha
        };
        let fast = -q - alpha;
        let (es, ef) = ((slow * t).exp(), (fast * t).exp());
        let sd = if (q * t).abs() > 0.5 {
            (es - ef) / (2.0 * q)
        } else {
            ef * (2.0 * q * t).exp_m1() / (2.0 * q)
        };
        (0.5 * (es + ef), sd)
    } else if g < 0.0 {
        let q = (-g).sqrt();
        let damp = (-alpha * t).exp();
        (damp * (q * t).cos(), damp * (q * t).sin() / q)
    } else {
        let damp = (-alpha * t).exp();
        (damp, t * damp)
    };
    let x = x0 * cd + w * sd;
    let v = -alpha * x + x0 * g * sd + w * cd;
    (x, v)
}

fn conformal_time(h: f64, t: f64) -> f64 {
    -(-h * t).exp() / h
}

/// Massless Bunch–Davies mode u = (H/√(2k³))(1 + ikη)e^{−ikη} and u̇ at cosmic
/// time t (requires H > 0, k > 0). Normalised so a³(u u̇* − u* u̇) = i.
///
/// Phase convention: this textbook form equals −i times the convention of
/// [`conformal_mode`] and [`bunch_davies_initial`] (u → e^{−ikη}/(a√(2k)) deep
/// inside the horizon). A constant phase is physically irrelevant.
pub fn massless_mode(k: f64, h: f64, t: f64) -> (Complex64, Complex64) {
    assert!(h > 0.0 && k > 0.0, "massless BD mode needs H > 0 and k > 0");
    let eta = conformal_time(h, t);
    let a = (h * t).exp();
    let amp = h / (2.0 * k * k * k).sqrt();
    let phase = Complex64::from_polar(1.0, -k * eta);
    let u = amp * Complex64::new(1.0, k * eta) * phase;
    // du/dη = amp·k²η·e^{−ikη}; dη/dt = 1/a.
    let du = amp * k * k * eta * phase / a;
    (u, du)
}

/// Conformally coupled (m² = 2H²) Bunch–Davies mode u = e^{−ikη}/(a√(2k)) and u̇.
/// For H = 0 it reduces to the massless flat-space mode e^{−ikt}/√(2k).
pub fn conformal_mode(k: f64, h: f64, t: f64) -> (Complex64, Complex64) {
    assert!(k > 0.0, "conformal mode needs k > 0");
    let (a, eta) = if h == 0.0 {
        (1.0, t)
    } else {
        ((h * t).exp(), conformal_time(h, t))
    };
    let u = Complex64::from_polar(1.0 / (a * (2.0 * k).sqrt()), -k * eta);
    // u̇ = (−H − ik/a)·u since ȧ/a = H and dη/dt = 1/a.
    let du = Complex64::new(-h, -k / a) * u;
    (u, du)
}

/// Integration steps per unit of the fastest local rate max(ω, 3H). RK4's phase
/// error per radian is ≈ (ω·dt)⁴/120, i.e. ~3e-12 here, so a few hundred radians
/// of evolution stay well inside 1e-9 relative.
const STEPS_PER_RADIAN: f64 = 250.0;

/// Local frequency scale of the mode equation at time t.
fn rate(k2: f64, m2: f64, h: f64, t: f64) -> f64 {
    let w2 = k2 * (-2.0 * h * t).exp() + m2;
    w2.abs().sqrt().max(3.0 * h.abs())
}

/// RK4 for P independent solutions (x, ẋ) of the real mode equation from
/// t_start through each sorted target time; returns the states at the targets.
fn evolve<const P: usize>(
    k2: f64,
    m2: f64,
    h: f64,
    t_start: f64,
    targets: &[f64],
    mut state: [[f64; 2]; P],
) -> Vec<[[f64; 2]; P]> {
    let deriv = |t: f64, s: &[[f64; 2]; P]| -> [[f64; 2]; P] {
        let w2 = k2 * (-2.0 * h * t).exp() + m2;
        let mut d = [[0.0; 2]; P];
        for (di, si) in d.iter_mut().zip(s) {
            *di = [si[1], -3.0 * h * si[1] - w2 * si[0]];
        }
        d
    };
    let axpy = |s: &[[f64; 2]; P], a: f64, d: &[[f64; 2]; P]| -> [[f64; 2]; P] {
        let mut o = *s;
        for (oi, di) in o.iter_mut().zip(d) {
            oi[0] += a * di[0];
            oi[1] += a * di[1];
        }
        o
    };
    let mut t = t_start;
    let mut out = Vec::with_capacity(targets.len());
    for &target in targets {
        assert!(
            target >= t,
            "target times must be sorted and ≥ the start time"
        );
        while t < target {
            let r0 = rate(k2, m2, h, t);
            let guess = if r0 > 0.0 {
                1.0 / (STEPS_PER_RADIAN * r0)
            } else {
                f64::INFINITY
            };
            // Re-check the rate at the step's end (it grows there when H < 0).
            let r = r0.max(rate(k2, m2, h, t + guess.min(target - t)));
            let dt = if r > 0.0 {
                1.0 / (STEPS_PER_RADIAN * r)
            } else {
                f64::INFINITY
            };
            // Land exactly on the target; avoid a sliver of a last step.
            let dt = if target - t <= 1.01 * dt {
                target - t
            } else {
                dt
            };
            let k1 = deriv(t, &state);
            let k2s = deriv(t + 0.5 * dt, &axpy(&state, 0.5 * dt, &k1));
            let k3 = deriv(t + 0.5 * dt, &axpy(&state, 0.5 * dt, &k2s));
            let k4 = deriv(t + dt, &axpy(&state, dt, &k3));
            for p in 0..P {
                for c in 0..2 {
                    state[p][c] +=
                        dt / 6.0 * (k1[p][c] + 2.0 * k2s[p][c] + 2.0 * k3[p][c] + k4[p][c]);
                }
            }
            t = if dt == target - t { target } else { t + dt };
        }
        out.push(state);
    }
    out
}

/// Transfer matrices of δφ̈ + 3Hδφ̇ + (k²/a² + m²)δφ = 0 from t = 0: for each
/// requested time (sorted, ≥ 0), T with (δφ(t), δφ̇(t)) = T·(δφ(0), δφ̇(0)),
/// stored row-major (T[0] = [∂δφ/∂δφ0, ∂δφ/∂δφ̇0]). RK4 with a step of
/// 1/(250·max(ω, 3H)), ω² = |k²/a² + m²|: phase error ≈ 3e-12 per radian, so
/// relative error ≲ 1e-9 over ~50 oscillations (measured: 3e-11 over 40 rad).
pub fn mode_transfer(k2: f64, m2: f64, h: f64, times: &[f64]) -> Vec<[[f64; 2]; 2]> {
    assert!(times.iter().all(|&t| t >= 0.0), "times must be ≥ 0");
    evolve(k2, m2, h, 0.0, times, [[1.0, 0.0], [0.0, 1.0]])
        .into_iter()
        .map(|[s1, s2]| [[s1[0], s2[0]], [s1[1], s2[1]]])
        .collect()
}

/// Bunch–Davies mode function (u, u̇) at t = 0 for any k² > 0 and mass.
///
/// For H > 0 the mode is started in the adiabatic (WKB) vacuum at the earlier
/// time where k/a ≥ 200·max(H, |m|) and integrated forward to t = 0. The WKB
/// data are those of χ = a·u in conformal time, χ'' + ω_c²χ = 0 with
/// ω_c² = k² − A/η², A = 2 − m²/H² (exact in de Sitter):
/// χ = e^{−iΦ}/√(2ω_c), Φ = kη + A/(2kη) + A²/(24k³η³), the phase constant chosen
/// so that χ → e^{−ikη}/√(2k) — the Hankel-function convention, matching
/// [`conformal_mode`] exactly and i·[`massless_mode`]. Neglected terms are
/// O((k|η|)^{−3}) ≈ 1e-7 relative.
///
/// For H = 0 it is the flat-space vacuum u = 1/√(2ω), u̇ = −iωu, ω² = k² + m².
pub fn bunch_davies_initial(k2: f64, m2: f64, h: f64) -> (Complex64, Complex64) {
    assert!(h >= 0.0, "only expanding (H ≥ 0) backgrounds are supported");
    if h == 0.0 {
        let w = (k2 + m2).sqrt();
        assert!(w > 0.0, "flat-space vacuum needs k² + m² > 0");
        let u = Complex64::new(1.0 / (2.0 * w).sqrt(), 0.0);
        return (u, Complex64::new(0.0, -w) * u);
    }
    assert!(k2 > 0.0, "BD vacuum needs k² > 0 when H > 0");
    let k = k2.sqrt();
    let scale = 200.0 * h.max(m2.abs().sqrt());
    let t0 = ((k / scale).ln() / h).min(0.0);
    let a0 = (h * t0).exp();
    let eta = -1.0 / (a0 * h);
    let big_a = 2.0 - m2 / (h * h);
    let keta = k * eta;
    let wc = (k2 - big_a / (eta * eta)).sqrt();
    let phi = keta + big_a / (2.0 * keta) + big_a * big_a / (24.0 * keta * keta * keta);
    let chi = Complex64::from_polar(1.0 / (2.0 * wc).sqrt(), -phi);
    let dwc = big_a / (eta * eta * eta * wc);
    let dchi = Complex64::new(-dwc / (2.0 * wc), -wc) * chi;
    let u0 = chi / a0;
    let du0 = (dchi - a0 * h * chi) / (a0 * a0);
    if t0 == 0.0 {
        return (u0, du0);
    }
    let [re, im] = evolve(k2, m2, h, t0, &[0.0], [[u0.re, du0.re], [u0.im, du0.im]])[0];
    (Complex64::new(re[0], im[0]), Complex64::new(re[1], im[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wronskian(a: f64, u: Complex64, du: Complex64) -> Complex64 {
        a.powi(3) * (u * du.conj() - u.conj() * du)
    }

    fn check_background_ode(h: f64, m2: f64) {
        let (x0, v0) = (0.7, -0.3);
        let (x, v) = background(h, m2, x0, v0, 0.0);
        assert!((x - x0).abs() < 1e-15 && (v - v0).abs() < 1e-15);
        let d = 1e-4;
        for &t in &[0.3, 1.0, 2.5, 6.0] {
            let (xm, _) = background(h, m2, x0, v0, t - d);
            let (x, v) = background(h, m2, x0, v0, t);
            let (xp, _) = background(h, m2, x0, v0, t + d);
            let scale = x.abs() + v.abs() + 1e-3 * (x0.abs() + v0.abs());
            let fd_v = (xp - xm) / (2.0 * d);
            assert!((fd_v - v).abs() < 1e-7 * scale, "H={h} m2={m2} t={t}: v");
            let acc = (xp - 2.0 * x + xm) / (d * d);
            let resid = acc + 3.0 * h * v + m2 * x;
            assert!(resid.abs() < 1e-5 * scale, "H={h} m2={m2} t={t}: {resid}");
        }
        // Independent integrator (k² = 0) agrees too.
        let times = [0.5, 2.0, 6.0];
        for (tm, &t) in mode_transfer(0.0, m2, h, &times).iter().zip(&times) {
            let (x, v) = background(h, m2, x0, v0, t);
            let xi = tm[0][0] * x0 + tm[0][1] * v0;
            let vi = tm[1][0] * x0 + tm[1][1] * v0;
            let scale = x.abs() + v.abs();
            assert!((x - xi).abs() < 1e-9 * scale && (v - vi).abs() < 1e-9 * scale);
        }
    }

    #[test]
    fn background_solves_ode_in_all_regimes() {
        check_background_ode(0.5, 0.2); // ν real (light)
        check_background_ode(0.5, 1.3); // ν imaginary (heavy)
        check_background_ode(0.5, 0.5625); // ν = 0 exactly: m² = 9H²/4
        check_background_ode(0.5, 0.5625 * (1.0 + 1e-9)); // ν ≈ 0 from either side
        check_background_ode(0.5, 0.5625 * (1.0 - 1e-9));
        check_background_ode(0.0, 1.3); // flat space
        check_background_ode(1.0, 0.0); // massless: frozen + decaying
    }

    #[test]
    fn background_continuous_across_nu_zero() {
        let h = 0.8;
        let m2c = 2.25 * h * h;
        let (a, _) = background(h, m2c, 1.0, 0.0, 3.0);
        let (b, _) = background(h, m2c * (1.0 + 1e-12), 1.0, 0.0, 3.0);
        let (c, _) = background(h, m2c * (1.0 - 1e-12), 1.0, 0.0, 3.0);
        assert!((a - b).abs() < 1e-9 && (a - c).abs() < 1e-9);
        // Late times: no overflow for a massless field.
        let (x, v) = background(1.0, 0.0, 1.0, 0.5, 2000.0);
        assert!((x - (1.0 + 0.5 / 3.0)).abs() < 1e-12 && v.abs() < 1e-12);
    }

    #[test]
    fn closed_form_modes_satisfy_wronskian() {
        for &(k, h) in &[(0.3f64, 1.0f64), (5.0, 0.5), (2.0, 2.0)] {
            for &t in &[-1.0, 0.0, 0.7, 3.0] {
                let a = (h * t).exp();
                let (u, du) = massless_mode(k, h, t);
                let w = wronskian(a, u, du);
                assert!(
                    (w - Complex64::i()).norm() < 1e-12,
                    "massless {k} {h} {t}: {w}"
                );
                let (u, du) = conformal_mode(k, h, t);
                let w = wronskian(a, u, du);
                assert!(
                    (w - Complex64::i()).norm() < 1e-12,
                    "conformal {k} {h} {t}: {w}"
                );
            }
        }
    }

    /// Propagate Re and Im of a closed-form mode with the transfer matrices and
    /// compare with the closed form at later times.
    fn check_transfer(k: f64, m2: f64, h: f64, mode: fn(f64, f64, f64) -> (Complex64, Complex64)) {
        let times = [0.0, 0.25, 1.0, 3.0, 8.0];
        let (u0, du0) = mode(k, h, 0.0);
        let ts = mode_transfer(k * k, m2, h, &times);
        for (tm, &t) in ts.iter().zip(&times) {
            let (u, du) = mode(k, h, t);
            let apply = |x: f64, v: f64| (tm[0][0] * x + tm[0][1] * v, tm[1][0] * x + tm[1][1] * v);
            let (xr, vr) = apply(u0.re, du0.re);
            let (xi, vi) = apply(u0.im, du0.im);
            let eu = Complex64::new(xr - u.re, xi - u.im).norm() / u.norm();
            // u̇ decays like 1/a² (massless) or 1/a (conformal); measure its error
            // against the size the mode's derivative had at t = 0 scaled by 1/a.
            let du_scale = du.norm().max(du0.norm() * (-h * t).exp() * 1e-3);
            let edu = Complex64::new(vr - du.re, vi - du.im).norm() / du_scale;
            assert!(eu < 1e-9, "k={k} H={h} t={t}: u rel err {eu:e}");
            assert!(edu < 1e-9, "k={k} H={h} t={t}: du rel err {edu:e}");
        }
    }

    #[test]
    fn transfer_reproduces_closed_form_modes() {
        for &(k, h) in &[(3.0, 1.0), (20.0, 0.5), (0.2, 1.0)] {
            check_transfer(k, 0.0, h, massless_mode);
            check_transfer(k, 2.0 * h * h, h, conformal_mode);
        }
        check_transfer(4.0, 0.0, 0.0, conformal_mode); // flat space
    }

    #[test]
    fn bunch_davies_matches_closed_forms() {
        for &(k, h) in &[(0.5, 1.0), (3.0, 1.0), (40.0, 0.5), (1000.0, 1.0)] {
            let (u, du) = bunch_davies_initial(k * k, 2.0 * h * h, h);
            let (uc, duc) = conformal_mode(k, h, 0.0);
            assert!(
                (u - uc).norm() < 1e-4 * uc.norm(),
                "conformal k={k}: {u} vs {uc}"
            );
            assert!(
                (du - duc).norm() < 1e-4 * duc.norm(),
                "conformal k={k}: {du} vs {duc}"
            );
            let (u, du) = bunch_davies_initial(k * k, 0.0, h);
            let (um, dum) = massless_mode(k, h, 0.0);
            let (um, dum) = (Complex64::i() * um, Complex64::i() * dum);
            assert!(
                (u - um).norm() < 1e-4 * um.norm(),
                "massless k={k}: {u} vs {um}"
            );
            assert!(
                (du - dum).norm() < 1e-4 * dum.norm(),
                "massless k={k}: {du} vs {dum}"
            );
        }
        // Wronskian for generic masses, including heavy and flat space.
        for &(k2, m2, h) in &[
            (0.3, 0.7, 1.0),
            (4.0, 30.0, 0.5),
            (1.0, 1.0, 0.0),
            (0.01, 0.1, 1.0),
        ] {
            let (u, du) = bunch_davies_initial(k2, m2, h);
            let w = wronskian(1.0, u, du);
            assert!((w - Complex64::i()).norm() < 1e-8, "{k2} {m2} {h}: {w}");
        }
    }
}

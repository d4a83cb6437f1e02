//! The shaders' activation arithmetic on the host (`shaders/shared/activation.wgsl`,
//! in f64, with the same erf formula) and the code that selects it in a pipeline.

use crate::theory::Activation;

const P: f64 = 0.327_591_1;
const A: [f64; 5] = [
    0.254_829_592,
    -0.284_496_736,
    1.421_413_741,
    -1.453_152_027,
    1.061_405_429,
];

/// (erf x, erf' x) with the shader's approximation (A&S 7.1.26).
pub fn erf_and_deriv(x: f64) -> (f64, f64) {
    let ax = x.abs();
    let e = (-ax * ax).exp();
    let t = 1.0 / (1.0 + P * ax);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let y = 1.0 - poly * e;
    (
        if x < 0.0 { -y } else { y },
        std::f64::consts::FRAC_2_SQRT_PI * e,
    )
}

/// The shader's ACT override value for an activation.
pub fn act_code(a: Activation) -> u32 {
    match a {
        Activation::Erf => 0,
        Activation::Relu => 1,
        Activation::Tanh => 2,
        Activation::Identity => 3,
    }
}

/// (φ(x), φ'(x)) as the shader computes them.
pub fn act_and_deriv(a: Activation, x: f64) -> (f64, f64) {
    match a {
        Activation::Erf => erf_and_deriv(x),
        Activation::Relu => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
        Activation::Tanh => {
            let y = x.tanh();
            (y, 1.0 - y * y)
        }
        Activation::Identity => (x, 1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_approximation_within_1e_minus_6_of_libm() {
        let mut worst: f64 = 0.0;
        for i in -80_000..=80_000 {
            let x = i as f64 * 1e-4;
            let (y, d) = erf_and_deriv(x);
            worst = worst.max((y - libm::erf(x)).abs());
            let exact_d = std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp();
            assert!((d - exact_d).abs() < 1e-15);
        }
        assert!(worst < 1e-6, "max |erf error| = {worst}");
    }
}

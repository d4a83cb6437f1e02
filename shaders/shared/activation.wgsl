// Activation functions, specialised at pipeline creation through the ACT override
// (0 erf, 1 relu, 2 tanh, 3 identity). CPU twin: src/reference/activation.rs.

override ACT: u32 = 0u;

const ERF_P: f32 = 0.3275911;
const ERF_A1: f32 = 0.254829592;
const ERF_A2: f32 = -0.284496736;
const ERF_A3: f32 = 1.421413741;
const ERF_A4: f32 = -1.453152027;
const ERF_A5: f32 = 1.061405429;
const TWO_OVER_SQRT_PI: f32 = 1.1283791670955126;

// (φ, φ') on four values at once; erf and erf' share one exp (Abramowitz & Stegun
// 7.1.26, |error| < 1.5e-7).
fn act_and_deriv4(x: vec4<f32>, d: ptr<function, vec4<f32>>) -> vec4<f32> {
    switch ACT {
        case 0u: {
            let ax = abs(x);
            let e = exp(-ax * ax);
            let t = 1.0 / (1.0 + ERF_P * ax);
            let poly = ((((ERF_A5 * t + ERF_A4) * t + ERF_A3) * t + ERF_A2) * t + ERF_A1) * t;
            *d = TWO_OVER_SQRT_PI * e;
            return sign(x) * (1.0 - poly * e);
        }
        case 1u: {
            *d = select(vec4<f32>(0.0), vec4<f32>(1.0), x > vec4<f32>(0.0));
            return max(x, vec4<f32>(0.0));
        }
        case 2u: {
            let y = tanh(x);
            *d = 1.0 - y * y;
            return y;
        }
        default: {
            *d = vec4<f32>(1.0);
            return x;
        }
    }
}

// φ on four values at once (the unused derivative is dead code after inlining).
fn act4(x: vec4<f32>) -> vec4<f32> {
    var d: vec4<f32>;
    return act_and_deriv4(x, &d);
}

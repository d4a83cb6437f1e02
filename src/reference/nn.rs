//! CPU twins (f64) of the ensemble kernels in shaders/nn/. Same parameter layout,
//! same activation formulas, same RNG; plain functions over slices.

use super::activation::act_and_deriv;
use crate::nn::layout::{LayerScale, NetShape};
use crate::theory::Activation;

/// Twin of `init_params`: one member's parameter vector.
pub fn init_params(shape: &NetShape, scales: &[LayerScale], seed: u64, member: usize) -> Vec<f64> {
    crate::nn::teacher::member_params(shape, scales, seed, member)
}

/// Activations of one member on every point: z[l][i][a] and φ'[l][i][a] for the
/// hidden layers, and the output f[i].
#[derive(Clone, Debug)]
pub struct Forward {
    pub z: Vec<Vec<Vec<f64>>>,
    pub dphi: Vec<Vec<Vec<f64>>>,
    pub f: Vec<f64>,
}

/// Twin of `layer_forward` + `output_forward` (+ the bias of `residual`), and of the
/// fused `forward_hidden1`, which computes the same f without storing z.
pub fn forward(
    shape: &NetShape,
    scales: &[LayerScale],
    act: Activation,
    params: &[f64],
    x: &[Vec<f64>],
) -> Forward {
    let layers = shape.layers();
    let mut z = Vec::new();
    let mut dphi = Vec::new();
    let mut f = Vec::with_capacity(x.len());
    for xi in x {
        let mut input = xi.clone();
        for (l, (spec, s)) in layers.iter().zip(scales).enumerate() {
            let mut h = vec![0.0; spec.n_out];
            for (a, ha) in h.iter_mut().enumerate() {
                let row = &params[spec.w_off + a * spec.n_in..spec.w_off + (a + 1) * spec.n_in];
                let dot: f64 = row.iter().zip(&input).map(|(w, v)| w * v).sum();
                *ha = s.wm * dot + s.bm * params[spec.b_off + a];
            }
            if l == shape.depth {
                f.push(h[0]);
                break;
            }
            let (zz, dd): (Vec<f64>, Vec<f64>) = h.iter().map(|&v| act_and_deriv(act, v)).unzip();
            if z.len() <= l {
                z.push(Vec::new());
                dphi.push(Vec::new());
            }
            z[l].push(zz.clone());
            dphi[l].push(dd);
            input = zz;
        }
    }
    Forward { z, dphi, f }
}

/// Twin of `residual`: δ = (f − y)/N and the loss (1/2N)·Σ(f − y)².
pub fn residual(f: &[f64], y: &[f64]) -> (Vec<f64>, f64) {
    let n = f.len() as f64;
    let r: Vec<f64> = f.iter().zip(y).map(|(a, b)| a - b).collect();
    let loss = 0.5 * r.iter().map(|v| v * v).sum::<f64>() / n;
    (r.iter().map(|v| v / n).collect(), loss)
}

/// Twin of `layer_backward`: δ^l[i][a] = ∂(Σ_i up_i f_i)/∂h^l_a for every hidden layer.
pub fn backward(
    shape: &NetShape,
    scales: &[LayerScale],
    params: &[f64],
    fwd: &Forward,
    up: &[f64],
) -> Vec<Vec<Vec<f64>>> {
    let layers = shape.layers();
    let depth = shape.depth;
    let mut deltas: Vec<Vec<Vec<f64>>> = vec![Vec::new(); depth];
    for l in (0..depth).rev() {
        let above = layers[l + 1];
        let wm = scales[l + 1].wm;
        deltas[l] = (0..up.len())
            .map(|i| {
                (0..shape.width)
                    .map(|b| {
                        let s = if l == depth - 1 {
                            params[above.w_off + b] * up[i]
                        } else {
                            (0..above.n_out)
                                .map(|a| {
                                    params[above.w_off + a * above.n_in + b] * deltas[l + 1][i][a]
                                })
                                .sum()
                        };
                        fwd.dphi[l][i][b] * wm * s
                    })
                    .collect()
            })
            .collect();
    }
    deltas
}

/// Twin of `grad_update` / `update_hidden1` (their gradient part): ∂(Σ_i up_i f_i)/∂θ.
pub fn gradient(
    shape: &NetShape,
    scales: &[LayerScale],
    params: &[f64],
    fwd: &Forward,
    x: &[Vec<f64>],
    up: &[f64],
) -> Vec<f64> {
    let deltas = backward(shape, scales, params, fwd, up);
    let mut g = vec![0.0; params.len()];
    for (l, (spec, s)) in shape.layers().iter().zip(scales).enumerate() {
        for i in 0..x.len() {
            let input: &[f64] = if l == 0 { &x[i] } else { &fwd.z[l - 1][i] };
            for a in 0..spec.n_out {
                let d = if l == shape.depth {
                    up[i]
                } else {
                    deltas[l][i][a]
                };
                for (b, v) in input.iter().enumerate() {
                    g[spec.w_off + a * spec.n_in + b] += s.wm * d * v;
                }
                g[spec.b_off + a] += s.bm * d;
            }
        }
    }
    g
}

/// The heavy-ball update of `grad_update` / `update_hidden1`.
pub fn momentum_step(params: &mut [f64], vel: &mut [f64], grad: &[f64], lr: f64, beta: f64) {
    for ((p, v), g) in params.iter_mut().zip(vel.iter_mut()).zip(grad) {
        *v = beta * *v - lr * g;
        *p += *v;
    }
}

/// One full training step of one member; returns the loss before the step.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    shape: &NetShape,
    scales: &[LayerScale],
    act: Activation,
    params: &mut [f64],
    vel: &mut [f64],
    x: &[Vec<f64>],
    y: &[f64],
    lr: f64,
    beta: f64,
) -> (Vec<f64>, f64) {
    let fwd = forward(shape, scales, act, params, x);
    let (delta, loss) = residual(&fwd.f, y);
    let g = gradient(shape, scales, params, &fwd, x, &delta);
    momentum_step(params, vel, &g, lr, beta);
    (fwd.f, loss)
}

/// What `member_record` and the host's f64 sums (nn::stats) give per point: mean and
/// variance (1/E) over members, and the loss mean and std.
pub fn stats_points(outputs: &[Vec<f64>], loss: &[f64]) -> (Vec<f64>, Vec<f64>, f64, f64) {
    let e = outputs.len() as f64;
    let n = outputs[0].len();
    let mean: Vec<f64> = (0..n)
        .map(|i| outputs.iter().map(|f| f[i]).sum::<f64>() / e)
        .collect();
    let var = (0..n)
        .map(|i| {
            outputs
                .iter()
                .map(|f| (f[i] - mean[i]).powi(2))
                .sum::<f64>()
                / e
        })
        .collect();
    let lm = loss.iter().sum::<f64>() / e;
    let ls = (loss.iter().map(|l| (l - lm).powi(2)).sum::<f64>() / e).sqrt();
    (mean, var, lm, ls)
}

/// The same per basis row: u_bᵀ(μ − y) and ⟨(u_bᵀ(f − μ))²⟩, in two passes.
pub fn stats_modes(
    outputs: &[Vec<f64>],
    mean: &[f64],
    y: &[f64],
    basis: &[Vec<f64>],
) -> (Vec<f64>, Vec<f64>) {
    let dot = |u: &[f64], v: &dyn Fn(usize) -> f64| -> f64 {
        u.iter().enumerate().map(|(i, a)| a * v(i)).sum()
    };
    let r = basis.iter().map(|u| dot(u, &|i| mean[i] - y[i])).collect();
    let p = basis
        .iter()
        .map(|u| {
            outputs
                .iter()
                .map(|f| dot(u, &|i| f[i] - mean[i]).powi(2))
                .sum::<f64>()
                / outputs.len() as f64
        })
        .collect();
    (r, p)
}

/// Twin of `member_record` for one record: c_{e,b} = u_bᵀ(f_e − y) for every member
/// given (the traced ones), member-major: [e·N + b].
pub fn member_record(outputs: &[Vec<f64>], y: &[f64], basis: &[Vec<f64>]) -> Vec<f64> {
    outputs
        .iter()
        .flat_map(|f| {
            basis
                .iter()
                .map(move |u| u.iter().zip(f).zip(y).map(|((a, f), y)| a * (f - y)).sum())
        })
        .collect()
}

/// Twin of `ntk_gram`, computed independently as J·Jᵀ from explicit Jacobian rows.
pub fn ntk(
    shape: &NetShape,
    scales: &[LayerScale],
    act: Activation,
    params: &[f64],
    x: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let fwd = forward(shape, scales, act, params, x);
    let n = x.len();
    let jac: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut up = vec![0.0; n];
            up[i] = 1.0;
            gradient(shape, scales, params, &fwd, x, &up)
        })
        .collect();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| jac[i].iter().zip(&jac[j]).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layout::layer_scales;
    use crate::theory::Parametrization;

    fn loss_of(
        shape: &NetShape,
        sc: &[LayerScale],
        act: Activation,
        p: &[f64],
        x: &[Vec<f64>],
        y: &[f64],
    ) -> f64 {
        residual(&forward(shape, sc, act, p, x).f, y).1
    }

    #[test]
    fn gradient_matches_central_differences() {
        // erf is left out on purpose: the kernels pair the A&S approximation of erf
        // with the exact erf', which differ by ~1e-6, more than this test resolves.
        for (depth, act, param) in [
            (1, Activation::Tanh, Parametrization::Ntk),
            (2, Activation::Tanh, Parametrization::Standard),
            (3, Activation::Identity, Parametrization::Ntk),
            (2, Activation::Tanh, Parametrization::Ntk),
        ] {
            let shape = NetShape {
                input_dim: 3,
                width: 5,
                depth,
            };
            let sc = layer_scales(&shape, param, 1.3, 0.2);
            let p = init_params(&shape, &sc, 11, 2);
            let x: Vec<Vec<f64>> = (0..4)
                .map(|i| (0..3).map(|j| ((i * 3 + j) as f64 * 0.7).sin()).collect())
                .collect();
            let y = vec![0.3, -0.2, 0.5, 0.1];
            let fwd = forward(&shape, &sc, act, &p, &x);
            let (delta, _) = residual(&fwd.f, &y);
            let g = gradient(&shape, &sc, &p, &fwd, &x, &delta);
            for q in 0..p.len() {
                let h = 1e-5;
                let mut pp = p.clone();
                pp[q] += h;
                let lp = loss_of(&shape, &sc, act, &pp, &x, &y);
                pp[q] -= 2.0 * h;
                let lm = loss_of(&shape, &sc, act, &pp, &x, &y);
                let fd = (lp - lm) / (2.0 * h);
                // Central differences err by O(h²·f''') ~ 1e-10 plus rounding ~1e-16/h.
                assert!(
                    (fd - g[q]).abs() < 1e-8 * (1.0 + g[q].abs()),
                    "depth {depth} param {q}: {fd} vs {}",
                    g[q]
                );
            }
        }
    }
}

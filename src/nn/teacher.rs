//! Labels of the teacher data set: a fixed random erf network of width 64 and depth
//! 1 (NTK parametrisation, σ_w = 1, σ_b = 0.1), drawn as the init kernel draws
//! member 0 and evaluated with the shaders' erf.

use super::layout::{LayerScale, NetShape, layer_scales};
use crate::philox::{normal2, seed_key};
use crate::shader_activation::erf_and_deriv;
use crate::theory::Parametrization;

const WIDTH: usize = 64;

/// The teacher's output on every input row.
pub fn labels(x: &[Vec<f64>], input_dim: usize, key_seed: u64) -> Vec<f64> {
    let shape = NetShape {
        input_dim,
        width: WIDTH,
        depth: 1,
    };
    let scales = layer_scales(&shape, Parametrization::Ntk, 1.0, 0.1);
    let layers = shape.layers();
    let p = member_params(&shape, &scales, key_seed, 0);
    x.iter()
        .map(|xi| {
            let mut input = xi.clone();
            for (l, (spec, s)) in layers.iter().zip(&scales).enumerate() {
                let h: Vec<f64> = (0..spec.n_out)
                    .map(|a| {
                        let row = &p[spec.w_off + a * spec.n_in..][..spec.n_in];
                        let dot: f64 = row.iter().zip(&input).map(|(w, v)| w * v).sum();
                        s.wm * dot + s.bm * p[spec.b_off + a]
                    })
                    .collect();
                input = if l == shape.depth {
                    h
                } else {
                    h.iter().map(|&v| erf_and_deriv(v).0).collect()
                };
            }
            input[0]
        })
        .collect()
}

/// One member's parameters as the `nn/init_params` kernel draws them: parameter q
/// of member m is std·normal([m, q, 0, 0]) under the seed's key.
pub fn member_params(
    shape: &NetShape,
    scales: &[LayerScale],
    seed: u64,
    member: usize,
) -> Vec<f64> {
    let key = seed_key(seed);
    let mut p = vec![0.0; shape.params_per_member()];
    for (l, s) in shape.layers().iter().zip(scales) {
        for (off, count, std) in [
            (l.w_off, l.n_in * l.n_out, s.w_std),
            (l.b_off, l.n_out, s.b_std),
        ] {
            for (q, v) in p.iter_mut().enumerate().skip(off).take(count) {
                *v = std * normal2([member as u32, q as u32, 0, 0], key)[0];
            }
        }
    }
    p
}

//! Network shape, parameter layout, multipliers, and the uniforms shared with WGSL.

use bytemuck::{Pod, Zeroable};

use crate::theory::Parametrization;

/// Mirrors `struct Net` in shaders/shared/nn_common.wgsl (checked by a test).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct NetUniform {
    pub n_points: u32,
    pub input_dim: u32,
    pub width: u32,
    pub depth: u32,
    pub params_per_member: u32,
    pub members: u32,
    pub member_base: u32,
    pub member_offset: u32,
    pub n_in: u32,
    pub n_out: u32,
    pub w_off: u32,
    pub b_off: u32,
    pub in_member_stride: u32,
    pub blocks: u32,
    pub flags: u32,
    pub count: u32,
    pub lr: f32,
    pub momentum: f32,
    pub wm: f32,
    pub bm: f32,
    pub wm_in: f32,
    pub bm_in: f32,
    pub wm_out: f32,
    pub bm_out: f32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub init_std: f32,
    pub up_off: u32,
    pub out_b: u32,
    /// Global index of the engine's first member: a shard's offset, added to the RNG key.
    pub rng_base: u32,
    pub _pad: [u32; 2],
}

/// Mirrors `struct Stats` in shaders/shared/nn_stats.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StatsUniform {
    pub n_points: u32,
    pub members: u32,
    pub slot: u32,
    pub record_size: u32,
}

/// Bit 0 of `flags`: the layer touches the output (global [member][point] gradients).
pub const FLAG_OUTPUT: u32 = 1;
/// Bit 1 of `flags` (ntk_gram only): accumulate into the global member's own N×N slot
/// (`member_base + m`) instead of the sub-chunk position's shared sum.
pub const FLAG_NTK_MEMBERS: u32 = 2;
/// Bit 2 of `flags` (hidden_backward only): propagate δ without updating the weights.
pub const FLAG_NO_UPDATE: u32 = 4;
/// Bit 3 of `flags` (init_params only): the segment is a hidden-to-hidden W stored
/// column-blocked (`Blocked`); `n_in`, `n_out` give its shape.
pub const FLAG_BLOCKED: u32 = 8;

/// Sizes of one MLP with scalar output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetShape {
    pub input_dim: usize,
    pub width: usize,
    pub depth: usize,
}

/// One layer l = 1..=L+1: its fan-in/out and where W^l and b^l start in a member's vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub n_in: usize,
    pub n_out: usize,
    pub w_off: usize,
    pub b_off: usize,
}

impl NetShape {
    /// Layer offsets; every W^l and b^l starts on a multiple of 4 floats so the
    /// tiled kernels can read whole rows as vec4 when the fan-in is a multiple of 4.
    pub fn layers(&self) -> Vec<LayerSpec> {
        let mut out = Vec::with_capacity(self.depth + 1);
        let mut off: usize = 0;
        for l in 1..=self.depth + 1 {
            let n_in = if l == 1 { self.input_dim } else { self.width };
            let n_out = if l == self.depth + 1 { 1 } else { self.width };
            let w_off = off.next_multiple_of(4);
            let b_off = (w_off + n_in * n_out).next_multiple_of(4);
            out.push(LayerSpec {
                n_in,
                n_out,
                w_off,
                b_off,
            });
            off = b_off + n_out;
        }
        out
    }

    /// Floats per member in the parameter buffers, padded to a multiple of 8 so that
    /// every member starts 32-byte aligned (the packed kernels' vec4<u64> view).
    pub fn params_per_member(&self) -> usize {
        let last = *self.layers().last().unwrap();
        (last.b_off + 1).next_multiple_of(8)
    }

    /// Trainable parameters per member (what FLOP counts use).
    pub fn param_count(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| l.n_in * l.n_out + l.n_out)
            .sum()
    }

    /// Offset of the output bias inside a member's vector.
    pub fn output_bias(&self) -> usize {
        self.layers().last().unwrap().b_off
    }
}

/// Columns per block of a hidden-to-hidden W stored column-blocked (see `Blocked`).
pub const BLOCK_COLS: usize = 64;

/// Column-blocked storage of the hidden-to-hidden weights W^l (n × n, 2 ≤ l ≤ L),
/// which the packed CPU kernels use: block c holds columns 64c.. (the last one
/// ragged, width min(64, n_in − 64c)) for every row, row after row, so a subgroup
/// walking down its columns streams memory in order instead of jumping a row
/// (4 KB at n = 1024) per step, which defeated the CPU's prefetchers. Velocities
/// follow the same layout. Everything outside the engine sees rows (`to_rows`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked;

impl Blocked {
    /// Position of W[a][b] relative to the layer's w_off.
    pub fn index(n_in: usize, n_out: usize, a: usize, b: usize) -> usize {
        let c = b / BLOCK_COLS;
        let width = BLOCK_COLS.min(n_in - c * BLOCK_COLS);
        c * BLOCK_COLS * n_out + a * width + b % BLOCK_COLS
    }

    /// The hidden-to-hidden layers, the ones stored blocked.
    fn hidden(shape: &NetShape) -> impl Iterator<Item = LayerSpec> {
        let layers = shape.layers();
        let last = layers.len() - 1;
        layers
            .into_iter()
            .enumerate()
            .filter(move |&(l, _)| l > 0 && l < last)
            .map(|(_, s)| s)
    }

    /// Rewrites members' vectors (P floats each) from blocked to row-major storage.
    pub fn to_rows(shape: &NetShape, members: &mut [f32], p: usize) {
        Self::permute(shape, members, p, false);
    }

    /// Rewrites members' vectors (P floats each) from row-major to blocked storage.
    pub fn from_rows(shape: &NetShape, members: &mut [f32], p: usize) {
        Self::permute(shape, members, p, true);
    }

    fn permute(shape: &NetShape, members: &mut [f32], p: usize, to_blocked: bool) {
        for s in Self::hidden(shape) {
            for member in members.chunks_mut(p) {
                let w = &mut member[s.w_off..s.w_off + s.n_in * s.n_out];
                let src = w.to_vec();
                for a in 0..s.n_out {
                    for b in 0..s.n_in {
                        let (row, blk) = (a * s.n_in + b, Self::index(s.n_in, s.n_out, a, b));
                        if to_blocked {
                            w[blk] = src[row];
                        } else {
                            w[row] = src[blk];
                        }
                    }
                }
            }
        }
    }
}

/// How a layer's raw parameters enter the forward pass and how they are drawn:
/// forward uses wm·W and bm·b; initial W ~ N(0, w_std²), b ~ N(0, b_std²).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerScale {
    pub wm: f64,
    pub bm: f64,
    pub w_std: f64,
    pub b_std: f64,
}

/// NTK parametrisation puts σ/√fan_in in the forward pass; standard puts it in the draw.
pub fn layer_scales(
    shape: &NetShape,
    param: Parametrization,
    sigma_w: f64,
    sigma_b: f64,
) -> Vec<LayerScale> {
    shape
        .layers()
        .iter()
        .map(|l| {
            let s = sigma_w / (l.n_in as f64).sqrt();
            match param {
                Parametrization::Ntk => LayerScale {
                    wm: s,
                    bm: sigma_b,
                    w_std: 1.0,
                    b_std: 1.0,
                },
                Parametrization::Standard => LayerScale {
                    wm: 1.0,
                    bm: 1.0,
                    w_std: s,
                    b_std: sigma_b,
                },
            }
        })
        .collect()
}

/// Floats per ring slot of one record of E members on N points: their mode
/// amplitudes and outputs (E·N each) and losses (see shaders/shared/nn_stats.wgsl).
pub fn record_size(points: usize, members: usize) -> usize {
    members * (2 * points + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous() {
        let s = NetShape {
            input_dim: 3,
            width: 5,
            depth: 2,
        };
        let l = s.layers();
        assert_eq!(
            l[0],
            LayerSpec {
                n_in: 3,
                n_out: 5,
                w_off: 0,
                b_off: 16
            }
        );
        assert_eq!(l[1].w_off, 24);
        assert_eq!(l[1].b_off, 24 + 28);
        assert_eq!(l[2].w_off, 60);
        assert_eq!(s.output_bias(), 68);
        assert_eq!(s.params_per_member(), 72);
        assert_eq!(s.param_count(), 20 + 30 + 6);
    }

    #[test]
    fn blocked_storage_is_a_permutation_of_the_hidden_rows() {
        // Width 72: a full block of 64 columns and a ragged one of 8; depth 3 has two
        // hidden-to-hidden layers, and the input and output layers stay in place.
        let s = NetShape {
            input_dim: 3,
            width: 72,
            depth: 3,
        };
        let p = s.params_per_member();
        let rows: Vec<f32> = (0..2 * p).map(|i| i as f32).collect();
        let mut v = rows.clone();
        Blocked::from_rows(&s, &mut v, p);
        let l = s.layers();
        let (n, h) = (72, l[1].w_off);
        // Row 1 of block 0 starts after row 0's 64 columns; block 1 after 72 rows of 64.
        assert_eq!(v[h + 64], rows[h + n]);
        assert_eq!(v[h + 64 * n], rows[h + 64]);
        assert_eq!(v[h + 64 * n + 8], rows[h + n + 64]);
        assert_eq!(v[p + l[2].w_off + 1], rows[p + l[2].w_off + 1]);
        assert_eq!(v[..l[0].b_off + n], rows[..l[0].b_off + n]);
        assert_eq!(v[l[3].w_off..p], rows[l[3].w_off..p]);
        assert_ne!(v, rows);
        let mut seen = v.clone();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, rows);
        Blocked::to_rows(&s, &mut v, p);
        assert_eq!(v, rows);
    }
}

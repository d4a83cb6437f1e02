//! Op builders of the stored-activation path (every depth, and the NTK at depth 1):
//! forward with stored z and φ', backward, the updates and the per-layer Gram sums,
//! for one sub-chunk of members sharing the scratch activations.

use super::WG;
use super::kernels::{K, Tiles};
use super::ops::{Builder, Chunk, Op, Scratch};
use crate::nn::layout::{
    FLAG_NO_UPDATE, FLAG_NTK_MEMBERS, FLAG_OUTPUT, LayerScale, LayerSpec, NetShape, NetUniform,
};

/// Op builders of the stored-activation path for one sub-chunk of members.
pub(super) struct Generic<'a> {
    pub(super) b: &'a Builder<'a>,
    pub(super) shape: &'a NetShape,
    pub(super) layers: &'a [LayerSpec],
    pub(super) scales: &'a [LayerScale],
    pub(super) sub: NetUniform,
    pub(super) m: usize,
    pub(super) points: usize,
    pub(super) chunk: &'a Chunk,
    pub(super) scratch: &'a Scratch,
    pub(super) x: &'a wgpu::Buffer,
    pub(super) tiles: Tiles,
}

impl Generic<'_> {
    fn layer_uniform(&self, l: usize) -> NetUniform {
        let spec = self.layers[l];
        NetUniform {
            n_in: spec.n_in as u32,
            n_out: spec.n_out as u32,
            w_off: spec.w_off as u32,
            b_off: spec.b_off as u32,
            in_member_stride: if l == 0 {
                0
            } else {
                (self.points * spec.n_in) as u32
            },
            wm: self.scales[l].wm as f32,
            bm: self.scales[l].bm as f32,
            ..self.sub
        }
    }

    /// The input of layer l (0-based): x for the first, else the previous activations.
    fn input(&self, l: usize) -> &wgpu::Buffer {
        if l == 0 {
            self.x
        } else {
            &self.scratch.z[l - 1]
        }
    }

    /// Forward through every hidden layer, storing z and φ'.
    fn hidden_forward(&self) -> Vec<Op> {
        let (m, n, np) = (self.m, self.shape.width, self.points);
        (0..self.shape.depth)
            .map(|l| {
                let u = self.layer_uniform(l);
                let bufs = [
                    &self.chunk.params,
                    self.input(l),
                    &self.scratch.z[l],
                    &self.scratch.dphi[l],
                ];
                if l > 0 && self.tiles.dense {
                    let (kernel, lanes) = if self.tiles.packed {
                        (K::DenseForwardX8, n / 8)
                    } else {
                        (K::DenseForward, n / 4)
                    };
                    let groups = self.tiled_grid(lanes, self.tiles.wg);
                    self.b.op_grid(kernel, &u, &bufs, groups)
                } else if l > 0 {
                    self.b
                        .op(K::HiddenForward, &u, &bufs, m * np.div_ceil(4) * (n / 4))
                } else {
                    self.b
                        .op_grid(K::LayerForward, &u, &bufs, self.row_grid(n / 4, m * np))
                }
            })
            .collect()
    }

    pub(super) fn forward(
        &self,
        partial: &wgpu::Buffer,
        y: &wgpu::Buffer,
        outputs: &wgpu::Buffer,
        delta_out: &wgpu::Buffer,
        loss: &wgpu::Buffer,
    ) -> Vec<Op> {
        let (m, np) = (self.m, self.points);
        let mut ops = self.hidden_forward();
        let d = self.shape.depth;
        let u = NetUniform {
            blocks: 1,
            ..self.layer_uniform(d)
        };
        ops.push(self.b.op(
            K::OutputForward,
            &u,
            &[&self.chunk.params, &self.scratch.z[d - 1], partial],
            m * np,
        ));
        ops.push(self.b.op(
            K::Residual,
            &u,
            &[&self.chunk.params, partial, y, outputs, delta_out, loss],
            m,
        ));
        ops
    }

    /// δ for every hidden layer, from the output gradient `up` ([member][point], global).
    /// With `update` (dense kernels only), each hidden-to-hidden weight layer is updated
    /// in the same pass that propagates δ through it (needs N ≤ the point tile); the
    /// input and output layers are left to `update`.
    fn backward(&self, up: &wgpu::Buffer, update: bool) -> Vec<Op> {
        let (m, n, np) = (self.m, self.shape.width, self.points);
        let d = self.shape.depth;
        let mut ops = Vec::new();
        for l in (0..d).rev() {
            let above = self.layers[l + 1];
            if l == d - 1 {
                let u = NetUniform {
                    n_in: n as u32,
                    n_out: above.n_out as u32,
                    up_off: above.w_off as u32,
                    wm: self.scales[l + 1].wm as f32,
                    flags: FLAG_OUTPUT,
                    ..self.sub
                };
                let bufs = [
                    &self.chunk.params,
                    up,
                    &self.scratch.dphi[l],
                    &self.scratch.delta[l],
                ];
                let groups = self.row_grid(n / 4, m * np);
                ops.push(self.b.op_grid(K::LayerBackward, &u, &bufs, groups));
                continue;
            }
            if !self.tiles.dense {
                let u = NetUniform {
                    n_in: n as u32,
                    n_out: above.n_out as u32,
                    up_off: above.w_off as u32,
                    wm: self.scales[l + 1].wm as f32,
                    ..self.sub
                };
                let bufs = [
                    &self.chunk.params,
                    &self.scratch.delta[l + 1],
                    &self.scratch.dphi[l],
                    &self.scratch.delta[l],
                ];
                let threads = m * np.div_ceil(4) * (n / 4);
                ops.push(self.b.op(K::HiddenBackward, &u, &bufs, threads));
                continue;
            }
            let u = NetUniform {
                flags: if update { 0 } else { FLAG_NO_UPDATE },
                ..self.layer_uniform(l + 1)
            };
            let bufs = [
                &self.chunk.params,
                &self.chunk.vel,
                &self.scratch.delta[l + 1],
                &self.scratch.z[l],
                &self.scratch.dphi[l],
                &self.scratch.delta[l],
            ];
            let (kernel, lanes) = if self.tiles.packed {
                (K::DenseBackwardX8, n / 8)
            } else {
                (K::DenseBackward, n / 4)
            };
            let groups = self.tiled_grid(lanes, self.tiles.wg);
            ops.push(self.b.op_grid(kernel, &u, &bufs, groups));
        }
        ops
    }

    /// Workgroups of a row kernel: `lanes` invocations along x in groups of WG, and
    /// `rows` along y, folded into z past the limit.
    fn row_grid(&self, lanes: usize, rows: usize) -> [u32; 3] {
        self.b.row_grid((lanes as u32).div_ceil(WG), rows)
    }

    /// Workgroups of a register-tiled kernel: `lanes` invocations along x in groups of
    /// `wg`, and (member, point tile) pairs along y, folded into z past the limit.
    fn tiled_grid(&self, lanes: usize, wg: u32) -> [u32; 3] {
        let tiles = self.points.div_ceil(self.tiles.points as usize);
        self.b.row_grid((lanes as u32).div_ceil(wg), self.m * tiles)
    }

    /// A training step after the forward pass. When the point tile holds every point,
    /// the hidden-to-hidden layers are updated inside the backward pass (one read and
    /// write of W and v); otherwise δ is propagated first and every layer updated after.
    pub(super) fn train(&self, delta_out: &wgpu::Buffer) -> Vec<Op> {
        let fuse = self.tiles.dense && self.points <= self.tiles.points as usize;
        let mut ops = self.backward(delta_out, fuse);
        ops.extend(self.update(delta_out, fuse));
        ops
    }

    /// Gradient steps of every layer, or (`outer_only`) of the input and output layers.
    fn update(&self, delta_out: &wgpu::Buffer, outer_only: bool) -> Vec<Op> {
        let d = self.shape.depth;
        (0..=d)
            .filter(|&l| !outer_only || l == 0 || l == d)
            .map(|l| {
                let spec = self.layers[l];
                let out = l == d;
                let u = NetUniform {
                    flags: if out { FLAG_OUTPUT } else { 0 },
                    ..self.layer_uniform(l)
                };
                let delta = if out {
                    delta_out
                } else {
                    &self.scratch.delta[l]
                };
                let bufs = [&self.chunk.params, &self.chunk.vel, self.input(l), delta];
                if l > 0 && !out {
                    self.b.op(
                        K::HiddenGradUpdate,
                        &u,
                        &bufs,
                        self.m * (spec.n_out / 4) * (spec.n_in / 4),
                    )
                } else if out {
                    let groups = self.row_grid(spec.n_in / 4 + 1, self.m);
                    self.b.op_grid(K::GradUpdate, &u, &bufs, groups)
                } else {
                    let groups = self.row_grid(spec.n_out / 4, self.m * (spec.n_in + 1));
                    self.b.op_grid(K::GradUpdate, &u, &bufs, groups)
                }
            })
            .collect()
    }

    /// Forward with stored activations, backward of f itself, then Θ per layer.
    pub(super) fn ntk(&self, ones: &wgpu::Buffer, ntk: &wgpu::Buffer, per_member: bool) -> Vec<Op> {
        let (d, np) = (self.shape.depth, self.points);
        let mut ops = self.hidden_forward();
        ops.extend(self.backward(ones, false));
        for l in 0..=d {
            let out = l == d;
            let u = NetUniform {
                flags: if out { FLAG_OUTPUT } else { 0 }
                    | if per_member { FLAG_NTK_MEMBERS } else { 0 },
                ..self.layer_uniform(l)
            };
            // The output layer's D is 1 and its buffer is never read; bind any.
            let dmat = if out { ones } else { &self.scratch.delta[l] };
            let bufs = [dmat, self.input(l), self.input(l), ntk];
            ops.push(if self.tiles.dense {
                let groups = self.tiled_grid(np, self.tiles.gram_wg);
                self.b.op_grid(K::DenseGram, &u, &bufs, groups)
            } else {
                let tiles = np.div_ceil(4);
                self.b.op(K::NtkGram, &u, &bufs, self.m * tiles * tiles)
            });
        }
        ops
    }
}

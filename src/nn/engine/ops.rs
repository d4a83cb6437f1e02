//! The op lists: every dispatch of initialisation, a training step, evaluation, the
//! per-step statistics and the NTK, each built once (kernel, uniform, bind group,
//! workgroup grid) so that encoding S steps is replaying a list S times.

use super::generic::Generic;
use super::kernels::{K, Kernels, Tiles};
use super::sizing::Sizing;
use super::{EnsembleSpec, WG};
use crate::gpu::kernel::grid;
use crate::gpu::{GpuContext, storage_buffer, uniform_buffer};
use crate::nn::layout::{FLAG_BLOCKED, NetUniform, StatsUniform, layer_scales};

/// One pre-built dispatch (cloning shares its uniform and bind group).
#[derive(Clone)]
pub(super) struct Op {
    pub(super) kernel: K,
    pub(super) group: wgpu::BindGroup,
    pub(super) groups: [u32; 3],
}

/// Members sharing one parameter buffer.
pub(super) struct Chunk {
    pub(super) base: usize,
    pub(super) members: usize,
    pub(super) params: wgpu::Buffer,
    pub(super) vel: wgpu::Buffer,
}

impl Chunk {
    /// Parameter and velocity buffers of `members` members from `base` on.
    pub(super) fn new(ctx: &GpuContext, base: usize, members: usize, member_bytes: u64) -> Self {
        let bytes = member_bytes * members as u64;
        Chunk {
            base,
            members,
            params: storage_buffer(ctx, "params", bytes),
            vel: storage_buffer(ctx, "vel", bytes),
        }
    }
}

/// Activations of one sub-chunk of members, per hidden layer (generic path and NTK).
pub(super) struct Scratch {
    pub(super) members: usize,
    pub(super) z: Vec<wgpu::Buffer>,
    pub(super) dphi: Vec<wgpu::Buffer>,
    pub(super) delta: Vec<wgpu::Buffer>,
}

impl Scratch {
    /// z, φ' and δ of `depth` hidden layers for `members` members of `act_bytes` each.
    pub(super) fn new(ctx: &GpuContext, depth: usize, members: usize, act_bytes: u64) -> Self {
        let layers = |label| {
            (0..depth)
                .map(|_| storage_buffer(ctx, label, act_bytes * members as u64))
                .collect()
        };
        Scratch {
            members,
            z: layers("z"),
            dphi: layers("dphi"),
            delta: layers("delta"),
        }
    }
}

/// Every buffer the ops bind.
pub(super) struct Bound<'a> {
    pub(super) chunks: &'a [Chunk],
    pub(super) scratch: &'a Scratch,
    pub(super) x: &'a wgpu::Buffer,
    pub(super) y: &'a wgpu::Buffer,
    pub(super) basis: &'a wgpu::Buffer,
    pub(super) outputs: &'a wgpu::Buffer,
    pub(super) delta_out: &'a wgpu::Buffer,
    /// E·N ones: the output gradient of f itself (NTK).
    pub(super) ones: &'a wgpu::Buffer,
    pub(super) loss: &'a wgpu::Buffer,
    /// Per-block partial sums of the forward pass.
    pub(super) partial: &'a wgpu::Buffer,
    pub(super) ring: &'a wgpu::Buffer,
    pub(super) ntk: &'a wgpu::Buffer,
}

/// Every op list of an ensemble.
pub(super) struct OpLists {
    pub(super) init: Vec<Op>,
    pub(super) train: Vec<Op>,
    pub(super) eval: Vec<Op>,
    /// Per ring slot: member_record.
    pub(super) stats: Vec<Vec<Op>>,
    pub(super) ntk: Vec<Op>,
}

pub(super) struct Builder<'a> {
    pub(super) ctx: &'a GpuContext,
    pub(super) kernels: &'a Kernels,
    pub(super) max_groups: u32,
}

impl Builder<'_> {
    /// A row grid: `x_groups` workgroups along x, and `rows` along y folded into z
    /// past the per-dimension limit (the shaders' `grid_row`).
    pub(super) fn row_grid(&self, x_groups: u32, rows: usize) -> [u32; 3] {
        let r = grid(rows as u32, self.max_groups);
        [x_groups, r[0], r[1]]
    }

    /// A 1-D dispatch of `threads` invocations (folded into 2-D past the limit).
    pub(super) fn op<T: bytemuck::Pod>(
        &self,
        k: K,
        u: &T,
        bufs: &[&wgpu::Buffer],
        threads: usize,
    ) -> Op {
        self.op_grid(
            k,
            u,
            bufs,
            grid((threads as u32).div_ceil(WG), self.max_groups),
        )
    }

    /// A dispatch with an explicit workgroup grid.
    pub(super) fn op_grid<T: bytemuck::Pod>(
        &self,
        k: K,
        u: &T,
        bufs: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) -> Op {
        let ub = uniform_buffer(self.ctx, "uniform", u);
        let mut all: Vec<&wgpu::Buffer> = vec![&ub];
        all.extend_from_slice(bufs);
        let group = self.kernels.get(k).bind(self.ctx, &all);
        Op {
            kernel: k,
            group,
            groups,
        }
    }
}

impl OpLists {
    /// Records every list: per chunk its initialisation, the fused step (when fused),
    /// and per scratch sub-chunk the generic step and the NTK; then the statistics.
    pub(super) fn build(
        b: &Builder,
        spec: &EnsembleSpec,
        sz: &Sizing,
        points: usize,
        tiles: Tiles,
        bufs: &Bound,
    ) -> Self {
        let shape = spec.shape;
        let p = sz.params_per_member;
        let blocks = sz.blocks;
        let scales = layer_scales(&shape, spec.parametrization, spec.sigma_w, spec.sigma_b);
        let layers = shape.layers();
        let out_scale = scales[shape.depth];
        let template = NetUniform {
            n_points: points as u32,
            input_dim: shape.input_dim as u32,
            width: shape.width as u32,
            depth: shape.depth as u32,
            params_per_member: p as u32,
            blocks: blocks as u32,
            lr: spec.lr as f32,
            momentum: spec.momentum as f32,
            wm_in: scales[0].wm as f32,
            bm_in: scales[0].bm as f32,
            wm_out: out_scale.wm as f32,
            bm_out: out_scale.bm as f32,
            seed_lo: spec.seed as u32,
            seed_hi: (spec.seed >> 32) as u32,
            out_b: shape.output_bias() as u32,
            rng_base: spec.first_member as u32,
            ..Default::default()
        };
        let mut init_ops = Vec::new();
        let mut train_ops = Vec::new();
        let mut eval_ops = Vec::new();
        let mut ntk_ops = Vec::new();
        for c in bufs.chunks {
            let whole = NetUniform {
                members: c.members as u32,
                member_base: c.base as u32,
                member_offset: 0,
                ..template
            };
            for (i, (l, s)) in layers.iter().zip(&scales).enumerate() {
                // The packed kernels keep hidden-to-hidden W column-blocked.
                let hidden_w_blocked = tiles.packed && i > 0 && i < shape.depth;
                for (off, count, std, blocked) in [
                    (l.w_off, l.n_in * l.n_out, s.w_std, hidden_w_blocked),
                    (l.b_off, l.n_out, s.b_std, false),
                ] {
                    let u = NetUniform {
                        w_off: off as u32,
                        count: count as u32,
                        init_std: std as f32,
                        n_in: l.n_in as u32,
                        n_out: l.n_out as u32,
                        flags: if blocked { FLAG_BLOCKED } else { 0 },
                        ..whole
                    };
                    // (parameters, members) grid, or (columns, members) for a blocked
                    // W; at most 1024 workgroups along a segment, whose invocations
                    // then stride through it.
                    let span = if blocked { l.n_in } else { count };
                    let along = span.div_ceil(WG as usize).min(1024) as u32;
                    let groups = b.row_grid(along, c.members);
                    init_ops.push(b.op_grid(K::Init, &u, &[&c.params], groups));
                }
            }
            if sz.fused {
                let forward = [
                    b.op_grid(
                        K::ForwardHidden1,
                        &whole,
                        &[&c.params, bufs.x, bufs.partial],
                        [(blocks * c.members) as u32, 1, 1],
                    ),
                    b.op(
                        K::Residual,
                        &whole,
                        &[
                            &c.params,
                            bufs.partial,
                            bufs.y,
                            bufs.outputs,
                            bufs.delta_out,
                            bufs.loss,
                        ],
                        c.members,
                    ),
                ];
                train_ops.extend(forward.iter().cloned());
                eval_ops.extend(forward);
                let neuron_groups = shape.width.div_ceil(4 * WG as usize) as u32;
                train_ops.push(b.op_grid(
                    K::UpdateHidden1,
                    &whole,
                    &[&c.params, &c.vel, bufs.x, bufs.delta_out],
                    [neuron_groups, c.members as u32, 1],
                ));
            }
            let mut off = 0;
            while off < c.members {
                let m = bufs.scratch.members.min(c.members - off);
                let sub = NetUniform {
                    members: m as u32,
                    member_base: (c.base + off) as u32,
                    member_offset: off as u32,
                    ..template
                };
                let g = Generic {
                    b,
                    shape: &shape,
                    layers: &layers,
                    scales: &scales,
                    sub,
                    m,
                    points,
                    chunk: c,
                    scratch: bufs.scratch,
                    x: bufs.x,
                    tiles,
                };
                if !sz.fused {
                    let forward = g.forward(
                        bufs.partial,
                        bufs.y,
                        bufs.outputs,
                        bufs.delta_out,
                        bufs.loss,
                    );
                    train_ops.extend(forward.iter().cloned());
                    train_ops.extend(g.train(bufs.delta_out));
                    eval_ops.extend(forward);
                }
                ntk_ops.extend(g.ntk(bufs.ones, bufs.ntk, sz.ntk_members));
                off += m;
            }
        }
        let stats_ops = (0..sz.slots)
            .map(|slot| {
                let u = StatsUniform {
                    n_points: points as u32,
                    members: spec.ensemble as u32,
                    slot: slot as u32,
                    record_size: sz.slot_floats as u32,
                };
                vec![b.op(
                    K::MemberRecord,
                    &u,
                    &[bufs.outputs, bufs.loss, bufs.y, bufs.basis, bufs.ring],
                    spec.ensemble * points,
                )]
            })
            .collect();
        OpLists {
            init: init_ops,
            train: train_ops,
            eval: eval_ops,
            stats: stats_ops,
            ntk: ntk_ops,
        }
    }
}

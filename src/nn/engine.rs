//! The GPU ensemble: buffers, pre-recorded dispatch lists, and batched read-back.
//!
//! Every dispatch of a training step is built once (pipeline, bind group, uniform,
//! workgroup count) into an op list, so encoding S steps is replaying the list S
//! times into one compute pass. Statistics are reduced on the GPU into a ring of
//! records, read back once per submission.

mod state;

use thiserror::Error;

use super::data::Dataset;
use super::layout::{
    FLAG_NO_UPDATE, FLAG_NTK_MEMBERS, FLAG_OUTPUT, LayerScale, LayerSpec, NetShape, NetUniform,
    StatsUniform, layer_scales, record_size,
};
use crate::gpu::kernel::grid;
use crate::gpu::{
    Binding, GpuContext, GpuError, Kernel, read_buffer, storage_buffer, uniform_buffer,
    upload_buffer,
};
use crate::shader_activation::act_code;
use crate::theory::{Activation, Parametrization};

#[derive(Debug, Error)]
pub enum NnError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error("{0}")]
    Invalid(String),
}

/// What the engine needs to know about the ensemble.
#[derive(Clone, Debug)]
pub struct EnsembleSpec {
    pub shape: NetShape,
    pub activation: Activation,
    pub parametrization: Parametrization,
    pub sigma_w: f64,
    pub sigma_b: f64,
    pub ensemble: usize,
    pub lr: f64,
    pub momentum: f64,
    pub seed: u64,
    /// Members per parameter buffer; default: as many as one binding holds.
    pub chunk: Option<usize>,
    /// Global index of the first member: a shard's or device's offset into the
    /// ensemble (0 for a whole one). Members are keyed by it in the RNG.
    pub first_member: usize,
    /// K: this engine's first K members, whose mode amplitudes every record keeps.
    pub member_traces: usize,
    /// Records per read-back; default: as many of `RECORD_SLOTS` as fit in
    /// `RING_BYTES` (tests set it small to exercise the extra read-backs).
    pub record_slots: Option<usize>,
    /// Cap on the bytes of the per-member NTK buffer (E·N²·4); default (None) one
    /// binding, `ctx.max_binding()`. Past it `measure_ntk` returns the mean alone (tests
    /// set 0 to exercise that fallback).
    pub ntk_member_bytes: Option<u64>,
}

/// One empirical-NTK measurement.
#[derive(Clone, Debug)]
pub struct NtkMeasurement {
    /// Σ_e Θ_e over this engine's members, N×N row-major, f64.
    pub sum: Vec<f64>,
    /// Θ_e of every member, E×N×N row-major (Θ, not Θ/N); None when E·N² floats do
    /// not fit the binding cap, and only per-position sums were accumulated.
    pub members: Option<Vec<f32>>,
}

pub use super::stats::Record;
use super::stats::RecordSums;

const WG: u32 = 64;
/// Fused one-hidden-layer kernels pack a neuron's (w, b, a) into two vec4s.
const MAX_FUSED_INPUT: usize = 6;
/// ... and stage the member's points in 16 KiB of workgroup memory.
const MAX_FUSED_POINTS: usize = 512;
/// Neurons per block of the fused forward pass.
const FORWARD_BLOCK: usize = 256;
/// Records held on the GPU between read-backs.
pub const RECORD_SLOTS: usize = 256;
/// Cap on the GPU ring of per-member records (and its equally large staging buffer).
/// It is lavapipe's binding limit; on GPUs with 2–4 GiB bindings a larger ring would
/// only hold more memory, since 128 MiB per read-back already amortises the host sync.
pub const RING_BYTES: u64 = 128 << 20;

/// Tile shapes of the register-tiled hidden-to-hidden kernels (dense_forward,
/// dense_backward, dense_gram), pipeline constants chosen per adapter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiles {
    /// Whether the dense kernels run at all: they share rows through subgroups of at
    /// least 8 lanes; without those the 4×4-tiled `hidden_*` kernels and `ntk_gram` do.
    pub dense: bool,
    /// Invocations per workgroup along the neurons (4 neurons each).
    pub wg: u32,
    /// Points per register tile (8 or 16); the fused update needs N ≤ `points`.
    pub points: u32,
    /// Invocations per workgroup of the Gram kernel (one per point j).
    pub gram_wg: u32,
}

/// Largest point tile the dense kernels unroll into registers.
pub const MAX_TILE_POINTS: usize = 16;

impl Tiles {
    /// CPU drivers run a workgroup as SIMD loops over 8-wide subgroups, where every
    /// storage load is a per-lane scalar loop while a subgroup broadcast is a register
    /// shuffle: 16-point tiles make each streamed weight feed 16 multiply-adds, and
    /// registers spill only to cache-resident stack. GPUs get 8-point tiles (the
    /// accumulators stay in registers).
    /// Depth 1 has no hidden-to-hidden layer, so its dense kernels are not built.
    pub fn for_adapter(is_cpu: bool, min_subgroup: u32, depth: usize, points: usize) -> Self {
        let cap = if is_cpu { MAX_TILE_POINTS } else { 8 };
        let tp = if points <= 8 { 8 } else { cap };
        Tiles {
            dense: min_subgroup >= 8 && depth >= 2,
            wg: 64,
            points: tp as u32,
            gram_wg: points.next_multiple_of(8).clamp(8, 64) as u32,
        }
    }
}

struct Kernels {
    init: Kernel,
    forward_hidden1: Kernel,
    residual: Kernel,
    update_hidden1: Kernel,
    layer_forward: Kernel,
    output_forward: Kernel,
    layer_backward: Kernel,
    grad_update: Kernel,
    hidden_forward: Kernel,
    hidden_backward: Kernel,
    hidden_grad_update: Kernel,
    member_record: Kernel,
    ntk_gram: Kernel,
    /// Built only when `Tiles::dense`.
    dense_forward: Option<Kernel>,
    dense_backward: Option<Kernel>,
    dense_gram: Option<Kernel>,
}

#[derive(Clone, Copy)]
enum K {
    Init,
    ForwardHidden1,
    Residual,
    UpdateHidden1,
    LayerForward,
    OutputForward,
    LayerBackward,
    GradUpdate,
    HiddenForward,
    HiddenBackward,
    HiddenGradUpdate,
    MemberRecord,
    NtkGram,
    DenseForward,
    DenseBackward,
    DenseGram,
}

impl Kernels {
    fn new(
        ctx: &GpuContext,
        act: Activation,
        input_dim: usize,
        points: usize,
        tiles: Tiles,
    ) -> Result<Self, GpuError> {
        use Binding::{Read as R, ReadWrite as W, Uniform as U};
        let a = act_code(act) as f64;
        let wg = WG as f64;
        let plain = [("WG", wg)];
        let with_act = [("WG", wg), ("ACT", a)];
        let d = input_dim.min(MAX_FUSED_INPUT) as f64;
        let fwd = [
            ("WG", wg),
            ("ACT", a),
            ("IN_DIM", d),
            ("FWD_WG", forward_wg(points) as f64),
        ];
        let upd = [("WG", wg), ("ACT", a), ("IN_DIM", d)];
        let tp = tiles.points as f64;
        let dense_fwd = [("WG", tiles.wg as f64), ("ACT", a), ("TP", tp)];
        let dense = [("WG", tiles.wg as f64), ("TP", tp)];
        let gram = [("WG", tiles.gram_wg as f64), ("TP", tp)];
        let dense_kernel = |name, bindings: &[Binding], constants: &[(&str, f64)]| {
            tiles
                .dense
                .then(|| Kernel::new(ctx, name, bindings, constants))
                .transpose()
        };
        Ok(Self {
            init: Kernel::new(ctx, "nn/init_params", &[U, W], &plain)?,
            forward_hidden1: Kernel::new(ctx, "nn/forward_hidden1", &[U, R, R, W], &fwd)?,
            residual: Kernel::new(ctx, "nn/residual", &[U, R, R, R, W, W, W], &plain)?,
            update_hidden1: Kernel::new(ctx, "nn/update_hidden1", &[U, W, W, R, R], &upd)?,
            layer_forward: Kernel::new(ctx, "nn/layer_forward", &[U, R, R, W, W], &with_act)?,
            output_forward: Kernel::new(ctx, "nn/output_forward", &[U, R, R, W], &plain)?,
            layer_backward: Kernel::new(ctx, "nn/layer_backward", &[U, R, R, R, W], &plain)?,
            grad_update: Kernel::new(ctx, "nn/grad_update", &[U, W, W, R, R], &plain)?,
            hidden_forward: Kernel::new(ctx, "nn/hidden_forward", &[U, R, R, W, W], &with_act)?,
            hidden_backward: Kernel::new(ctx, "nn/hidden_backward", &[U, R, R, R, W], &plain)?,
            hidden_grad_update: Kernel::new(
                ctx,
                "nn/hidden_grad_update",
                &[U, W, W, R, R],
                &plain,
            )?,
            member_record: Kernel::new(ctx, "nn/member_record", &[U, R, R, R, R, W], &plain)?,
            ntk_gram: Kernel::new(ctx, "nn/ntk_gram", &[U, R, R, R, W], &plain)?,
            dense_forward: dense_kernel("nn/dense_forward", &[U, R, R, W, W], &dense_fwd)?,
            dense_backward: dense_kernel("nn/dense_backward", &[U, W, W, R, R, R, W], &dense)?,
            dense_gram: dense_kernel("nn/dense_gram", &[U, R, R, R, W], &gram)?,
        })
    }

    fn get(&self, k: K) -> &Kernel {
        match k {
            K::Init => &self.init,
            K::ForwardHidden1 => &self.forward_hidden1,
            K::Residual => &self.residual,
            K::UpdateHidden1 => &self.update_hidden1,
            K::LayerForward => &self.layer_forward,
            K::OutputForward => &self.output_forward,
            K::LayerBackward => &self.layer_backward,
            K::GradUpdate => &self.grad_update,
            K::HiddenForward => &self.hidden_forward,
            K::HiddenBackward => &self.hidden_backward,
            K::HiddenGradUpdate => &self.hidden_grad_update,
            K::MemberRecord => &self.member_record,
            K::NtkGram => &self.ntk_gram,
            K::DenseForward => self.dense_forward.as_ref().expect("dense kernels built"),
            K::DenseBackward => self.dense_backward.as_ref().expect("dense kernels built"),
            K::DenseGram => self.dense_gram.as_ref().expect("dense kernels built"),
        }
    }
}

/// One pre-built dispatch (cloning shares its uniform and bind group).
#[derive(Clone)]
struct Op {
    kernel: K,
    group: wgpu::BindGroup,
    groups: [u32; 3],
}

/// Members sharing one parameter buffer.
struct Chunk {
    base: usize,
    members: usize,
    params: wgpu::Buffer,
    vel: wgpu::Buffer,
}

/// Activations of one sub-chunk of members, per hidden layer (generic path and NTK).
struct Scratch {
    members: usize,
    z: Vec<wgpu::Buffer>,
    dphi: Vec<wgpu::Buffer>,
    delta: Vec<wgpu::Buffer>,
}

pub struct Ensemble {
    ctx: GpuContext,
    spec: EnsembleSpec,
    points: usize,
    params_per_member: usize,
    kernels: Kernels,
    chunks: Vec<Chunk>,
    outputs: wgpu::Buffer,
    loss: wgpu::Buffer,
    /// Per-member values of `slots` recorded steps (layout in shaders/shared/nn_stats).
    ring: wgpu::Buffer,
    /// Floats per ring slot, E·(2N + 1).
    slot_floats: usize,
    /// Records per read-back: `RECORD_SLOTS`, or fewer when the ring is shorter.
    slots: usize,
    /// The targets, for the statistics of the residuals.
    y: Vec<f64>,
    ntk: wgpu::Buffer,
    /// Whether `ntk` holds one N×N per member (else one sum per sub-chunk position).
    ntk_members: bool,
    init_ops: Vec<Op>,
    train_ops: Vec<Op>,
    eval_ops: Vec<Op>,
    /// Per slot: member_record.
    stats_ops: Vec<Vec<Op>>,
    ntk_ops: Vec<Op>,
    fused: bool,
    scratch_members: usize,
}

impl Ensemble {
    /// Allocates everything and records the op lists; parameters are drawn by `initialize`.
    pub fn new(
        ctx: &GpuContext,
        spec: &EnsembleSpec,
        data: &Dataset,
        basis: &[Vec<f64>],
    ) -> Result<Self, NnError> {
        let shape = spec.shape;
        let points = data.points();
        if !shape.width.is_multiple_of(4) {
            return Err(NnError::Invalid(format!(
                "--width must be a multiple of 4 (got {}): the kernels read rows as vec4",
                shape.width
            )));
        }
        let e = spec.ensemble;
        let p = shape.params_per_member();
        let max = ctx.max_binding();
        let member_bytes = 4 * p as u64;
        if member_bytes > max {
            return Err(GpuError::TooLarge {
                what: format!("one member's {p} parameters"),
                bytes: member_bytes,
                limit: max,
                hint: "reduce --width or --depth".into(),
            }
            .into());
        }
        // The fused forward pass dispatches (blocks × members) groups along x: a
        // chunk stays within the per-dimension limit (E = 2²¹ at width 8 was a raw
        // validation error).
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension as usize;
        let blocks = shape.width.div_ceil(FORWARD_BLOCK).max(1);
        let per_chunk = ((max / member_bytes) as usize)
            .min(e)
            .min(spec.chunk.unwrap_or(usize::MAX))
            .min((max_dim / blocks).max(1))
            .max(1);
        // Per-member activation tensor of one hidden layer: N·n floats.
        let act_bytes = 4 * (points * shape.width) as u64;
        if act_bytes > max {
            return Err(GpuError::TooLarge {
                what: format!("one member's activations on {points} points"),
                bytes: act_bytes,
                limit: max,
                hint: "reduce --points or --width".into(),
            }
            .into());
        }
        // Keep all scratch within ~1 GiB whatever the depth.
        let budget = (1u64 << 30) / (3 * shape.depth as u64);
        // The NTK buffer holds one N×N sum per sub-chunk position, so it bounds S too.
        let ntk_bytes = 4 * (points * points) as u64;
        let scratch_members =
            ((max.min(budget) / act_bytes).min(max / ntk_bytes) as usize).clamp(1, per_chunk);
        let fused =
            shape.depth == 1 && shape.input_dim <= MAX_FUSED_INPUT && points <= MAX_FUSED_POINTS;
        let blocks = if fused {
            shape.width.div_ceil(FORWARD_BLOCK)
        } else {
            1
        };
        for (what, n) in [
            ("ensemble × points × blocks", e * points * blocks),
            ("parameters in one chunk", per_chunk * p),
        ] {
            if n >= u32::MAX as usize / 2 {
                return Err(NnError::Invalid(format!(
                    "{what} = {n} exceeds the 32-bit index range; reduce --ensemble or --width"
                )));
            }
        }

        // Refuse what cannot fit before allocating anything: parameters and velocities
        // (2·4·P bytes per member) plus per-member outputs and NTK slots, and the
        // shared scratch activations.
        if let Some(budget) = device_memory(ctx) {
            let per_member = 8 * p as u64
                + f32s_of(points * (4 + blocks))
                + if e * points * points * 4 <= max as usize {
                    f32s_of(points * points)
                } else {
                    0
                };
            let fixed = 3 * shape.depth as u64 * scratch_members as u64 * act_bytes
                + 2 * max.min(RING_BYTES);
            let need = per_member * e as u64 + fixed;
            if need > budget {
                let fits = budget.saturating_sub(fixed) / per_member;
                let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
                return Err(NnError::Invalid(format!(
                    "--ensemble {e} at --depth {} --width {} needs {:.1} GiB of device memory, \
                     more than the adapter's {:.1} GiB; the largest ensemble that fits is {fits}",
                    shape.depth,
                    shape.width,
                    gib(need),
                    gib(budget)
                )));
            }
        }
        let tiles = Tiles::for_adapter(
            ctx.is_cpu(),
            if ctx.has_subgroups() {
                ctx.adapter.min_subgroup_size
            } else {
                0
            },
            shape.depth,
            points,
        );
        let kernels = Kernels::new(ctx, spec.activation, shape.input_dim, points, tiles)?;
        let scales = layer_scales(&shape, spec.parametrization, spec.sigma_w, spec.sigma_b);
        let layers = shape.layers();

        let xs: Vec<f32> = data.x.iter().flatten().map(|&v| v as f32).collect();
        let ys: Vec<f32> = data.y.iter().map(|&v| v as f32).collect();
        let bs: Vec<f32> = basis.iter().flatten().map(|&v| v as f32).collect();
        let x_buf = upload_buffer(ctx, "x", &xs);
        let y_buf = upload_buffer(ctx, "y", &ys);
        let basis_buf = upload_buffer(ctx, "basis", &bs);
        let f32s = |n: usize| 4 * n as u64;
        let outputs = storage_buffer(ctx, "outputs", f32s(e * points));
        let delta_out = storage_buffer(ctx, "delta_out", f32s(e * points));
        let ones = upload_buffer(ctx, "ones", &vec![1.0f32; e * points]);
        let loss = storage_buffer(ctx, "loss", f32s(e));
        let partial = storage_buffer(ctx, "partial", f32s(e * points * blocks));
        let k = spec.member_traces;
        if k > e {
            return Err(NnError::Invalid(format!(
                "--member-traces {k} exceeds --ensemble {e}: at most every member can be traced"
            )));
        }
        // The ring holds `slots` records of every member's values in one binding:
        // the host sums them in f64 (see nn::stats). One read-back per `slots`
        // records, never one per step; only a single record past a binding is refused.
        let slot_floats = record_size(points, e);
        let slot_bytes = f32s(slot_floats);
        let ring_cap = max.min(RING_BYTES);
        if slot_bytes > ring_cap {
            return Err(GpuError::TooLarge {
                what: format!("one record of {e} members on {points} points"),
                bytes: slot_bytes,
                limit: ring_cap,
                hint: "split the ensemble with --shard or --devices".into(),
            }
            .into());
        }
        let slots = ((ring_cap / slot_bytes) as usize)
            .min(spec.record_slots.unwrap_or(RECORD_SLOTS))
            .clamp(1, RECORD_SLOTS);
        let ring = storage_buffer(ctx, "ring", slot_bytes * slots as u64);
        // One NTK per member when all fit one binding: members' Θ_e differ by
        // O(n^{-1/2}) and drift by O(n^{-1/2}), which the mean (moving O(1/n)) hides.
        // Otherwise sums per sub-chunk position, added up on the host (the mean only).
        let ntk_members =
            f32s(e * points * points) <= max.min(spec.ntk_member_bytes.unwrap_or(u64::MAX));
        let ntk_slots = if ntk_members { e } else { scratch_members };
        let ntk = storage_buffer(ctx, "ntk", f32s(ntk_slots * points * points));
        let scratch = Scratch {
            members: scratch_members,
            z: (0..shape.depth)
                .map(|_| storage_buffer(ctx, "z", act_bytes * scratch_members as u64))
                .collect(),
            dphi: (0..shape.depth)
                .map(|_| storage_buffer(ctx, "dphi", act_bytes * scratch_members as u64))
                .collect(),
            delta: (0..shape.depth)
                .map(|_| storage_buffer(ctx, "delta", act_bytes * scratch_members as u64))
                .collect(),
        };

        let mut chunks = Vec::new();
        let mut base = 0;
        while base < e {
            let members = per_chunk.min(e - base);
            let bytes = member_bytes * members as u64;
            chunks.push(Chunk {
                base,
                members,
                params: storage_buffer(ctx, "params", bytes),
                vel: storage_buffer(ctx, "vel", bytes),
            });
            base += members;
        }

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
        let b = Builder {
            ctx,
            kernels: &kernels,
            max_groups: ctx.limits.max_compute_workgroups_per_dimension,
        };
        let mut init_ops = Vec::new();
        let mut train_ops = Vec::new();
        let mut eval_ops = Vec::new();
        let mut ntk_ops = Vec::new();
        for c in &chunks {
            let whole = NetUniform {
                members: c.members as u32,
                member_base: c.base as u32,
                member_offset: 0,
                ..template
            };
            for (l, s) in layers.iter().zip(&scales) {
                for (off, count, std) in [
                    (l.w_off, l.n_in * l.n_out, s.w_std),
                    (l.b_off, l.n_out, s.b_std),
                ] {
                    let u = NetUniform {
                        w_off: off as u32,
                        count: count as u32,
                        init_std: std as f32,
                        ..whole
                    };
                    let threads = (count * c.members).min(1 << 22);
                    init_ops.push(b.op(K::Init, &u, &[&c.params], threads));
                }
            }
            if fused {
                let forward = [
                    b.op_grid(
                        K::ForwardHidden1,
                        &whole,
                        &[&c.params, &x_buf, &partial],
                        [(blocks * c.members) as u32, 1, 1],
                    ),
                    b.op(
                        K::Residual,
                        &whole,
                        &[&c.params, &partial, &y_buf, &outputs, &delta_out, &loss],
                        c.members,
                    ),
                ];
                train_ops.extend(forward.iter().cloned());
                eval_ops.extend(forward);
                let neuron_groups = shape.width.div_ceil(4 * WG as usize) as u32;
                train_ops.push(b.op_grid(
                    K::UpdateHidden1,
                    &whole,
                    &[&c.params, &c.vel, &x_buf, &delta_out],
                    [neuron_groups, c.members as u32, 1],
                ));
            }
            let mut off = 0;
            while off < c.members {
                let m = scratch.members.min(c.members - off);
                let sub = NetUniform {
                    members: m as u32,
                    member_base: (c.base + off) as u32,
                    member_offset: off as u32,
                    ..template
                };
                let g = Generic {
                    b: &b,
                    shape: &shape,
                    layers: &layers,
                    scales: &scales,
                    sub,
                    m,
                    points,
                    chunk: c,
                    scratch: &scratch,
                    x: &x_buf,
                    tiles,
                };
                if !fused {
                    let forward = g.forward(&partial, &y_buf, &outputs, &delta_out, &loss);
                    train_ops.extend(forward.iter().cloned());
                    train_ops.extend(g.train(&delta_out));
                    eval_ops.extend(forward);
                }
                ntk_ops.extend(g.ntk(&ones, &ntk, ntk_members));
                off += m;
            }
        }
        let stats_ops = (0..slots)
            .map(|slot| {
                let u = StatsUniform {
                    n_points: points as u32,
                    members: e as u32,
                    slot: slot as u32,
                    record_size: slot_floats as u32,
                };
                vec![b.op(
                    K::MemberRecord,
                    &u,
                    &[&outputs, &loss, &y_buf, &basis_buf, &ring],
                    e * points,
                )]
            })
            .collect();
        ctx.check()?;
        Ok(Self {
            ctx: ctx.clone(),
            spec: spec.clone(),
            points,
            params_per_member: p,
            kernels,
            chunks,
            outputs,
            loss,
            ring,
            slot_floats,
            slots,
            y: data.y.clone(),
            ntk,
            ntk_members,
            init_ops,
            train_ops,
            eval_ops,
            stats_ops,
            ntk_ops,
            fused,
            scratch_members,
        })
    }

    /// Whether the fused one-hidden-layer kernels are in use.
    pub fn is_fused(&self) -> bool {
        self.fused
    }

    /// Members per parameter chunk, for reports.
    pub fn chunk_sizes(&self) -> Vec<usize> {
        self.chunks.iter().map(|c| c.members).collect()
    }

    pub fn params_per_member(&self) -> usize {
        self.params_per_member
    }

    /// Members whose mode amplitudes each record carries (K).
    pub fn member_traces(&self) -> usize {
        self.spec.member_traces
    }

    /// Records per read-back (`RECORD_SLOTS` unless the ring is shorter).
    pub fn record_slots(&self) -> usize {
        self.slots
    }

    /// Dispatches per training step.
    pub fn dispatches_per_step(&self) -> usize {
        self.train_ops.len()
    }

    fn encode(&self, enc: &mut wgpu::CommandEncoder, ops: &[&Op]) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("nn"),
            timestamp_writes: None,
        });
        for op in ops {
            self.kernels
                .get(op.kernel)
                .dispatch(&mut pass, &op.group, op.groups);
        }
    }

    /// Draws the parameters of every member and zeroes the velocities.
    pub fn initialize(&self) -> Result<(), NnError> {
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        for c in &self.chunks {
            enc.clear_buffer(&c.vel, 0, None);
        }
        self.encode(&mut enc, &self.init_ops.iter().collect::<Vec<_>>());
        self.ctx.queue.submit([enc.finish()]);
        self.ctx.wait()?;
        Ok(())
    }

    /// Runs steps `start..end`, recording the statistics of every step s with
    /// `record(s)` (taken on f(θ_s), before that step's update), plus the statistics at
    /// `end` when `record(end)`. One submission and one read-back of records and traces
    /// per `record_slots()` records (so normally one for the whole segment).
    pub fn run_segment(
        &self,
        start: usize,
        end: usize,
        record: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Record>, NnError> {
        let mut out = Vec::new();
        let mut ops: Vec<&Op> = Vec::new();
        let mut steps = Vec::new();
        for s in start..=end {
            if s < end {
                ops.extend(self.train_ops.iter());
            } else if record(end) {
                ops.extend(self.eval_ops.iter());
            }
            if record(s) {
                ops.extend(self.stats_ops[steps.len()].iter());
                steps.push(s);
                // Ring full: read it back before its slots are reused.
                if steps.len() == self.slots {
                    self.flush(&ops, &steps, &mut out)?;
                    ops.clear();
                    steps.clear();
                }
            }
        }
        if !ops.is_empty() || out.is_empty() {
            self.flush(&ops, &steps, &mut out)?;
        }
        Ok(out)
    }

    /// Submits `ops` and reads back the records (and traces) of `steps`, in slot order.
    fn flush(&self, ops: &[&Op], steps: &[usize], out: &mut Vec<Record>) -> Result<(), NnError> {
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        self.encode(&mut enc, ops);
        self.ctx.queue.submit([enc.finish()]);
        if steps.is_empty() {
            self.ctx.wait()?;
            return Ok(());
        }
        let n = self.points;
        let e = self.spec.ensemble;
        let fs = self.slot_floats;
        let ring: Vec<f32> = read_buffer(&self.ctx, &self.ring, 0, steps.len() * fs)?;
        let kn = self.spec.member_traces * n;
        out.extend(steps.iter().zip(ring.chunks_exact(fs)).map(|(&step, r)| {
            let (c, rest) = r.split_at(e * n);
            let (f, loss) = rest.split_at(e * n);
            let sums = RecordSums::of_members(c, f, loss, &self.y);
            Record::new(step, sums, &self.y, c[..kn].to_vec())
        }));
        Ok(())
    }

    /// Whether `measure_ntk` returns every member's NTK (E·N² floats fit the cap).
    pub fn has_member_ntks(&self) -> bool {
        self.ntk_members
    }

    /// The empirical NTK at the current parameters: the ensemble mean, and every
    /// member's Θ_e when they fit one binding. One submission, one read-back.
    pub fn measure_ntk(&self) -> Result<NtkMeasurement, NnError> {
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        enc.clear_buffer(&self.ntk, 0, None);
        self.encode(&mut enc, &self.ntk_ops.iter().collect::<Vec<_>>());
        self.ctx.queue.submit([enc.finish()]);
        let n2 = self.points * self.points;
        let slots = if self.ntk_members {
            self.spec.ensemble
        } else {
            self.scratch_members
        };
        let raw: Vec<f32> = read_buffer(&self.ctx, &self.ntk, 0, slots * n2)?;
        let mut mean = vec![0.0; n2];
        for member in raw.chunks(n2) {
            for (acc, v) in mean.iter_mut().zip(member) {
                *acc += *v as f64;
            }
        }
        Ok(NtkMeasurement {
            sum: mean,
            members: self.ntk_members.then_some(raw),
        })
    }

    /// One member's parameters (for tests and diagnostics).
    pub fn read_params(&self, member: usize) -> Result<Vec<f32>, NnError> {
        let c = self
            .chunks
            .iter()
            .find(|c| member >= c.base && member < c.base + c.members)
            .ok_or_else(|| NnError::Invalid(format!("member {member} out of range")))?;
        let p = self.params_per_member;
        Ok(read_buffer(
            &self.ctx,
            &c.params,
            ((member - c.base) * p) as u64,
            p,
        )?)
    }

    /// Outputs f of every member from the latest forward pass, [member][point].
    pub fn read_outputs(&self) -> Result<Vec<f32>, NnError> {
        Ok(read_buffer(
            &self.ctx,
            &self.outputs,
            0,
            self.spec.ensemble * self.points,
        )?)
    }

    /// Per-member losses from the latest forward pass.
    pub fn read_loss(&self) -> Result<Vec<f32>, NnError> {
        Ok(read_buffer(&self.ctx, &self.loss, 0, self.spec.ensemble)?)
    }
}

struct Builder<'a> {
    ctx: &'a GpuContext,
    kernels: &'a Kernels,
    max_groups: u32,
}

impl Builder<'_> {
    /// A 1-D dispatch of `threads` invocations (folded into 2-D past the limit).
    fn op<T: bytemuck::Pod>(&self, k: K, u: &T, bufs: &[&wgpu::Buffer], threads: usize) -> Op {
        self.op_grid(
            k,
            u,
            bufs,
            grid((threads as u32).div_ceil(WG), self.max_groups),
        )
    }

    /// A dispatch with an explicit workgroup grid.
    fn op_grid<T: bytemuck::Pod>(
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

fn f32s_of(n: usize) -> u64 {
    4 * n as u64
}

/// Memory a CPU adapter can use: the host's physical memory. None on GPUs, whose
/// memory wgpu does not report (an allocation past it fails as a device error).
fn device_memory(ctx: &GpuContext) -> Option<u64> {
    if !ctx.is_cpu() {
        return None;
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Workgroup size of the fused forward pass: one invocation per two points, in
/// whole SIMD groups of 8, at most 256.
fn forward_wg(points: usize) -> u32 {
    (points.div_ceil(2).next_multiple_of(8)).clamp(8, 256) as u32
}

/// Op builders of the stored-activation path for one sub-chunk of members.
struct Generic<'a> {
    b: &'a Builder<'a>,
    shape: &'a NetShape,
    layers: &'a [LayerSpec],
    scales: &'a [LayerScale],
    sub: NetUniform,
    m: usize,
    points: usize,
    chunk: &'a Chunk,
    scratch: &'a Scratch,
    x: &'a wgpu::Buffer,
    tiles: Tiles,
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
                    let groups = self.tiled_grid(n / 4, self.tiles.wg);
                    self.b.op_grid(K::DenseForward, &u, &bufs, groups)
                } else if l > 0 {
                    self.b
                        .op(K::HiddenForward, &u, &bufs, m * np.div_ceil(4) * (n / 4))
                } else {
                    self.b.op(K::LayerForward, &u, &bufs, m * np * n)
                }
            })
            .collect()
    }

    fn forward(
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
                ops.push(self.b.op(K::LayerBackward, &u, &bufs, m * np * n));
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
            let groups = self.tiled_grid(n / 4, self.tiles.wg);
            ops.push(self.b.op_grid(K::DenseBackward, &u, &bufs, groups));
        }
        ops
    }

    /// Workgroups of a register-tiled kernel: `lanes` invocations along x in groups of
    /// `wg`, and (member, point tile) pairs along y, folded into z past the limit.
    fn tiled_grid(&self, lanes: usize, wg: u32) -> [u32; 3] {
        let tiles = self.points.div_ceil(self.tiles.points as usize);
        let rows = grid((self.m * tiles) as u32, self.b.max_groups);
        [(lanes as u32).div_ceil(wg), rows[0], rows[1]]
    }

    /// A training step after the forward pass. When the point tile holds every point,
    /// the hidden-to-hidden layers are updated inside the backward pass (one read and
    /// write of W and v); otherwise δ is propagated first and every layer updated after.
    fn train(&self, delta_out: &wgpu::Buffer) -> Vec<Op> {
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
                } else {
                    self.b.op(
                        K::GradUpdate,
                        &u,
                        &bufs,
                        self.m * spec.n_out * (spec.n_in + 1),
                    )
                }
            })
            .collect()
    }

    /// Forward with stored activations, backward of f itself, then Θ per layer.
    fn ntk(&self, ones: &wgpu::Buffer, ntk: &wgpu::Buffer, per_member: bool) -> Vec<Op> {
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

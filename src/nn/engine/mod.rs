//! The GPU ensemble: buffers, pre-recorded dispatch lists, and batched read-back.
//!
//! Every dispatch of a training step is built once (pipeline, bind group, uniform,
//! workgroup count) into an op list, so encoding S steps is replaying the list S
//! times into one compute pass. Statistics are reduced on the GPU into a ring of
//! records, read back once per submission.
//!
//! `sizing` lays the ensemble out on the adapter (and refuses what cannot fit),
//! `kernels` holds the kernel table, `ops` and `generic` record the op lists.

mod generic;
mod kernels;
mod ops;
mod sizing;
mod state;

use thiserror::Error;

use super::data::Dataset;
use super::layout::NetShape;
use crate::gpu::{GpuContext, GpuError, read_buffer, storage_buffer, upload_buffer};
use crate::theory::{Activation, Parametrization};
use kernels::Kernels;
pub use kernels::{MAX_TILE_POINTS, Tiles};
use ops::{Bound, Builder, Chunk, Op, OpLists, Scratch};
pub use sizing::{AdapterLimits, Sizing};

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

pub struct Ensemble {
    ctx: GpuContext,
    spec: EnsembleSpec,
    points: usize,
    params_per_member: usize,
    /// Whether the hidden-to-hidden W and v are stored column-blocked
    /// (`layout::Blocked`); reads and writes from the host convert to rows.
    blocked: bool,
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
    ops: OpLists,
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
        let e = spec.ensemble;
        // Every refusal comes before anything is built or allocated.
        let limits = AdapterLimits::of(ctx);
        let sz = Sizing::new(spec, points, &limits)?;
        let tiles = Tiles::for_adapter(
            ctx.is_cpu(),
            ctx.has_int64(),
            limits.subgroups,
            shape,
            points,
        );
        let kernels = Kernels::new(ctx, spec.activation, shape.input_dim, points, tiles)?;

        // x and the output gradient are padded to whole vec4s: grad_update
        // reads them through a vec4 view, which ends at the last whole vec4.
        let vec4s = |n: usize| n.next_multiple_of(4);
        let mut xs: Vec<f32> = data.x.iter().flatten().map(|&v| v as f32).collect();
        xs.resize(vec4s(xs.len()), 0.0);
        let ys: Vec<f32> = data.y.iter().map(|&v| v as f32).collect();
        let bs: Vec<f32> = basis.iter().flatten().map(|&v| v as f32).collect();
        let x_buf = upload_buffer(ctx, "x", &xs);
        let y_buf = upload_buffer(ctx, "y", &ys);
        let basis_buf = upload_buffer(ctx, "basis", &bs);
        let f32s = |n: usize| 4 * n as u64;
        let outputs = storage_buffer(ctx, "outputs", f32s(e * points));
        let delta_out = storage_buffer(ctx, "delta_out", f32s(vec4s(e * points)));
        let ones = upload_buffer(ctx, "ones", &vec![1.0f32; e * points]);
        let loss = storage_buffer(ctx, "loss", f32s(e));
        let partial = storage_buffer(ctx, "partial", f32s(e * points * sz.blocks));
        let ring = storage_buffer(ctx, "ring", f32s(sz.slot_floats) * sz.slots as u64);
        let ntk = storage_buffer(ctx, "ntk", f32s(sz.ntk_slots(e) * points * points));
        let scratch = Scratch::new(ctx, shape.depth, sz.scratch_members, sz.act_bytes);
        let chunks: Vec<Chunk> = sz
            .chunks(e)
            .into_iter()
            .map(|(base, members)| Chunk::new(ctx, base, members, sz.member_bytes))
            .collect();

        let builder = Builder {
            ctx,
            kernels: &kernels,
            max_groups: ctx.limits.max_compute_workgroups_per_dimension,
        };
        let bufs = Bound {
            chunks: &chunks,
            scratch: &scratch,
            x: &x_buf,
            y: &y_buf,
            basis: &basis_buf,
            outputs: &outputs,
            delta_out: &delta_out,
            ones: &ones,
            loss: &loss,
            partial: &partial,
            ring: &ring,
            ntk: &ntk,
        };
        let ops = OpLists::build(&builder, spec, &sz, points, tiles, &bufs);
        ctx.check()?;
        Ok(Self {
            ctx: ctx.clone(),
            spec: spec.clone(),
            points,
            params_per_member: sz.params_per_member,
            blocked: tiles.packed,
            kernels,
            chunks,
            outputs,
            loss,
            ring,
            slot_floats: sz.slot_floats,
            slots: sz.slots,
            y: data.y.clone(),
            ntk,
            ntk_members: sz.ntk_members,
            ops,
            fused: sz.fused,
            scratch_members: sz.scratch_members,
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
        self.ops.train.len()
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

    /// Seconds per dispatch of one training step, each op encoded `reps` times into
    /// its own submission and waited for (so the sum exceeds a pipelined step by
    /// the submissions' overhead); for `bench nn --profile`.
    pub fn profile_step(&self, reps: usize) -> Result<Vec<(&'static str, f64)>, NnError> {
        let reps = reps.max(1);
        let mut out = Vec::new();
        for op in &self.ops.train {
            let t = std::time::Instant::now();
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            self.encode(&mut enc, &vec![op; reps]);
            self.ctx.queue.submit([enc.finish()]);
            self.ctx.wait()?;
            out.push((
                kernels::name(op.kernel),
                t.elapsed().as_secs_f64() / reps as f64,
            ));
        }
        Ok(out)
    }

    /// Draws the parameters of every member and zeroes the velocities.
    pub fn initialize(&self) -> Result<(), NnError> {
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        for c in &self.chunks {
            enc.clear_buffer(&c.vel, 0, None);
        }
        self.encode(&mut enc, &self.ops.init.iter().collect::<Vec<_>>());
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
                ops.extend(self.ops.train.iter());
            } else if record(end) {
                ops.extend(self.ops.eval.iter());
            }
            if record(s) {
                ops.extend(self.ops.stats[steps.len()].iter());
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
        self.encode(&mut enc, &self.ops.ntk.iter().collect::<Vec<_>>());
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
        let mut v = read_buffer(&self.ctx, &c.params, ((member - c.base) * p) as u64, p)?;
        self.to_rows(&mut v);
        Ok(v)
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

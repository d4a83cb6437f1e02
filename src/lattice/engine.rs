//! The GPU engine: the field buffers and their set-up, uploads and read-backs. Steps
//! are recorded many per submission; the only read-backs are the reduced observables
//! and, at output steps, the field for P(k).
//!
//! F uncoupled fields share the grid and the background: they are stacked
//! field-major in the same buffers (field b at b·N³) and every kernel takes b from
//! the workgroup's z index, so one dispatch per unit evolves them all; each field's
//! m² (and the shift of its sums) lives in the small `fields` buffer.
//!
//! The rest of `Lattice` lives beside this file, one concern each: `kernels` (which
//! kick–drift kernel, its bind groups), `energy` (recording units, the flux
//! integral and energy residual, the reductions), `initial` (noise and the initial
//! fields), `coupled` (mass matrices), `run` (the driver loop) and `results` (what a
//! run produces).

pub mod state;

use bytemuck::Zeroable;

use super::LatticeError;
use super::coupled::Coupled;
use super::energy::energy_slots;
use super::kernels::{
    ReduceParams, SLOTS, StepParams, kd_kernel, kd_shape, reduce_kernel, step_groups,
};
use super::scheme::Stepper;
use super::spectrum::ModeTable;
use super::theory::ClassSums;
use crate::config::ConfigError;
use crate::config::lattice::LatticeConfig;
use crate::gpu::{Binding, GpuContext, GpuError, Kernel, kernel::grid, read_buffer, shaders};

// The paths these items had when they lived in this file.
pub use super::coupled::MAX_COUPLED_FIELDS;
pub use super::energy::{energy_residuals, energy_scale, unit_flux};
pub use super::initial::NoiseParams;
pub use super::kernels::{KickDrift, kd_segment};
pub use super::results::{
    BackgroundRow, Divergence, FieldRow, LatticeResults, Observables, SpectrumRow, Timings,
};
pub use super::run::RunProgress;

/// Largest N with N³ f32 values in one binding (with F fields, `max_grid(limit / F)`).
pub fn max_grid(max_binding: u64) -> usize {
    let mut n = (max_binding as f64 / 4.0).cbrt() as usize + 1;
    while n > 0 && (n as u64).pow(3) * 4 > max_binding {
        n -= 1;
    }
    n
}

pub struct Lattice {
    pub(super) ctx: GpuContext,
    pub cfg: LatticeConfig,
    pub n: usize,
    /// The number of fields F, and each one's m².
    pub fields: usize,
    pub m2s: Vec<f64>,
    pub(super) kd: Kernel,
    /// The kick–drift kernel in use.
    pub kernel: KickDrift,
    pub(super) reduce: Kernel,
    pub(super) noise: Kernel,
    pub(super) phi: [wgpu::Buffer; 2],
    pub(super) pi: wgpu::Buffer,
    /// Per field (m², shift, 0, 0), read by every kernel.
    pub(super) field_params: wgpu::Buffer,
    pub(super) fold: Kernel,
    /// Energy sums of up to `energy_slots` units × F fields, read back in one batch.
    pub(super) energy: wgpu::Buffer,
    pub(super) energy_slots: usize,
    pub(super) fold_groups: Vec<wgpu::BindGroup>,
    pub(super) kd_parts: u32,
    pub(super) energy_parts: wgpu::Buffer,
    /// The mass matrices and their force kernel, after `set_mass_matrices`.
    pub(super) coupled: Option<Coupled>,
    /// ∫3H·a³p dt from t = 0 to now, per field.
    pub flux: Vec<f64>,
    pub(super) step_uniform: wgpu::Buffer,
    pub(super) stride: u64,
    pub(super) step_groups: Vec<[wgpu::BindGroup; 2]>,
    pub(super) reduce_uniform: wgpu::Buffer,
    pub(super) partials: wgpu::Buffer,
    pub(super) reduce_groups: [wgpu::BindGroup; 2],
    /// Reduction workgroups per field.
    pub(super) reduce_wgs: u32,
    pub(super) kd_wgs: [u32; 3],
    pub(super) cur: usize,
    pub(super) stepper: Stepper,
    pub t: f64,
    pub step: usize,
    /// Per field: the shift of the reduction and the energy sums (the mean at the
    /// last output), which keeps Var φ and the gradient sum well conditioned in f32.
    pub(super) shifts: Vec<f64>,
    pub table: ModeTable,
    /// Per field: the initial data's class sums for the theory line.
    pub(super) sums: Option<Vec<ClassSums>>,
}

/// The error for F fields of N³ sites that do not fit one binding of `limit` bytes.
pub(crate) fn too_large(n: usize, fields: usize, limit: u64) -> LatticeError {
    let bytes = (fields as u64)
        .saturating_mul((n as u64).saturating_pow(3))
        .saturating_mul(4);
    let nmax = max_grid(limit);
    let (what, hint) = if fields == 1 {
        (
            format!("a {n}³ field (--grid {n})"),
            format!("the largest grid this adapter can hold is --grid {nmax}"),
        )
    } else {
        let fmax = limit / (n as u64).saturating_pow(3).saturating_mul(4);
        let hint = if fmax == 0 {
            format!(
                "even one {n}³ field is too large: the largest grid this adapter can hold is --grid {nmax}"
            )
        } else {
            format!(
                "at --grid {n} at most --fields {fmax} fit; with --fields {fields} the largest grid is --grid {}",
                max_grid(limit / fields as u64)
            )
        };
        (
            format!("{fields} fields of {n}³ (--fields {fields} --grid {n})"),
            hint,
        )
    };
    GpuError::TooLarge {
        what,
        bytes,
        limit,
        hint,
    }
    .into()
}

impl Lattice {
    /// Buffers and kernels for `cfg`; every field starts homogeneous (φ_init, φ̇_init).
    pub fn new(ctx: &GpuContext, cfg: &LatticeConfig) -> Result<Self, LatticeError> {
        Self::with_kernel(ctx, cfg, KickDrift::auto(ctx, cfg.grid))
    }

    /// As `new`, with the kick–drift kernel chosen by the caller (tests run each
    /// kernel on one device).
    pub fn with_kernel(
        ctx: &GpuContext,
        cfg: &LatticeConfig,
        kernel: KickDrift,
    ) -> Result<Self, LatticeError> {
        cfg.check_fields()?;
        cfg.check_courant()?;
        let n = cfg.grid;
        let nf = cfg.fields;
        let max_dim = ctx.limits.max_compute_workgroups_per_dimension;
        if nf > max_dim as usize {
            return Err(ConfigError::invalid(
                "fields",
                format!(
                    "is {nf}, but this adapter dispatches at most {max_dim} workgroups along z, which hold one field each"
                ),
            )
            .into());
        }
        // Saturating: a grid whose size wraps u64 is simply too large.
        let sites = (n as u64).saturating_pow(3);
        let bytes = (nf as u64).saturating_mul(sites).saturating_mul(4);
        let limit = ctx.max_binding();
        if bytes > limit {
            return Err(too_large(n, nf, limit));
        }
        let (invocations, wg) = kd_shape(ctx, kernel, n);
        let kd = kd_kernel(ctx, cfg, kernel, false)?;
        let reduce = reduce_kernel(ctx, cfg, false)?;
        let noise = Kernel::new(
            ctx,
            "lattice/ic_noise",
            &[Binding::Uniform, Binding::ReadWrite],
            &[("WG", 64.0)],
        )?;
        // The reduction's workgroup size has one source: the shader.
        let module = shaders::validate(&shaders::preprocess("lattice/reduce")?)?;
        let rwg = module.entry_points[0].workgroup_size[0];
        let cols = (n * n) as u32;
        // x and y cover one field; z = the field.
        let mut kd_wgs = grid((invocations as u32).div_ceil(wg), max_dim);
        kd_wgs[2] = nf as u32;
        let reduce_groups_n = cols.div_ceil(rwg);
        let phi = [
            crate::gpu::storage_buffer(ctx, "phi0", bytes),
            crate::gpu::storage_buffer(ctx, "phi1", bytes),
        ];
        let pi = crate::gpu::storage_buffer(ctx, "pi", bytes);
        let field_params = crate::gpu::storage_buffer(ctx, "lattice fields", nf as u64 * 16);
        let kd_parts = kd_wgs[0] * kd_wgs[1];
        let energy_parts = crate::gpu::storage_buffer(
            ctx,
            "lattice energy parts",
            nf as u64 * kd_parts as u64 * 16,
        );
        let slots = energy_slots(nf);
        let energy = crate::gpu::storage_buffer(ctx, "lattice energy", (slots * nf) as u64 * 16);
        let fold = Kernel::new(
            ctx,
            "lattice/energy_fold",
            &[Binding::Uniform, Binding::ReadWrite, Binding::ReadWrite],
            &[],
        )?;
        let stride = (std::mem::size_of::<StepParams>() as u64).next_multiple_of(
            ctx.limits
                .min_uniform_buffer_offset_alignment
                .max(ctx.limits.min_storage_buffer_offset_alignment) as u64,
        );
        let step_uniform = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("lattice steps"),
            size: stride * SLOTS as u64,
            // STORAGE too: CPU adapters bind parameters as storage (see Kernel::new).
            usage: wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let psize = wgpu::BufferSize::new(std::mem::size_of::<StepParams>() as u64);
        // Uniform slot s holds the parameters of the s-th unit of a submission.
        let slot = |s: usize| {
            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &step_uniform,
                offset: s as u64 * stride,
                size: psize,
            })
        };
        // (Mφ)_b for coupled fields (see set_mass_matrices); until then unread.
        let force = crate::gpu::storage_buffer(ctx, "lattice force placeholder", 16);
        let step_groups = step_groups(
            ctx,
            &kd,
            &step_uniform,
            stride,
            [&phi[0], &phi[1]],
            [&pi, &energy_parts, &field_params, &force],
        );
        let fold_groups = (0..SLOTS)
            .map(|s| {
                fold.bind_resources(
                    ctx,
                    &[
                        slot(s),
                        energy_parts.as_entire_binding(),
                        energy.as_entire_binding(),
                    ],
                )
            })
            .collect();
        let reduce_uniform =
            crate::gpu::uniform_buffer(ctx, "lattice reduce", &ReduceParams::zeroed());
        let partials = crate::gpu::storage_buffer(
            ctx,
            "lattice partials",
            nf as u64 * reduce_groups_n as u64 * 32,
        );
        let reduce_groups = [0, 1].map(|p| {
            reduce.bind(
                ctx,
                &[
                    &reduce_uniform,
                    &phi[p],
                    &pi,
                    &partials,
                    &field_params,
                    &force,
                ],
            )
        });
        let mut lat = Self {
            ctx: ctx.clone(),
            cfg: cfg.clone(),
            n,
            fields: nf,
            m2s: cfg.field_m2s(),
            kd,
            kernel,
            reduce,
            noise,
            phi,
            pi,
            field_params,
            fold,
            energy,
            energy_slots: slots,
            fold_groups,
            kd_parts,
            energy_parts,
            coupled: None,
            flux: vec![0.0; nf],
            step_uniform,
            stride,
            step_groups,
            reduce_uniform,
            partials,
            reduce_groups,
            reduce_wgs: reduce_groups_n,
            kd_wgs,
            cur: 0,
            stepper: Stepper::new(cfg.integrator, cfg.hubble, cfg.dt),
            t: 0.0,
            step: 0,
            shifts: vec![cfg.phi_init; nf],
            table: ModeTable::new(n, cfg.dx, cfg.stencil),
            sums: None,
        };
        lat.write_field_params(&lat.shifts);
        let all = nf * sites as usize;
        lat.upload(
            &vec![cfg.phi_init as f32; all],
            &vec![cfg.dphi_init as f32; all],
        )?;
        Ok(lat)
    }

    pub fn ctx(&self) -> &GpuContext {
        &self.ctx
    }

    /// Sites per field, N³.
    pub(super) fn sites(&self) -> usize {
        self.n.pow(3)
    }

    /// The shared potential parameters; m² and the shift come per field.
    pub(super) fn pot(&self) -> [f32; 4] {
        [0.0, self.cfg.lambda as f32, self.cfg.phi_min as f32, 0.0]
    }

    /// Writes (m², shift, 0, 0) per field; ordered before the next submission.
    pub(super) fn write_field_params(&self, shifts: &[f64]) {
        let params: Vec<[f32; 4]> = self
            .m2s
            .iter()
            .zip(shifts)
            .map(|(&m2, &s)| [m2 as f32, s as f32, 0.0, 0.0])
            .collect();
        self.ctx
            .queue
            .write_buffer(&self.field_params, 0, bytemuck::cast_slice(&params));
    }

    /// Refuses an array that is not F·N³ long.
    pub(super) fn check_len(&self, what: &str, got: usize) -> Result<(), LatticeError> {
        let expected = self.fields * self.sites();
        if got != expected {
            return Err(LatticeError::Length {
                what: what.into(),
                got,
                expected,
            });
        }
        Ok(())
    }

    /// Replaces φ and φ̇ of every field (field-major, F·N³ each, at the current time)
    /// and forgets the initial class sums.
    pub fn upload(&mut self, phi: &[f32], dphi: &[f32]) -> Result<(), LatticeError> {
        self.check_len("φ", phi.len())?;
        self.check_len("φ̇", dphi.len())?;
        let a3 = (3.0 * self.cfg.hubble * self.t).exp();
        let pi: Vec<f32> = dphi.iter().map(|v| (*v as f64 * a3) as f32).collect();
        self.ctx
            .queue
            .write_buffer(&self.phi[self.cur], 0, bytemuck::cast_slice(phi));
        self.ctx
            .queue
            .write_buffer(&self.pi, 0, bytemuck::cast_slice(&pi));
        self.sums = None;
        self.ctx.wait()?;
        Ok(())
    }

    /// Blocks until the recorded work is done.
    pub fn wait(&self) -> Result<(), LatticeError> {
        Ok(self.ctx.wait()?)
    }

    /// φ and φ̇ of every field (field-major, F·N³ each) at the current time.
    pub fn read_field(&self) -> Result<(Vec<f32>, Vec<f32>), LatticeError> {
        let phi = self.read_phi()?;
        let pi: Vec<f32> = read_buffer(&self.ctx, &self.pi, 0, self.fields * self.sites())?;
        let inv_a3 = (-3.0 * self.cfg.hubble * self.t).exp();
        let dphi = pi.iter().map(|p| (*p as f64 * inv_a3) as f32).collect();
        Ok((phi, dphi))
    }

    /// Binned P(k) of every field's φ now: power()[b] is field b's.
    pub fn power(&self) -> Result<Vec<Vec<f64>>, LatticeError> {
        let phi = self.read_phi()?;
        Ok(phi
            .chunks_exact(self.sites())
            .map(|f| self.table.power(f))
            .collect())
    }

    /// φ of every field at the current time.
    pub(super) fn read_phi(&self) -> Result<Vec<f32>, LatticeError> {
        Ok(read_buffer(
            &self.ctx,
            &self.phi[self.cur],
            0,
            self.fields * self.sites(),
        )?)
    }
}

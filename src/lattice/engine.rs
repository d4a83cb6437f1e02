//! The GPU engine: field buffers, the fused kick–drift kernel, reductions and the
//! initial-condition synthesis. Steps are recorded many per submission; the only
//! read-backs are the reduced observables and, at output steps, the field for P(k).
//!
//! F uncoupled fields share the grid and the background: they are stacked
//! field-major in the same buffers (field b at b·N³) and every kernel takes b from
//! the workgroup's z index, so one dispatch per unit evolves them all; each field's
//! m² (and the shift of its sums) lives in the small `fields` buffer.
//!
//! Coupled fields (the disorder dual, DESIGN §4.4): after `set_mass_matrices`, the
//! potential at site x is V = ½ φ(x)ᵀ M_{p(x)} φ(x) with one of P symmetric F×F
//! matrices per site. Each unit then runs coupled_force.wgsl (all fields, one
//! dispatch: (Mφ)_b at every site into the `force` buffer) and the kick–drift kernel
//! built with COUPLED, which kicks with that force in place of V'(φ_b) and sums
//! ½φ_b·(Mφ)_b as field b's potential energy; the reduction does the same. Without
//! mass matrices the kernels are built with COUPLED = false and `force` is a
//! 16-byte placeholder, so uncoupled runs execute the code they always did.

pub mod state;

use std::time::Instant;

use bytemuck::{Pod, Zeroable};
use rustfft::num_complex::Complex64;
use serde::Serialize;

use super::initial::{self, ModeFunctions};
use super::scheme::{Stepper, Unit};
use super::spectrum::{ModeTable, fft3};
use super::theory::{ClassSums, theory_power};
use super::{CouplingError, LatticeError};
use crate::config::ConfigError;
use crate::config::lattice::{LatticeConfig, stability_bound};
use crate::gpu::{Binding, GpuContext, GpuError, Kernel, kernel::grid, read_buffer, shaders};
use crate::philox::seed_key;
use crate::theory::desitter::background;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct StepParams {
    pub n: u32,
    /// energy_fold's target slot for this unit's energy sums (slot·F + field).
    pub slot: u32,
    /// Workgroups of the kick–drift dispatch per field (each leaves one energy part).
    pub parts: u32,
    /// The number of fields F.
    pub nfields: u32,
    pub coef: [f32; 4],
    /// unused, λ, φ₀, unused: m² and the shift of the energy sums come per field
    /// from the `fields` buffer.
    pub pot: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ReduceParams {
    pub n: u32,
    pub _pad: [u32; 3],
    pub a: [f32; 4],
    pub pot: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct NoiseParams {
    pub n: u32,
    pub first: u32,
    pub count: u32,
    /// The field whose noise is drawn (Philox counter word 1).
    pub field: u32,
    pub key: [u32; 2],
    pub _p1: [u32; 2],
}

/// Spatial averages at one instant (DESIGN §2).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Observables {
    pub phi_mean: f64,
    pub dphi_mean: f64,
    pub phi_var: f64,
    pub rho_kin: f64,
    pub rho_grad: f64,
    pub rho_pot: f64,
}

impl Observables {
    /// All fields together: for one field, that field; for several, the energy
    /// densities summed and the φ columns NaN (a sum over fields of different
    /// masses means nothing).
    pub fn total(fields: &[Observables]) -> Observables {
        if let [one] = fields {
            return *one;
        }
        Observables {
            phi_mean: f64::NAN,
            dphi_mean: f64::NAN,
            phi_var: f64::NAN,
            rho_kin: fields.iter().map(|o| o.rho_kin).sum(),
            rho_grad: fields.iter().map(|o| o.rho_grad).sum(),
            rho_pot: fields.iter().map(|o| o.rho_pot).sum(),
        }
    }

    pub fn rho(&self) -> f64 {
        self.rho_kin + self.rho_grad + self.rho_pot
    }
    pub fn pressure(&self) -> f64 {
        self.rho_kin - self.rho_grad / 3.0 - self.rho_pot
    }
}

/// One row of `lattice/background.csv`: the field for F = 1, all fields together
/// (`Observables::total`, energy residual of the total) for F > 1.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BackgroundRow {
    pub step: usize,
    pub t: f64,
    pub a: f64,
    #[serde(flatten)]
    pub obs: Observables,
    pub energy_residual: f64,
}

/// One row of `lattice/fields.csv`: one field at one output.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FieldRow {
    pub step: usize,
    pub t: f64,
    pub field: usize,
    /// The config's m² (ignored by the force once the fields are coupled).
    pub m2: f64,
    #[serde(flatten)]
    pub obs: Observables,
    /// This field's own energy budget (see `energy_residuals`); it closes only for
    /// uncoupled fields (coupled ones exchange energy; their total closes).
    pub energy_residual: f64,
}

/// One row of `lattice/spectrum.csv`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SpectrumRow {
    pub step: usize,
    pub t: f64,
    pub field: usize,
    pub k: f64,
    pub power: f64,
    pub modes: u64,
    pub theory_power: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// The kick–drift kernel that ran (see `KickDrift`).
    pub kernel: String,
    pub setup_s: f64,
    pub initial_conditions_s: f64,
    pub evolve_s: f64,
    pub spectra_s: f64,
    pub theory_s: f64,
    pub site_updates_per_s: f64,
    pub force_evaluations_per_s: f64,
}

/// Everything a run produces, in memory.
#[derive(Clone, Debug, Default)]
pub struct LatticeResults {
    /// The number of fields F.
    pub fields: usize,
    pub background: Vec<BackgroundRow>,
    /// Every field at every output (output-major, then field).
    pub field_rows: Vec<FieldRow>,
    /// Every field's binned P(k) at every output (output-major, then field, then k).
    pub spectrum: Vec<SpectrumRow>,
    /// Closed-form homogeneous solution (φ̄, φ̄̇) at each output (λ = 0 only), for
    /// F = 1; empty for F > 1, whose background row has no φ̄ (see `field_theory`).
    pub background_theory: Vec<(f64, f64)>,
    /// The same per field, with its own m²: field_theory[b][output] (λ = 0 only).
    pub field_theory: Vec<Vec<(f64, f64)>>,
    pub timings: Timings,
    /// Set when the evolution overflowed: the results stop at the last finite output.
    pub diverged: Option<Divergence>,
}

/// Where and why a run stopped early on NaN or infinity.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The step at which the non-finite value was seen.
    pub step: usize,
    pub reason: String,
}

/// What `Lattice::run_with` has accumulated: the outputs so far and their timings.
#[derive(Clone, Debug, Default)]
pub struct RunProgress {
    /// Per output: (step, t, per-field observables, per-field flux integral).
    pub obs: Vec<(usize, f64, Vec<Observables>, Vec<f64>)>,
    /// Per spectrum output: (step, t, per-field binned P(k)).
    pub spectra: Vec<(usize, f64, Vec<Vec<f64>>)>,
    pub evolve_s: f64,
    pub spectra_s: f64,
}

/// The energy residual of d(a³ρ)/dt + 3H·a³p = 0 (the fixed-background continuity
/// equation times a³): (a³ρ − a³ρ(0) + ∫3H·a³p dt) / a³ρ, with the flux integral
/// accumulated unit by unit along the integrator's sub-flows (see `unit_flux`), so it
/// measures the integrator's error whatever the output cadence. Rows are
/// (t, observables, flux integral up to t).
pub fn energy_residuals(h: f64, rows: &[(f64, Observables, f64)]) -> Vec<f64> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let a3 = |t: f64| (3.0 * h * t).exp();
    let rho0 = a3(first.0) * first.1.rho();
    rows.iter()
        .map(|(t, o, flux)| {
            let a3rho = a3(*t) * o.rho();
            (a3rho - rho0 + (flux - first.2)) / a3rho
        })
        .collect()
}

/// The kinetic energy sum's scale w ≈ a^(−3/2) at time t (see lattice_energy.wgsl),
/// as the f32 the kernel multiplies by, so that the host divides out exactly w⁴.
pub fn energy_scale(h: f64, t: f64) -> f32 {
    (-1.5 * h * t).exp() as f32
}

/// ∫3H·a³p dt over one unit, from its energy sums [Σπ², Σdx²|∇φ|², ΣV] over
/// `sites` sites: with π = a³φ̇, a³p = ½π²/a³ − a|∇φ|²/6 − a³V, and each term is
/// integrated exactly along the sub-flow that holds it constant: π over the drift
/// (c_drift = ∫a⁻³dt), φ over the kick (c_lap = ∫a dt, c_pot = ∫a³dt).
pub fn unit_flux(h: f64, dx: f64, sites: f64, u: &Unit, sums: [f64; 3]) -> f64 {
    3.0 * h * (0.5 * sums[0] * u.c_drift - sums[1] * u.c_lap / (6.0 * dx * dx) - sums[2] * u.c_pot)
        / sites
}

/// Largest N with N³ f32 values in one binding (with F fields, `max_grid(limit / F)`).
pub fn max_grid(max_binding: u64) -> usize {
    let mut n = (max_binding as f64 / 4.0).cbrt() as usize + 1;
    while n > 0 && (n as u64).pow(3) * 4 > max_binding {
        n -= 1;
    }
    n
}

pub struct Lattice {
    ctx: GpuContext,
    pub cfg: LatticeConfig,
    pub n: usize,
    /// The number of fields F, and each one's m².
    pub fields: usize,
    pub m2s: Vec<f64>,
    kd: Kernel,
    /// The kick–drift kernel in use.
    pub kernel: KickDrift,
    reduce: Kernel,
    noise: Kernel,
    phi: [wgpu::Buffer; 2],
    pi: wgpu::Buffer,
    /// Per field (m², shift, 0, 0), read by every kernel.
    field_params: wgpu::Buffer,
    fold: Kernel,
    /// Energy sums of up to `energy_slots` units × F fields, read back in one batch.
    energy: wgpu::Buffer,
    energy_slots: usize,
    fold_groups: Vec<wgpu::BindGroup>,
    kd_parts: u32,
    energy_parts: wgpu::Buffer,
    /// The mass matrices and their force kernel, after `set_mass_matrices`.
    coupled: Option<Coupled>,
    /// ∫3H·a³p dt from t = 0 to now, per field.
    pub flux: Vec<f64>,
    step_uniform: wgpu::Buffer,
    stride: u64,
    step_groups: Vec<[wgpu::BindGroup; 2]>,
    reduce_uniform: wgpu::Buffer,
    partials: wgpu::Buffer,
    reduce_groups: [wgpu::BindGroup; 2],
    /// Reduction workgroups per field.
    reduce_wgs: u32,
    kd_wgs: [u32; 3],
    cur: usize,
    stepper: Stepper,
    pub t: f64,
    pub step: usize,
    /// Per field: the shift of the reduction and the energy sums (the mean at the
    /// last output), which keeps Var φ and the gradient sum well conditioned in f32.
    shifts: Vec<f64>,
    pub table: ModeTable,
    /// Per field: the initial data's class sums for the theory line.
    sums: Option<Vec<ClassSums>>,
}

/// The coupled model's mass matrices on the device and the kernel that applies them.
struct Coupled {
    kernel: Kernel,
    /// One per φ ping-pong buffer.
    groups: [wgpu::BindGroup; 2],
    wgs: [u32; 3],
    matrices: usize,
    eig_max: f64,
}

/// Most coupled fields: coupled_force.wgsl holds a site's fields in 16 vec4s.
pub const MAX_COUPLED_FIELDS: usize = 64;

/// Workgroup size of the column kick–drift kernel (one z-segment per invocation).
const KD_WG: u32 = 64;
/// Workgroup size of the vectorised kernel, whose invocations each own a 4-row
/// block of 4·V sites per row: with V = 2, a 128³ grid makes 32 workgroups.
const KD_VEC_WG: u32 = 16;
/// Workgroup size of the column kernel on GPUs.
const KD_GPU_WG: u32 = 256;

/// Which kick–drift kernel evolves the field. Each suits one kind of device: CPU
/// drivers pay a per-lane loop for every load, so they want few loads per site and
/// run the z-walking kernels; GPUs want many independent invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KickDrift {
    /// kick_drift.wgsl: vec4s, 4-row blocks of `v` vec4s per row, walking z (N % 4 = 0).
    Blocked { v: usize },
    /// kick_drift_column.wgsl: one z-segment of `zb` sites (a divisor of N) per
    /// invocation (any N).
    Column { zb: usize },
}

impl KickDrift {
    /// The kernel for an N³ grid on this device.
    pub fn auto(ctx: &GpuContext, n: usize) -> Self {
        if !ctx.is_cpu() {
            // Short segments: millions of invocations, z-neighbours still shared.
            let zb = [8, 4, 2, 1].into_iter().find(|d| n.is_multiple_of(*d));
            return Self::Column {
                zb: zb.unwrap_or(1),
            };
        }
        match kd_segment(n) {
            Some(v) => Self::Blocked { v },
            None => Self::Column { zb: n },
        }
    }
}

/// The vectorised kick–drift kernel's row segment, in vec4s per invocation (dividing
/// N/4), or None when N is not a multiple of 4. On llvmpipe V = 2 ran 1.4–1.7×
/// faster than V = 4 at 32³–128³ (V = 4 leaves too few workgroups to share between
/// the driver's threads and spills registers); from 256³ on, V = 4 is at least as
/// fast.
pub fn kd_segment(n: usize) -> Option<usize> {
    if !n.is_multiple_of(4) {
        return None;
    }
    let preferred: &[usize] = if n >= 256 { &[4, 2, 1] } else { &[2, 1] };
    preferred
        .iter()
        .copied()
        .find(|v| (n / 4).is_multiple_of(*v))
}

/// Units recorded per submission (one uniform slot each).
const SLOTS: usize = 256;
/// Units whose energy sums are read back together (at most one host wait each).
const ENERGY_SLOTS: usize = 4096;

/// Energy-sum slots for F fields: ENERGY_SLOTS units per read-back, fewer when F is
/// so large that one batch would pass 4 MiB.
fn energy_slots(fields: usize) -> usize {
    (ENERGY_SLOTS * 64 / fields).clamp(1, ENERGY_SLOTS)
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

/// The kick–drift kernel's invocations per field and workgroup size on this device.
fn kd_shape(ctx: &GpuContext, kernel: KickDrift, n: usize) -> (usize, u32) {
    match kernel {
        KickDrift::Blocked { v } => {
            assert!(
                n.is_multiple_of(4 * v),
                "blocked kernel needs N a multiple of 4·V"
            );
            (n * n / (16 * v), KD_VEC_WG)
        }
        KickDrift::Column { zb } => {
            assert!(n.is_multiple_of(zb), "column kernel needs ZB dividing N");
            let wg = if ctx.is_cpu() { KD_WG } else { KD_GPU_WG };
            (n * n * (n / zb), wg)
        }
    }
}

/// The kick–drift kernel `kernel` for `cfg`, uncoupled or coupled (COUPLED reads the
/// force buffer, binding 6, in place of V'(φ)).
fn kd_kernel(
    ctx: &GpuContext,
    cfg: &LatticeConfig,
    kernel: KickDrift,
    coupled: bool,
) -> Result<Kernel, GpuError> {
    let n = cfg.grid;
    let (_, wg) = kd_shape(ctx, kernel, n);
    let mut overrides = vec![
        ("WG", wg as f64),
        ("STENCIL", cfg.stencil as f64),
        ("COUPLED", if coupled { 1.0 } else { 0.0 }),
    ];
    let name = match kernel {
        KickDrift::Blocked { v } => {
            overrides.push(("V", v as f64));
            "lattice/kick_drift"
        }
        KickDrift::Column { zb } => {
            overrides.push(("N", n as f64));
            overrides.push(("ZB", zb as f64));
            "lattice/kick_drift_column"
        }
    };
    use Binding::{Read, ReadWrite, Uniform};
    let bindings = [Uniform, Read, ReadWrite, ReadWrite, ReadWrite, Read, Read];
    Kernel::new(ctx, name, &bindings, &overrides)
}

/// The reduction kernel, uncoupled or coupled (V = ½φ·force, binding 5).
fn reduce_kernel(ctx: &GpuContext, cfg: &LatticeConfig, coupled: bool) -> Result<Kernel, GpuError> {
    use Binding::{Read, ReadWrite, Uniform};
    Kernel::new(
        ctx,
        "lattice/reduce",
        &[Uniform, Read, Read, ReadWrite, Read, Read],
        &[
            ("STENCIL", cfg.stencil as f64),
            ("COUPLED", if coupled { 1.0 } else { 0.0 }),
        ],
    )
}

/// The kick–drift bind groups: per uniform slot s, one per φ ping-pong direction;
/// `rest` = [π, energy parts, fields, force].
fn step_groups(
    ctx: &GpuContext,
    kd: &Kernel,
    step_uniform: &wgpu::Buffer,
    stride: u64,
    phi: [&wgpu::Buffer; 2],
    rest: [&wgpu::Buffer; 4],
) -> Vec<[wgpu::BindGroup; 2]> {
    let psize = wgpu::BufferSize::new(std::mem::size_of::<StepParams>() as u64);
    (0..SLOTS)
        .map(|s| {
            [0, 1].map(|p| {
                let slot = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: step_uniform,
                    offset: s as u64 * stride,
                    size: psize,
                });
                let mut res = vec![
                    slot,
                    phi[p].as_entire_binding(),
                    phi[1 - p].as_entire_binding(),
                ];
                res.extend(rest.iter().map(|b| b.as_entire_binding()));
                kd.bind_resources(ctx, &res)
            })
        })
        .collect()
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
    fn sites(&self) -> usize {
        self.n.pow(3)
    }

    /// The shared potential parameters; m² and the shift come per field.
    fn pot(&self) -> [f32; 4] {
        [0.0, self.cfg.lambda as f32, self.cfg.phi_min as f32, 0.0]
    }

    /// Writes (m², shift, 0, 0) per field; ordered before the next submission.
    fn write_field_params(&self, shifts: &[f64]) {
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
    fn check_len(&self, what: &str, got: usize) -> Result<(), LatticeError> {
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

    /// Initial data drawn by the caller: φ and φ̇ (not π) of every field,
    /// field-major (F·N³ each), at the current time (t = 0 on a new engine),
    /// uploaded as they are. Each field's shift becomes its mean. There is no
    /// linear-theory line for such data (its spectrum columns are NaN).
    pub fn set_initial_fields(&mut self, phi: &[f32], dphi: &[f32]) -> Result<(), LatticeError> {
        self.check_len("φ", phi.len())?;
        self.check_len("φ̇", dphi.len())?;
        let sites = self.sites();
        for (what, data) in [("φ", phi), ("φ̇", dphi)] {
            if let Some(i) = data.iter().position(|x| !x.is_finite()) {
                return Err(LatticeError::NonFinite(format!(
                    "the initial {what} is {} at site {} of field {}",
                    data[i],
                    i % sites,
                    i / sites
                )));
            }
        }
        self.upload(phi, dphi)?;
        self.shifts = phi
            .chunks_exact(sites)
            .map(|f| f.iter().map(|&x| x as f64).sum::<f64>() / sites as f64)
            .collect();
        self.write_field_params(&self.shifts);
        Ok(())
    }

    /// Couples the fields (the disorder dual, DESIGN §4.4): from now on the site x
    /// feels V(x) = ½ Σ_{b,c} φ_b(x)·M[b,c]·φ_c(x) with M the matrix
    /// `patch_of_site[x]` of the P = matrices.len() / F² matrices in `matrices`
    /// (row-major F×F each; site x = x + N(y + Nz)), instead of the per-field
    /// ½m_b²φ_b² (the config's m² are then ignored by the force and the energy; the
    /// spectra get no linear-theory line and the background no closed form). The
    /// matrices must be symmetric to f32 rounding (they are uploaded as ½(M + Mᵀ))
    /// and finite; λ and φ₀ must be 0, F ≤ 64, the padded matrices must fit one
    /// binding, and dt must pass the Courant limit with the largest eigenvalue of
    /// all matrices in place of m². Called again, it replaces the matrices.
    ///
    /// Energy: field b's potential sum becomes ½φ_b·(Mφ)_b, so the fields' terms add
    /// up to the total V and the total budget closes to the integrator's order; the
    /// per-field budgets (`FieldRow::energy_residual`) do not close when fields
    /// couple, since energy flows between them, and are reported as they come.
    pub fn set_mass_matrices(
        &mut self,
        matrices: &[f32],
        patch_of_site: &[u32],
    ) -> Result<(), LatticeError> {
        let nf = self.fields;
        let sites = self.sites();
        if nf > MAX_COUPLED_FIELDS {
            return Err(CouplingError::TooManyFields {
                fields: nf,
                max: MAX_COUPLED_FIELDS,
            }
            .into());
        }
        if self.cfg.lambda != 0.0 || self.cfg.phi_min != 0.0 {
            return Err(CouplingError::Potential {
                lambda: self.cfg.lambda,
                phi0: self.cfg.phi_min,
            }
            .into());
        }
        let ff = nf * nf;
        if matrices.is_empty() || !matrices.len().is_multiple_of(ff) {
            return Err(CouplingError::MatrixLength {
                got: matrices.len(),
                fields: nf,
            }
            .into());
        }
        let count = matrices.len() / ff;
        if patch_of_site.len() != sites {
            return Err(CouplingError::PatchLength {
                got: patch_of_site.len(),
                sites,
            }
            .into());
        }
        if let Some(site) = patch_of_site.iter().position(|&p| p as usize >= count) {
            return Err(CouplingError::PatchIndex {
                site,
                index: patch_of_site[site],
                matrices: count,
            }
            .into());
        }
        // Rows padded to Q vec4s, so that the kernel reads whole vec4s.
        let q = nf.div_ceil(4);
        let bytes = (count * nf * q * 16) as u64;
        let limit = self.ctx.max_binding();
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what: format!(
                    "{count} mass matrices of {nf}×{nf} (rows padded to {} floats)",
                    4 * q
                ),
                bytes,
                limit,
                hint: format!(
                    "at most {} such matrices fit; let patches share matrices",
                    limit / (nf * q * 16) as u64
                ),
            }
            .into());
        }
        let mut padded = vec![0.0f32; count * nf * 4 * q];
        let mut eig_max = (f64::NEG_INFINITY, 0);
        for (k, m) in matrices.chunks_exact(ff).enumerate() {
            let scale = m.iter().fold(0.0f32, |a, x| a.max(x.abs()));
            for b in 0..nf {
                for c in 0..nf {
                    let (x, y) = (m[b * nf + c], m[c * nf + b]);
                    if !x.is_finite() {
                        return Err(CouplingError::NonFinite {
                            matrix: k,
                            row: b,
                            col: c,
                            value: x,
                        }
                        .into());
                    }
                    // A few ulps of the largest entry: what an f32 computation of a
                    // symmetric matrix leaves.
                    if (x - y).abs() > 16.0 * f32::EPSILON * scale {
                        return Err(CouplingError::NotSymmetric {
                            matrix: k,
                            row: b,
                            col: c,
                            a: x,
                            b: y,
                        }
                        .into());
                    }
                    // x + y = y + x exactly, so the uploaded matrix is symmetric.
                    padded[(k * nf + b) * 4 * q + c] = 0.5 * (x + y);
                }
            }
            let sym =
                nalgebra::DMatrix::from_fn(nf, nf, |b, c| padded[(k * nf + b) * 4 * q + c] as f64);
            let top = sym.symmetric_eigenvalues().max();
            if top > eig_max.0 {
                eig_max = (top, k);
            }
        }
        self.check_coupled_courant(eig_max.0, eig_max.1)?;
        let ctx = &self.ctx;
        let mats = crate::gpu::upload_buffer(ctx, "lattice mass matrices", &padded);
        let patch = crate::gpu::upload_buffer(ctx, "lattice patches", patch_of_site);
        let force = crate::gpu::storage_buffer(ctx, "lattice force", (nf * sites * 4) as u64);
        const FORCE_WG: u32 = 64;
        let kernel = Kernel::new(
            ctx,
            "lattice/coupled_force",
            &[
                Binding::Read,
                Binding::Read,
                Binding::Read,
                Binding::ReadWrite,
            ],
            &[
                ("WG", FORCE_WG as f64),
                ("SITES", sites as f64),
                ("F", nf as f64),
                ("Q", q as f64),
            ],
        )?;
        let groups = [0, 1].map(|p| kernel.bind(ctx, &[&self.phi[p], &mats, &patch, &force]));
        let wgs = grid(
            (sites as u32).div_ceil(FORCE_WG),
            ctx.limits.max_compute_workgroups_per_dimension,
        );
        self.kd = kd_kernel(ctx, &self.cfg, self.kernel, true)?;
        self.reduce = reduce_kernel(ctx, &self.cfg, true)?;
        self.step_groups = step_groups(
            ctx,
            &self.kd,
            &self.step_uniform,
            self.stride,
            [&self.phi[0], &self.phi[1]],
            [&self.pi, &self.energy_parts, &self.field_params, &force],
        );
        self.reduce_groups = [0, 1].map(|p| {
            self.reduce.bind(
                ctx,
                &[
                    &self.reduce_uniform,
                    &self.phi[p],
                    &self.pi,
                    &self.partials,
                    &self.field_params,
                    &force,
                ],
            )
        });
        // The bind groups keep the matrix, patch and force buffers alive.
        self.coupled = Some(Coupled {
            kernel,
            groups,
            wgs,
            matrices: count,
            eig_max: eig_max.0,
        });
        Ok(())
    }

    /// The Courant check of the coupled model: the largest eigenvalue of all mass
    /// matrices (that of matrix `which`) in place of the largest m².
    fn check_coupled_courant(&self, eig_max: f64, which: usize) -> Result<(), LatticeError> {
        let cfg = &self.cfg;
        let ring = if cfg.stencil == 4 { 16.0 } else { 12.0 };
        let w2 = ring / (cfg.dx * cfg.dx) + eig_max.max(0.0);
        let bound = stability_bound(cfg.integrator);
        if cfg.dt * w2.sqrt() >= bound {
            return Err(ConfigError::invalid(
                "dt",
                format!(
                    "{} is above the Courant limit {:.6} of the coupled fields ({:?}, --stencil {}): dt·ω_max must stay below {bound} where ω_max² = {ring}/dx² + λ_max = {w2:.6}, with λ_max = {eig_max:.6} the largest eigenvalue of all mass matrices (that of matrix {which})",
                    cfg.dt,
                    bound / w2.sqrt(),
                    cfg.integrator,
                    cfg.stencil,
                ),
            )
            .into());
        }
        Ok(())
    }

    /// After `set_mass_matrices`: the number of matrices P and their largest
    /// eigenvalue.
    pub fn mass_matrices(&self) -> Option<(usize, f64)> {
        self.coupled.as_ref().map(|c| (c.matrices, c.eig_max))
    }

    /// The Hermitian noise (Re B, Im B, Re C, Im C) of every mode of field 0, drawn
    /// on the GPU in slabs of at most `slab` modes.
    pub fn noise(&self, slab: usize) -> Result<Vec<[f32; 4]>, LatticeError> {
        self.field_noise(0, slab)
    }

    /// `noise` of field b: an independent draw per field (keyed by seed and field).
    pub fn field_noise(&self, field: usize, slab: usize) -> Result<Vec<[f32; 4]>, LatticeError> {
        let total = self.sites();
        let cap = ((self.ctx.max_binding() / 16) as usize).min(1 << 22);
        let slab = slab.clamp(1, cap.max(1));
        let buf = crate::gpu::storage_buffer(&self.ctx, "lattice noise", slab as u64 * 16);
        let key = seed_key(self.cfg.seed);
        let mut out = Vec::with_capacity(total);
        let mut first = 0;
        while first < total {
            let count = slab.min(total - first);
            let params = NoiseParams {
                n: self.n as u32,
                first: first as u32,
                count: count as u32,
                field: field as u32,
                key,
                _p1: [0; 2],
            };
            let u = crate::gpu::uniform_buffer(&self.ctx, "noise params", &params);
            let g = self.noise.bind(&self.ctx, &[&u, &buf]);
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                let wgs = grid(
                    (count as u32).div_ceil(64),
                    self.ctx.limits.max_compute_workgroups_per_dimension,
                );
                self.noise.dispatch(&mut pass, &g, wgs);
            }
            self.ctx.queue.submit([enc.finish()]);
            let part: Vec<[f32; 4]> = read_buffer(&self.ctx, &buf, 0, count)?;
            out.extend(part);
            first += count;
        }
        Ok(out)
    }

    /// One field's fluctuations from mode functions per class, on top of the
    /// homogeneous φ_init, φ̇_init: (φ, φ̇, class sums).
    fn field_from_modes(
        &self,
        field: usize,
        modes: &ModeFunctions,
    ) -> Result<(Vec<f32>, Vec<f32>, ClassSums), LatticeError> {
        initial::check_finite(&self.table, modes, "the initial spectrum")?;
        let n = self.n;
        let total = n.pow(3);
        let noise = self.field_noise(field, 1 << 22)?;
        let norm = ((n as f64).powi(3) / self.cfg.dx.powi(3)).sqrt();
        let classes = self.table.classes();
        let table = &self.table;
        // δφ_k = Re(u)·B_k + Im(u)·C_k per mode (see ic_noise.wgsl); with u̇ for φ̇.
        let amplitudes = |deriv: bool| {
            let mut out = vec![Complex64::default(); total];
            crate::par::chunks_mut(&mut out, n * n, |z, plane| {
                for (i, a) in plane.iter_mut().enumerate() {
                    let m = z * n * n + i;
                    if let Some(c) = table.class_of(m) {
                        let (u, du) = modes[c];
                        let u = if deriv { du } else { u };
                        let w = noise[m];
                        let b = Complex64::new(w[0] as f64, w[1] as f64);
                        let cc = Complex64::new(w[2] as f64, w[3] as f64);
                        *a = norm * (u.re * b + u.im * cc);
                    }
                }
            });
            out
        };
        let mut f = amplitudes(false);
        let mut v = amplitudes(true);
        let pnorm = table.power_norm();
        // [Σ|φ̃|² | ΣRe φ̃φ̇̃* | Σ|φ̇̃|²], each per class.
        let s = crate::par::accumulate(total, 3 * classes, |r, s: &mut [f64]| {
            for m in r {
                if let Some(c) = table.class_of(m) {
                    s[c] += f[m].norm_sqr() * pnorm;
                    s[classes + c] += (f[m] * v[m].conj()).re * pnorm;
                    s[2 * classes + c] += v[m].norm_sqr() * pnorm;
                }
            }
        });
        let sums = ClassSums {
            ff: s[..classes].to_vec(),
            fv: s[classes..2 * classes].to_vec(),
            vv: s[2 * classes..].to_vec(),
        };
        fft3(&mut f, n, true);
        fft3(&mut v, n, true);
        let inv = 1.0 / total as f64;
        let phi: Vec<f32> = f
            .iter()
            .map(|z| (self.cfg.phi_init + z.re * inv) as f32)
            .collect();
        let dphi: Vec<f32> = v
            .iter()
            .map(|z| (self.cfg.dphi_init + z.re * inv) as f32)
            .collect();
        if phi.iter().chain(&dphi).any(|x| !x.is_finite()) {
            return Err(LatticeError::NonFinite(
                "the initial spectrum makes the field overflow f32; lower --amplitude".into(),
            ));
        }
        Ok((phi, dphi, sums))
    }

    /// Sets every field's fluctuations from its own mode functions per class
    /// (`modes[b]` for field b, at t = 0, on top of the homogeneous φ_init, φ̇_init),
    /// with independent noise per field, and keeps their class sums for the theory
    /// line.
    pub fn set_initial_field_modes(&mut self, modes: &[ModeFunctions]) -> Result<(), LatticeError> {
        if modes.len() != self.fields {
            return Err(LatticeError::Count {
                what: "sets of mode functions".into(),
                got: modes.len(),
                fields: self.fields,
            });
        }
        let all = self.fields * self.sites();
        let (mut phi, mut dphi) = (Vec::with_capacity(all), Vec::with_capacity(all));
        let mut sums = Vec::with_capacity(self.fields);
        for (b, m) in modes.iter().enumerate() {
            let (f, v, s) = self.field_from_modes(b, m)?;
            phi.extend(f);
            dphi.extend(v);
            sums.push(s);
        }
        self.upload(&phi, &dphi)?;
        self.sums = Some(sums);
        Ok(())
    }

    /// `set_initial_field_modes` with the same mode functions for every field (the
    /// draws still differ between fields).
    pub fn set_initial_modes(&mut self, modes: &ModeFunctions) -> Result<(), LatticeError> {
        self.set_initial_field_modes(&vec![modes.clone(); self.fields])
    }

    /// An arbitrary isotropic initial spectrum for every field: `power(k_eff)` =
    /// (P_φ, P_φ̇), uncorrelated; called once per class of equal k_eff².
    pub fn set_initial_spectrum(
        &mut self,
        power: &dyn Fn(f64) -> (f64, f64),
    ) -> Result<(), LatticeError> {
        let modes = initial::from_power(&self.table, power);
        self.set_initial_modes(&modes)
    }

    /// The initial conditions the configuration asks for, each field's mode
    /// functions with its own mass.
    pub fn set_initial_from_config(&mut self) -> Result<(), LatticeError> {
        let mut modes: Vec<ModeFunctions> = Vec::with_capacity(self.fields);
        for (b, &m2) in self.m2s.iter().enumerate() {
            // Fields of equal mass share their (costly, for Bunch–Davies) modes.
            if let Some(j) = self.m2s[..b].iter().position(|&m| m == m2) {
                modes.push(modes[j].clone());
                continue;
            }
            match initial::from_config_m2(&self.cfg, &self.table, m2)? {
                Some(m) => modes.push(m),
                None => {
                    let zero = vec![0.0; self.table.classes()];
                    let s = ClassSums {
                        ff: zero.clone(),
                        fv: zero.clone(),
                        vv: zero,
                    };
                    self.sums = Some(vec![s; self.fields]);
                    return Ok(());
                }
            }
        }
        self.set_initial_field_modes(&modes)
    }

    /// Records up to `energy_slots` units in submissions of up to SLOTS dispatches,
    /// each followed by the fold of its energy sums into energy slot i; no host wait.
    fn record_units(&mut self, units: &[Unit]) {
        debug_assert!(units.len() <= self.energy_slots);
        let inv_dx2 = 1.0 / (self.cfg.dx * self.cfg.dx);
        let pot = self.pot();
        let fold_wgs = [1, 1, self.fields as u32];
        let mut bytes = vec![0u8; self.stride as usize * SLOTS];
        for (c, chunk) in units.chunks(SLOTS).enumerate() {
            for (i, u) in chunk.iter().enumerate() {
                let p = StepParams {
                    n: self.n as u32,
                    slot: (c * SLOTS + i) as u32,
                    parts: self.kd_parts,
                    nfields: self.fields as u32,
                    coef: [
                        (u.c_lap * inv_dx2) as f32,
                        u.c_pot as f32,
                        u.c_drift as f32,
                        energy_scale(self.cfg.hubble, u.t),
                    ],
                    pot,
                };
                let o = i * self.stride as usize;
                bytes[o..o + std::mem::size_of::<StepParams>()]
                    .copy_from_slice(bytemuck::bytes_of(&p));
            }
            // Ordered after the previous submission and before the next one.
            self.ctx.queue.write_buffer(
                &self.step_uniform,
                0,
                &bytes[..chunk.len() * self.stride as usize],
            );
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for i in 0..chunk.len() {
                    // The coupled force of this unit's φ, for all fields at once.
                    if let Some(c) = &self.coupled {
                        c.kernel.dispatch(&mut pass, &c.groups[self.cur], c.wgs);
                    }
                    self.kd
                        .dispatch(&mut pass, &self.step_groups[i][self.cur], self.kd_wgs);
                    self.fold
                        .dispatch(&mut pass, &self.fold_groups[i], fold_wgs);
                    self.cur = 1 - self.cur;
                }
            }
            self.ctx.queue.submit([enc.finish()]);
        }
    }

    /// Applies `units` and returns each one's energy sums [Σπ², Σdx²|∇φ|², ΣV] per
    /// field (see lattice_energy.wgsl), unit-major: entry u·F + b is unit u's sums
    /// over field b. Read back once per batch of units.
    pub fn apply_units(&mut self, units: &[Unit]) -> Result<Vec<[f64; 3]>, LatticeError> {
        let nf = self.fields;
        let mut out = Vec::with_capacity(units.len() * nf);
        for batch in units.chunks(self.energy_slots) {
            self.record_units(batch);
            let sums: Vec<[f32; 4]> = read_buffer(&self.ctx, &self.energy, 0, batch.len() * nf)?;
            for (s, u) in sums.chunks_exact(nf).zip(batch) {
                let w = energy_scale(self.cfg.hubble, u.t) as f64;
                out.extend(
                    s.iter()
                        .map(|s| [s[0] as f64 / w.powi(4), s[1] as f64, s[2] as f64]),
                );
            }
        }
        Ok(out)
    }

    /// Advances `steps` steps; φ and π are synchronised at the end, and each field's
    /// energy flux integral is brought up to date.
    pub fn advance(&mut self, steps: usize) -> Result<(), LatticeError> {
        let units = self.stepper.units(self.t, steps);
        let sums = self.apply_units(&units)?;
        let sites = self.sites() as f64;
        for (u, s) in units.iter().zip(sums.chunks_exact(self.fields)) {
            for (flux, s) in self.flux.iter_mut().zip(s) {
                *flux += unit_flux(self.cfg.hubble, self.cfg.dx, sites, u, *s);
            }
        }
        self.step += steps;
        self.t = self.step as f64 * self.cfg.dt;
        Ok(())
    }

    /// Blocks until the recorded work is done.
    pub fn wait(&self) -> Result<(), LatticeError> {
        Ok(self.ctx.wait()?)
    }

    /// The reduction of every field (one dispatch) with the shifts in the `fields`
    /// buffer: its raw partial sums per field, summed in f64.
    fn reduce_all(&mut self) -> Result<Vec<[f64; 6]>, LatticeError> {
        let inv_a3 = (-3.0 * self.cfg.hubble * self.t).exp();
        let p = ReduceParams {
            n: self.n as u32,
            _pad: [0; 3],
            a: [
                inv_a3 as f32,
                0.0,
                (1.0 / (self.cfg.dx * self.cfg.dx)) as f32,
                0.0,
            ],
            pot: self.pot(),
        };
        self.ctx
            .queue
            .write_buffer(&self.reduce_uniform, 0, bytemuck::bytes_of(&p));
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let mut wgs = grid(
                self.reduce_wgs,
                self.ctx.limits.max_compute_workgroups_per_dimension,
            );
            wgs[2] = self.fields as u32;
            if let Some(c) = &self.coupled {
                c.kernel.dispatch(&mut pass, &c.groups[self.cur], c.wgs);
            }
            self.reduce
                .dispatch(&mut pass, &self.reduce_groups[self.cur], wgs);
        }
        self.ctx.queue.submit([enc.finish()]);
        let per_field = self.reduce_wgs as usize * 8;
        let parts: Vec<f32> = read_buffer(&self.ctx, &self.partials, 0, self.fields * per_field)?;
        Ok(parts
            .chunks_exact(per_field)
            .map(|field| {
                let mut s = [0.0f64; 6];
                for w in field.chunks_exact(8) {
                    for q in 0..6 {
                        s[q] += w[q] as f64;
                    }
                }
                s
            })
            .collect())
    }

    /// The raw sums of the reduction kernel per field, summed in f64, with field b's
    /// φ shifted by shifts[b] (the engine's own shifts are kept).
    pub fn reduce_sums(&mut self, shifts: &[f64]) -> Result<Vec<[f64; 6]>, LatticeError> {
        if shifts.len() != self.fields {
            return Err(LatticeError::Count {
                what: "shifts".into(),
                got: shifts.len(),
                fields: self.fields,
            });
        }
        self.write_field_params(shifts);
        let s = self.reduce_all();
        self.write_field_params(&self.shifts);
        s
    }

    /// Every field's observables at the current (synchronised) time, from one
    /// reduction dispatch for all fields.
    pub fn field_observables(&mut self) -> Result<Vec<Observables>, LatticeError> {
        let sums = self.reduce_all()?;
        let v = self.sites() as f64;
        let a2 = (2.0 * self.cfg.hubble * self.t).exp();
        let mut out = Vec::with_capacity(self.fields);
        for (b, (s, shift)) in sums.iter().zip(&self.shifts).enumerate() {
            let mean = s[0] / v;
            let o = Observables {
                phi_mean: shift + mean,
                dphi_mean: s[2] / v,
                phi_var: (s[1] / v - mean * mean).max(0.0),
                rho_kin: 0.5 * s[3] / v,
                rho_grad: 0.5 * s[4] / (v * a2),
                rho_pot: s[5] / v,
            };
            if !(o.phi_mean.is_finite() && o.rho().is_finite()) {
                let which = if self.fields == 1 {
                    "the field".to_string()
                } else {
                    format!("field {b} (m² = {})", self.m2s[b])
                };
                return Err(LatticeError::NonFinite(format!(
                    "{which} became NaN or infinite by step {} (t = {:.4}); lower --dt, --amplitude or --lambda",
                    self.step, self.t
                )));
            }
            out.push(o);
        }
        // Keep the next Var φ and energy sums well conditioned in f32.
        self.shifts = out.iter().map(|o| o.phi_mean).collect();
        self.write_field_params(&self.shifts);
        Ok(out)
    }

    /// Observables at the current (synchronised) time: the field's for F = 1; for
    /// F > 1 all fields together (`Observables::total`: energies summed, φ columns
    /// NaN; see `field_observables` for each field).
    pub fn observables(&mut self) -> Result<Observables, LatticeError> {
        Ok(Observables::total(&self.field_observables()?))
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
    fn read_phi(&self) -> Result<Vec<f32>, LatticeError> {
        Ok(read_buffer(
            &self.ctx,
            &self.phi[self.cur],
            0,
            self.fields * self.sites(),
        )?)
    }

    /// The whole run: outputs at step 0, every `output_every` steps and at the end.
    pub fn run(&mut self, progress: bool) -> Result<LatticeResults, LatticeError> {
        self.run_with(progress, RunProgress::default(), &mut |_, _| Ok(false))
    }

    /// `run` from `start` (the outputs of a resumed run; empty for a fresh one, which
    /// records step 0 first), calling `after_output` after every output with the
    /// outputs so far. It returns true to stop the run there; the results then hold
    /// the outputs up to that step.
    pub fn run_with(
        &mut self,
        progress: bool,
        start: RunProgress,
        after_output: &mut dyn FnMut(&mut Self, &RunProgress) -> Result<bool, LatticeError>,
    ) -> Result<LatticeResults, LatticeError> {
        let cfg = self.cfg.clone();
        let nf = self.fields;
        let step0 = self.step;
        let bar = progress.then(|| crate::report::progress::step_bar(cfg.steps as u64, "lattice"));
        let mut res = LatticeResults {
            fields: nf,
            ..Default::default()
        };
        let mut p = start;
        let record = |lat: &mut Self, p: &mut RunProgress| -> Result<(), LatticeError> {
            let t0 = Instant::now();
            let o = lat.field_observables()?;
            p.evolve_s += t0.elapsed().as_secs_f64();
            p.obs.push((lat.step, lat.t, o, lat.flux.clone()));
            let every = lat.cfg.spectrum_every.unwrap_or(1).max(1);
            if lat.step.is_multiple_of(every) || lat.step == lat.cfg.steps {
                let t1 = Instant::now();
                p.spectra.push((lat.step, lat.t, lat.power()?));
                p.spectra_s += t1.elapsed().as_secs_f64();
            }
            Ok(())
        };
        let mut stop = false;
        if p.obs.is_empty() {
            record(self, &mut p)?;
            stop = after_output(self, &p)?;
        }
        while self.step < cfg.steps && !stop {
            let k = cfg.output_every.min(cfg.steps - self.step);
            let t0 = Instant::now();
            self.advance(k)?;
            p.evolve_s += t0.elapsed().as_secs_f64();
            // An overflow ends the run but keeps every output before it.
            match record(self, &mut p) {
                Err(LatticeError::NonFinite(reason)) => {
                    res.diverged = Some(Divergence {
                        step: self.step,
                        reason,
                    });
                    break;
                }
                r => r?,
            }
            if let Some(b) = &bar {
                b.set_position(self.step as u64);
                b.set_message(format!("{:.2} e-folds", cfg.hubble * self.t));
            }
            stop = after_output(self, &p)?;
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let RunProgress {
            obs,
            spectra,
            evolve_s: evolve,
            spectra_s: spec,
        } = p;
        let t_theory = Instant::now();
        // The total's budget is Σ_b a³ρ_b against Σ_b of the flux integrals; for
        // F = 1 it is the field's own.
        let total: Vec<(f64, Observables, f64)> = obs
            .iter()
            .map(|(_, t, o, f)| (*t, Observables::total(o), f.iter().sum()))
            .collect();
        let resid = energy_residuals(cfg.hubble, &total);
        for ((step, t, _, _), ((_, o, _), r)) in obs.iter().zip(total.iter().zip(&resid)) {
            res.background.push(BackgroundRow {
                step: *step,
                t: *t,
                a: (cfg.hubble * t).exp(),
                obs: *o,
                energy_residual: *r,
            });
        }
        let field_resid: Vec<Vec<f64>> = (0..nf)
            .map(|b| {
                let rows: Vec<(f64, Observables, f64)> =
                    obs.iter().map(|(_, t, o, f)| (*t, o[b], f[b])).collect();
                energy_residuals(cfg.hubble, &rows)
            })
            .collect();
        for (i, (step, t, o, _)) in obs.iter().enumerate() {
            for b in 0..nf {
                res.field_rows.push(FieldRow {
                    step: *step,
                    t: *t,
                    field: b,
                    m2: self.m2s[b],
                    obs: o[b],
                    energy_residual: field_resid[b][i],
                });
            }
        }
        // The closed forms and linear theory are those of uncoupled fields.
        let coupled = self.coupled.is_some();
        if cfg.lambda == 0.0 && !coupled {
            res.field_theory = self
                .m2s
                .iter()
                .map(|&m2| {
                    obs.iter()
                        .map(|(_, t, _, _)| {
                            let (x, v) = background(
                                cfg.hubble,
                                m2,
                                cfg.phi_init - cfg.phi_min,
                                cfg.dphi_init,
                                *t,
                            );
                            (x + cfg.phi_min, v)
                        })
                        .collect()
                })
                .collect();
            if nf == 1 {
                res.background_theory = res.field_theory[0].clone();
            }
        }
        let times: Vec<f64> = spectra.iter().map(|s| s.1).collect();
        let theory: Vec<Vec<Vec<f64>>> = (0..nf)
            .map(|b| match &self.sums {
                Some(s) if cfg.hubble >= 0.0 && !coupled => {
                    theory_power(&self.table, &s[b], self.m2s[b], cfg.hubble, &times)
                }
                _ => vec![vec![f64::NAN; self.table.bin_k.len()]; times.len()],
            })
            .collect();
        for (i, (step, t, p)) in spectra.iter().enumerate() {
            for (b, p) in p.iter().enumerate() {
                for k in 0..p.len() {
                    res.spectrum.push(SpectrumRow {
                        step: *step,
                        t: *t,
                        field: b,
                        k: self.table.bin_k[k],
                        power: p[k],
                        modes: self.table.bin_count[k],
                        theory_power: theory[b][i][k],
                    });
                }
            }
        }
        let sites = (nf * self.sites()) as f64 * (self.step - step0) as f64;
        let forces = match cfg.integrator {
            crate::config::lattice::Integrator::Leapfrog => 1.0,
            crate::config::lattice::Integrator::Yoshida4 => 3.0,
        };
        res.timings = Timings {
            kernel: format!("{:?}", self.kernel),
            evolve_s: evolve,
            spectra_s: spec,
            theory_s: t_theory.elapsed().as_secs_f64(),
            site_updates_per_s: sites / evolve,
            force_evaluations_per_s: forces * sites / evolve,
            ..Default::default()
        };
        Ok(res)
    }
}

//! Kernel choice and binding: the kick–drift kernel for a grid and device
//! (`KickDrift`), the kick–drift and reduction kernels built uncoupled or coupled,
//! their uniform layouts, and the per-slot bind groups of a submission.

use bytemuck::{Pod, Zeroable};

use crate::config::lattice::LatticeConfig;
use crate::gpu::{Binding, GpuContext, GpuError, Kernel};

/// The uniform of one kick–drift unit (one slot of a submission).
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

/// The uniform of the reduction kernel.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ReduceParams {
    pub n: u32,
    pub _pad: [u32; 3],
    pub a: [f32; 4],
    pub pot: [f32; 4],
}

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
pub(super) const SLOTS: usize = 256;

/// The kick–drift kernel's invocations per field and workgroup size on this device.
pub(super) fn kd_shape(ctx: &GpuContext, kernel: KickDrift, n: usize) -> (usize, u32) {
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
pub(super) fn kd_kernel(
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
pub(super) fn reduce_kernel(
    ctx: &GpuContext,
    cfg: &LatticeConfig,
    coupled: bool,
) -> Result<Kernel, GpuError> {
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
pub(super) fn step_groups(
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

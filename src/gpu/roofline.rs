//! The memory roofline: the adapter's streaming bandwidth, measured with a plain
//! copy kernel, against which the benches report their memory-bound kernels.

use std::time::Instant;

use serde::Serialize;

use super::context::{GpuContext, GpuError};
use super::kernel::{Binding, Kernel, grid};
use super::timing::steps_for;

const WG: u32 = 256;

/// One copy kernel bound to a source and a destination of equal length.
pub struct StreamCopy {
    kernel: Kernel,
    group: wgpu::BindGroup,
    vec4s: u32,
}

impl StreamCopy {
    pub fn new(ctx: &GpuContext, x: &wgpu::Buffer, y: &wgpu::Buffer) -> Result<Self, GpuError> {
        let kernel = Kernel::new(
            ctx,
            "gpu/stream_copy",
            &[Binding::Read, Binding::ReadWrite],
            &[("WG", WG as f64)],
        )?;
        let group = kernel.bind(ctx, &[x, y]);
        Ok(Self {
            kernel,
            group,
            vec4s: (y.size().min(x.size()) / 16) as u32,
        })
    }

    /// Records and submits `passes` copies; no host wait.
    pub fn submit(&self, ctx: &GpuContext, passes: usize) {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let wgs = grid(
                self.vec4s.div_ceil(WG),
                ctx.limits.max_compute_workgroups_per_dimension,
            );
            for _ in 0..passes {
                self.kernel.dispatch(&mut pass, &self.group, wgs);
            }
        }
        ctx.queue.submit([enc.finish()]);
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Stream {
    /// Bytes of one buffer (each pass reads and writes this many).
    pub bytes: u64,
    pub passes: usize,
    pub seconds: f64,
    /// Bytes read plus bytes written per second, in GB/s.
    pub gb_per_s: f64,
}

/// Streaming bandwidth: copies of a buffer of up to 256 MiB (and one binding),
/// timed with the device synchronised, over about half a second.
pub fn measure_stream(ctx: &GpuContext) -> Result<Stream, GpuError> {
    let bytes = (ctx.max_binding() / 2).min(256 << 20) / 16 * 16;
    let x = super::storage_buffer(ctx, "stream x", bytes);
    let y = super::storage_buffer(ctx, "stream y", bytes);
    let copy = StreamCopy::new(ctx, &x, &y)?;
    let timed = |passes: usize| {
        let t = Instant::now();
        copy.submit(ctx, passes);
        ctx.wait()?;
        Ok::<_, GpuError>(t.elapsed().as_secs_f64())
    };
    timed(1)?;
    let passes = steps_for(0.5, 500, timed)?.max(2);
    let seconds = timed(passes)?;
    Ok(Stream {
        bytes,
        passes,
        seconds,
        gb_per_s: 2.0 * bytes as f64 * passes as f64 / seconds / 1e9,
    })
}

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

/// The adapter's f32 FMA peak in GFLOP/s, where it can be estimated: for a CPU driver,
/// one SIMD FMA per core per cycle (2 FLOPs per lane) at the highest clock, with the
/// SIMD width read from the adapter name ("…, 256 bits)" for llvmpipe on AVX2). GPUs
/// do not report their clocks or cores through wgpu: None.
pub fn fma_peak_gflops(ctx: &GpuContext) -> Option<f64> {
    if !ctx.is_cpu() {
        return None;
    }
    let name = &ctx.adapter.name;
    let bits: f64 = name
        .split(", ")
        .find_map(|s| s.strip_suffix(" bits)"))?
        .trim()
        .parse()
        .ok()?;
    let cores = std::thread::available_parallelism().ok()?.get() as f64;
    Some(2.0 * bits / 32.0 * cores * cpu_ghz()?)
}

/// Highest clock of the host's cores in GHz (cpufreq's maximum, else /proc/cpuinfo).
fn cpu_ghz() -> Option<f64> {
    if let Ok(khz) =
        std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        && let Ok(k) = khz.trim().parse::<f64>()
    {
        return Some(k / 1e6);
    }
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .filter(|l| l.starts_with("cpu MHz"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .reduce(f64::max)
        .map(|mhz| mhz / 1e3)
}

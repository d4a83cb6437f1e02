//! Buffer creation and batched read-back.

use wgpu::util::DeviceExt;

use super::context::{GpuContext, GpuError};

/// A zeroed storage buffer that can be copied to and from.
pub fn storage_buffer(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        // Multiples of 16 bytes so any buffer can also be bound as array<vec4<f32>>.
        size: bytes.max(16).next_multiple_of(16),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A storage buffer initialised from a slice.
pub fn upload_buffer<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, data: &[T]) -> wgpu::Buffer {
    let bytes: &[u8] = bytemuck::cast_slice(data);
    if bytes.is_empty() {
        return storage_buffer(ctx, label, 4);
    }
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// A uniform buffer holding one `#[repr(C)]` struct.
pub fn uniform_buffer<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// Copies `count` elements starting at element `offset` back to the host (blocking).
pub fn read_buffer<T: bytemuck::Pod>(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    offset: u64,
    count: usize,
) -> Result<Vec<T>, GpuError> {
    Ok(read_buffers(ctx, &[(buffer, offset, count)])?
        .pop()
        .unwrap_or_default())
}

/// Copies several ranges `(buffer, first element, count)` back to the host through one
/// staging buffer: one submission, one map and one wait for all of them, so results
/// that belong together (a segment's records and traces) cost a single host sync.
pub fn read_buffers<T: bytemuck::Pod>(
    ctx: &GpuContext,
    ranges: &[(&wgpu::Buffer, u64, usize)],
) -> Result<Vec<Vec<T>>, GpuError> {
    let size = std::mem::size_of::<T>() as u64;
    let total: u64 = ranges.iter().map(|r| r.2 as u64 * size).sum();
    if total == 0 {
        return Ok(ranges.iter().map(|_| Vec::new()).collect());
    }
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: total,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    let mut at = 0;
    for &(buffer, offset, count) in ranges {
        let bytes = count as u64 * size;
        if bytes > 0 {
            enc.copy_buffer_to_buffer(buffer, offset * size, &staging, at, bytes);
        }
        at += bytes;
    }
    ctx.queue.submit([enc.finish()]);
    let slice = staging.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Device(e.to_string()))?
        .map_err(|e| GpuError::Device(e.to_string()))?;
    let view = slice
        .get_mapped_range()
        .map_err(|e| GpuError::Device(e.to_string()))?;
    let all: &[T] = bytemuck::cast_slice(&view);
    let mut out = Vec::with_capacity(ranges.len());
    let mut at = 0;
    for &(_, _, count) in ranges {
        out.push(all[at..at + count].to_vec());
        at += count;
    }
    drop(view);
    staging.unmap();
    Ok(out)
}

//! A compute kernel: one WGSL entry point with an explicit bind-group layout.
//!
//! Explicit layouts avoid wgpu's auto-layout pitfall, where a layout derived from
//! the bindings an entry point *uses* rejects a bind group shared with another.

use super::context::{GpuContext, GpuError};
use super::shaders;

/// How a kernel sees one binding, in binding-index order in group 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Uniform,
    Read,
    ReadWrite,
}

pub struct Kernel {
    pub name: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub bindings: Vec<Binding>,
}

impl Kernel {
    /// Builds the kernel from `shaders/<name>.wgsl`, entry point `main`, with the
    /// given override constants (workgroup sizes and the like have one source: here).
    pub fn new(
        ctx: &GpuContext,
        name: &'static str,
        bindings: &[Binding],
        constants: &[(&str, f64)],
    ) -> Result<Self, GpuError> {
        let pre = shaders::preprocess(name)?;
        shaders::validate(&pre)?;
        // Software Vulkan (Mesa lavapipe up to 22.x at least) specialises a shader on
        // the values of the uniforms that bound its loops and recompiles it, keeping
        // every variant, each time a dispatch binds another uniform buffer: a run that
        // records every step grew ~0.5 MB and 10 ms per record. On CPU adapters the
        // parameter structs are bound as read-only storage instead (same layout: WGSL
        // fixes it by type), which the driver does not specialise on.
        let as_storage = ctx.is_cpu();
        let source = if as_storage {
            uniforms_as_storage(&pre.source)
        } else {
            pre.source
        };
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match b {
                        Binding::Uniform if as_storage => {
                            wgpu::BufferBindingType::Storage { read_only: true }
                        }
                        Binding::Uniform => wgpu::BufferBindingType::Uniform,
                        Binding::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Binding::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(name),
                entries: &entries,
            });
        let pl = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        ctx.check()?;
        Ok(Self {
            name,
            pipeline,
            layout,
            bindings: bindings.to_vec(),
        })
    }

    /// A bind group over whole buffers, in binding order.
    pub fn bind(&self, ctx: &GpuContext, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let whole: Vec<_> = buffers.iter().map(|b| b.as_entire_binding()).collect();
        self.bind_resources(ctx, &whole)
    }

    /// A bind group over arbitrary resources (buffer slices, say), in binding order.
    pub fn bind_resources(
        &self,
        ctx: &GpuContext,
        resources: &[wgpu::BindingResource<'_>],
    ) -> wgpu::BindGroup {
        assert_eq!(resources.len(), self.bindings.len(), "kernel {}", self.name);
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        })
    }

    /// Records one dispatch into an open compute pass.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        group: &wgpu::BindGroup,
        wg: [u32; 3],
    ) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(wg[0], wg[1], wg[2]);
    }
}

/// The WGSL with every `var<uniform>` declared `var<storage, read>`.
pub fn uniforms_as_storage(source: &str) -> String {
    source.replace("var<uniform>", "var<storage, read>")
}

/// Splits a 1-D workgroup count over x and y so no dimension exceeds the limit.
pub fn grid(groups: u32, max_per_dim: u32) -> [u32; 3] {
    if groups <= max_per_dim {
        [groups.max(1), 1, 1]
    } else {
        let y = groups.div_ceil(max_per_dim);
        [max_per_dim, y, 1]
    }
}

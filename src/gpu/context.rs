//! Adapter selection and device creation.
//!
//! The adapter is chosen by `--backend`/`--adapter` or the `WGPU_BACKEND` /
//! `WGPU_ADAPTER_NAME` variables, and the device is opened with the adapter's own
//! limits so that large ensembles and lattices can use everything the hardware has.

use std::sync::{Arc, Mutex};

use serde::Serialize;
use thiserror::Error;

/// Errors of the GPU layer. Each renders as one line that says what to do.
#[derive(Debug, Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found for backends {backends}; on Linux install a software Vulkan driver with `apt-get install mesa-vulkan-drivers` (lavapipe), or choose another backend with --backend / WGPU_BACKEND"
    )]
    NoAdapter { backends: String },
    #[error("no adapter matches --adapter/WGPU_ADAPTER_NAME `{name}`; available: {available}")]
    AdapterNotFound { name: String, available: String },
    #[error(
        "unknown backend `{0}` for --backend/WGPU_BACKEND (expected vulkan, metal, dx12, gl or a comma list)"
    )]
    UnknownBackend(String),
    #[error("could not open a device on `{adapter}`: {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("shader {0}")]
    Shader(String),
    #[error(
        "{what} needs {bytes} bytes in one buffer, but the adapter allows {limit} bytes ({hint})"
    )]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        hint: String,
    },
    #[error("GPU error: {0}")]
    Device(String),
    #[error("--devices {asked} exceeds {what}; give at most {max}, or `all`")]
    TooFewDevices {
        asked: usize,
        what: String,
        max: usize,
    },
}

/// Most logical devices opened on one adapter by `--devices K`: beyond a few, they
/// only divide the same hardware and each compiles its own pipelines.
pub const MAX_DEVICES_PER_ADAPTER: usize = 8;

/// Which backends to consider; `None` means the environment or all of them.
#[derive(Clone, Debug, Default)]
pub struct BackendChoice {
    pub backend: Option<String>,
    pub adapter: Option<String>,
}

impl BackendChoice {
    fn backends(&self) -> Result<wgpu::Backends, GpuError> {
        let text = self
            .backend
            .clone()
            .or_else(|| std::env::var("WGPU_BACKEND").ok());
        match text {
            // GL is left out by default: it adds nothing for compute and is noisy headless.
            None => Ok(wgpu::Backends::PRIMARY),
            Some(t) => {
                let b = wgpu::Backends::from_comma_list(&t);
                if b.is_empty() {
                    Err(GpuError::UnknownBackend(t))
                } else {
                    Ok(b)
                }
            }
        }
    }

    fn adapter_name(&self) -> Option<String> {
        self.adapter
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty())
    }
}

/// What a report needs to know about an adapter.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    pub device_type: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_storage_buffers_per_shader_stage: u32,
    pub min_subgroup_size: u32,
    pub max_subgroup_size: u32,
    pub features: Vec<String>,
}

impl AdapterSummary {
    fn new(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let l = adapter.limits();
        let f = adapter.features();
        let wanted = [
            (wgpu::Features::SHADER_F64, "SHADER_F64"),
            (wgpu::Features::SUBGROUP, "SUBGROUP"),
            (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
            (
                wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS,
                "TIMESTAMP_QUERY_INSIDE_ENCODERS",
            ),
            (wgpu::Features::SHADER_INT64, "SHADER_INT64"),
        ];
        Self {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend).to_lowercase(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            device_type: format!("{:?}", info.device_type),
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            min_subgroup_size: info.subgroup_min_size,
            max_subgroup_size: info.subgroup_max_size,
            features: wanted
                .iter()
                .filter(|(flag, _)| f.contains(*flag))
                .map(|(_, n)| n.to_string())
                .collect(),
        }
    }
}

fn instance(choice: &BackendChoice) -> Result<wgpu::Instance, GpuError> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = choice.backends()?;
    Ok(wgpu::Instance::new(desc))
}

/// Every adapter the chosen backends expose.
pub fn list_adapters(choice: &BackendChoice) -> Result<Vec<AdapterSummary>, GpuError> {
    let inst = instance(choice)?;
    let adapters = pollster::block_on(inst.enumerate_adapters(choice.backends()?));
    Ok(adapters.iter().map(AdapterSummary::new).collect())
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// A device and queue, with the adapter's description and the error sink.
#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Opens the best adapter allowed by `choice` (discrete before integrated before CPU).
    pub fn new(choice: &BackendChoice) -> Result<Self, GpuError> {
        let inst = instance(choice)?;
        let backends = choice.backends()?;
        let mut adapters = pollster::block_on(inst.enumerate_adapters(backends));
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter {
                backends: format!("{backends:?}"),
            });
        }
        if let Some(name) = choice.adapter_name() {
            let want = name.to_lowercase();
            let available: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&want));
            if adapters.is_empty() {
                return Err(GpuError::AdapterNotFound {
                    name,
                    available: available.join(", "),
                });
            }
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let adapter = adapters.swap_remove(0);
        Self::from_adapter(adapter)
    }

    /// Opens the devices of `--devices`: `all` adapters of the best adapter's backend
    /// (GPUs only, when there are any), or K of them; K devices of the only adapter
    /// when there is just one (up to `MAX_DEVICES_PER_ADAPTER`).
    pub fn open_devices(
        choice: &BackendChoice,
        devices: crate::config::scale::Devices,
    ) -> Result<Vec<Self>, GpuError> {
        use crate::config::scale::Devices;
        if devices.is_one() {
            return Ok(vec![Self::new(choice)?]);
        }
        let inst = instance(choice)?;
        let backends = choice.backends()?;
        let mut adapters = pollster::block_on(inst.enumerate_adapters(backends));
        if let Some(name) = choice.adapter_name() {
            let want = name.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&want));
        }
        if adapters.is_empty() {
            // The single-device path names what is missing.
            return Ok(vec![Self::new(choice)?]);
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        // One backend only (DX12 and Vulkan may both expose the same GPU), and no
        // software rasteriser beside real GPUs.
        let best = adapters[0].get_info();
        adapters.retain(|a| {
            let i = a.get_info();
            i.backend == best.backend
                && (best.device_type == wgpu::DeviceType::Cpu
                    || i.device_type != wgpu::DeviceType::Cpu)
        });
        let found = adapters.len();
        let names = || {
            adapters
                .iter()
                .map(|a| a.get_info().name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match devices {
            Devices::All => adapters.into_iter().map(Self::from_adapter).collect(),
            Devices::Count(k) if k <= found => adapters
                .into_iter()
                .take(k)
                .map(Self::from_adapter)
                .collect(),
            Devices::Count(k) if found == 1 && k <= MAX_DEVICES_PER_ADAPTER => {
                let a = adapters.swap_remove(0);
                (0..k).map(|_| Self::from_adapter_ref(&a)).collect()
            }
            Devices::Count(k) if found == 1 => Err(GpuError::TooFewDevices {
                asked: k,
                what: format!(
                    "the {MAX_DEVICES_PER_ADAPTER} devices opened on the only adapter ({})",
                    names()
                ),
                max: MAX_DEVICES_PER_ADAPTER,
            }),
            Devices::Count(k) => Err(GpuError::TooFewDevices {
                asked: k,
                what: format!("the {found} adapters found ({})", names()),
                max: found,
            }),
        }
    }

    fn from_adapter(adapter: wgpu::Adapter) -> Result<Self, GpuError> {
        Self::from_adapter_ref(&adapter)
    }

    fn from_adapter_ref(adapter: &wgpu::Adapter) -> Result<Self, GpuError> {
        let summary = AdapterSummary::new(adapter);
        // SHADER_INT64 lets CPU drivers move parameters 8 floats per component loop.
        let wanted = wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::SHADER_INT64;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("nncosmo"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::RequestDevice {
            adapter: summary.name.clone(),
            message: e.to_string(),
        })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        // wgpu panics on uncaptured errors by default; collect them instead so that
        // callers can turn them into a one-line error.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").to_string();
            sink.lock().unwrap().push(first);
        }));
        Ok(Self {
            device,
            queue,
            adapter: summary,
            limits,
            features,
            errors,
        })
    }

    /// Largest byte size one storage binding may have.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Fails with the first uncaptured device error since the last call, if any.
    pub fn check(&self) -> Result<(), GpuError> {
        let mut errs = self.errors.lock().unwrap();
        if errs.is_empty() {
            Ok(())
        } else {
            let first = errs.remove(0);
            errs.clear();
            Err(GpuError::Device(first))
        }
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(e.to_string()))?;
        self.check()
    }

    /// A software rasteriser on the host CPU (llvmpipe, WARP, SwiftShader), whose
    /// kernels want other shapes than a GPU's.
    pub fn is_cpu(&self) -> bool {
        self.adapter.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }

    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// Whether shaders may use 64-bit integers.
    pub fn has_int64(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_INT64)
    }
}

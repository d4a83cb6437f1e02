//! GPU plumbing shared by both engines: adapter choice, shader loading, buffers and
//! compute kernels with explicit layouts.

pub mod buffers;
pub mod context;
pub mod headless;
pub mod kernel;
pub mod roofline;
pub mod shaders;
pub mod timing;

pub use buffers::{read_buffer, read_buffers, storage_buffer, uniform_buffer, upload_buffer};
pub use context::{AdapterSummary, BackendChoice, GpuContext, GpuError, list_adapters};
pub use kernel::{Binding, Kernel};

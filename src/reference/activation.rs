//! CPU twin of `shaders/shared/activation.wgsl`: [`crate::shader_activation`].

pub use crate::shader_activation::{act_and_deriv, act_code, erf_and_deriv};

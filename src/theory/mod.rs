//! Analytic, pure-f64 theory: infinite-width kernels, mode propagators, de Sitter
//! closed forms, the dictionary and EFT fits. No GPU code lives here.

pub mod activation;
pub use activation::{Activation, Parametrization};

//! Plain-Rust f64 twins of every WGSL kernel, with the same names. Tests run a
//! kernel and its twin on the same inputs and compare. No GPU code lives here.

pub mod activation;
pub mod lattice;
pub mod nn;
pub mod rng;
pub mod stream;

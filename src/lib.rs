//! nncosmo-gpu: wide-network ensembles and a de Sitter lattice field, simulated in
//! WGSL compute kernels and compared through the NN–cosmology dictionary.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod duality;
pub mod gpu;
pub mod lattice;
pub mod nn;
pub mod par;
pub mod philox;
pub mod preflight;
pub mod reference;
pub mod report;
pub mod shader_activation;
pub mod signals;
pub mod theory;

//! nncosmo-gpu: wide-network ensembles and a de Sitter lattice field, simulated in
//! WGSL compute kernels and compared through the NN–cosmology dictionary.

pub mod theory;

//! CPU twin of `shaders/shared/rng.wgsl`: the host Philox of [`crate::philox`].

pub use crate::philox::{normal2, philox4x32, seed_key, unit};

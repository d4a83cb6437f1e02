//! Analytic, pure-f64 theory: infinite-width kernels, mode propagators, de Sitter
//! closed forms, the dictionary and EFT fits. No GPU code lives here.
//!
//! Everything in this module is the "truth" that the GPU simulations are compared
//! against (DESIGN.md §1–§3), so it favours clarity and numerical robustness over
//! speed.

pub mod activation;
pub mod desitter;
pub mod dictionary;
pub mod eft_fit;
pub mod kernels;
pub mod modes;
pub mod propagator;

pub use activation::{Activation, Parametrization, ParseEnumError};
pub use desitter::{
    background, bunch_davies_initial, conformal_mode, massless_mode, mode_transfer,
};
pub use dictionary::{
    ContinuumDictionary, DictionaryError, DiscreteDual, FieldRegime, NetworkDual, continuum,
    discrete, regime, to_network,
};
pub use eft_fit::{
    EftFit, EftParams, FitError, eft_params, fit_first_order, fit_momentum_recurrence,
};
pub use kernels::{Kernels, NetSpec, infinite_width_kernels, pair_expectations};
pub use modes::{Modes, eigen_modes, ring_modes};
pub use propagator::{TheoryLines, TheoryStep, max_stable_lr, mode_propagator, theory_lines};

/// Tiny deterministic RNG for tests (SplitMix64 + Box–Muller); no external crates.
#[cfg(test)]
pub(crate) mod test_rng {
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in the open interval (0, 1).
        pub fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        pub fn normal(&mut self) -> f64 {
            let (u1, u2) = (self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }
}

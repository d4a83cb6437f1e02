//! The ensemble engine: wide MLPs trained by heavy-ball gradient descent in WGSL.

pub mod run;

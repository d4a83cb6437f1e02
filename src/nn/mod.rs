//! The ensemble engine: wide MLPs trained by heavy-ball gradient descent in WGSL.

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod engine;
pub mod layout;
pub mod run;
pub mod teacher;

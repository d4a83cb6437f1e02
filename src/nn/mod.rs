//! The ensemble engine: wide MLPs trained by heavy-ball gradient descent in WGSL.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod engine;
pub mod layout;
pub mod merge;
pub mod output;
pub mod results;
pub mod run;
pub mod shard;
pub mod stats;
pub mod teacher;

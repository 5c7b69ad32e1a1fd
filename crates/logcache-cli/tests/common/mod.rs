//! Helpers of the `logcache` binary's tests: the library's shared test helpers
//! (`tests/common/` at the top of the tree) and the ones that run the binary.
#![allow(dead_code, unused_imports)]

#[path = "../../../../tests/common/mod.rs"]
mod shared;
pub use shared::*;

pub mod cli;
#[cfg(feature = "server")]
pub mod mc_node;
#[cfg(feature = "server")]
pub mod served;

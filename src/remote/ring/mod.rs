//! [`ShardedStore`]: a consistent-hash ring over `KvStore` nodes.

mod copies;
mod hash;
mod health;
mod sharded;
mod stats;
#[cfg(test)]
mod tests;

pub use hash::ring_hash;
pub use sharded::{DEFAULT_VNODES, ShardedStore, ShardedStoreBuilder};
use sharded::{Node, names};
pub use stats::{NodeStats, ShardedStats};

//! [`MemoryCache`]: a sharded, byte-weighted, in-memory cache with pluggable eviction and TTL.

mod cache;
mod flight;
pub mod policy;
mod tiered;

pub use cache::{DEFAULT_SHARDS, ENTRY_OVERHEAD, MemoryCache, MemoryCacheBuilder, MemoryStats};
pub use tiered::{Loader, Tiered, TieredBuilder, TieredStats, WritePolicy};

//! [`DurableKVCache`]: the embedded durable engine over one append-only log file.
//!
//! The handle ([`DurableKVCache`], cache.rs) shares [`Inner`](inner::Inner) with its threads:
//! the log's names (paths.rs), the write path and group commit (write.rs), compaction
//! (compact/), the byte budget's eviction (evict.rs), the index (index/, key.rs) and the
//! counters (stats.rs). Opening is open.rs and hint.rs; reads read.rs; deferred writes
//! deferred.rs; recovery in place recover.rs; options builder.rs.

mod batch;
mod builder;
mod cache;
mod compact;
mod deferred;
mod evict;
mod follow;
mod hint;
mod index;
mod inner;
mod key;
mod mapped;
mod open;
mod paths;
mod read;
mod read_cache;
mod recover;
mod shared;
mod stats;
mod update;
mod write;

pub use builder::{
    DEFAULT_COMPACTION_DEAD_BYTES, DEFAULT_COMPACTION_DEAD_RATIO, DEFAULT_COMPACTION_THRESHOLD,
    DEFAULT_MAX_VALUE_LEN, DurableKVCacheBuilder,
};
pub use cache::DurableKVCache;
pub use evict::Evicted;
pub use follow::Follower;
pub use stats::{RecoveryStats, Stats};
pub use update::{Change, Current};
pub use write::Ticket;

use inner::{Inner, check_key, dead_bytes};

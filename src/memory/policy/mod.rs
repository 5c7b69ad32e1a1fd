//! Eviction policies: they decide which entry goes; the cache acts.
//!
//! A policy sees entries only as ids (handles the cache assigns) with a weight (bytes) and a
//! fingerprint (a hash of the key, for policies that remember keys after eviction). It never
//! sees keys or values, so it can be unit-tested alone, step by step.

mod list;
mod lru;
mod s3fifo;

use list::List;

pub use lru::Lru;
pub use s3fifo::S3Fifo;

/// Decides which entry a full cache evicts. Implementations are per shard, called with the
/// shard's lock held.
pub trait EvictionPolicy: Send + std::fmt::Debug {
    /// An entry `id` of `weight` bytes was inserted; `fingerprint` identifies its key across
    /// evictions and re-insertions.
    fn on_insert(&mut self, id: u64, weight: u64, fingerprint: u64);
    /// Entry `id` was read.
    fn on_access(&mut self, id: u64);
    /// Entry `id` was removed by the cache (deleted, replaced or expired): forget it.
    fn on_remove(&mut self, id: u64);
    /// The entry to evict next, forgotten by the policy; `None` when it holds none.
    fn evict(&mut self) -> Option<u64>;
}

/// Which policy a [`MemoryCache`](crate::MemoryCache) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PolicyKind {
    /// Least recently used: O(1) per operation. Good for recency-heavy workloads; a scan of
    /// keys used once flushes everything.
    Lru,
    /// S3-FIFO (Yang et al., SOSP 2023): a small FIFO for new entries, a main FIFO for entries
    /// used again, a ghost queue of recent evictions. Scan-resistant; the default.
    #[default]
    S3Fifo,
}

impl PolicyKind {
    pub(crate) fn build(self, capacity: u64) -> Box<dyn EvictionPolicy> {
        match self {
            PolicyKind::Lru => Box::new(Lru::default()),
            PolicyKind::S3Fifo => Box::new(S3Fifo::new(capacity)),
        }
    }
}

//! Eviction policies: they decide which entry goes; the cache acts.
//!
//! A policy sees entries only as ids (handles the cache assigns) with a weight (bytes) and a
//! fingerprint (a hash of the key, for policies that remember keys after eviction). It never
//! sees keys or values, so it can be unit-tested alone, step by step.

mod lru;
mod s3fifo;

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

/// A doubly linked list of ids over a slab, with O(1) push, pop and unlink by id: the building
/// block of both policies.
#[derive(Debug, Default)]
pub(crate) struct List {
    nodes: std::collections::HashMap<u64, (Option<u64>, Option<u64>), foldhash::fast::RandomState>,
    head: Option<u64>,
    tail: Option<u64>,
}

impl List {
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Inserts `id` at the head (most recent end).
    pub(crate) fn push_front(&mut self, id: u64) {
        self.nodes.insert(id, (None, self.head));
        if let Some(h) = self.head
            && let Some(n) = self.nodes.get_mut(&h)
        {
            n.0 = Some(id);
        }
        self.head = Some(id);
        if self.tail.is_none() {
            self.tail = Some(id);
        }
    }

    /// Removes `id`; returns whether it was there.
    pub(crate) fn unlink(&mut self, id: u64) -> bool {
        let Some((prev, next)) = self.nodes.remove(&id) else {
            return false;
        };
        match prev {
            Some(p) => {
                if let Some(n) = self.nodes.get_mut(&p) {
                    n.1 = next;
                }
            }
            None => self.head = next,
        }
        match next {
            Some(nx) => {
                if let Some(n) = self.nodes.get_mut(&nx) {
                    n.0 = prev;
                }
            }
            None => self.tail = prev,
        }
        true
    }

    /// Removes and returns the tail (least recent end).
    pub(crate) fn pop_back(&mut self) -> Option<u64> {
        let id = self.tail?;
        self.unlink(id);
        Some(id)
    }
}

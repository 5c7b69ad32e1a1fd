//! [`BigStats`]: the counters and block accounting of a [`BigCache`].

use std::sync::atomic::{AtomicU64, Ordering};

use super::BigCache;
use crate::store::KvStore;
use crate::sync::lock;

/// Counters and block accounting of a [`BigCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BigStats {
    /// Objects held (as far as this handle's accounting knows; see [`BigCache`]).
    pub objects: u64,
    /// Blocks held by committed objects.
    pub used_blocks: u64,
    /// Blocks reserved by writes in progress.
    pub reserved_blocks: u64,
    /// Free blocks (`None` without a capacity).
    pub free_blocks: Option<u64>,
    /// Capacity in blocks (`None` = unbounded).
    pub capacity_blocks: Option<u64>,
    /// Block size in bytes.
    pub block_size: u64,
    /// `get`s that returned an object.
    pub hits: u64,
    /// `get`s that found none (absent, evicted, or damaged).
    pub misses: u64,
    /// Objects committed.
    pub sets: u64,
    /// Objects deleted by `delete`.
    pub deletes: u64,
    /// Objects evicted to make room.
    pub evictions: u64,
    /// Objects found with a missing or damaged block or manifest, and removed.
    pub damaged: u64,
    /// Orphan blocks (written by a set that never committed) removed at open.
    pub orphans_removed: u64,
    /// Objects dropped because their TTL ran out.
    pub expired: u64,
}

impl BigStats {
    /// The stats as named values, in a fixed order (for reports and metrics); the capacity
    /// and free blocks only when there is a capacity.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut rows = vec![
            ("objects", self.objects),
            ("used_blocks", self.used_blocks),
            ("reserved_blocks", self.reserved_blocks),
            ("block_size", self.block_size),
            ("hits", self.hits),
            ("misses", self.misses),
            ("sets", self.sets),
            ("deletes", self.deletes),
            ("evictions", self.evictions),
            ("damaged", self.damaged),
            ("orphans_removed", self.orphans_removed),
            ("expired", self.expired),
        ];
        if let Some(c) = self.capacity_blocks {
            rows.push(("capacity_blocks", c));
        }
        if let Some(f) = self.free_blocks {
            rows.push(("free_blocks", f));
        }
        rows
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) sets: AtomicU64,
    pub(super) deletes: AtomicU64,
    pub(super) evictions: AtomicU64,
    pub(super) damaged: AtomicU64,
    pub(super) orphans_removed: AtomicU64,
    pub(super) expired: AtomicU64,
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl<S: KvStore> BigCache<S> {
    /// Blocks held by each object in the accounting, as `(key, blocks)`.
    pub fn blocks_per_key(&self) -> Vec<(Vec<u8>, u64)> {
        lock(&self.pool)
            .iter()
            .map(|(k, h)| (k.clone(), h.blocks))
            .collect()
    }

    /// Counters and block accounting.
    pub fn stats(&self) -> BigStats {
        let (objects, used, reserved, free, capacity) = {
            let p = lock(&self.pool);
            (p.objects() as u64, p.used, p.reserved, p.free(), p.capacity)
        };
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BigStats {
            objects,
            used_blocks: used,
            reserved_blocks: reserved,
            free_blocks: free,
            capacity_blocks: capacity,
            block_size: self.block_size as u64,
            hits: get(&c.hits),
            misses: get(&c.misses),
            sets: get(&c.sets),
            deletes: get(&c.deletes),
            evictions: get(&c.evictions),
            damaged: get(&c.damaged),
            orphans_removed: get(&c.orphans_removed),
            expired: get(&c.expired),
        }
    }
}

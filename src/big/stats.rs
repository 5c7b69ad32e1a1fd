//! [`BigStats`]: the counters and block accounting of a [`BigCache`].

pub(super) use crate::counters::bump;
use crate::counters::stats;

use super::BigCache;
use crate::store::KvStore;
use crate::sync::lock;

stats! {
    /// Counters and block accounting of a [`BigCache`].
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct BigStats, counted by pub(super) Counters {
        gauges {
            /// Objects held (as far as this handle's accounting knows; see [`BigCache`]).
            objects: u64,
            /// Blocks held by committed objects.
            used_blocks: u64,
            /// Blocks reserved by writes in progress.
            reserved_blocks: u64,
            /// Free blocks (`None` without a capacity).
            free_blocks: Option<u64>,
            /// Capacity in blocks (`None` = unbounded).
            capacity_blocks: Option<u64>,
            /// Block size in bytes.
            block_size: u64,
        }
        counters {
            /// `get`s that returned an object.
            hits,
            /// `get`s that found none (absent, evicted, or damaged).
            misses,
            /// Objects committed.
            sets,
            /// Objects deleted by `delete`.
            deletes,
            /// Objects evicted to make room.
            evictions,
            /// Objects found with a missing or damaged block or manifest, and removed.
            damaged,
            /// Orphan blocks (written by a set that never committed) removed at open.
            orphans_removed,
            /// Objects dropped because their TTL ran out.
            expired,
        }
    }
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
        ];
        rows.extend(self.counter_rows());
        if let Some(c) = self.capacity_blocks {
            rows.push(("capacity_blocks", c));
        }
        if let Some(f) = self.free_blocks {
            rows.push(("free_blocks", f));
        }
        rows
    }
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
        let mut stats = BigStats {
            objects,
            used_blocks: used,
            reserved_blocks: reserved,
            free_blocks: free,
            capacity_blocks: capacity,
            block_size: self.block_size as u64,
            ..BigStats::default()
        };
        self.counters.fill(&mut stats);
        stats
    }
}

//! [`BigStats`]: the counters and byte accounting of a [`BigCache`].

pub(super) use crate::counters::bump;
use crate::counters::stats;

use super::BigCache;
use crate::store::KvStore;
use crate::sync::lock;

stats! {
    /// Counters and byte accounting of a [`BigCache`].
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct BigStats, counted by pub(super) Counters {
        gauges {
            /// Objects held (as far as this handle's accounting knows; see [`BigCache`]).
            objects: u64,
            /// Bytes charged to committed objects (size, key and manifest of each).
            used_bytes: u64,
            /// Bytes reserved by writes in progress.
            reserved_bytes: u64,
            /// Free bytes (`None` without a capacity).
            free_bytes: Option<u64>,
            /// Capacity in bytes (`None` = unbounded).
            capacity_bytes: Option<u64>,
            /// Blocks in the store held by committed objects (an inline object has none).
            blocks: u64,
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
            /// Objects evicted to make room (by this cache's capacity, or by the store's own
            /// budget: an object that lost its manifest or a block).
            evictions,
            /// Objects found with a missing or damaged block or manifest, and removed.
            damaged,
            /// Orphan blocks (written by a set that never committed) removed at open.
            orphans_removed,
            /// Objects dropped because their TTL ran out.
            expired,
            /// Manifest copies rewritten by read repair (over a replicated store: a replica
            /// held an older write, none, or a damaged copy).
            repairs,
        }
    }
}

impl BigStats {
    /// The stats as named values, in a fixed order (for reports and metrics); the capacity
    /// and free bytes only when there is a capacity.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut rows = vec![
            ("objects", self.objects),
            ("used_bytes", self.used_bytes),
            ("reserved_bytes", self.reserved_bytes),
            ("blocks", self.blocks),
            ("block_size", self.block_size),
        ];
        rows.extend(self.counter_rows());
        if let Some(c) = self.capacity_bytes {
            rows.push(("capacity_bytes", c));
        }
        if let Some(f) = self.free_bytes {
            rows.push(("free_bytes", f));
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

    /// Counters and byte accounting (over a store that evicts on its own, after applying what
    /// it evicted).
    pub fn stats(&self) -> BigStats {
        self.apply_store_evictions();
        let mut stats = {
            let p = lock(&self.pool);
            BigStats {
                objects: p.objects() as u64,
                used_bytes: p.used,
                reserved_bytes: p.reserved,
                free_bytes: p.free(),
                capacity_bytes: p.capacity,
                blocks: p.blocks,
                block_size: self.block_size as u64,
                ..BigStats::default()
            }
        };
        self.counters.fill(&mut stats);
        stats
    }
}

//! Counters and the public [`Stats`] snapshot.

use std::time::Duration;

use crate::counters::stats;

/// What the last open found while replaying the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Index entries read from the hint file (`<path>.hint`, written at a clean close and by
    /// compaction) instead of replaying their records; 0 when the whole log was replayed.
    pub hint_entries: u64,
    /// Intact records replayed (with a hint file: only those after the part it describes).
    pub records_replayed: u64,
    /// Damaged regions skipped by [`RecoveryMode::Salvage`](crate::RecoveryMode::Salvage).
    pub damaged_regions: u64,
    /// Bytes in those regions.
    pub damaged_bytes: u64,
    /// Non-zero bytes after the last intact record that open truncated (a torn write).
    pub torn_tail_bytes: u64,
    /// Bytes cut from the end of the file at open, preallocated zeros included.
    pub truncated_bytes: u64,
    /// Entries found already expired.
    pub expired: u64,
}

stats! {
    /// A snapshot of a [`DurableKVCache`](crate::DurableKVCache)'s state and counters.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Stats, counted by pub(super) Counters {
        gauges {
            /// Keys with a live, unexpired value.
            live_keys: u64,
            /// Bytes of the records holding those values.
            live_bytes: u64,
            /// Bytes of the log that hold no live value (superseded, deleted, expired, damaged;
            /// the file header excluded); compaction reclaims them.
            dead_bytes: u64,
            /// Bytes of data in the log file (excluding preallocated space).
            file_bytes: u64,
            /// Bytes the log file takes including preallocated space.
            allocated_bytes: u64,
            /// Records in the log that no longer hold a live value, since the last compaction.
            stale_records: u64,
            /// Whether a compaction is running or requested now.
            compacting: bool,
            /// Duration of the last compaction.
            last_compaction: Duration,
            /// What the last open found.
            recovery: RecoveryStats,
            /// The byte budget ([`max_bytes`](crate::DurableKVCacheBuilder::max_bytes)); 0
            /// without one.
            max_bytes: u64,
            /// Bytes the read cache of large values holds
            /// ([`read_cache_bytes`](crate::DurableKVCacheBuilder::read_cache_bytes)).
            read_cache_bytes: u64,
        }
        counters {
            /// `get`s that found a value.
            hits,
            /// `get`s that found nothing (absent or expired).
            misses,
            /// Successful sets (`set`, `set_with_ttl`, `set_deferred`, and `put`, their alias).
            sets,
            /// Deletes that removed a live value.
            deletes,
            /// Entries found expired on read (lazily dropped from the index).
            expirations,
            /// `fdatasync` calls made on the log.
            syncs,
            /// Compactions completed.
            compactions,
            /// Automatic compactions skipped for lack of free disk space.
            compactions_skipped,
            /// Automatic compactions that failed (the log stays as it was; see the `log` output).
            compaction_errors,
            /// Bytes reclaimed by compactions in total.
            bytes_reclaimed,
            /// Recoveries in place after a failed write or fsync
            /// ([`DurableKVCache::recover`](crate::DurableKVCache::recover)).
            recoveries,
            /// Entries evicted to keep to the byte budget.
            evictions,
            /// Bytes of the records evicted.
            evicted_bytes,
            /// Reads of large values answered from the read cache.
            read_cache_hits,
            /// Reads of large values that went to the log (then kept in the read cache).
            read_cache_misses,
        }
    }
}

impl Stats {
    /// The stats as named values, in a fixed order (for reports and metrics): the gauges, the
    /// counters, then what the last open recovered.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut rows = vec![
            ("live_keys", self.live_keys),
            ("live_bytes", self.live_bytes),
            ("dead_bytes", self.dead_bytes),
            ("file_bytes", self.file_bytes),
            ("stale_records", self.stale_records),
            ("max_bytes", self.max_bytes),
            ("read_cache_bytes", self.read_cache_bytes),
        ];
        rows.extend(self.counter_rows());
        rows.extend([
            ("records_replayed", self.recovery.records_replayed),
            ("damaged_regions", self.recovery.damaged_regions),
            ("torn_tail_bytes", self.recovery.torn_tail_bytes),
        ]);
        rows
    }
}

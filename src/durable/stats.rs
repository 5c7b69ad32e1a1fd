//! Counters and the public [`Stats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Monotonic counters, updated without locks.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) puts: AtomicU64,
    pub(super) deletes: AtomicU64,
    pub(super) expirations: AtomicU64,
    pub(super) syncs: AtomicU64,
    pub(super) compactions: AtomicU64,
    pub(super) compactions_skipped: AtomicU64,
    pub(super) compaction_errors: AtomicU64,
    pub(super) bytes_reclaimed: AtomicU64,
    pub(super) last_compaction_micros: AtomicU64,
    pub(super) recoveries: AtomicU64,
}

impl Counters {
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the last open found while replaying the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Intact records replayed.
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

/// A snapshot of a [`DurableKVCache`](crate::DurableKVCache)'s state and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Keys with a live, unexpired value.
    pub live_keys: u64,
    /// Bytes of the records holding those values.
    pub live_bytes: u64,
    /// Bytes of the log that hold no live value (superseded, deleted, expired, damaged;
    /// the file header excluded); compaction reclaims them.
    pub dead_bytes: u64,
    /// Bytes of data in the log file (excluding preallocated space).
    pub file_bytes: u64,
    /// Bytes the log file takes including preallocated space.
    pub allocated_bytes: u64,
    /// Records in the log that no longer hold a live value, since the last compaction.
    pub stale_records: u64,
    /// `get`s that found a value.
    pub hits: u64,
    /// `get`s that found nothing (absent or expired).
    pub misses: u64,
    /// Successful puts.
    pub puts: u64,
    /// Deletes that removed a live value.
    pub deletes: u64,
    /// Entries found expired on read (lazily dropped from the index).
    pub expirations: u64,
    /// `fdatasync` calls made on the log.
    pub syncs: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Automatic compactions skipped for lack of free disk space.
    pub compactions_skipped: u64,
    /// Automatic compactions that failed (the log stays as it was; see the `log` output).
    pub compaction_errors: u64,
    /// Whether a compaction is running or requested now.
    pub compacting: bool,
    /// Bytes reclaimed by compactions in total.
    pub bytes_reclaimed: u64,
    /// Duration of the last compaction.
    pub last_compaction: Duration,
    /// What the last open found.
    pub recovery: RecoveryStats,
    /// Recoveries in place after a failed write or fsync
    /// ([`DurableKVCache::recover`](crate::DurableKVCache::recover)).
    pub recoveries: u64,
}

//! The vocabulary of the engine's options: durability and recovery.

use std::time::Duration;

/// When a write is on stable storage, in the terms of RocksDB's `WriteOptions::sync` and
/// Bitcask's `sync_strategy`.
///
/// The default is [`Durability::Sync`]: `put` blocks until the record is persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `put`/`delete` return only after the record is on stable storage (`fdatasync`).
    /// Concurrent writers share one fsync (group commit), so throughput grows with writers.
    /// A write is visible to readers only once it is durable.
    #[default]
    Sync,
    /// Writes go to the operating system at once and a background thread calls `fdatasync`
    /// at most every interval when there is something to sync. A process crash loses nothing;
    /// a power loss or kernel crash loses at most about the last interval of writes.
    Interval(Duration),
    /// Writes go to the operating system at once and are synced only by
    /// [`DurableKVCache::sync`](crate::DurableKVCache::sync), compaction and a clean close.
    /// A process crash loses nothing; a power loss may lose any write since the last sync.
    None,
}

/// What open does with a damaged record that has intact records after it (media corruption,
/// not a torn tail: a torn tail is always truncated).
///
/// Matches RocksDB's `WALRecoveryMode::kSkipAnyCorruptedRecords` (Salvage) and
/// `kAbsoluteConsistency` (Strict). The default is [`RecoveryMode::Salvage`]: a cache prefers
/// to open with what is intact over refusing to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Skip the damaged bytes, resume at the next record whose checksum holds, and report what
    /// was skipped in [`Stats::recovery`](crate::Stats). A key whose newest record was damaged
    /// comes back at its previous intact value: after a crash, a damaged record is usually an
    /// unacknowledged write, and the previous value is the acknowledged one.
    #[default]
    Salvage,
    /// Refuse to open with [`Error::Corrupt`](crate::Error::Corrupt), naming the file and the
    /// byte offset of the damage, and leave the file untouched.
    Strict,
}

/// Which entry a [`DurableKVCache`](crate::DurableKVCache) with a byte budget
/// ([`max_bytes`](crate::DurableKVCacheBuilder::max_bytes)) evicts.
///
/// All walk the log in order with a hand, as the log is the one order the store already
/// keeps (no per-entry list in memory); what differs is whether a read saves an entry, and
/// whether new keys are on probation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Eviction {
    /// CLOCK with a small frequency count (0–3) per key: a read raises it, the passing hand
    /// lowers it and evicts an entry at 0, so entries read again survive a scan of entries
    /// read once.
    Clock,
    /// First in, first out, in log order: the oldest write goes first, reads do not count.
    Fifo,
    /// S3-FIFO (Yang et al., SOSP 2023) on the log: a key new to the store is probationary
    /// until a hand that follows the newest tenth of the budget reaches it; read since it was
    /// written, it joins the main entries, else it is evicted and its key remembered by a
    /// ghost list, so that it joins the main entries at once if it comes back. The main
    /// entries are evicted by CLOCK, as [`Eviction::Clock`]. Keys read once leave after a
    /// tenth of the budget was written instead of a lap of the whole log. The default: its hit
    /// ratio is CLOCK's or better on every trace of `hitratio` (docs/BENCHMARKS.md).
    #[default]
    S3Fifo,
}

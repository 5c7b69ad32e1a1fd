//! Options for opening a [`DurableKVCache`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::DurableKVCache;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::fs::{FileSystem, StdFileSystem};
use crate::log::record::MAX_VALUE_LEN_LIMIT;
use crate::options::{Durability, Eviction, RecoveryMode};

/// Default largest value: 256 MiB.
pub const DEFAULT_MAX_VALUE_LEN: u64 = 256 << 20;

/// Default [`DurableKVCacheBuilder::compaction_threshold`].
pub const DEFAULT_COMPACTION_THRESHOLD: u64 = 1000;

/// Default [`DurableKVCacheBuilder::compaction_dead_ratio`]: compact once at least half of
/// the log is dead.
pub const DEFAULT_COMPACTION_DEAD_RATIO: f64 = 0.5;

/// Default [`DurableKVCacheBuilder::compaction_dead_bytes`]: 64 MiB.
pub const DEFAULT_COMPACTION_DEAD_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) durability: Durability,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) compaction_threshold: u64,
    pub(crate) compaction_dead_ratio: f64,
    pub(crate) compaction_dead_bytes: u64,
    pub(crate) read_only: bool,
    pub(crate) hint_file: bool,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) eviction: Eviction,
    pub(crate) max_value_len: u64,
    /// Bytes reserved ahead of the data end at a time; `None` = adaptive, `Some(0)` = off.
    pub(crate) preallocate: Option<u64>,
    /// Bytes of checked large values kept in memory (read_cache.rs); 0 = off.
    pub(crate) read_cache_bytes: u64,
    /// Small records read from a memory map of the log (mapped.rs).
    pub(crate) mmap_reads: bool,
    pub(crate) followers: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) fs: Arc<dyn FileSystem>,
}

/// Configures and opens a [`DurableKVCache`]; start from [`DurableKVCache::builder`].
///
/// ```no_run
/// use logcache::{DurableKVCache, Durability, RecoveryMode};
/// use std::time::Duration;
///
/// let cache = DurableKVCache::builder("cache_data.log")
///     .durability(Durability::Interval(Duration::from_millis(100)))
///     .recovery_mode(RecoveryMode::Strict)
///     .compaction_threshold(100)
///     .open()?;
/// # Ok::<(), logcache::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .open() is called"]
pub struct DurableKVCacheBuilder {
    path: PathBuf,
    pub(super) opts: Options,
}

impl DurableKVCacheBuilder {
    pub(crate) fn new(path: &Path) -> Self {
        DurableKVCacheBuilder {
            path: path.to_path_buf(),
            opts: Options {
                durability: Durability::default(),
                recovery_mode: RecoveryMode::default(),
                compaction_threshold: DEFAULT_COMPACTION_THRESHOLD,
                compaction_dead_ratio: DEFAULT_COMPACTION_DEAD_RATIO,
                compaction_dead_bytes: DEFAULT_COMPACTION_DEAD_BYTES,
                read_only: false,
                hint_file: true,
                max_bytes: None,
                eviction: Eviction::default(),
                max_value_len: DEFAULT_MAX_VALUE_LEN,
                preallocate: None,
                read_cache_bytes: 0,
                mmap_reads: true,
                followers: false,
                clock: Arc::new(SystemClock),
                fs: Arc::new(StdFileSystem),
            },
        }
    }

    /// Memory for large values: a record of 64 KiB or more is kept once written or once read
    /// from the log and its checksum verified (S3-FIFO, so values read once do not push out
    /// hot ones), and later reads of it copy it from memory — no system call, no second
    /// checksum: 1 MiB reads at `memcpy` speed, about twice a `pread` and CRC. Default 0 (off):
    /// the memory is taken as values are written and read, up to this many bytes, and a
    /// process that streams objects keeps a flat footprint without it. Worth turning on for
    /// large values read again and again (sled and redb keep 512 MiB and 1 GiB of their pages
    /// in memory by default). A value larger than a quarter of this is always read from the
    /// log. [`Stats`](crate::Stats) counts its hits.
    pub fn read_cache_bytes(mut self, bytes: u64) -> Self {
        self.opts.read_cache_bytes = bytes;
        self
    }

    /// Whether small values are read from a read-only memory map of the log (a copy and a
    /// checksum, no system call: about twice the rate of a `pread` per read) rather than with a
    /// `pread` each. Default `true`. Every value is checked either way. The map is never read
    /// past the end of the file the engine knows; a program that cuts the log while it is open
    /// (the lock keeps other logcache processes out, not other programs) could make a read
    /// fault with SIGBUS, as with any memory-mapped store — turn it off if that can happen.
    pub fn mmap_reads(mut self, on: bool) -> Self {
        self.opts.mmap_reads = on;
        self
    }

    /// When writes reach stable storage. Default [`Durability::Sync`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.opts.durability = durability;
        self
    }

    /// What open does about a damaged record with intact ones after it. Default
    /// [`RecoveryMode::Salvage`].
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.opts.recovery_mode = mode;
        self
    }

    /// Number of stale records (superseded, deleted or expired) since the last compaction
    /// that, together with [`compaction_dead_ratio`](Self::compaction_dead_ratio), triggers a
    /// compaction on a background thread. Default 1000; 0 disables automatic compaction
    /// ([`DurableKVCache::compact`] still works).
    ///
    /// The trigger: dead bytes ≥ `compaction_dead_ratio` of the data, **and** either this
    /// many stale records or [`compaction_dead_bytes`](Self::compaction_dead_bytes) dead
    /// bytes. So, outside a compaction in progress, the log's data stays under the larger of
    /// `live / (1 − ratio)` (2 × live with the default ratio) and `live + dead_bytes`, whatever
    /// the sizes of the records.
    pub fn compaction_threshold(mut self, records: u64) -> Self {
        self.opts.compaction_threshold = records;
        self
    }

    /// Fraction of the log's data that must be dead (not live records) before the threshold
    /// can trigger a compaction. Default 0.5. Any ratio above 0 keeps compaction's cost
    /// amortised O(1) per write: the rewrite copies the live bytes, and at least
    /// `ratio / (1 - ratio)` times as many dead bytes were written to pay for it. 0 compacts on
    /// the record count alone. Must be in `[0, 1)`.
    pub fn compaction_dead_ratio(mut self, ratio: f64) -> Self {
        self.opts.compaction_dead_ratio = ratio;
        self
    }

    /// Dead bytes that trigger a compaction (with the dead ratio) even before
    /// [`compaction_threshold`](Self::compaction_threshold) stale records: a few hundred dead
    /// 1 MiB values (aborted uploads, replaced objects) reach this long before a record count
    /// would. Default [`DEFAULT_COMPACTION_DEAD_BYTES`] (64 MiB); must be at least 1.
    pub fn compaction_dead_bytes(mut self, bytes: u64) -> Self {
        self.opts.compaction_dead_bytes = bytes;
        self
    }

    /// A budget in bytes on the live data: the records of the live entries (key, value and a
    /// record header of about 30 bytes each). A put that would pass it first evicts entries
    /// chosen by the [`Eviction`] policy (default [`Eviction::S3Fifo`]); a value whose record
    /// alone is larger is [`Error::TooLarge`], before anything is evicted. Evicted records
    /// become dead bytes that compaction reclaims, so with the default dead ratio the log
    /// stays within about twice the budget (docs/DESIGN.md, "Byte budget"). Must be at least 1.
    /// Default: no budget.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.opts.max_bytes = Some(bytes);
        self
    }

    /// Which entries a budget ([`max_bytes`](Self::max_bytes)) evicts. Default
    /// [`Eviction::S3Fifo`].
    pub fn eviction(mut self, eviction: Eviction) -> Self {
        self.opts.eviction = eviction;
        self
    }

    /// Opens the log read-only: nothing on disk is created, repaired or changed (a torn tail
    /// stays; a leftover compaction file stays; preallocated space stays), no background
    /// thread runs, and every write returns [`Error::ReadOnly`]. The lock is still taken, so
    /// no writer changes the log meanwhile. For tools that inspect a log (`logcache check`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.opts.read_only = read_only;
        self
    }

    /// Lets [`Follower`](crate::Follower)s in other processes read this log while this handle
    /// writes it: the handle publishes where its published records end, and each file switch,
    /// in a page beside the log (`<path>.shared`, one page of memory shared by every process;
    /// one atomic store per write). Default `false`; a handle opened on a log whose page
    /// exists keeps it up to date whatever this says (a follower must never read a stale end).
    /// With [`Durability::Sync`] a follower sees a write once it is durable, as the handle's
    /// own readers do.
    pub fn followers(mut self, on: bool) -> Self {
        self.opts.followers = on;
        self
    }

    /// Whether open may read the index from the hint file (`<path>.hint`) instead of
    /// replaying every record, and a clean close and compaction write one. Default `true`.
    ///
    /// A hint is used only when it decodes completely (every block checksummed) and matches
    /// the log (the last record it covers is there, intact, with its sequence number and CRC);
    /// then only the records appended after it are replayed. Otherwise the whole log is
    /// replayed, as without a hint. Only in [`RecoveryMode::Salvage`]: a `Strict` open reads
    /// every record. With a hint, damage inside the part of the log it covers is found when
    /// the value is read ([`Error::ChecksumMismatch`]), by compaction, or by `logcache check`
    /// (which opens with `hint_file(false)`), rather than at open.
    pub fn hint_file(mut self, use_hint: bool) -> Self {
        self.opts.hint_file = use_hint;
        self
    }

    /// Largest value accepted by `put`, and the bound replay puts on a value-length field
    /// before trusting it. Default 256 MiB; at most about 4 GiB.
    pub fn max_value_len(mut self, bytes: u64) -> Self {
        self.opts.max_value_len = bytes;
        self
    }

    /// Bytes of disk space reserved ahead of the end of the log at a time (`posix_fallocate`),
    /// so that appends and `fdatasync` do not change the file size. By default the step grows
    /// with the log, from 1 MiB to 64 MiB; `0` turns preallocation off. A clean close gives the
    /// unused space back.
    pub fn preallocate(mut self, bytes: u64) -> Self {
        self.opts.preallocate = Some(bytes);
        self
    }

    /// The wall clock used for TTLs. Default [`SystemClock`]; tests use a
    /// [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.opts.clock = clock;
        self
    }

    /// The file system every read and write goes through. Default [`StdFileSystem`]; crash
    /// and fault-injection tests plug in their own.
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.opts.fs = fs;
        self
    }

    /// Opens (creating when missing) the cache, replaying its log.
    pub fn open(self) -> Result<DurableKVCache> {
        if self.opts.max_value_len > MAX_VALUE_LEN_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "max_value_len {} is over the format's limit of {MAX_VALUE_LEN_LIMIT}",
                self.opts.max_value_len
            )));
        }
        let ratio = self.opts.compaction_dead_ratio;
        if !(0.0..1.0).contains(&ratio) {
            return Err(Error::InvalidArgument(format!(
                "compaction_dead_ratio {ratio} is not in [0, 1)"
            )));
        }
        if self.opts.max_bytes == Some(0) {
            return Err(Error::InvalidArgument(
                "max_bytes must be at least 1 (a budget of 0 bytes holds nothing)".into(),
            ));
        }
        if self.opts.compaction_dead_bytes == 0 {
            return Err(Error::InvalidArgument(
                "compaction_dead_bytes must be at least 1; use compaction_threshold(0) to turn \
                 automatic compaction off"
                    .into(),
            ));
        }
        if let Durability::Interval(d) = self.opts.durability
            && d.is_zero()
        {
            return Err(Error::InvalidArgument(
                "Durability::Interval needs a non-zero interval; use Durability::Sync".into(),
            ));
        }
        DurableKVCache::open_with(self.path, self.opts)
    }
}

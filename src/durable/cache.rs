//! [`DurableKVCache`], the handle: open, the write and maintenance calls, close. The state it
//! shares with its threads is [`Inner`](super::inner::Inner); reads are in read.rs, deferred
//! writes in deferred.rs, recovery in place in recover.rs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::builder::{DurableKVCacheBuilder, Options};
use super::compact::Compaction;
use super::evict::Evictions;
use super::inner::{Inner, check_key, dead_bytes, spawn_flusher};
use super::shared::SharedWriter;
use super::stats::Counters;
use super::stats::Stats;
use super::write::{GroupCommit, Poison};
use super::{compact, open};
use crate::sync::lock;

use crate::error::{Error, Result};
use crate::log::file::check_log_path;
use crate::log::record::Op;
use crate::options::Durability;

/// A durable key-value cache over one append-only log file.
///
/// Every `set` and `delete` appends a CRC32-checked record to the log; `open` replays the log
/// to rebuild an in-memory index of where each key's newest value is. Values stay on disk and
/// are read with positional reads, checked against their checksum on every read. See the
/// [crate documentation](crate) for the guarantees and docs/FORMAT.md for the bytes.
///
/// The type is `Send + Sync`: share one handle between threads with an [`Arc`]. Reads never
/// wait for writes, and concurrent writers share fsyncs. Opening the same path twice, in this
/// process or another, fails with [`Error::Locked`] while the first handle lives.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("cache_data.log");
/// use logcache::DurableKVCache;
///
/// let cache = DurableKVCache::open(&path)?;
/// cache.put("user:123", r#"{"name": "Alice", "role": "admin"}"#)?;
/// cache.put("config:theme", "dark")?;
/// drop(cache);
///
/// let cache2 = DurableKVCache::open(&path)?; // recovered
/// assert_eq!(cache2.get("config:theme")?.as_deref(), Some(&b"dark"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DurableKVCache {
    pub(super) inner: Arc<Inner>,
    pub(super) flusher: Option<JoinHandle<()>>,
    pub(super) compactor: Option<JoinHandle<()>>,
}

impl DurableKVCache {
    /// Opens the cache at `path` with default options, creating the log when missing.
    ///
    /// Defaults: [`Durability::Sync`], [`RecoveryMode::Salvage`](crate::RecoveryMode::Salvage),
    /// compaction threshold [`DEFAULT_COMPACTION_THRESHOLD`](crate::DEFAULT_COMPACTION_THRESHOLD), values up to
    /// [`DEFAULT_MAX_VALUE_LEN`](crate::DEFAULT_MAX_VALUE_LEN).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder(path).open()
    }

    /// A builder for opening with options.
    pub fn builder(path: impl AsRef<Path>) -> DurableKVCacheBuilder {
        DurableKVCacheBuilder::new(path.as_ref())
    }

    pub(super) fn open_with(path: PathBuf, opts: Options) -> Result<Self> {
        let (path, exists) = check_log_path(&*opts.fs, &path, !opts.read_only)?;
        let opened = open::open_log(&path, exists, &opts)?;
        let shared = if opts.read_only {
            None
        } else {
            let at = &opened.paths.shared;
            SharedWriter::open(at, opts.followers, opened.data_end)
                .map_err(|e| Error::io("map", at, e))?
        };
        let inner = Arc::new(Inner {
            paths: opened.paths,
            group: GroupCommit::new(
                opened.file,
                opened.data_end,
                opened.last_seq,
                opened.last_at,
            ),
            index: RwLock::new(opened.index),
            poison: Poison::default(),
            counters: Counters::default(),
            compaction: Compaction::default(),
            evictions: Evictions::default(),
            recovery: opened.recovery,
            read_cache: super::read_cache::ReadCache::new(opts.read_cache_bytes),
            shutdown: AtomicBool::new(false),
            shared,
            _lock: opened.lock,
            opts,
        });
        inner.remap(&lock(&inner.group.writer));
        // Built first so that a failure to spawn a thread below still closes cleanly.
        let mut cache = DurableKVCache {
            inner,
            flusher: None,
            compactor: None,
        };
        if cache.inner.opts.read_only {
            return Ok(cache);
        }
        // A budget smaller than last time, or evicted keys a crash brought back: down to the
        // budget before the first write.
        if cache.inner.opts.max_bytes.is_some() {
            let mut w = cache.inner.writer()?;
            cache.inner.make_room(&mut w, 0);
        }
        if let Durability::Interval(every) = cache.inner.opts.durability {
            cache.flusher = Some(spawn_flusher(Arc::clone(&cache.inner), every)?);
        }
        if cache.inner.opts.compaction_threshold > 0 {
            cache.compactor = Some(compact::spawn_compactor(Arc::clone(&cache.inner))?);
        }
        Ok(cache)
    }

    /// The log file's path, as resolved at open (absolute, symbolic links followed).
    pub fn path(&self) -> &Path {
        &self.inner.paths.log
    }

    /// When a write is durable ([`DurableKVCacheBuilder::durability`]).
    pub fn durability(&self) -> Durability {
        self.inner.opts.durability
    }

    /// The largest value [`set`](Self::set) accepts
    /// ([`DurableKVCacheBuilder::max_value_len`]).
    pub fn max_value_len(&self) -> u64 {
        self.inner.opts.max_value_len
    }

    /// Sets `key` to `value`, with no expiry. Returns per the [`Durability`] mode: with the
    /// default `Sync`, only once the record is on stable storage. Every store type in the
    /// crate names this call `set`; [`put`](Self::put) is its alias.
    #[doc(alias = "put")]
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.set_inner(key.as_ref(), value.as_ref(), 0)
    }

    /// Sets `key` to `value` until `ttl` from now; after that it reads as absent. A zero `ttl`
    /// stores a value that is already expired. [`put_with_ttl`](Self::put_with_ttl) is its
    /// alias.
    #[doc(alias = "put_with_ttl")]
    pub fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let expiry = crate::clock::expiry_after(&*self.inner.opts.clock, ttl);
        self.set_inner(key.as_ref(), value.as_ref(), expiry)
    }

    /// [`set`](Self::set) under the name the project's seed design gave it
    /// (`cache.put(k, v)`): the same call, kept for code written against that design.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.set(key, value)
    }

    /// [`set_with_ttl`](Self::set_with_ttl) under the seed's verb: the same call.
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        self.set_with_ttl(key, value, ttl)
    }

    fn set_inner(&self, key: &[u8], value: &[u8], expiry: u64) -> Result<()> {
        self.check_set(key, value)?;
        self.inner.write(key, value, Op::Put, expiry)?;
        crate::counters::bump(&self.inner.counters.sets);
        self.inner.maybe_compact();
        Ok(())
    }

    /// A put's key and value within the limits.
    pub(super) fn check_set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        let max = self.inner.opts.max_value_len;
        if value.len() as u64 > max {
            return Err(Error::TooLarge {
                what: "value",
                len: value.len() as u64,
                max,
            });
        }
        Ok(())
    }

    /// The value of `key`, or `None` when absent or expired.
    ///
    /// Reads the record from disk (usually the page cache) without holding any lock during the
    /// read, and verifies its checksum: damaged bytes give [`Error::ChecksumMismatch`], never a
    /// wrong value.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.get_with_expiry(key)?.map(|(v, _)| v))
    }

    /// The value of `key` with its absolute expiry in Unix milliseconds (0 = none), or `None`
    /// when absent or expired.
    pub fn get_with_expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<(Vec<u8>, u64)>> {
        let mut value = Vec::new();
        Ok(self
            .get_into_inner(key.as_ref(), &mut value)?
            .map(|expiry| (value, expiry)))
    }

    /// Reads the value of `key` into `buf`, replacing its contents and reusing its capacity;
    /// returns whether there was one (absent or expired: `false`, `buf` left empty).
    ///
    /// For a loop that reads many values, large ones above all: a buffer kept across calls
    /// is not allocated, zeroed or faulted in again for each value (`get` of 1 MiB values
    /// spends a good part of its time on that). Checked like [`get`](Self::get).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let cache = logcache::DurableKVCache::open(dir.path().join("cache.log"))?;
    /// cache.put("a", vec![1u8; 100_000])?;
    /// let mut buf = Vec::new();
    /// assert!(cache.get_into("a", &mut buf)?);
    /// assert_eq!(buf.len(), 100_000);
    /// assert!(!cache.get_into("missing", &mut buf)?);
    /// assert!(buf.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_into(&self, key: impl AsRef<[u8]>, buf: &mut Vec<u8>) -> Result<bool> {
        Ok(self.get_into_inner(key.as_ref(), buf)?.is_some())
    }

    /// [`get_into`](Self::get_into) that also gives the value's absolute expiry in Unix
    /// milliseconds (0 = none): `Some(expiry)` when there was a value, `None` when not.
    pub fn get_into_with_expiry(
        &self,
        key: impl AsRef<[u8]>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<u64>> {
        self.get_into_inner(key.as_ref(), buf)
    }

    /// The lookup and read behind every `get`: the value into `buf`, its expiry returned.
    fn get_into_inner(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<Option<u64>> {
        let inner = &*self.inner;
        let found = {
            let index = inner.read_index();
            // Under a budget a read counts for the eviction policy: an atomic in the entry the
            // lookup already holds, no writer lock and no second lookup.
            let entry = match inner.opts.max_bytes {
                Some(_) => index.get_and_raise(key),
                None => index.get(key),
            };
            // A small record inside the map is copied now, under the lock (mapped.rs).
            entry.map(|entry| {
                let mapped = index.copy_mapped(&entry, buf);
                (entry, Arc::clone(&index.file), index.file_id, mapped)
            })
        };
        let Some((entry, file, file_id, mapped)) = found else {
            crate::counters::bump(&inner.counters.misses);
            buf.clear();
            return Ok(None);
        };
        if entry.is_expired(inner.opts.clock.now_millis()) {
            inner.expire(key, entry);
            crate::counters::bump(&inner.counters.misses);
            buf.clear();
            return Ok(None);
        }
        let read = if mapped {
            inner.value_of_record(buf, key, entry.offset)
        } else {
            inner.read_value_cached(&file, file_id, &entry, key, buf)
        };
        if let Err(e) = read {
            buf.clear();
            return Err(e);
        }
        crate::counters::bump(&inner.counters.hits);
        Ok(Some(entry.expiry))
    }

    /// Removes `key`. Returns whether it had a live value. Writes a tombstone only when the
    /// key is in the index; follows the [`Durability`] mode like [`set`](Self::set).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        check_key(key)?;
        let removed = self.inner.write(key, &[], Op::Delete, 0)?;
        if removed {
            crate::counters::bump(&self.inner.counters.deletes);
        }
        self.inner.maybe_compact();
        Ok(removed)
    }

    /// Whether `key` has a live, unexpired value (no disk read).
    pub fn contains(&self, key: impl AsRef<[u8]>) -> bool {
        let now = self.inner.opts.clock.now_millis();
        self.inner
            .read_index()
            .get(key.as_ref())
            .is_some_and(|e| !e.is_expired(now))
    }

    /// The length of `key`'s record in the log, when it has a live value (no disk read): lets
    /// an event loop read small values in place and hand large ones to a thread.
    #[cfg(feature = "tokio")]
    pub(crate) fn record_len(&self, key: &[u8]) -> Option<u32> {
        let now = self.inner.opts.clock.now_millis();
        self.inner
            .read_index()
            .get(key)
            .filter(|e| !e.is_expired(now))
            .map(|e| e.len)
    }

    /// Number of live, unexpired keys.
    pub fn len(&self) -> usize {
        let now = self.inner.opts.clock.now_millis();
        usize::try_from(self.inner.read_index().live(now).0).unwrap_or(usize::MAX)
    }

    /// Whether there are no live keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live, unexpired keys, in no particular order: a snapshot taken now (one
    /// allocation per key), so later writes do not affect the iteration.
    pub fn keys(&self) -> impl Iterator<Item = Vec<u8>> + use<> {
        let now = self.inner.opts.clock.now_millis();
        let keys: Vec<Vec<u8>> = self
            .inner
            .read_index()
            .iter()
            .filter(|(_, e)| !e.is_expired(now))
            .map(|(k, _)| k.to_vec())
            .collect();
        keys.into_iter()
    }

    /// The live, unexpired keys in the order of their last write, oldest first (the order of
    /// their records in the log, which compaction keeps): a snapshot, like [`keys`](Self::keys),
    /// sorted once.
    pub fn keys_by_write(&self) -> Vec<Vec<u8>> {
        let now = self.inner.opts.clock.now_millis();
        let mut keys: Vec<(u64, Vec<u8>)> = self
            .inner
            .read_index()
            .iter()
            .filter(|(_, e)| !e.is_expired(now))
            .map(|(k, e)| (e.offset, k.to_vec()))
            .collect();
        keys.sort_unstable_by_key(|(offset, _)| *offset);
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Drops every expired entry from the index now (reads drop them one at a time when they
    /// meet them); returns how many. Nothing is written: an expired record stays expired when
    /// the log is replayed, and compaction leaves it out.
    pub fn purge_expired(&self) -> usize {
        let now = self.inner.opts.clock.now_millis();
        let expired: Vec<_> = self
            .inner
            .read_index()
            .iter()
            .filter(|(_, e)| e.is_expired(now))
            .map(|(k, e)| (k.to_vec(), e))
            .collect();
        for (key, entry) in &expired {
            self.inner.expire(key, *entry);
        }
        expired.len()
    }

    /// Makes every write so far durable (`fdatasync`), whatever the [`Durability`] mode.
    pub fn sync(&self) -> Result<()> {
        if self.inner.opts.read_only {
            return Ok(()); // nothing was written
        }
        let seq = self.inner.writer()?.seq;
        self.inner.sync_to(seq)
    }

    /// Rewrites the log with only live, unexpired records, dropping superseded values,
    /// tombstones and expired entries, in the calling thread. Crash-safe: the new log is
    /// written beside the old one (`<path>.compact`), synced, renamed over it and the
    /// directory synced. Readers are never blocked; writers wait only for the final switch.
    ///
    /// Runs automatically on a background thread per
    /// [`DurableKVCacheBuilder::compaction_threshold`]. Fails with [`Error::NoSpace`], leaving
    /// the log untouched, when the disk lacks room for the live data plus a margin.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact()
    }

    /// Blocks until no background compaction is running or requested.
    pub fn wait_for_compaction(&self) {
        let mut bg = lock(&self.inner.compaction.state);
        while bg.requested || bg.running {
            bg = crate::sync::wait(&self.inner.compaction.cv, bg);
        }
    }

    /// A snapshot of sizes and counters.
    pub fn stats(&self) -> Stats {
        let inner = &*self.inner;
        let now = inner.opts.clock.now_millis();
        let (file_bytes, allocated_bytes) = {
            let w = lock(&inner.group.writer);
            (w.end, w.allocated)
        };
        let (live_keys, live_bytes, dead_bytes, stale_records) = {
            let index = inner.read_index();
            let (keys, bytes) = index.live(now);
            (
                keys,
                bytes,
                dead_bytes(file_bytes, bytes),
                index.stale_records,
            )
        };
        let mut stats = Stats {
            live_keys,
            live_bytes,
            dead_bytes,
            file_bytes,
            allocated_bytes,
            stale_records,
            compacting: {
                let bg = lock(&inner.compaction.state);
                bg.requested || bg.running
            },
            last_compaction: Duration::from_micros(crate::counters::load(
                &inner.compaction.last_micros,
            )),
            recovery: inner.recovery,
            max_bytes: inner.opts.max_bytes.unwrap_or(0),
            read_cache_bytes: inner.read_cache.as_ref().map_or(0, |c| c.bytes()),
            ..Stats::default()
        };
        inner.counters.fill(&mut stats);
        stats
    }
}

impl DurableKVCache {
    /// Closes the cache cleanly and reports what dropping it would hide: stops the background
    /// threads, syncs everything written, and gives back preallocated space (truncate +
    /// `fdatasync`). Dropping the handle does the same and ignores errors.
    pub fn close(mut self) -> Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<()> {
        let inner = &*self.inner;
        if inner.shutdown.swap(true, Ordering::AcqRel) || inner.opts.read_only {
            return Ok(()); // already closed, or nothing to sync
        }
        {
            let _c = lock(&inner.group.commit);
            inner.group.commit_cv.notify_all();
        }
        {
            let _bg = lock(&inner.compaction.state);
            inner.compaction.cv.notify_all();
        }
        // A compaction in its copy phase stops at its next chunk; one in its switch finishes.
        for thread in [self.flusher.take(), self.compactor.take()]
            .into_iter()
            .flatten()
        {
            let _ = thread.join();
        }
        inner.join_releases();
        let mut w = inner.writer()?;
        inner.sync_to(w.seq)?;
        if w.allocated > w.end {
            let end = w.end;
            let trimmed = w.file.truncate(end).and_then(|()| w.file.sync_data());
            if let Err(e) = trimmed {
                inner.poison.set(format!(
                    "truncating preallocated space at close failed: {e}"
                ));
                return Err(Error::io("truncate", &inner.paths.log, e));
            }
            w.allocated = end;
        }
        if inner.opts.hint_file {
            inner.write_hint(&w);
        }
        Ok(())
    }
}

impl Drop for DurableKVCache {
    /// A clean close, as [`DurableKVCache::close`], ignoring errors (a poisoned handle skips
    /// the sync; what is on disk is replayed at the next open either way).
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// The handle is shared between threads with `Arc`; keep it that way.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<DurableKVCache>();
};

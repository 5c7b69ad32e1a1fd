//! The write path: one appender at a time, shared fsyncs (group commit), poisoning.
//!
//! Lock order, never reversed: `group.writer` → `group.commit` → `index`. Readers take only
//! `index`.
//!
//! With [`Durability::Sync`] a writer appends its record under `writer`, queues the index
//! change in `commit.pending`, and waits until some thread's `fdatasync` covers it. The thread
//! that finds no sync running becomes the leader: it syncs everything written so far (its own
//! record and every record appended meanwhile), then publishes the covered changes to the
//! index in file order and wakes the others. So a record becomes visible only once durable,
//! and N concurrent writers pay for far fewer than N fsyncs. The other modes publish at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Inner;
use super::index::{Entry, MAX_OFFSET};
use super::read::DIRECT_MIN;
use crate::error::{Error, Result};
use crate::fs::FileHandle;
use crate::log::record::{Op, Payload};
use crate::options::Durability;
use crate::sync::lock;

/// Preallocation step bounds when none is configured.
const MIN_PREALLOC: u64 = 1 << 20;
const MAX_PREALLOC: u64 = 64 << 20;

/// The write path's state: the appender, the group-commit bookkeeping, and the condition
/// variables its writers and sync leaders wait on.
#[derive(Debug)]
pub(super) struct GroupCommit {
    pub(super) writer: Mutex<Writer>,
    pub(super) commit: Mutex<Commit>,
    /// Wakes writers waiting for their fsync, and a sync leader's followers.
    pub(super) commit_cv: Condvar,
    /// Wakes a sync leader holding its commit window open when a Sync write is queued.
    pub(super) window_cv: Condvar,
}

impl GroupCommit {
    /// The state of a log opened with its data ending at `end` and its last record numbered
    /// `seq` (starting at `last_at`, when known).
    pub(super) fn new(
        file: Arc<dyn FileHandle>,
        end: u64,
        seq: u64,
        last_at: Option<u64>,
    ) -> GroupCommit {
        GroupCommit {
            writer: Mutex::new(Writer {
                file: Arc::clone(&file),
                end,
                allocated: end,
                prealloc_failed: false,
                seq,
                last_at,
                buf: Vec::new(),
                hand: super::evict::Hands::default(),
            }),
            commit: Mutex::new(Commit {
                file,
                written_end: end,
                written_seq: seq,
                synced_seq: seq,
                synced_end: end,
                generation: 0,
                syncing: false,
                windowing: false,
                pending: Vec::new(),
                last_batch: 0,
                last_sync: Duration::ZERO,
            }),
            commit_cv: Condvar::new(),
            window_cv: Condvar::new(),
        }
    }
}

/// The appender's state, behind `GroupCommit::writer`.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) file: Arc<dyn FileHandle>,
    /// Where the next record goes: the end of the last record written.
    pub(super) end: u64,
    /// File length including preallocated space.
    pub(super) allocated: u64,
    /// Whether preallocation failed once (unsupported file system): then it is not retried.
    pub(super) prealloc_failed: bool,
    /// Sequence number of the last record written.
    pub(super) seq: u64,
    /// Where the last record written starts, when known: the hint file written at close
    /// checks its last record there.
    pub(super) last_at: Option<u64>,
    /// Reused encoding buffer.
    pub(super) buf: Vec<u8>,
    /// Where the eviction hands are in the log (budget only; see evict.rs).
    pub(super) hand: super::evict::Hands,
}

/// Group-commit state, behind `GroupCommit::commit`.
///
/// Durability is tracked in sequence numbers, not byte offsets: compaction moves records to
/// smaller offsets in a new file but keeps their sequence numbers, so a watermark in sequence
/// numbers never goes backwards. (An offset watermark carried across a compaction once let
/// Sync puts return unsynced.)
#[derive(Debug)]
pub(super) struct Commit {
    pub(super) file: Arc<dyn FileHandle>,
    /// End of the data handed to the operating system, in bytes (for the compaction trigger).
    pub(super) written_end: u64,
    /// Sequence number of the last record handed to the operating system.
    pub(super) written_seq: u64,
    /// Every record up to this sequence number is on stable storage and published.
    pub(super) synced_seq: u64,
    /// Every byte before this offset of `file` is on stable storage.
    pub(super) synced_end: u64,
    /// Bumped by each recovery ([`DurableKVCache::recover`](super::DurableKVCache::recover)),
    /// which discards the records not yet synced: a writer whose record was queued in an
    /// older generation is never told it is durable.
    pub(super) generation: u64,
    /// Whether a leader is inside `fdatasync` now.
    pub(super) syncing: bool,
    /// Whether a leader is holding its fsync open for more writes (the commit window): only
    /// then does an append wake it (a condvar notify is a system call even with no waiter).
    pub(super) windowing: bool,
    /// Index changes waiting for their record to be durable (Sync only), in file order.
    pub(super) pending: Vec<Pending>,
    /// Sync writes the last fsync covered, and how long it took: they size the commit window.
    pub(super) last_batch: usize,
    pub(super) last_sync: Duration,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) key: Box<[u8]>,
    /// `Some` for a put, `None` for a delete.
    pub(super) change: Option<Entry>,
}

/// A record appended and waiting for its fsync: its sequence number, and the recovery
/// generation it was written in (a recovery discards it). See
/// [`DurableKVCache::set_deferred`](super::DurableKVCache::set_deferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub(super) seq: u64,
    pub(super) generation: u64,
}

impl Ticket {
    /// Whichever of the two covers the other: the later generation, then the later record
    /// (waiting for it waits for both when they are of one generation).
    pub fn max(self, other: Ticket) -> Ticket {
        if (other.generation, other.seq) > (self.generation, self.seq) {
            other
        } else {
            self
        }
    }

    /// Whether `other` is durable once this is: the same generation, no later record.
    pub fn covers(&self, other: &Ticket) -> bool {
        self.generation == other.generation && self.seq >= other.seq
    }

    /// Whether `other` was written in a generation a recovery has since discarded.
    pub fn supersedes(&self, other: &Ticket) -> bool {
        self.generation > other.generation
    }
}

/// A sticky failure flag: set by the first failed write or sync, cleared only by a recovery.
#[derive(Debug, Default)]
pub(super) struct Poison {
    set: AtomicBool,
    /// Whether the page cache may have lost written data (a failed fsync, a panic while
    /// writing): then a recovery keeps only what an fsync covered.
    lost: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Poison {
    /// Poisons after a failure that left everything written before it intact (a failed
    /// write: the bytes before it are in the page cache).
    pub(super) fn set(&self, reason: String) {
        let mut slot = lock(&self.reason);
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.set.store(true, Ordering::Release);
    }

    /// Poisons after a failure that may have lost written data.
    pub(super) fn set_lost(&self, reason: String) {
        self.lost.store(true, Ordering::Release);
        self.set(reason);
    }

    pub(super) fn lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// The failure, while poisoned.
    pub(super) fn reason(&self) -> Option<String> {
        if !self.is_set() {
            return None;
        }
        lock(&self.reason).clone()
    }

    pub(super) fn clear(&self) {
        let mut slot = lock(&self.reason);
        *slot = None;
        self.lost.store(false, Ordering::Release);
        self.set.store(false, Ordering::Release);
    }

    pub(super) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    pub(super) fn check(&self) -> Result<()> {
        if !self.is_set() {
            return Ok(());
        }
        Err(Error::Poisoned {
            reason: lock(&self.reason).clone().unwrap_or_default(),
        })
    }
}

/// The writer's encoding buffer is kept between writes up to this capacity; one that a large
/// value grew past it is freed (a 256 MiB value must not pin 256 MiB for the handle's life).
const KEEP_BUF: usize = 4 << 20;

impl Writer {
    /// Puts the encoding buffer back for the next write, unless a large record grew it.
    pub(super) fn keep_buf(&mut self, buf: Vec<u8>) {
        self.buf = if buf.capacity() > KEEP_BUF {
            Vec::new()
        } else {
            buf
        };
    }
}

impl Inner {
    /// Takes the writer lock; a panic inside it earlier poisons the handle.
    pub(super) fn writer(&self) -> Result<MutexGuard<'_, Writer>> {
        if self.opts.read_only {
            return Err(Error::ReadOnly {
                path: self.paths.log.clone(),
            });
        }
        let guard = self.group.writer.lock().map_err(|_| {
            self.poison
                .set_lost("a thread panicked while writing".into());
            Error::Poisoned {
                reason: "a thread panicked while writing".into(),
            }
        })?;
        self.poison.check()?;
        Ok(guard)
    }

    /// Appends one record, publishes it per the durability mode, and returns once the mode's
    /// promise holds. For a delete (`op == Op::Delete`) nothing is written when the key is
    /// absent; the result says whether a live value was removed (always `true` for a put).
    pub(super) fn write(&self, key: &[u8], value: &[u8], op: Op, expiry: u64) -> Result<bool> {
        let (live, ticket) = self.append_record(key, value, op, expiry)?;
        if let Some(Ticket { seq, generation }) = ticket {
            self.sync_write(seq, generation)?;
        }
        Ok(live)
    }

    /// Appends one record and publishes it per the durability mode, without waiting for an
    /// fsync: with [`Durability::Sync`] the change waits in `commit.pending` and the ticket
    /// says what to wait for (`None` when nothing was written, or the mode publishes at once).
    pub(super) fn append_record(
        &self,
        key: &[u8],
        value: &[u8],
        op: Op,
        expiry: u64,
    ) -> Result<(bool, Option<Ticket>)> {
        let sync = self.opts.durability == Durability::Sync;
        let w = self.writer()?;
        let mut live = true;
        if op == Op::Delete {
            // The clock is read only here: a put has no use for it (4 % of a put's time).
            match self.current(key, sync) {
                Some(entry) => live = !entry.is_expired(self.opts.clock.now_millis()),
                // With a budget the key may have been evicted, its record still in the log:
                // the tombstone keeps a crash from bringing it back.
                None if self.opts.max_bytes.is_some() => live = false,
                None => return Ok((false, None)),
            }
        }
        let ticket = self.append_held(w, key, value, op, expiry)?;
        Ok((live, ticket))
    }

    /// [`append_record`](Self::append_record) under a writer lock the caller already holds
    /// (a read-modify-write decides under it: update.rs); releases it before returning.
    pub(super) fn append_held(
        &self,
        mut w: MutexGuard<'_, Writer>,
        key: &[u8],
        value: &[u8],
        op: Op,
        expiry: u64,
    ) -> Result<Option<Ticket>> {
        let payload = Payload::new(key, value);
        let sync = self.opts.durability == Durability::Sync;
        let seq = w.seq + 1;
        let mut buf = std::mem::take(&mut w.buf);
        payload.encode(seq, op, expiry, &mut buf);
        // Callers bound keys and values (MAX_KEY_LEN, max_value_len ≤ MAX_VALUE_LEN_LIMIT), so
        // every record fits the index's u32; checked before writing, never after.
        let Ok(len) = u32::try_from(buf.len()) else {
            w.buf = buf;
            return Err(Error::TooLarge {
                what: "record",
                len: payload.record_len(seq, expiry) as u64,
                max: u64::from(u32::MAX),
            });
        };
        // The index holds offsets in 48 bits: a log does not grow past 256 TiB.
        if w.end + u64::from(len) > MAX_OFFSET {
            w.buf = buf;
            return Err(Error::TooLarge {
                what: "log",
                len: w.end + u64::from(len),
                max: MAX_OFFSET,
            });
        }
        if let (Op::Put, Some(max)) = (op, self.opts.max_bytes) {
            if u64::from(len) > max {
                w.buf = buf;
                let overhead = u64::from(len) - value.len() as u64;
                return Err(Error::TooLarge {
                    what: "value",
                    len: value.len() as u64,
                    max: max.saturating_sub(overhead),
                });
            }
            self.make_room(&mut w, u64::from(len));
        }
        let result = self.append(&mut w, &buf);
        w.keep_buf(buf);
        let (offset, end) = result?;
        w.seq = seq;
        w.last_at = Some(offset);
        let change = (op == Op::Put).then_some(Entry {
            offset,
            len,
            expiry,
        });
        let (generation, file_id) = self.publish(end, seq, [(seq, key, change)]);
        drop(w);
        self.write_through(file_id, value, change);
        Ok(sync.then_some(Ticket { seq, generation }))
    }

    /// Publishes records just appended (the caller holds the writer lock, so their order is
    /// the log's): the data end and the last sequence number to the commit state, and each
    /// change `(seq, key, Some(put) | None for a delete)` to the index — or, with
    /// [`Durability::Sync`], to the changes waiting for their fsync. Returns the commit
    /// generation and, when a read cache is on, the identity of the file written to (the one
    /// the index is on while the writer lock is held) for [`write_through`](Self::write_through).
    pub(super) fn publish<'k>(
        &self,
        end: u64,
        last_seq: u64,
        changes: impl IntoIterator<Item = (u64, &'k [u8], Option<Entry>)>,
    ) -> (u64, Option<u64>) {
        let mut c = lock(&self.group.commit);
        c.written_end = end;
        c.written_seq = last_seq;
        let file_id = if self.opts.durability == Durability::Sync {
            for (seq, key, change) in changes {
                c.pending.push(Pending {
                    seq,
                    key: key.into(),
                    change,
                });
            }
            // A leader holding its fsync open for these writes (the commit window).
            if c.windowing {
                self.group.window_cv.notify_one();
            }
            self.read_cache.as_ref().map(|_| self.read_index().file_id)
        } else {
            let mut index = self.write_index();
            for (_, key, change) in changes {
                match change {
                    Some(entry) => index.put(key, entry),
                    None => {
                        index.delete(key);
                    }
                }
            }
            let file_id = index.file_id;
            drop(index);
            if let Some(shared) = &self.shared {
                shared.publish(end);
            }
            Some(file_id)
        };
        (c.generation, file_id)
    }

    /// A large value just written is likely read soon (a cache's objects are): it goes into
    /// the read cache now, under the identity [`publish`](Self::publish) gave, so the first
    /// read is a copy from memory too; S3-FIFO lets values never read leave first. Called
    /// after the writer lock is released.
    pub(super) fn write_through(&self, file_id: Option<u64>, value: &[u8], change: Option<Entry>) {
        if let (Some(cache), Some(file_id), Some(entry)) = (&self.read_cache, file_id, change)
            && entry.len as usize >= DIRECT_MIN
        {
            cache.insert(file_id, entry.offset, value);
        }
    }

    /// The key's newest entry, counting changes still waiting for their fsync.
    pub(super) fn current(&self, key: &[u8], sync: bool) -> Option<Entry> {
        if sync
            && let Some(p) = lock(&self.group.commit)
                .pending
                .iter()
                .rev()
                .find(|p| &*p.key == key)
        {
            return p.change;
        }
        self.read_index().get(key)
    }

    /// Writes `record` at the end of the log; returns its offset and the new end.
    pub(super) fn append(&self, w: &mut Writer, record: &[u8]) -> Result<(u64, u64)> {
        let offset = w.end;
        let end = offset + record.len() as u64;
        if end > w.allocated && !w.prealloc_failed {
            let step = self
                .opts
                .preallocate
                .unwrap_or_else(|| (end / 8).clamp(MIN_PREALLOC, MAX_PREALLOC));
            if step > 0 {
                match w.file.allocate(end + step) {
                    Ok(()) => {
                        w.allocated = end + step;
                        self.remap(w);
                    }
                    // Not fatal: the write below either fits or fails on its own.
                    Err(_) => w.prealloc_failed = true,
                }
            }
        }
        if let Err(e) = w.file.write_at(record, offset) {
            self.poison
                .set(format!("write at byte {offset} failed: {e}"));
            return Err(Error::io("write", &self.paths.log, e));
        }
        w.end = end;
        w.allocated = w.allocated.max(end);
        Ok((offset, end))
    }

    /// The commit window (PostgreSQL's `commit_delay`, MySQL's
    /// `binlog_group_commit_sync_delay`, made adaptive). Without it, writers that arrive during
    /// an fsync wait for the next one and closed-loop writers split into two alternating
    /// batches, so N writers get at most N/2 times one writer's rate. When the previous fsync
    /// covered several Sync writers, the leader waits — at most a quarter of that fsync's
    /// duration and 200 µs — until as many are queued again, so one fsync covers them all. A
    /// lone writer never waits.
    fn commit_window<'a>(&self, mut c: MutexGuard<'a, Commit>) -> MutexGuard<'a, Commit> {
        let expected = c.last_batch;
        if expected < 2 || c.pending.is_empty() {
            return c;
        }
        let deadline = Instant::now() + (c.last_sync / 4).min(Duration::from_micros(200));
        c.windowing = true;
        while c.pending.len() < expected {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            c = crate::sync::wait_timeout(&self.group.window_cv, c, deadline - now);
        }
        c.windowing = false;
        c
    }

    /// Returns once every record up to sequence number `target` is on stable storage and its
    /// index change is published, leading a group fsync when no other thread is.
    pub(super) fn sync_to(&self, target: u64) -> Result<()> {
        let generation = lock(&self.group.commit).generation;
        self.sync_write(target, generation)
    }

    /// [`sync_to`](Self::sync_to) for a record queued in `generation`: fails if a recovery
    /// discarded it meanwhile.
    pub(super) fn sync_write(&self, target: u64, generation: u64) -> Result<()> {
        let mut c = lock(&self.group.commit);
        loop {
            if c.generation != generation {
                return Err(Error::Poisoned {
                    reason: "an earlier failure; this write was discarded when the cache \
                             recovered from it"
                        .into(),
                });
            }
            if c.synced_seq >= target {
                return Ok(());
            }
            self.poison.check()?;
            if c.syncing {
                c = crate::sync::wait(&self.group.commit_cv, c);
                continue;
            }
            c.syncing = true;
            c = self.commit_window(c);
            let upto = c.written_seq;
            let upto_end = c.written_end;
            let batch = c.pending.len();
            let file = Arc::clone(&c.file);
            drop(c);
            let started = Instant::now();
            let result = file.sync_data();
            let took = started.elapsed();
            crate::counters::bump(&self.counters.syncs);
            c = lock(&self.group.commit);
            c.syncing = false;
            c.last_batch = batch;
            c.last_sync = took;
            if let Err(e) = result {
                // Never retry-and-trust a failed fsync: the page cache may have dropped the
                // dirty pages. Changes waiting on it are never published.
                self.poison.set_lost(format!("fsync failed: {e}"));
                c.pending.clear();
                self.group.commit_cv.notify_all();
                return Err(Error::io("fsync", &self.paths.log, e));
            }
            if !Arc::ptr_eq(&file, &c.file) {
                // A compaction switched files during this fsync: it synced the old file, which
                // says nothing of the new one (its switch may leave the last part of the tail
                // unsynced). Sync again, the new file this time.
                self.group.commit_cv.notify_all();
                continue;
            }
            let covered = c.pending.partition_point(|p| p.seq <= upto);
            if covered > 0 {
                let mut index = self.write_index();
                for p in c.pending.drain(..covered) {
                    match p.change {
                        Some(entry) => index.put(&p.key, entry),
                        None => {
                            index.delete(&p.key);
                        }
                    }
                }
            }
            c.synced_seq = c.synced_seq.max(upto);
            c.synced_end = c.synced_end.max(upto_end);
            // With Sync, followers read what is durable (and so in the index); the other modes
            // published each record as it was written.
            if let (Some(shared), Durability::Sync) = (&self.shared, self.opts.durability) {
                shared.publish(c.synced_end);
            }
            self.group.commit_cv.notify_all();
        }
    }
}

//! Compaction: rewrite the live records into a fresh log, online, and switch to it atomically.
//!
//! 1. **Snapshot** (writer lock held briefly): make everything written durable and published,
//!    note the data end `S`; then, under the index's read lock, clone the index table for
//!    table, bucket for bucket (index/relocate.rs). Outside every lock, drop from the clone the
//!    entries at or past `S` and the expired ones, and list the rest as moves.
//! 2. **Copy** (no writer lock: readers and writers go on): write the file header and those
//!    records, in offset order, verified against their CRCs and key tags, into
//!    `<path>.compact` (copy.rs: a writer thread writes each full chunk while the next is
//!    filled); `fdatasync` it. The clone, its offsets rewritten in place, is the new index.
//! 3. **Switch** (writer lock held): append the bytes written to the old log since `S` (the
//!    tail) to the new file as they are, and build the new index by replaying that tail over
//!    the copied snapshot, so overwrites, deletes and TTLs that arrived during the copy apply
//!    in log order. `fdatasync` the new file, rename it over the log, switch the writer, the
//!    group-commit state and the index to it, and `fsync` the directory.
//!
//! A crash before the rename leaves the old log intact (open removes the leftover file); after
//! it, the new log is complete. Readers are never blocked: they hold their own handle to the
//! old file until they see the new index, and the index swap is one pointer-sized move.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::hint::Covered;
use super::index::{Index, Move};
use super::write::Writer;
use super::{Inner, dead_bytes};
use crate::error::{Error, Result};
use crate::fs::FileHandle;
use crate::log::replay::{Summary as ReplaySummary, replay};
use crate::options::{Durability, RecoveryMode};
use crate::sync::lock;

mod copy;

/// Bytes gathered before each write to the new file (the copy's chunks, the tail's carries).
const WRITE_CHUNK: usize = 1 << 20;

/// Free space required beyond the live bytes: for the records written during the copy.
const SPACE_MARGIN: u64 = 1 << 20;

/// Compaction's share of the engine: one at a time, the background compactor's requests, and
/// how long the last one took.
#[derive(Debug, Default)]
pub(super) struct Compaction {
    /// Serialises compactions (background and on demand).
    pub(super) lock: Mutex<()>,
    pub(super) state: Mutex<Background>,
    pub(super) cv: Condvar,
    /// How long the last compaction took, in microseconds.
    pub(super) last_micros: AtomicU64,
    /// The threads dropping replaced logs and indexes (`release_in_background`): joined at
    /// close, so that a closed handle has let go of everything.
    pub(super) releasing: Mutex<Vec<JoinHandle<()>>>,
}

/// State of the background compactor, behind `Compaction::state`.
#[derive(Debug, Default)]
pub(super) struct Background {
    pub(super) requested: bool,
    pub(super) running: bool,
}

/// What the copy phase hands to the switch.
struct Copied {
    old: Arc<dyn FileHandle>,
    out: Arc<dyn FileHandle>,
    /// Data end of the old log at the snapshot.
    snapshot_end: u64,
    /// End of the copied records in the new file.
    copied_end: u64,
    /// The index of the copied records (offsets in the new file), built during the copy so
    /// that writers do not wait for it.
    index: Index,
    /// Where the last copied record starts in the new file.
    last_at: Option<u64>,
    /// Whether the hint file of the new file (its copied part) is written, under the
    /// temporary name: it goes into place once the new log is.
    hint_written: bool,
    /// With a byte budget, where the copied records were and are: the eviction hands follow
    /// them (evict.rs, `Hands::follow`).
    moved: Option<Moved>,
}

/// The copied records' offsets in the old log (ascending) and their moves (in the same order,
/// each with its offset in the new file or `NOT_COPIED`).
struct Moved {
    from: Vec<u64>,
    moves: Vec<Move>,
}

impl Inner {
    /// Whether the dead-bytes ratio is reached, and either the stale-record threshold or the
    /// dead-bytes floor (large dead records reach it long before a record count would).
    fn compaction_due(&self) -> bool {
        let threshold = self.opts.compaction_threshold;
        if threshold == 0 {
            return false;
        }
        // Lock order is commit → index: read `written` first, never under the index lock.
        let end = lock(&self.group.commit).written_end;
        let index = self.read_index();
        // Expired entries not yet dropped count as live here: compaction is never early.
        let dead = dead_bytes(end, index.live_bytes);
        let data = dead + index.live_bytes;
        // With a budget the floor is at most an eighth of it, so large records cannot hold
        // the log past about twice the budget either.
        let floor = match self.opts.max_bytes {
            Some(max) => self.opts.compaction_dead_bytes.min(max / 8).max(1),
            None => self.opts.compaction_dead_bytes,
        };
        dead as f64 >= self.opts.compaction_dead_ratio * data as f64
            && (index.stale_records >= threshold || dead >= floor)
    }

    /// Called after each write: wakes the background compactor when a compaction is due. The
    /// writer never pays for the rewrite itself. A request made while a compaction runs is
    /// kept, and the compactor checks again when it finishes.
    pub(super) fn maybe_compact(&self) {
        if !self.compaction_due() {
            return;
        }
        let mut bg = lock(&self.compaction.state);
        if !bg.requested {
            bg.requested = true;
            self.compaction.cv.notify_all();
        }
    }

    /// Runs one compaction now, in the calling thread (one at a time per handle).
    pub(super) fn compact(&self) -> Result<()> {
        let _one_at_a_time = lock(&self.compaction.lock);
        let started = Instant::now();
        // The hint describes the file about to be replaced: gone (durably) before the rename,
        // so a hint never sits beside a log it does not describe.
        super::open::remove_durably(&*self.opts.fs, &self.paths.hint, &self.paths.dir)?;
        let copied = match self.snapshot_and_copy() {
            Ok(copied) => copied,
            Err(e) => {
                *lock(&self.evictions.meanwhile) = None;
                return Err(e);
            }
        };
        let hint_written = copied.hint_written;
        let result = self.switch(copied);
        *lock(&self.evictions.meanwhile) = None;
        let fs = &*self.opts.fs;
        if result.is_err() {
            // The rename did not happen (or the switch handled it): the log is as it was.
            // Best effort; open removes leftover files anyway.
            let _ = fs.remove(&self.paths.compact);
            if hint_written {
                let _ = fs.remove(&self.paths.hint_temp);
            }
        } else if hint_written
            && let Err(e) = super::hint::publish(fs, &self.paths.hint_temp, &self.paths.hint)
        {
            tracing::info!("{}: hint file not written: {e}", self.paths.hint.display());
        }
        let reclaimed = result?;
        let c = &self.counters;
        crate::counters::bump(&c.compactions);
        crate::counters::add(&c.bytes_reclaimed, reclaimed);
        self.compaction.last_micros.store(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::debug!(
            "compacted {} in {:?}, reclaimed {reclaimed} bytes",
            self.paths.log.display(),
            started.elapsed()
        );
        Ok(())
    }

    /// Phases 1 and 2: snapshot the live entries and copy their records into the new file.
    fn snapshot_and_copy(&self) -> Result<Copied> {
        let snapshot_end = {
            let w = self.writer()?;
            if self.opts.durability == Durability::Sync {
                // Publishes the Sync writes waiting for their fsync, so the snapshot has them.
                // (Other modes publish at once; the copy is synced on its own.)
                self.sync_to(w.seq)?;
            }
            // From here evictions are noted (under the writer lock, as they happen), so that
            // the switch keeps them evicted.
            *lock(&self.evictions.meanwhile) = Some(Vec::new());
            w.end
        };
        let now = self.opts.clock.now_millis();
        // A copy of the tables, bucket for bucket, becomes the new index once its offsets are
        // rewritten (index/relocate.rs).
        let (mut fresh, old) = {
            let index = self.read_index();
            (index.snapshot(), Arc::clone(&index.file))
        };
        let mut moves = fresh.plan(snapshot_end, now);
        moves.sort_unstable_by_key(|m| m.offset);

        let fs = &*self.opts.fs;
        let live_bytes = fresh.live_bytes;
        let needed = live_bytes + live_bytes / 8 + SPACE_MARGIN;
        let available = fs
            .available_space(&self.paths.dir)
            .map_err(|e| Error::io("statvfs", &self.paths.dir, e))?;
        if available < needed {
            return Err(Error::NoSpace {
                path: self.paths.dir.clone(),
                needed,
                available,
            });
        }
        let out = fs
            .open(&self.paths.compact, true)
            .map_err(|e| Error::io("create", &self.paths.compact, e))?;
        // Only hands need the old offsets once the copy has replaced them.
        let from: Option<Vec<u64>> = self
            .opts
            .max_bytes
            .map(|_| moves.iter().map(|m| m.offset).collect());
        match self.copy_records(&*old, &*out, &mut moves, snapshot_end, &fresh) {
            Ok((copied_end, last)) => {
                fresh.relocate(Arc::clone(&out), &moves);
                let hint_written = last.is_some_and(|covered| {
                    self.opts.hint_file && self.write_copied_hint(covered, &fresh)
                });
                Ok(Copied {
                    old,
                    out,
                    snapshot_end,
                    copied_end,
                    index: fresh,
                    last_at: last.map(|c| c.last_at),
                    hint_written,
                    moved: from.map(|from| Moved { from, moves }),
                })
            }
            Err(e) => {
                let _ = fs.remove(&self.paths.compact);
                Err(e)
            }
        }
    }

    /// Writes the hint of the copied records under its temporary name; whether it was.
    fn write_copied_hint(&self, covered: Covered, index: &Index) -> bool {
        match super::hint::write(&*self.opts.fs, &self.paths.hint_temp, covered, index) {
            Ok(()) => true,
            Err(e) => {
                tracing::info!(
                    "{}: hint file not written: {e}",
                    self.paths.hint_temp.display()
                );
                false
            }
        }
    }

    /// Copies the old log's bytes `[from, to)` (part of the tail, after the snapshot) to their
    /// place in the new file as they are, and replays them over the new index, so overwrites,
    /// deletes and TTLs written during the copy apply in log order. Returns the replay's
    /// summary.
    fn carry(&self, copied: &mut Copied, from: u64, to: u64) -> Result<ReplaySummary> {
        let (snapshot_end, copied_end) = (copied.snapshot_end, copied.copied_end);
        let out_err = |op| move |e| Error::io(op, &self.paths.compact, e);
        let mut buf = vec![0u8; WRITE_CHUNK.min(usize::try_from(to - from).unwrap_or(WRITE_CHUNK))];
        let mut pos = from;
        while pos < to {
            let n = buf
                .len()
                .min(usize::try_from(to - pos).unwrap_or(usize::MAX));
            copied
                .old
                .read_exact_at(&mut buf[..n], pos)
                .map_err(|e| Error::io("read", &self.paths.log, e))?;
            copied
                .out
                .write_at(&buf[..n], pos - snapshot_end + copied_end)
                .map_err(out_err("write"))?;
            pos += n as u64;
        }
        let now = self.opts.clock.now_millis();
        let fresh = &mut copied.index;
        let tail = replay(
            &self.paths.log,
            &*copied.old,
            from..to,
            self.opts.max_value_len,
            RecoveryMode::Strict,
            |event| {
                fresh.apply_replayed(event, now, snapshot_end, copied_end);
            },
        )?;
        if tail.data_end != to {
            return Err(Error::Corrupt {
                path: self.paths.log.clone(),
                offset: tail.data_end,
                reason: "records written during compaction do not read back".into(),
            });
        }
        if let Some(at) = tail.last_at {
            copied.last_at = Some(at - snapshot_end + copied_end);
        }
        Ok(tail)
    }

    /// Phase 3: carry the tail over, build the new index, rename, switch. Returns the bytes
    /// reclaimed.
    ///
    /// Writers wait only for the last part: the tail written so far is carried over and the
    /// new file synced before the writer lock is taken; under it only what came since is
    /// carried and synced. Without Sync writes to publish, the old log is not synced at all
    /// (here or at the snapshot): the new file is. The writer lock held through four fsyncs
    /// per compaction cost overwrites 40 % of their rate (measured: 1.73M puts/s without
    /// compaction, 1.01M with it, each switch holding writers for 3–4 ms; now 1.40M).
    fn switch(&self, mut copied: Copied) -> Result<u64> {
        let out_err = |op| move |e| Error::io(op, &self.paths.compact, e);
        let snapshot_end = copied.snapshot_end;
        // Outside the writer lock: what the log holds now, carried and made durable.
        let early = lock(&self.group.commit).written_end.max(snapshot_end);
        self.carry(&mut copied, snapshot_end, early)?;
        copied.out.sync_data().map_err(out_err("fsync"))?;

        let mut w = self.writer()?;
        if self.opts.durability == Durability::Sync {
            // Publishes the Sync writes waiting for their fsync, so the tail carries them.
            self.sync_to(w.seq)?;
        }
        let old_end = w.end;
        let copied_end = copied.copied_end;
        self.carry(&mut copied, early, old_end)?;
        let new_end = copied_end + (old_end - snapshot_end);
        // Entries evicted while the copy ran came back through the snapshot or the tail:
        // evicted they stay (a copied record sits before `copied_end`; a tail record moved by
        // `copied_end - snapshot_end`).
        let fresh = &mut copied.index;
        for (key, old_offset) in lock(&self.evictions.meanwhile).take().unwrap_or_default() {
            let resurrected = fresh.get(&key).is_some_and(|e| {
                if old_offset < snapshot_end {
                    e.offset < copied_end
                } else {
                    e.offset == old_offset - snapshot_end + copied_end
                }
            });
            if resurrected {
                fresh.remove(&key);
            }
        }
        // Everything written must be durable in the new file before the rename (what the old
        // log held durably above all): the part carried since `early`, if any.
        if old_end > early {
            copied.out.sync_data().map_err(out_err("fsync"))?;
        }

        let fs = &*self.opts.fs;
        fs.rename(&self.paths.compact, &self.paths.log)
            .map_err(out_err("rename"))?;
        // From here the path names the new file: switch to it whatever happens next.
        w.last_at = copied.last_at;
        // Offsets moved: each eviction hand goes on from the record it would have met next
        // (restarting them at the front made every compaction a lap of the oldest entries,
        // CLOCK's hit ratio at a 1 % budget 0.355 instead of 0.445).
        match &copied.moved {
            Some(m) => w.hand.follow(&m.from, &m.moves, snapshot_end, copied_end),
            None => w.hand.reset(),
        }
        let old_index = self.install(&mut w, &copied.out, new_end, copied.index);
        if let Err(e) = fs.sync_dir(&self.paths.dir) {
            // The rename may not be durable: a crash could bring back the old log, and with it
            // lose what is written to the new one. Stop writing.
            self.poison
                .set(format!("directory fsync after compaction failed: {e}"));
            return Err(Error::io("fsync", &self.paths.dir, e));
        }
        drop(w);
        // Freeing a large index takes a while: not under any lock. The old log is unlinked: its last close frees its blocks and page cache (53 ms for a
        // 200 MB log, a third of a compaction of 100 MB of 4 KiB records). Nobody waits for
        // that: a thread of its own drops the old file and index.
        self.release_in_background(copied.old, old_index);
        Ok(old_end.saturating_sub(new_end))
    }

    /// Drops the old log's handle and index in a thread of its own (inline if no thread
    /// starts). Readers may still hold the file: its last holder closes it, wherever that is.
    fn release_in_background(&self, old: Arc<dyn FileHandle>, old_index: Index) {
        let held = (old, old_index);
        // When no thread starts, the closure, and what it holds, is dropped here.
        let spawned = std::thread::Builder::new()
            .name("logcache-release".into())
            .spawn(move || drop(held));
        let mut releasing = lock(&self.compaction.releasing);
        releasing.retain(|t| !t.is_finished());
        releasing.extend(spawned.ok());
    }

    /// Waits for the threads releasing replaced logs (close).
    pub(super) fn join_releases(&self) {
        let threads = std::mem::take(&mut *lock(&self.compaction.releasing));
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Points the writer, the group-commit state and the index at the new file; returns the
    /// old index for the caller to drop outside the locks.
    fn install(
        &self,
        w: &mut Writer,
        out: &Arc<dyn FileHandle>,
        new_end: u64,
        mut fresh: Index,
    ) -> Index {
        w.file = Arc::clone(out);
        w.end = new_end;
        w.allocated = new_end;
        w.prealloc_failed = false;
        let mut c = lock(&self.group.commit);
        c.file = Arc::clone(out);
        // Sequence numbers carry over unchanged, and so does the synced watermark (with Sync
        // at w.seq: switch's sync_to); the new file was synced whole before the rename.
        c.written_end = new_end;
        c.synced_end = new_end;
        // A new file at the log's path: followers load it again.
        if let Some(shared) = &self.shared {
            shared.bump(new_end);
        }
        let mut index = self.write_index();
        // The ghost as it is now: it heard of the evictions made while the copy ran.
        fresh.inherit_ghost(&mut index);
        let old = std::mem::replace(&mut *index, fresh);
        drop(index);
        drop(c);
        self.remap(w);
        old
    }
}

/// Starts the background compactor: it waits for [`Inner::maybe_compact`]'s requests and runs
/// one compaction at a time until the handle closes.
pub(super) fn spawn_compactor(inner: Arc<Inner>) -> Result<JoinHandle<()>> {
    let path = inner.paths.log.clone();
    std::thread::Builder::new()
        .name("logcache-compact".into())
        .spawn(move || {
            loop {
                {
                    let mut bg = lock(&inner.compaction.state);
                    while !bg.requested && !inner.shutdown.load(Ordering::Acquire) {
                        bg = crate::sync::wait(&inner.compaction.cv, bg);
                    }
                    if inner.shutdown.load(Ordering::Acquire) {
                        return;
                    }
                    bg.requested = false;
                    bg.running = true;
                }
                // Another compaction (on demand) may have run since the request.
                if inner.compaction_due() {
                    match inner.compact() {
                        Ok(()) => {}
                        Err(e @ Error::NoSpace { .. }) => {
                            crate::counters::bump(&inner.counters.compactions_skipped);
                            tracing::warn!(
                                "compaction of {} skipped: {e}",
                                inner.paths.log.display()
                            );
                        }
                        // Interrupted by close: not a failure.
                        Err(_) if inner.shutdown.load(Ordering::Acquire) => {}
                        Err(e) => {
                            crate::counters::bump(&inner.counters.compaction_errors);
                            tracing::warn!(
                                "compaction of {} failed: {e}",
                                inner.paths.log.display()
                            );
                        }
                    }
                }
                let mut bg = lock(&inner.compaction.state);
                bg.running = false;
                inner.compaction.cv.notify_all();
            }
        })
        .map_err(|e| Error::io("spawn compaction thread", path, e))
}

//! Recovery in place: bringing a poisoned handle back into service without reopening it.
//!
//! A failed write or fsync poisons the handle (write.rs): what follows the failure on disk is
//! no longer known, so every write is refused. A server cannot drop the handle and reopen it
//! while requests hold it, so [`DurableKVCache::recover`] does what a reopen would, in place:
//!
//! 1. Decide what to keep. After a failed `fsync` (or a panic while writing) the page cache
//!    may have dropped written pages and a second fsync would report success for data that is
//!    gone, so only what an earlier fsync covered is kept (the synced end). After a failed
//!    write, everything before it is intact in the page cache: with `Durability::Sync` the
//!    records not yet synced belong to writers that were refused, so the synced end again;
//!    with `None`/`Interval` the records before the failed write were acknowledged, so the
//!    data end.
//! 2. Cut the file there (dropping the torn record and preallocated space) and `fdatasync`
//!    the cut, then `fsync` the directory (a failed directory fsync after a compaction's
//!    rename poisons too). Any failure leaves the handle poisoned: try again later.
//! 3. When records an index entry points at were cut (`None`/`Interval` after a lost fsync),
//!    replay the kept log into a fresh index, as open does: values that were acknowledged
//!    but never synced are lost, as in a crash, and older values come back.
//! 4. Reset the writer and the group-commit state to the cut (the sync watermark passes the
//!    discarded records' sequence numbers, which are not reused), bump the generation (a
//!    writer still waiting for a discarded record gets an error, never `Ok`), clear the
//!    poison.
//!
//! Lock order as everywhere: `compact_lock` → `writer` → `commit` → `index`.

use super::open::replay_index;
use super::{DurableKVCache, Inner};
use crate::error::{Error, Result};
use crate::options::Durability;
use crate::sync::lock;

impl DurableKVCache {
    /// Why the cache refuses writes, if it does: the failed write or fsync that poisoned it
    /// (see [`Error::Poisoned`]). `None` while it works.
    pub fn failure(&self) -> Option<String> {
        self.inner.poison.reason()
    }

    /// Brings a poisoned cache back into service in place, as a reopen would but without
    /// dropping the handle: cuts the log back to what is known to be on disk, makes the cut
    /// durable, rebuilds the index if the cut removed records it pointed at, and accepts
    /// writes again. Returns `Ok(false)` when the cache was not poisoned, `Ok(true)` when it
    /// recovered, and an error (the cache stays poisoned) when the disk still fails: call it
    /// again later, for example once space was freed.
    ///
    /// What survives is what a crash at the failure would have kept: every write that was
    /// acknowledged as durable. With [`Durability::None`] or [`Durability::Interval`], writes
    /// acknowledged but not yet synced survive a failed write, but not a failed fsync.
    pub fn recover(&self) -> Result<bool> {
        self.inner.recover()
    }
}

impl Inner {
    fn recover(&self) -> Result<bool> {
        if !self.poison.is_set() || self.opts.read_only {
            return Ok(false);
        }
        let _no_compaction = lock(&self.compaction.lock);
        let mut w = match self.group.writer.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A thread panicked while writing: the poison flag says `lost`, so the writer's
                // own view of the data end is not trusted below.
                self.group.writer.clear_poison();
                poisoned.into_inner()
            }
        };
        let mut c = lock(&self.group.commit);
        while c.syncing {
            // A leader started its fsync before the failure: let it finish and publish.
            c = crate::sync::wait(&self.group.commit_cv, c);
        }
        if !self.poison.is_set() {
            return Ok(false); // another thread recovered meanwhile
        }
        let lost = self.poison.lost();
        let keep_unsynced = !lost && self.opts.durability != Durability::Sync;
        let keep = if keep_unsynced { w.end } else { c.synced_end };
        let io_err = |op| move |e| Error::io(op, &self.paths.log, e);
        // No copy from the map may touch what the cut removes (mapped.rs).
        self.unmap();
        w.file.truncate(keep).map_err(io_err("truncate"))?;
        w.file.sync_data().map_err(io_err("fsync"))?;
        self.opts
            .fs
            .sync_dir(&self.paths.dir)
            .map_err(|e| Error::io("fsync", &self.paths.dir, e))?;
        // Published entries past the cut exist only without Sync, after a lost fsync.
        if keep < w.end && self.opts.durability != Durability::Sync {
            let (mut index, _, _) = replay_index(&self.paths.log, &w.file, keep, &self.opts)?;
            index.opened();
            let old = std::mem::replace(&mut *self.write_index(), index);
            drop(old);
        }
        // Records written from here reuse the cut offsets: values cached under the old
        // identity must not answer for them.
        self.write_index().file_id = super::read_cache::next_file_id();
        if !keep_unsynced {
            // The discarded records' sequence numbers are used up: the watermark passes them,
            // as nothing of them is left to sync (their writers are told by the generation).
            c.written_seq = w.seq;
            c.synced_seq = w.seq;
            c.written_end = keep;
            c.pending.clear();
        }
        c.synced_end = c.synced_end.min(keep);
        c.generation += 1;
        // Bytes followers may have read are cut (and will be written again): they load again.
        if let Some(shared) = &self.shared {
            shared.bump(keep);
        }
        if keep != w.end {
            w.last_at = None; // the hint written at close needs it; none this time
        }
        w.end = keep;
        w.allocated = keep;
        w.prealloc_failed = false;
        w.hand.reset();
        self.remap(&w);
        self.poison.clear();
        self.group.commit_cv.notify_all();
        crate::counters::bump(&self.counters.recoveries);
        tracing::warn!(
            "{}: recovered from a failed write; the log continues at byte {keep}",
            self.paths.log.display()
        );
        Ok(true)
    }
}

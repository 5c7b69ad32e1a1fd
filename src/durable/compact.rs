//! Compaction: rewrite the live records into a fresh log and swap it in atomically.
//!
//! Steps, each needed for crash safety (DESIGN.md rule 3):
//! 1. write the file header and every live, unexpired record into `<path>.compact`;
//! 2. `fdatasync` it;
//! 3. rename it over the log (atomic: a crash leaves the old log or the new one);
//! 4. `fsync` the directory, making the rename durable;
//! 5. switch the writer, the group-commit state and the index to the new file.
//!
//! This version holds the writer lock for the whole rewrite: writers wait, readers do not
//! (they keep reading the old file through their own handle until the switch).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::index::{Entry, Index};
use super::stats::Counters;
use super::write::lock;
use super::{Inner, dead_bytes};
use crate::error::{Error, Result};
use crate::fs::FileHandle;
use crate::log::record::{FILE_HEADER, decode};

/// Bytes gathered before each write to the new file.
const WRITE_CHUNK: usize = 1 << 20;

impl Inner {
    /// Compacts when the stale-record count has reached the threshold and at least half of
    /// the log is dead, so that the rewrite's cost (the live bytes) is paid for by at least as
    /// many dead bytes written since: amortised O(1) per write.
    pub(super) fn maybe_compact(&self) -> Result<()> {
        let threshold = self.opts.compaction_threshold;
        if threshold == 0 {
            return Ok(());
        }
        // Lock order is commit → index: read `written` first, never under the index lock.
        let end = lock(&self.commit).written;
        let due = {
            let index = self.read_index();
            // Expired entries not yet dropped count as live here: compaction is never early.
            index.stale_records >= threshold
                && dead_bytes(end, index.live_bytes) >= index.live_bytes
        };
        if due { self.compact() } else { Ok(()) }
    }

    pub(super) fn compact(&self) -> Result<()> {
        let started = Instant::now();
        let mut w = self.writer()?;
        // Everything written must be durable and published before the index is copied.
        self.sync_to(w.end)?;
        let now = self.opts.clock.now_millis();
        let (mut live, old_file) = {
            let index = self.read_index();
            let live: Vec<(Box<[u8]>, Entry)> = index
                .map
                .iter()
                .filter(|(_, e)| !e.is_expired(now))
                .map(|(k, e)| (k.clone(), *e))
                .collect();
            (live, Arc::clone(&index.file))
        };
        live.sort_unstable_by_key(|(_, e)| e.offset);

        let fs = &*self.opts.fs;
        let out = fs
            .open(&self.compact_path, true)
            .map_err(|e| Error::io("create", &self.compact_path, e))?;
        let written = self.write_compacted(&*old_file, &*out, &mut live);
        let new_end = match written {
            Ok(end) => end,
            Err(e) => {
                // Nothing was renamed: the log is untouched. Best-effort cleanup; open removes
                // a leftover file anyway.
                let _ = fs.remove(&self.compact_path);
                return Err(e);
            }
        };
        if let Err(e) = fs.rename(&self.compact_path, &self.path) {
            let _ = fs.remove(&self.compact_path);
            return Err(Error::io("rename", &self.compact_path, e));
        }
        // From here the path names the new file: switch to it whatever happens next.
        let old_end = w.end;
        w.file = Arc::clone(&out);
        w.end = new_end;
        w.allocated = new_end;
        w.prealloc_failed = false;
        {
            let mut c = lock(&self.commit);
            c.file = Arc::clone(&out);
            c.written = new_end;
            c.synced = new_end;
            let mut index = self.write_index();
            let mut fresh = Index::new(out);
            for (key, entry) in live {
                fresh.put(&key, entry);
            }
            *index = fresh;
        }
        if let Err(e) = fs.sync_dir(&self.dir) {
            // The rename may not be durable; a crash could bring back the old log with its
            // (identical) live data, but new writes would be lost with the new file.
            self.poison
                .set(format!("directory fsync after compaction failed: {e}"));
            return Err(Error::io("fsync", &self.dir, e));
        }
        drop(w);
        let c = &self.counters;
        Counters::bump(&c.compactions);
        c.bytes_reclaimed
            .fetch_add(old_end.saturating_sub(new_end), Ordering::Relaxed);
        c.last_compaction_micros.store(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Copies the records of `live` (sorted by offset) from `old` into `out`, verifying each,
    /// and rewrites each entry's offset to its place in `out`. Returns the new data end.
    fn write_compacted(
        &self,
        old: &dyn FileHandle,
        out: &dyn FileHandle,
        live: &mut Vec<(Box<[u8]>, Entry)>,
    ) -> Result<u64> {
        let out_err = |op| move |e| Error::io(op, &self.compact_path, e);
        out.truncate(0).map_err(out_err("truncate"))?;
        let mut chunk = Vec::with_capacity(WRITE_CHUNK);
        chunk.extend_from_slice(FILE_HEADER);
        let mut flushed = 0u64;
        let mut record = Vec::new();
        let mut lost = Vec::new();
        for (i, (key, entry)) in live.iter_mut().enumerate() {
            record.resize(entry.len as usize, 0);
            old.read_exact_at(&mut record, entry.offset)
                .map_err(|e| Error::io("read", &self.path, e))?;
            // A record damaged since it was written is dropped, not copied: its value is lost
            // either way, and the new log must hold only intact records.
            match decode(&record, self.opts.max_value_len) {
                Ok(r) if r.key == &**key => {}
                _ => {
                    lost.push(i);
                    continue;
                }
            }
            entry.offset = flushed + chunk.len() as u64;
            chunk.extend_from_slice(&record);
            if chunk.len() >= WRITE_CHUNK {
                out.write_at(&chunk, flushed).map_err(out_err("write"))?;
                flushed += chunk.len() as u64;
                chunk.clear();
            }
        }
        out.write_at(&chunk, flushed).map_err(out_err("write"))?;
        flushed += chunk.len() as u64;
        out.sync_data().map_err(out_err("fsync"))?;
        for i in lost.into_iter().rev() {
            live.swap_remove(i);
        }
        Ok(flushed)
    }
}

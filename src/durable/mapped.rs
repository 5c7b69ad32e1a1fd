//! Small reads from a memory map of the log: a `get` of a 100-byte value is an index lookup,
//! a copy and a CRC, with no system call.
//!
//! A `pread` of a small record costs about a microsecond, most of it entering and leaving the
//! kernel — more than the lookup, the copy and the check together, and the reason stores that
//! keep their data in their own memory (sled, redb, fjall's block cache) answered random gets
//! faster. The index holds a read-only map of its file's first bytes ([`Index::map`], made by
//! [`FileHandle::map`](crate::fs::FileHandle::map): only real files map, the simulated file
//! system of the tests reads through `read_at`). A read of a record below
//! [`DIRECT_MIN`](super::read::DIRECT_MIN) that lies inside the map copies it while holding the
//! index's read lock, then checks it outside the lock exactly as a record read from the file
//! is checked. Large records keep the `pread` path and the read cache (read_cache.rs): a copy
//! of a megabyte would hold the lock too long.
//!
//! Why under the lock: a page of a map past the end of its file faults (SIGBUS). The log is
//! cut in three places: open (before any map), close (the handle is gone) and
//! [`recover`](super::DurableKVCache::recover), which drops the map under the index's write
//! lock — waiting for every copy in progress — before it cuts. Compaction never cuts the old
//! file (it is renamed over; its map stays valid while the old index lives).
//!
//! The map covers the file's allocated length (data and preallocated space) and is made again
//! each time the writer reserves more ([`Inner::remap`]); a record past it (preallocation off or
//! failed) is read with `pread`.

use super::Inner;
use super::index::{Entry, Index};
use super::read::{DIRECT_MIN, sized};
use super::write::Writer;

impl Index {
    /// Copies the record `entry` points at into `out` from the map, when the map holds it and
    /// it is small; returns whether it did. Runs under the index lock (see above).
    pub(super) fn copy_mapped(&self, entry: &Entry, out: &mut Vec<u8>) -> bool {
        let len = entry.len as usize;
        let Some(map) = &self.map else {
            return false;
        };
        let Ok(start) = usize::try_from(entry.offset) else {
            return false;
        };
        match map.bytes().get(start..start.saturating_add(len)) {
            Some(record) if len < DIRECT_MIN => {
                sized(out, len);
                out.copy_from_slice(record);
                true
            }
            _ => false,
        }
    }
}

impl Inner {
    /// Maps the writer's file up to its allocated length and gives the map to the index, if
    /// the index is on that file (a compaction's new file gets its map at the switch). A
    /// failure to map is not an error: reads go through `pread`.
    pub(super) fn remap(&self, w: &Writer) {
        if !self.opts.mmap_reads {
            return;
        }
        let map = match w.file.map(w.allocated.max(w.end)) {
            Ok(map) => map,
            Err(e) => {
                tracing::debug!("{}: no memory map ({e})", self.paths.log.display());
                None
            }
        };
        let mut index = self.write_index();
        if std::sync::Arc::ptr_eq(&index.file, &w.file) {
            index.map = map;
        }
    }

    /// Drops the map before the file is cut: taking the write lock waits for every copy in
    /// progress, and no copy starts again until [`remap`](Self::remap).
    pub(super) fn unmap(&self) {
        self.write_index().map = None;
    }
}

//! Compaction's copy of the index: taken bucket for bucket, planned, then moved to the new file.
//!
//! Compaction used to list the live entries as `(key, entry, count)` tuples, copy their records
//! in offset order, and insert every key into a new table: for 685k live 100-byte records that
//! was 44 ms of listing, 20 ms of sorting tuples and 35 ms of inserts, and the copy loop missed
//! the cache on each tuple it updated (390 ns a record in all). A clone of the table keeps every
//! key in its bucket, so the new index is the clone with its offsets rewritten:
//!
//! 1. [`Index::snapshot`] clones the tables under the index's read lock (sequential copies).
//! 2. [`Index::plan`] drops what is not copied (entries at or past the snapshot's end, which
//!    the tail's replay brings back, and expired ones) and lists a [`Move`] per entry, ranked
//!    in bucket order, with a fingerprint of its key for the copy to check the record against.
//! 3. The copy sorts the moves by offset, copies the records and notes each one's new offset in
//!    its move.
//! 4. [`Index::relocate`] lists the new offsets by rank (one pass over the moves), walks the
//!    tables in the same bucket order (nothing was inserted or removed since the plan, so the
//!    ranks line up) and writes each new offset in place; the expiries, keyed by offset, are
//!    keyed again.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::{Index, MAX_OFFSET, Slot};
use crate::fs::FileHandle;

/// New offset of a record that was not copied (damaged since it was written).
pub(crate) const NOT_COPIED: u64 = u64::MAX;

/// A record compaction copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Move {
    /// Where the record starts in the old file; after the copy, in the new file (or
    /// [`NOT_COPIED`]).
    pub(crate) offset: u64,
    /// Its entry's rank in the snapshot's bucket order (the index into the new offsets).
    pub(crate) rank: usize,
    /// The record's length.
    pub(crate) len: u32,
    /// [`Index::key_tag`] of its key.
    pub(crate) tag: u32,
}

impl Slot {
    fn set_offset(&mut self, offset: u64) {
        self.offset
            .copy_from_slice(&offset.min(MAX_OFFSET).to_le_bytes()[..6]);
    }
}

/// A 32-bit fingerprint of `key`: the low half of its 64-bit hash with `seed`.
pub(super) fn tag(seed: u64, key: &[u8]) -> u32 {
    FixedState::with_seed(seed).hash_one(key) as u32
}

/// Shrinks `table` when under a quarter of its room is used.
fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(table: &mut HashMap<K, V, FixedState>) {
    if table.capacity() > 64 && table.len() < table.capacity() / 4 {
        table.shrink_to_fit();
    }
}

/// Every (key, slot) of the three tables, in bucket order, table by table.
macro_rules! each_slot {
    ($index:expr, $iter:ident) => {
        $index
            .k16
            .$iter()
            .map(|(k, s)| (&**k, s))
            .chain($index.k24.$iter().map(|(k, s)| (&**k, s)))
            .chain($index.long.$iter().map(|(k, s)| (&**k, s)))
    };
}

impl Index {
    /// A copy of the index, every key in the bucket it has here, on the same file. Taken under
    /// the read lock; read counts are copied as they stand.
    pub(crate) fn snapshot(&self) -> Index {
        Index {
            k16: self.k16.clone(),
            k24: self.k24.clone(),
            long: self.long.clone(),
            expiries: self.expiries.clone(),
            seed: self.seed,
            file: Arc::clone(&self.file),
            file_id: self.file_id,
            map: None,
            live_bytes: self.live_bytes,
            small_bytes: self.small_bytes,
            ghost: self.ghost.clone(),
            new_keys_main: self.new_keys_main,
            stale_records: 0,
        }
    }

    /// A 32-bit fingerprint of `key` (seeded like the tables).
    pub(crate) fn key_tag(&self, key: &[u8]) -> u32 {
        tag(self.seed, key)
    }

    /// Drops the entries of a snapshot that compaction does not copy — at or past `limit`,
    /// or expired at `now` — and lists the others as moves, ranked in bucket order.
    pub(crate) fn plan(&mut self, limit: u64, now: u64) -> Vec<Move> {
        let expiries = &self.expiries;
        let expired = |s: &Slot| {
            s.has_expiry()
                && expiries
                    .get(&s.offset())
                    .is_some_and(|&at| at != 0 && at <= now)
        };
        let dropped: Vec<Box<[u8]>> = each_slot!(self, iter)
            .filter(|(_, s)| s.offset() >= limit || expired(s))
            .map(|(k, _)| k.into())
            .collect();
        for key in &dropped {
            self.remove(key);
        }
        self.stale_records = 0;
        each_slot!(self, iter)
            .enumerate()
            .map(|(rank, (key, s))| Move {
                offset: s.offset(),
                rank,
                len: s.len(),
                tag: self.key_tag(key),
            })
            .collect()
    }

    /// Moves a planned snapshot to `file`: `moved` are the plan's moves (in any order), each
    /// with its offset in `file`; an entry whose move is [`NOT_COPIED`] (or missing) is
    /// dropped. Takes a fresh file identity and no map.
    pub(crate) fn relocate(&mut self, file: Arc<dyn FileHandle>, moved: &[Move]) {
        // A scatter in a loop of its own: inside the copy loop its cache misses stalled the
        // copy's stores (a quarter of the loop's time for 685k records); here it takes 4 ms.
        let mut to = vec![NOT_COPIED; self.len()];
        for m in moved {
            if let Some(slot) = to.get_mut(m.rank) {
                *slot = m.offset;
            }
        }
        let old_expiries = std::mem::replace(
            &mut self.expiries,
            HashMap::with_hasher(FixedState::with_seed(self.seed)),
        );
        let mut expiries =
            HashMap::with_capacity_and_hasher(old_expiries.len(), FixedState::with_seed(self.seed));
        let (mut live_bytes, mut small_bytes) = (0u64, 0u64);
        let mut dropped: Vec<Box<[u8]>> = Vec::new();
        for (rank, (key, slot)) in each_slot!(self, iter_mut).enumerate() {
            let new = to.get(rank).copied().unwrap_or(NOT_COPIED);
            if new == NOT_COPIED {
                dropped.push(key.into());
                continue;
            }
            if slot.has_expiry()
                && let Some(&at) = old_expiries.get(&slot.offset())
            {
                expiries.insert(new, at);
            }
            slot.set_offset(new);
            live_bytes += u64::from(slot.len());
            if !slot.is_main() {
                small_bytes += u64::from(slot.len());
            }
        }
        // Not `remove`: the dropped slots still hold old offsets, which mean nothing in the
        // new expiries.
        for key in &dropped {
            match key.len() {
                0..=16 => self.k16.remove(&**key),
                17..=24 => self.k24.remove(&**key),
                _ => self.long.remove(&**key),
            };
        }
        // A clone has the capacity of the table it copied: give back what many removals left
        // empty, as a table built for the live keys would (a rehash, only then).
        shrink_if_sparse(&mut self.k16);
        shrink_if_sparse(&mut self.k24);
        shrink_if_sparse(&mut self.long);
        shrink_if_sparse(&mut expiries);
        self.expiries = expiries;
        self.live_bytes = live_bytes;
        self.small_bytes = small_bytes;
        self.stale_records = 0;
        self.file = file;
        self.file_id = super::super::read_cache::next_file_id();
        self.map = None;
    }
}

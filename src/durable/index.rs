//! The in-memory index: key → where its newest record is. Values stay on disk.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::key::{INLINE, IndexKey};
use crate::fs::FileHandle;
use crate::log::record::Op;
use crate::log::replay::Event;

/// Where a live record is, and when it expires: what the index answers and what writers
/// hand it. (It stores the smaller [`Slot`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Offset of the record's first byte in the current log file.
    pub(crate) offset: u64,
    /// Length of the whole record.
    pub(crate) len: u32,
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub(crate) expiry: u64,
}

impl Entry {
    pub(crate) fn is_expired(&self, now: u64) -> bool {
        self.expiry != 0 && self.expiry <= now
    }
}

/// What the table holds per key: 16 bytes. The expiry lives in `Index::expiries`, used only by
/// keys that have one, so that the common entry without a TTL stays small (index memory per
/// key is what bounds how many keys fit in RAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    offset: u64,
    len: u32,
    /// 1-based index into `Index::expiries`; 0 = no expiry.
    ttl: u32,
}

/// A slab of expiry times with a free list.
#[derive(Debug, Default)]
struct Expiries {
    at: Vec<u64>,
    free: Vec<u32>,
}

impl Expiries {
    fn alloc(&mut self, expiry: u64) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.at[i as usize - 1] = expiry;
                i
            }
            None => {
                self.at.push(expiry);
                // More than u32::MAX keys with a TTL would not fit in memory anyway.
                u32::try_from(self.at.len()).unwrap_or(u32::MAX)
            }
        }
    }
    fn release(&mut self, i: u32) {
        if i != 0 {
            self.free.push(i);
        }
    }
    fn get(&self, i: u32) -> u64 {
        match i {
            0 => 0,
            i => self.at.get(i as usize - 1).copied().unwrap_or(0),
        }
    }
    fn live(&self) -> u64 {
        (self.at.len() - self.free.len()) as u64
    }
}

/// The index together with the file its offsets point into: readers take both under one read
/// lock, so a compaction that swaps files can never pair an offset with the wrong file.
#[derive(Debug)]
pub(crate) struct Index {
    /// foldhash, randomly seeded per process: several times faster than SipHash on short keys
    /// (a quarter of replay time was SipHash), still resistant to chosen-key flooding.
    map: HashMap<IndexKey, Slot, RandomState>,
    expiries: Expiries,
    pub(crate) file: Arc<dyn FileHandle>,
    /// Sum of `len` over `map` (expired entries included until they are removed).
    pub(crate) live_bytes: u64,
    /// Records in the file that no longer hold a live value: superseded, deleted, tombstones,
    /// expired, damaged. Compaction's trigger counts these.
    pub(crate) stale_records: u64,
}

impl Index {
    pub(crate) fn new(file: Arc<dyn FileHandle>) -> Self {
        Index {
            map: HashMap::default(),
            expiries: Expiries::default(),
            file,
            live_bytes: 0,
            stale_records: 0,
        }
    }

    fn entry(&self, slot: Slot) -> Entry {
        Entry {
            offset: slot.offset,
            len: slot.len,
            expiry: self.expiries.get(slot.ttl),
        }
    }

    /// The newest entry of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Entry> {
        self.map.get(key).map(|&s| self.entry(s))
    }

    /// Every key with its entry.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&IndexKey, Entry)> {
        self.map.iter().map(|(k, &s)| (k, self.entry(s)))
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    fn slot(&mut self, entry: Entry) -> Slot {
        let ttl = if entry.expiry == 0 {
            0
        } else {
            self.expiries.alloc(entry.expiry)
        };
        Slot {
            offset: entry.offset,
            len: entry.len,
            ttl,
        }
    }

    fn forget(&mut self, old: Slot) {
        self.live_bytes -= u64::from(old.len);
        self.stale_records += 1;
        self.expiries.release(old.ttl);
    }

    /// Records that `key`'s newest record is `entry`.
    pub(crate) fn put(&mut self, key: &[u8], entry: Entry) {
        use std::collections::hash_map::Entry as MapEntry;
        let slot = self.slot(entry);
        let old = if key.len() <= INLINE {
            // An inline key costs no allocation to build, so the entry API can hash once.
            match self.map.entry(IndexKey::from(key)) {
                MapEntry::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), slot)),
                MapEntry::Vacant(v) => {
                    v.insert(slot);
                    None
                }
            }
        } else {
            match self.map.get_mut(key) {
                Some(s) => Some(std::mem::replace(s, slot)),
                None => {
                    self.map.insert(IndexKey::from(key), slot);
                    None
                }
            }
        };
        if let Some(old) = old {
            self.forget(old);
        }
        self.live_bytes += u64::from(entry.len);
    }

    /// Adds a key known to be absent, taking ownership of it (building an index from unique
    /// keys without copying them again).
    pub(crate) fn insert_new(&mut self, key: IndexKey, entry: Entry) {
        let slot = self.slot(entry);
        self.live_bytes += u64::from(entry.len);
        if let Some(old) = self.map.insert(key, slot) {
            // Not expected; keep the accounting right anyway.
            self.forget(old);
        }
    }

    /// Records a tombstone for `key`; returns the entry it removed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Option<Entry> {
        self.stale_records += 1; // the tombstone itself
        self.remove(key)
    }

    /// Drops `key` without a record of its own (expiry, salvage).
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.map.remove(key)?;
        let entry = self.entry(old);
        self.forget(old);
        Some(entry)
    }

    /// Drops `key` if its entry is still `entry` (a newer write may have replaced it).
    pub(crate) fn remove_if_same(&mut self, key: &[u8], entry: Entry) -> bool {
        if self.get(key) == Some(entry) {
            self.remove(key);
            true
        } else {
            false
        }
    }

    /// Live (unexpired) keys and their bytes.
    pub(crate) fn live(&self, now: u64) -> (u64, u64) {
        if self.expiries.live() == 0 {
            return (self.map.len() as u64, self.live_bytes);
        }
        self.iter()
            .filter(|(_, e)| !e.is_expired(now))
            .fold((0, 0), |(n, b), (_, e)| (n + 1, b + u64::from(e.len)))
    }

    /// Applies one replayed event, as open does for the whole log and compaction for the
    /// records written while it copied. A record's offset becomes `offset - from + to` (the
    /// tail of the old log moves to the end of the new one). Returns whether the event was a
    /// put that had already expired at `now`.
    pub(crate) fn apply_replayed(
        &mut self,
        event: Event<'_>,
        now: u64,
        from: u64,
        to: u64,
    ) -> bool {
        match event {
            Event::Record {
                offset,
                header,
                key,
            } => match header.op {
                Op::Put if header.expiry != 0 && header.expiry <= now => {
                    self.remove(key);
                    self.stale_records += 1;
                    return true;
                }
                Op::Put => self.put(
                    key,
                    Entry {
                        offset: offset - from + to,
                        // Bounded by MAX_KEY_LEN + max_value_len while parsing.
                        len: u32::try_from(header.record_len()).unwrap_or(u32::MAX),
                        expiry: header.expiry,
                    },
                ),
                Op::Delete => {
                    self.delete(key);
                }
            },
            Event::Damaged { .. } => self.stale_records += 1,
        }
        false
    }
}

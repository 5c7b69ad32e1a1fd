//! The in-memory index: key → where its newest record is. Values stay on disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::{FixedState, RandomState};

use super::key::InlineKey;
use crate::fs::FileHandle;
use crate::log::record::Op;
use crate::log::replay::Event;

mod ghost;
mod relocate;
pub(crate) use ghost::Small;
pub(crate) use relocate::{Move, NOT_COPIED};

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

/// Largest read count of an entry (2 bits): a read raises it by one up to this, the eviction
/// hand lowers it by one per pass.
pub(crate) const MAX_COUNT: u8 = 3;

/// `Slot::meta` bit: the entry has an expiry (in `Index::expiries`).
const HAS_EXPIRY: u8 = 4;

/// What the table holds per key: 11 bytes, byte-aligned, so that with an `InlineKey<16>` a
/// bucket is 28 bytes (index memory per key is what bounds how many keys fit in RAM). The expiry, used
/// only by keys that have one, lives in `Index::expiries`, keyed by the record's offset.
#[derive(Debug)]
struct Slot {
    /// Offset of the record, 48 bits little-endian (256 TiB).
    offset: [u8; 6],
    len: [u8; 4],
    /// The read count in the low 2 bits, [`HAS_EXPIRY`], and S3-FIFO's class (`ghost::MAIN`,
    /// ghost.rs). Atomic so that a `get` raises the
    /// count under the index's read lock: the count shares the cache line the lookup already
    /// loaded, where a separate table of counts cost gets a tenth of their speed (measured).
    meta: AtomicU8,
}

impl Clone for Slot {
    fn clone(&self) -> Self {
        Slot {
            offset: self.offset,
            len: self.len,
            meta: AtomicU8::new(self.meta.load(Ordering::Relaxed)),
        }
    }
}

/// Largest offset a slot holds (writes past it are refused).
pub(crate) const MAX_OFFSET: u64 = (1 << 48) - 1;

impl Slot {
    fn new(entry: Entry, count: u8, main: bool) -> Slot {
        let mut offset = [0u8; 6];
        offset.copy_from_slice(&entry.offset.min(MAX_OFFSET).to_le_bytes()[..6]);
        let expiry = if entry.expiry == 0 { 0 } else { HAS_EXPIRY };
        let main = if main { ghost::MAIN } else { 0 };
        Slot {
            offset,
            len: entry.len.to_le_bytes(),
            meta: AtomicU8::new(expiry | main | count.min(MAX_COUNT)),
        }
    }
    fn offset(&self) -> u64 {
        let mut b = [0u8; 8];
        b[..6].copy_from_slice(&self.offset);
        u64::from_le_bytes(b)
    }
    fn len(&self) -> u32 {
        u32::from_le_bytes(self.len)
    }
    fn has_expiry(&self) -> bool {
        self.meta.load(Ordering::Relaxed) & HAS_EXPIRY != 0
    }
    fn count(&self) -> u8 {
        self.meta.load(Ordering::Relaxed) & 3
    }
    /// Raises the count by one (up to [`MAX_COUNT`]); a lost race only misses one raise.
    fn raise(&self) {
        let m = self.meta.load(Ordering::Relaxed);
        if m & 3 < MAX_COUNT {
            self.meta.store(m + 1, Ordering::Relaxed);
        }
    }
    /// The eviction hand passes: `true` when the count is 0 (the entry may go), else lowers it.
    fn pass(&self) -> bool {
        let m = self.meta.load(Ordering::Relaxed);
        if m & 3 == 0 {
            return true;
        }
        self.meta.store(m - 1, Ordering::Relaxed);
        false
    }
}

/// How many keys each of the index's tables holds (or should have room for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Keys of at most 16 bytes.
    pub(crate) k16: usize,
    /// Keys of 17 to 24 bytes.
    pub(crate) k24: usize,
    /// Longer keys.
    pub(crate) long: usize,
}

/// One of the index's tables, keyed by a key of the lengths it holds.
trait Table {
    fn find(&self, key: &[u8]) -> Option<&Slot>;
    fn take(&mut self, key: &[u8]) -> Option<Slot>;
    /// Sets `key`'s slot to `make(its old slot)`; returns the old slot.
    fn replace(&mut self, key: &[u8], make: impl FnOnce(Option<&Slot>) -> Slot) -> Option<Slot>;
}

impl<const N: usize> Table for HashMap<InlineKey<N>, Slot, FixedState> {
    fn find(&self, key: &[u8]) -> Option<&Slot> {
        self.get(key)
    }
    fn take(&mut self, key: &[u8]) -> Option<Slot> {
        self.remove(key)
    }
    fn replace(&mut self, key: &[u8], make: impl FnOnce(Option<&Slot>) -> Slot) -> Option<Slot> {
        use std::collections::hash_map::Entry as MapEntry;
        // An inline key costs no allocation to build, so the entry API can hash once.
        let Some(inline) = InlineKey::new(key) else {
            return None; // by_len! sends only keys that fit
        };
        match self.entry(inline) {
            MapEntry::Occupied(mut o) => {
                let slot = make(Some(o.get()));
                Some(std::mem::replace(o.get_mut(), slot))
            }
            MapEntry::Vacant(v) => {
                v.insert(make(None));
                None
            }
        }
    }
}

impl Table for HashMap<Box<[u8]>, Slot, FixedState> {
    fn find(&self, key: &[u8]) -> Option<&Slot> {
        self.get(key)
    }
    fn take(&mut self, key: &[u8]) -> Option<Slot> {
        self.remove(key)
    }
    fn replace(&mut self, key: &[u8], make: impl FnOnce(Option<&Slot>) -> Slot) -> Option<Slot> {
        match self.get_mut(key) {
            Some(s) => {
                let slot = make(Some(s));
                Some(std::mem::replace(s, slot))
            }
            None => {
                self.insert(key.into(), make(None));
                None
            }
        }
    }
}

/// Calls a [`Table`] method on the table that holds keys of `key`'s length.
macro_rules! by_len {
    ($index:expr, $key:expr, $method:ident ( $($arg:expr),* )) => {
        match $key.len() {
            0..=16 => $index.k16.$method($($arg),*),
            17..=24 => $index.k24.$method($($arg),*),
            _ => $index.long.$method($($arg),*),
        }
    };
}

/// The index together with the file its offsets point into: readers take both under one read
/// lock, so a compaction that swaps files can never pair an offset with the wrong file.
#[derive(Debug)]
pub(crate) struct Index {
    /// Keys of at most 16 bytes (most keys): 28 bytes per bucket.
    ///
    /// foldhash: several times faster than SipHash on short keys (a quarter of replay time
    /// was SipHash). Seeded with a random 64-bit `seed` per index, kept in the hint file: an
    /// index loaded from its hint with the same seed and size puts every key in the bucket it
    /// had, and the hint lists them in bucket order, so the load walks the table in order
    /// instead of missing the cache on every insert (1M inserts: ~250 ms at random, a fraction
    /// of that in order). The random per-index seed is what resists chosen-key flooding.
    k16: HashMap<InlineKey<16>, Slot, FixedState>,
    /// Keys of 17 to 24 bytes: 36 bytes per bucket.
    k24: HashMap<InlineKey<24>, Slot, FixedState>,
    /// Longer keys, boxed.
    long: HashMap<Box<[u8]>, Slot, FixedState>,
    /// Expiry (Unix ms) by record offset, for the entries that have one.
    expiries: HashMap<u64, u64, FixedState>,
    /// The hashers' seed.
    seed: u64,
    pub(crate) file: Arc<dyn FileHandle>,
    /// The file's identity for the read cache (read_cache.rs): new for every index and every
    /// cut of the file.
    pub(crate) file_id: u64,
    /// `file`'s first bytes in memory, for small reads without a system call (mapped.rs).
    pub(crate) map: Option<crate::fs::Mapping>,
    /// Sum of the entries' `len` (expired entries included until they are removed).
    pub(crate) live_bytes: u64,
    /// Sum of the probationary entries' `len` (ghost.rs).
    small_bytes: u64,
    /// Keys evicted from the small queue lately (ghost.rs).
    ghost: ghost::Ghost,
    /// Whether keys new to the index go to the main queue (while open loads it).
    new_keys_main: bool,
    /// Records in the file that no longer hold a live value: superseded, deleted, tombstones,
    /// expired, damaged. Compaction's trigger counts these.
    pub(crate) stale_records: u64,
}

impl Index {
    /// An empty index with a random hasher seed.
    pub(crate) fn new(file: Arc<dyn FileHandle>) -> Self {
        let seed = RandomState::default().build_hasher().finish();
        Self::with_seed(file, seed)
    }

    /// An empty index whose hashers have `seed` (the one a hint file was written with).
    pub(crate) fn with_seed(file: Arc<dyn FileHandle>, seed: u64) -> Self {
        Index {
            k16: HashMap::with_hasher(FixedState::with_seed(seed)),
            k24: HashMap::with_hasher(FixedState::with_seed(seed)),
            long: HashMap::with_hasher(FixedState::with_seed(seed)),
            expiries: HashMap::with_hasher(FixedState::with_seed(seed)),
            seed,
            file,
            file_id: super::read_cache::next_file_id(),
            map: None,
            live_bytes: 0,
            small_bytes: 0,
            ghost: ghost::Ghost::default(),
            new_keys_main: true,
            stale_records: 0,
        }
    }

    fn entry(&self, slot: &Slot) -> Entry {
        let offset = slot.offset();
        Entry {
            offset,
            len: slot.len(),
            expiry: if slot.has_expiry() {
                self.expiries.get(&offset).copied().unwrap_or(0)
            } else {
                0
            },
        }
    }

    fn slot_of(&self, key: &[u8]) -> Option<&Slot> {
        by_len!(self, key, find(key))
    }

    /// The newest entry of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Entry> {
        self.slot_of(key).map(|s| self.entry(s))
    }

    /// The newest entry of `key`, counting a read of it (for the eviction policy).
    pub(crate) fn get_and_raise(&self, key: &[u8]) -> Option<Entry> {
        self.slot_of(key).map(|s| {
            s.raise();
            self.entry(s)
        })
    }

    /// The eviction hand passes `key`'s record at `offset`: when it is the key's live entry
    /// (and in the main queue, if `main_only`) and its read count is 0 (or `counted` is false:
    /// FIFO), removes and returns the entry; else lowers the count. One lookup for the common
    /// case.
    pub(crate) fn evict_at(
        &mut self,
        key: &[u8],
        offset: u64,
        counted: bool,
        main_only: bool,
    ) -> Option<Entry> {
        let slot = self
            .slot_of(key)
            .filter(|s| s.offset() == offset && (s.is_main() || !main_only))?;
        if counted && !slot.pass() {
            return None;
        }
        self.remove(key)
    }

    /// Every key with its entry (table by table, each in its bucket order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Entry)> {
        self.iter_counted().map(|(k, e, _)| (k, e))
    }

    /// Every key with its entry and read count (each table in its bucket order).
    pub(crate) fn iter_counted(&self) -> impl Iterator<Item = (&[u8], Entry, u8)> {
        let k16 = self.k16.iter().map(|(k, s)| (&**k, s));
        let k24 = self.k24.iter().map(|(k, s)| (&**k, s));
        let long = self.long.iter().map(|(k, s)| (&**k, s));
        k16.chain(k24)
            .chain(long)
            .map(|(k, s)| (k, self.entry(s), s.count()))
    }

    /// Room for more keys, counted by table.
    pub(crate) fn reserve(&mut self, sizes: Sizes) {
        self.k16.reserve(sizes.k16);
        self.k24.reserve(sizes.k24);
        self.long.reserve(sizes.long);
    }

    /// Keys in each table.
    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            k16: self.k16.len(),
            k24: self.k24.len(),
            long: self.long.len(),
        }
    }

    fn forget(&mut self, old: &Slot) {
        self.live_bytes -= u64::from(old.len());
        if !old.is_main() {
            self.small_bytes = self.small_bytes.saturating_sub(u64::from(old.len()));
        }
        self.stale_records += 1;
        if old.has_expiry() {
            self.expiries.remove(&old.offset());
        }
    }

    /// Records that `key`'s newest record is `entry` (a replaced entry's read count carries
    /// over: a new value of a popular key stays popular).
    pub(crate) fn put(&mut self, key: &[u8], entry: Entry) {
        self.set(key, entry, |old| old.map_or(0, Slot::count));
    }

    /// Adds a key known to be absent, with its read count (building an index from unique
    /// keys). Returns `false` if the key was there after all (its older entry is replaced, the
    /// accounting kept right).
    pub(crate) fn insert_new(&mut self, key: &[u8], entry: Entry, count: u8) -> bool {
        self.set(key, entry, |_| count).is_none()
    }

    /// Sets `key`'s entry, its read count `count(the old slot)`; returns the old slot.
    fn set(
        &mut self,
        key: &[u8],
        entry: Entry,
        count: impl FnOnce(Option<&Slot>) -> u8,
    ) -> Option<Slot> {
        // A new value keeps its key's queue; a new key is admitted to one (ghost.rs).
        let (ghost, new_keys_main, seed) = (&mut self.ghost, self.new_keys_main, self.seed);
        let mut admitted = false;
        let old = by_len!(
            self,
            key,
            replace(key, |old| {
                admitted = match old {
                    Some(old) => old.is_main(),
                    None => new_keys_main || ghost.take_key(key, seed),
                };
                Slot::new(entry, count(old), admitted)
            })
        );
        if !admitted {
            self.small_bytes += u64::from(entry.len);
        }
        // The old slot's expiry is dropped before the new one's is recorded, so that the new
        // one stays even if the two offsets were ever equal.
        if let Some(old) = &old {
            self.forget(old);
        }
        if entry.expiry != 0 {
            self.expiries.insert(entry.offset, entry.expiry);
        }
        self.live_bytes += u64::from(entry.len);
        old
    }

    /// The hashers' seed.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Keys in the table (expired ones included until they are removed).
    pub(crate) fn len(&self) -> usize {
        self.k16.len() + self.k24.len() + self.long.len()
    }

    /// Records a tombstone for `key`; returns the entry it removed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Option<Entry> {
        self.stale_records += 1; // the tombstone itself
        self.remove(key)
    }

    /// Drops `key` without a record of its own (expiry, salvage).
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = by_len!(self, key, take(key))?;
        let entry = self.entry(&old);
        self.forget(&old);
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
        if self.expiries.is_empty() {
            return (self.len() as u64, self.live_bytes);
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

#[cfg(test)]
mod tests;

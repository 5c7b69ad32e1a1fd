//! The in-memory index: key → where its newest record is. Values stay on disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::{FixedState, RandomState};

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

/// Largest read count of an entry (2 bits): a read raises it by one up to this, the eviction
/// hand lowers it by one per pass.
pub(crate) const MAX_COUNT: u8 = 3;

/// What the table holds per key: 16 bytes. The expiry lives in `Index::expiries`, used only by
/// keys that have one, so that the common entry without a TTL stays small (index memory per
/// key is what bounds how many keys fit in RAM).
#[derive(Debug)]
struct Slot {
    offset: u64,
    len: u32,
    /// The 1-based index into `Index::expiries` (0 = no expiry) shifted left by 2, and the
    /// entry's read count in the low 2 bits. Atomic so that a `get` raises the count under the
    /// index's read lock: the count shares the cache line the lookup already loaded, where a
    /// separate table of counts cost gets a tenth of their speed (measured).
    meta: AtomicU32,
}

impl Slot {
    fn new(offset: u64, len: u32, ttl: u32, count: u8) -> Slot {
        Slot {
            offset,
            len,
            meta: AtomicU32::new(ttl << 2 | u32::from(count.min(MAX_COUNT))),
        }
    }
    fn ttl(&self) -> u32 {
        self.meta.load(Ordering::Relaxed) >> 2
    }
    fn count(&self) -> u8 {
        (self.meta.load(Ordering::Relaxed) & 3) as u8
    }
    /// Raises the count by one (up to [`MAX_COUNT`]); a lost race only misses one raise.
    fn raise(&self) {
        let m = self.meta.load(Ordering::Relaxed);
        if m & 3 < u32::from(MAX_COUNT) {
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
                // 2^30 keys with a TTL would take some 40 GiB of index: not reached.
                u32::try_from(self.at.len()).unwrap_or(u32::MAX) & (u32::MAX >> 2)
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
    /// foldhash: several times faster than SipHash on short keys (a quarter of replay time
    /// was SipHash). Seeded with a random 64-bit `seed` per index, kept in the hint file: an
    /// index loaded from its hint with the same seed and size puts every key in the bucket it
    /// had, and the hint lists them in bucket order, so the load walks the table in order
    /// instead of missing the cache on every insert (1M inserts: ~250 ms at random, a fraction
    /// of that in order). The random per-index seed is what resists chosen-key flooding.
    map: HashMap<IndexKey, Slot, FixedState>,
    /// The hasher's seed.
    seed: u64,
    expiries: Expiries,
    pub(crate) file: Arc<dyn FileHandle>,
    /// Sum of `len` over `map` (expired entries included until they are removed).
    pub(crate) live_bytes: u64,
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

    /// An empty index whose hasher has `seed` (the one a hint file was written with).
    pub(crate) fn with_seed(file: Arc<dyn FileHandle>, seed: u64) -> Self {
        Index {
            map: HashMap::with_hasher(FixedState::with_seed(seed)),
            seed,
            expiries: Expiries::default(),
            file,
            live_bytes: 0,
            stale_records: 0,
        }
    }

    fn entry(&self, slot: &Slot) -> Entry {
        Entry {
            offset: slot.offset,
            len: slot.len,
            expiry: self.expiries.get(slot.ttl()),
        }
    }

    /// The newest entry of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Entry> {
        self.map.get(key).map(|s| self.entry(s))
    }

    /// The newest entry of `key`, counting a read of it (for the eviction policy).
    pub(crate) fn get_and_raise(&self, key: &[u8]) -> Option<Entry> {
        self.map.get(key).map(|s| {
            s.raise();
            self.entry(s)
        })
    }

    /// The eviction hand passes `key`'s record at `offset`: when it is the key's live entry
    /// and its read count is 0 (or `counted` is false: FIFO), removes and returns the entry;
    /// else lowers the count. One lookup for the common case.
    pub(crate) fn evict_at(&mut self, key: &[u8], offset: u64, counted: bool) -> Option<Entry> {
        let slot = self.map.get(key).filter(|s| s.offset == offset)?;
        if counted && !slot.pass() {
            return None;
        }
        self.remove(key)
    }

    /// Every key with its entry.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&IndexKey, Entry)> {
        self.map.iter().map(|(k, s)| (k, self.entry(s)))
    }

    /// Every key with its entry and read count.
    pub(crate) fn iter_counted(&self) -> impl Iterator<Item = (&IndexKey, Entry, u8)> {
        self.map.iter().map(|(k, s)| (k, self.entry(s), s.count()))
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    fn slot(&mut self, entry: Entry, count: u8) -> Slot {
        let ttl = if entry.expiry == 0 {
            0
        } else {
            self.expiries.alloc(entry.expiry)
        };
        Slot::new(entry.offset, entry.len, ttl, count)
    }

    fn forget(&mut self, old: Slot) {
        self.live_bytes -= u64::from(old.len);
        self.stale_records += 1;
        self.expiries.release(old.ttl());
    }

    /// Records that `key`'s newest record is `entry` (a replaced entry's read count carries
    /// over: a new value of a popular key stays popular).
    pub(crate) fn put(&mut self, key: &[u8], entry: Entry) {
        use std::collections::hash_map::Entry as MapEntry;
        let mut slot = self.slot(entry, 0);
        let carry = |slot: &mut Slot, old: &Slot| {
            slot.meta = AtomicU32::new(slot.ttl() << 2 | u32::from(old.count()));
        };
        let old = if key.len() <= INLINE {
            // An inline key costs no allocation to build, so the entry API can hash once.
            match self.map.entry(IndexKey::from(key)) {
                MapEntry::Occupied(mut o) => {
                    carry(&mut slot, o.get());
                    Some(std::mem::replace(o.get_mut(), slot))
                }
                MapEntry::Vacant(v) => {
                    v.insert(slot);
                    None
                }
            }
        } else {
            match self.map.get_mut(key) {
                Some(s) => {
                    carry(&mut slot, s);
                    Some(std::mem::replace(s, slot))
                }
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
    /// keys without copying them again), with its read count. Returns `false` if the key was
    /// there after all (its older entry is replaced, the accounting kept right).
    pub(crate) fn insert_new(&mut self, key: IndexKey, entry: Entry, count: u8) -> bool {
        let slot = self.slot(entry, count);
        self.live_bytes += u64::from(entry.len);
        match self.map.insert(key, slot) {
            Some(old) => {
                self.forget(old);
                false
            }
            None => true,
        }
    }

    /// The hasher's seed.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Keys in the table (expired ones included until they are removed).
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Records a tombstone for `key`; returns the entry it removed.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Option<Entry> {
        self.stale_records += 1; // the tombstone itself
        self.remove(key)
    }

    /// Drops `key` without a record of its own (expiry, salvage).
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.map.remove(key)?;
        let entry = self.entry(&old);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// The index never touches its file; tests give it one that refuses everything.
    #[derive(Debug)]
    struct NoFile;
    impl FileHandle for NoFile {
        fn read_at(&self, _: &mut [u8], _: u64) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn size(&self) -> io::Result<u64> {
            Ok(0)
        }
        fn sync_data(&self) -> io::Result<()> {
            Ok(())
        }
        fn truncate(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn allocate(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
    }

    fn entry(offset: u64, expiry: u64) -> Entry {
        Entry {
            offset,
            len: 10,
            expiry,
        }
    }

    #[test]
    fn a_slot_stays_16_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn read_counts_rise_to_3_fall_per_pass_and_survive_a_new_value() {
        let mut index = Index::new(Arc::new(NoFile));
        index.put(b"k", entry(11, 0));
        index.put(b"j", entry(21, 0));
        assert_eq!(
            index.evict_at(b"j", 21, true),
            Some(entry(21, 0)),
            "never read: goes"
        );
        assert_eq!(
            index.evict_at(b"k", 99, false),
            None,
            "not the live record: stays"
        );
        for _ in 0..5 {
            assert_eq!(index.get_and_raise(b"k"), Some(entry(11, 0)));
        }
        index.put(b"k", entry(40, 7)); // a new value, with an expiry
        assert_eq!(index.get(b"k"), Some(entry(40, 7)), "the expiry is intact");
        let passes = (0..5)
            .take_while(|_| index.evict_at(b"k", 40, true).is_none())
            .count();
        assert_eq!(
            passes,
            usize::from(MAX_COUNT),
            "capped at 3, carried over the put"
        );
        assert_eq!(index.get(b"k"), None, "evicted at the fourth pass");
        assert_eq!(index.live_bytes, 0);
        index.put(b"k", entry(50, 7));
        index.get_and_raise(b"k");
        assert_eq!(index.evict_at(b"k", 50, true), None, "lowered");
        assert_eq!(
            index.get(b"k"),
            Some(entry(50, 7)),
            "passes leave the expiry alone"
        );
        let counted: Vec<u8> = index.iter_counted().map(|(_, _, c)| c).collect();
        assert_eq!(counted, vec![0]);
        assert_eq!(
            index.evict_at(b"k", 50, false),
            Some(entry(50, 7)),
            "FIFO: goes"
        );
        assert_eq!(index.evict_at(b"absent", 0, true), None);
        // A rebuilt index (compaction) takes the counts it is given.
        let mut fresh = Index::new(Arc::new(NoFile));
        fresh.insert_new(IndexKey::from(&b"k"[..]), entry(11, 9), 2);
        assert_eq!(
            fresh.iter_counted().map(|(_, e, c)| (e, c)).next(),
            Some((entry(11, 9), 2))
        );
    }
}

//! When items were last accessed and whether they were fetched since they were stored: what
//! `mg … h`, `mg … l` and `me` report.
//!
//! memcached keeps both in the item's header. The log keeps no per-item access record (an
//! index slot is 11 bytes, and a write per read would cost the log its read speed), so the
//! door keeps them beside it, in a fixed table of [`SLOTS`] words (8 MiB) indexed by a hash of
//! the key: a 32-bit fingerprint of the key, the fetched bit and the access time in seconds.
//! A read or write is one relaxed atomic store, no lock. What this gives up, documented in
//! docs/MEMCACHED.md: two keys sharing a slot overwrite each other's record (with 2^20
//! slots, rare below a few hundred thousand hot keys), and nothing survives a restart. A key
//! with no record reads as not fetched, last accessed when the door started.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in the table (a power of two).
pub(super) const SLOTS: usize = 1 << 20;
/// The fetched bit of a slot's low word.
const FETCHED: u64 = 1 << 31;
/// The seconds of a slot's low word.
const SECS: u64 = FETCHED - 1;

/// The access table of one door.
pub(in crate::server::memcache) struct Access {
    slots: Box<[AtomicU64]>,
    hasher: foldhash::fast::FixedState,
    /// Unix milliseconds when the table began: times are seconds since then.
    epoch_ms: u64,
}

/// What the table knows of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::server::memcache) struct Seen {
    /// Fetched since it was last stored.
    pub(in crate::server::memcache) fetched: bool,
    /// Seconds since it was last fetched or stored.
    pub(in crate::server::memcache) idle_secs: u64,
}

impl Access {
    /// An empty table; times count from `now_ms`.
    pub(super) fn new(now_ms: u64) -> Access {
        Access {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x6163_6365),
            epoch_ms: now_ms,
        }
    }

    /// The key's slot number and its fingerprint (never 0, so an empty slot matches no key).
    fn place(&self, key: &[u8]) -> (usize, u64) {
        let h = self.hasher.hash_one(key);
        // `SLOTS` is a power of two: the mask keeps the index in range.
        ((h as usize) & (SLOTS - 1), ((h >> 32) | 1) << 32)
    }

    /// The key's slot and its fingerprint.
    fn slot(&self, key: &[u8]) -> (&AtomicU64, u64) {
        let (i, fingerprint) = self.place(key);
        (&self.slots[i], fingerprint)
    }

    fn secs(&self, now_ms: u64) -> u64 {
        (now_ms.saturating_sub(self.epoch_ms) / 1000).min(SECS)
    }

    /// The key was stored: not fetched, accessed now.
    pub(super) fn stored(&self, key: &[u8], now_ms: u64) {
        let (slot, fp) = self.slot(key);
        slot.store(fp | self.secs(now_ms), Ordering::Relaxed);
    }

    /// The key was fetched now.
    pub(in crate::server::memcache) fn fetched(&self, key: &[u8], now_ms: u64) {
        let (slot, fp) = self.slot(key);
        slot.store(fp | FETCHED | self.secs(now_ms), Ordering::Relaxed);
    }

    /// The key is gone (deleted): its record with it.
    pub(super) fn forget(&self, key: &[u8]) {
        let (slot, fp) = self.slot(key);
        let word = slot.load(Ordering::Relaxed);
        // Only its own record: a key sharing the slot keeps its.
        if word & !(FETCHED | SECS) == fp {
            let _ = slot.compare_exchange(word, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// What the table knows of `key` as of `now_ms`.
    pub(in crate::server::memcache) fn seen(&self, key: &[u8], now_ms: u64) -> Seen {
        let (slot, fp) = self.slot(key);
        let word = slot.load(Ordering::Relaxed);
        let now = self.secs(now_ms);
        if word & !(FETCHED | SECS) != fp {
            return Seen {
                fetched: false,
                idle_secs: now,
            };
        }
        Seen {
            fetched: word & FETCHED != 0,
            idle_secs: now.saturating_sub(word & SECS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(fetched: bool, idle_secs: u64) -> Seen {
        Seen { fetched, idle_secs }
    }

    #[test]
    fn records_follow_fetches_and_stores_per_key() {
        let t0 = 1_800_000_000_000;
        let access = Access::new(t0);
        let unknown = access.seen(b"k", t0 + 5_000);
        assert_eq!(unknown, seen(false, 5));
        access.stored(b"k", t0 + 5_000);
        assert_eq!(access.seen(b"k", t0 + 7_900), seen(false, 2));
        access.fetched(b"k", t0 + 8_000);
        assert_eq!(access.seen(b"k", t0 + 9_000), seen(true, 1));
        // A clock going back reads as just now, never a wrapped number.
        assert_eq!(access.seen(b"k", t0).idle_secs, 0);
        access.stored(b"k", t0 + 10_000);
        assert!(!access.seen(b"k", t0 + 10_000).fetched);
        access.fetched(b"k", t0 + 10_000);
        access.forget(b"k");
        assert_eq!(access.seen(b"k", t0 + 12_000), seen(false, 12));
    }

    #[test]
    fn a_key_forgotten_leaves_a_neighbours_record() {
        let access = Access::new(0);
        // Two keys sharing a slot (with different fingerprints).
        let a_index = access.place(b"a").0;
        let other = (0u64..)
            .map(|i| i.to_string().into_bytes())
            .find(|k| access.place(k).0 == a_index)
            .unwrap();
        access.fetched(b"a", 3_000);
        access.forget(&other);
        assert_eq!(access.seen(b"a", 3_000), seen(true, 0));
        // The neighbour takes the slot over: `a` reads as unknown, not as the neighbour's.
        access.fetched(&other, 3_000);
        access.stored(b"a", 4_000);
        assert!(!access.seen(&other, 4_000).fetched);
    }
}

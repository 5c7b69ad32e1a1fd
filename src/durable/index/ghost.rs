//! S3-FIFO on the log ([`Eviction::S3Fifo`](crate::Eviction::S3Fifo)): the index's half.
//!
//! An entry is *probationary* (the small queue `S` of S3-FIFO) or *main* (`M`): one bit of
//! its slot. A key new to the index is probationary, unless the ghost remembers it — it was
//! evicted from `S` lately, so it came back: it goes straight to main. A new value of a key
//! keeps the key's class, as it keeps its read count. Entries loaded at open (from the hint or
//! by replay) are main: the small queue is for what arrives while the handle is open.
//!
//! The index keeps the bytes of probationary entries ([`Index::small_bytes`]) so the eviction
//! hands (evict.rs) know which queue to take from, and evicts for them:
//! [`Index::evict_small_at`] promotes a probationary entry read since it was written (its
//! count > 0) or evicts it into the ghost; [`Index::evict_at`] is the main queue's CLOCK.
//!
//! The ghost is a FIFO of 32-bit fingerprints of evicted keys, as many as the index has keys
//! (the paper sizes it like the main queue): 16 bytes a fingerprint in the queue and about 9
//! in the set, filled only by evictions from `S`.

use std::collections::{HashMap, VecDeque};

use foldhash::fast::FixedState;

use super::{Entry, Index, Slot};

/// `Slot::meta` bit: the entry is in the main queue.
pub(super) const MAIN: u8 = 8;

/// What the small queue's hand did at a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Small {
    /// Not a probationary entry's live record: passed over.
    Passed,
    /// Read since it was written: now main.
    Promoted,
    /// Never read: evicted, its key remembered by the ghost.
    Evicted(Entry),
}

/// Fingerprints of keys evicted from the small queue, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ghost {
    order: VecDeque<(u32, u64)>,
    /// Fingerprint → generation of its newest place in `order` (older places are stale).
    set: HashMap<u32, u64, FixedState>,
    generation: u64,
}

impl Ghost {
    /// Remembers `fingerprint`, forgetting the oldest beyond `capacity`.
    fn remember(&mut self, fingerprint: u32, capacity: usize) {
        self.generation += 1;
        self.set.insert(fingerprint, self.generation);
        self.order.push_back((fingerprint, self.generation));
        while self.order.len() > capacity.max(1) {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.set.get(&old) == Some(&generation) {
                self.set.remove(&old);
            }
        }
    }

    /// Whether `fingerprint` was remembered; forgets it.
    fn take(&mut self, fingerprint: u32) -> bool {
        self.set.remove(&fingerprint).is_some()
    }

    /// Whether `key` (hashed with `seed`, as [`Index::key_tag`]) was remembered; forgets it.
    /// Costs nothing while the ghost is empty (no budget, or nothing evicted from `S`).
    pub(super) fn take_key(&mut self, key: &[u8], seed: u64) -> bool {
        !self.set.is_empty() && self.take(super::relocate::tag(seed, key))
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

impl Slot {
    pub(super) fn is_main(&self) -> bool {
        self.meta.load(std::sync::atomic::Ordering::Relaxed) & MAIN != 0
    }

    /// Into the main queue, its read count spent.
    fn promote(&self) {
        let m = self.meta.load(std::sync::atomic::Ordering::Relaxed);
        self.meta
            .store((m & !3) | MAIN, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Index {
    /// Takes over `old`'s ghost (compaction's switch: the old index heard of the evictions
    /// made while its clone was copied).
    pub(crate) fn inherit_ghost(&mut self, old: &mut Index) {
        self.ghost = std::mem::take(&mut old.ghost);
    }

    /// From now on, keys new to the index are probationary (called once open has loaded it).
    pub(crate) fn opened(&mut self) {
        self.new_keys_main = false;
    }

    /// Bytes of the probationary entries.
    pub(crate) fn small_bytes(&self) -> u64 {
        self.small_bytes
    }

    /// The small queue's hand passes `key`'s record at `offset`: when it is the key's live,
    /// probationary entry, promotes it if it was read, else evicts it into the ghost.
    pub(crate) fn evict_small_at(&mut self, key: &[u8], offset: u64) -> Small {
        let Some(slot) = self
            .slot_of(key)
            .filter(|s| s.offset() == offset && !s.is_main())
        else {
            return Small::Passed;
        };
        if slot.count() > 0 {
            slot.promote();
            self.small_bytes = self.small_bytes.saturating_sub(u64::from(slot.len()));
            return Small::Promoted;
        }
        let Some(entry) = self.remove(key) else {
            return Small::Passed;
        };
        let (tag, capacity) = (self.key_tag(key), self.len());
        self.ghost.remember(tag, capacity);
        Small::Evicted(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(offset: u64) -> Entry {
        Entry {
            offset,
            len: 10,
            expiry: 0,
        }
    }

    #[test]
    fn probation_promotion_eviction_and_return_keep_small_bytes_right() {
        let mut index = Index::new(Arc::new(super::super::tests::NoFile));
        index.put(b"loaded", entry(1));
        assert_eq!(index.small_bytes(), 0, "loaded at open: main");
        index.opened();
        index.put(b"read", entry(11));
        index.put(b"unread", entry(21));
        index.put(b"gone", entry(31));
        assert_eq!(index.small_bytes(), 30);
        index.put(b"read", entry(41)); // a new value: still probationary
        assert_eq!(index.small_bytes(), 30);
        index.get_and_raise(b"read");
        assert_eq!(
            index.evict_small_at(b"read", 11),
            Small::Passed,
            "not its record"
        );
        assert_eq!(index.evict_small_at(b"loaded", 1), Small::Passed, "main");
        assert_eq!(index.evict_small_at(b"read", 41), Small::Promoted);
        assert_eq!(index.small_bytes(), 20);
        assert_eq!(
            index.evict_at(b"read", 41, true, true),
            Some(entry(41)),
            "main, its read spent at the promotion"
        );
        index.remove(b"gone");
        assert_eq!(index.small_bytes(), 10);
        assert_eq!(
            index.evict_small_at(b"unread", 21),
            Small::Evicted(entry(21))
        );
        assert_eq!(index.small_bytes(), 0);
        assert_eq!(index.evict_at(b"unread", 21, true, true), None);
        // Back again: the ghost sends it to main, once.
        index.put(b"unread", entry(51));
        assert_eq!(index.small_bytes(), 0);
        assert_eq!(index.evict_small_at(b"unread", 51), Small::Passed);
        index.remove(b"unread");
        index.put(b"unread", entry(61));
        assert_eq!(
            index.small_bytes(),
            10,
            "forgotten by the ghost after the first return"
        );
        // A relocated snapshot counts the same bytes.
        let mut fresh = index.snapshot();
        let mut moves = fresh.plan(u64::MAX, 0);
        for m in &mut moves {
            m.offset += 1000;
        }
        fresh.relocate(Arc::new(super::super::tests::NoFile), &moves);
        assert_eq!(fresh.small_bytes(), 10);
        assert_eq!(fresh.live_bytes, index.live_bytes);
    }

    #[test]
    fn the_ghost_forgets_the_oldest_beyond_its_capacity_and_what_it_gave_back() {
        let mut g = Ghost::default();
        for fp in 1..=5 {
            g.remember(fp, 3);
        }
        assert!(!g.take(1) && !g.take(2), "forgotten: beyond the capacity");
        assert!(g.take(3));
        assert!(!g.take(3), "taken once");
        g.remember(4, 3); // again: the older place is stale
        g.remember(6, 3);
        g.remember(7, 3); // pushes out the first 4 (stale) and 5
        assert!(g.take(4), "its newer place is kept");
        assert!(!g.take(5));
        assert!(g.take(6) && g.take(7));
        assert!(g.is_empty());
    }
}

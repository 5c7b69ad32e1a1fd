//! The byte pool (a free list, made exact): which objects are charged how many bytes, how
//! many are free, and which object goes next when room is needed — decided by the memory
//! tier's [`EvictionPolicy`] (LRU), the one eviction mechanism of the crate, over one slot
//! per committed version.

use std::collections::HashMap;

use super::manifest::VersionId;
use crate::memory::policy::{EvictionPolicy, Lru};

/// One committed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) id: VersionId,
    /// Blocks in the store (0 for an object inside its manifest).
    pub(crate) blocks: u64,
    /// The object's size in bytes.
    pub(crate) size: u64,
    /// Bytes charged against the capacity ([`Manifest::charge`](super::manifest::Manifest::charge)).
    pub(crate) charge: u64,
    /// Absolute expiry of the object (Unix ms), 0 = never.
    pub(crate) expiry: u64,
    /// This version's id in the eviction policy.
    slot: u64,
}

/// Bytes a write in progress holds: `reserved` in all, `credit` of them standing in for bytes
/// of the version it replaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub(crate) reserved: u64,
    pub(crate) credit: u64,
}

/// Accounting of bytes: committed objects plus bytes reserved by writes in progress.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Capacity in bytes; `None` = unbounded.
    pub(crate) capacity: Option<u64>,
    /// Bytes charged to committed objects.
    pub(crate) used: u64,
    /// Blocks held by committed objects.
    pub(crate) blocks: u64,
    /// Bytes reserved by writes in progress.
    pub(crate) reserved: u64,
    /// Of `reserved`, the bytes taken on credit: they stand in for bytes of committed
    /// versions that their replacements will free, so they do not count against capacity.
    credited: u64,
    objects: HashMap<Vec<u8>, Held>,
    /// Which committed version to evict next: slots in, slots out.
    policy: Box<dyn EvictionPolicy>,
    /// Slot → key, for the slots the policy holds.
    slots: HashMap<u64, Vec<u8>>,
    next_slot: u64,
}

/// What a reservation attempt decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// Reserved.
    Done,
    /// Not enough room, and the policy says not to evict.
    Full,
    /// The object alone is larger than the whole capacity.
    TooBig,
}

/// What [`Pool::commit`] records of a new version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version {
    pub(crate) id: VersionId,
    pub(crate) size: u64,
    pub(crate) blocks: u64,
    pub(crate) charge: u64,
}

impl Pool {
    pub(crate) fn new(capacity: Option<u64>) -> Self {
        Pool {
            capacity,
            used: 0,
            blocks: 0,
            reserved: 0,
            credited: 0,
            objects: HashMap::new(),
            policy: Box::new(Lru::default()),
            slots: HashMap::new(),
            next_slot: 0,
        }
    }

    pub(crate) fn objects(&self) -> usize {
        self.objects.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Held)> {
        self.objects.iter()
    }

    /// Bytes that count against capacity.
    fn taken(&self) -> u64 {
        self.used + self.reserved - self.credited
    }

    /// Free bytes (`None` when unbounded).
    pub(crate) fn free(&self) -> Option<u64> {
        self.capacity.map(|c| c.saturating_sub(self.taken()))
    }

    /// Marks `key` as just used.
    pub(crate) fn touch(&mut self, key: &[u8]) {
        if let Some(held) = self.objects.get(key) {
            self.policy.on_access(held.slot);
        }
    }

    /// Reserves `bytes` more for a write of `key` holding `r`. The bytes charged to `key`'s
    /// committed version count as room (they are freed when the new version commits), so
    /// replacing an object never needs room for both.
    ///
    /// With `evict`, nothing is evicted here: room is made when the object commits
    /// ([`victim`](Self::victim)), so a write that fails (a broken upload, an object that
    /// turns out larger than the capacity) never evicted anything for nothing. Meanwhile the
    /// bytes of writes in progress may take the pool past its capacity; only an object
    /// larger than the whole capacity is refused, as soon as it passes it.
    pub(crate) fn reserve(
        &mut self,
        key: &[u8],
        r: &mut Reservation,
        bytes: u64,
        evict: bool,
    ) -> Reserve {
        let Some(capacity) = self.capacity else {
            self.take(r, bytes, 0);
            return Reserve::Done;
        };
        let owed = self.objects.get(key).map_or(0, |h| h.charge);
        let credit = bytes.min(owed.saturating_sub(r.credit));
        if self.taken() + (bytes - credit) <= capacity {
            self.take(r, bytes, credit);
            return Reserve::Done;
        }
        if !evict {
            return Reserve::Full;
        }
        if r.reserved + bytes > capacity {
            return Reserve::TooBig;
        }
        self.take(r, bytes, credit);
        Reserve::Done
    }

    fn take(&mut self, r: &mut Reservation, bytes: u64, credit: u64) {
        self.reserved += bytes;
        r.reserved += bytes;
        self.credited += credit;
        r.credit += credit;
    }

    /// The object the policy evicts next other than `keep`, while the committed objects take
    /// more than the capacity. The policy forgets it: the caller removes it
    /// ([`remove_version`](Self::remove_version); a version replaced meanwhile has a slot of
    /// its own already).
    pub(crate) fn victim(&mut self, keep: Option<&[u8]>) -> Option<(Vec<u8>, Held)> {
        if self.used <= self.capacity? {
            return None;
        }
        let mut kept = None;
        let found = loop {
            let Some(slot) = self.policy.evict() else {
                break None;
            };
            let Some(key) = self.slots.get(&slot) else {
                continue; // a slot the pool already let go of
            };
            match self.objects.get(key) {
                Some(h) if h.slot == slot && Some(key.as_slice()) == keep => kept = Some(*h),
                Some(h) if h.slot == slot => break Some((key.clone(), *h)),
                _ => {}
            }
        };
        if let Some(h) = kept {
            // The object being committed stays, as the most recent.
            self.policy
                .on_insert(h.slot, h.charge, fingerprint(keep.unwrap_or_default()));
        }
        found
    }

    /// Gives back a write's reservation (it did not commit, or it did and the bytes are now
    /// counted as used).
    pub(crate) fn release(&mut self, r: Reservation) {
        self.reserved = self.reserved.saturating_sub(r.reserved);
        self.credited = self.credited.saturating_sub(r.credit);
    }

    /// Records `key`'s new version, turning the write's reservation into used bytes; returns
    /// the version it replaced.
    pub(crate) fn commit(&mut self, key: &[u8], v: Version, r: Reservation) -> Option<Held> {
        self.release(r);
        let old = self.remove(key);
        self.next_slot += 1;
        let slot = self.next_slot;
        self.objects.insert(
            key.to_vec(),
            Held {
                id: v.id,
                blocks: v.blocks,
                size: v.size,
                charge: v.charge,
                expiry: 0,
                slot,
            },
        );
        self.policy.on_insert(slot, v.charge, fingerprint(key));
        self.slots.insert(slot, key.to_vec());
        self.used += v.charge;
        self.blocks += v.blocks;
        old
    }

    /// Records when `key`'s committed version expires.
    pub(crate) fn set_expiry(&mut self, key: &[u8], expiry: u64) {
        if let Some(h) = self.objects.get_mut(key) {
            h.expiry = expiry;
        }
    }

    /// `key`'s committed version, if it has expired at `now`.
    pub(crate) fn expired_version(&self, key: &[u8], now: u64) -> Option<Held> {
        self.objects
            .get(key)
            .filter(|h| h.expiry != 0 && h.expiry <= now)
            .copied()
    }

    /// The objects expired at `now`.
    pub(crate) fn expired(&self, now: u64) -> Vec<(Vec<u8>, Held)> {
        self.objects
            .iter()
            .filter(|(_, h)| h.expiry != 0 && h.expiry <= now)
            .map(|(k, h)| (k.clone(), *h))
            .collect()
    }

    /// Forgets `key`; returns what it held.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Held> {
        let held = self.objects.remove(key)?;
        self.policy.on_remove(held.slot);
        self.slots.remove(&held.slot);
        self.used -= held.charge;
        self.blocks -= held.blocks;
        Some(held)
    }

    /// Forgets `key` only if it still holds version `id`.
    pub(crate) fn remove_version(&mut self, key: &[u8], id: &VersionId) -> Option<Held> {
        match self.objects.get(key) {
            Some(h) if &h.id == id => self.remove(key),
            _ => None,
        }
    }
}

/// A key's fingerprint for the policy (policies with a ghost queue remember keys by it).
fn fingerprint(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole write as BigCache does it: reserve the object's bytes in pieces of at most
    /// `piece`, commit, then evict while the pool is over its capacity.
    fn put_in(
        pool: &mut Pool,
        key: &str,
        bytes: u64,
        piece: u64,
        evict: bool,
    ) -> Result<Vec<String>, ()> {
        let mut r = Reservation::default();
        while r.reserved < bytes {
            let n = piece.min(bytes - r.reserved);
            match pool.reserve(key.as_bytes(), &mut r, n, evict) {
                Reserve::Done => {}
                Reserve::Full | Reserve::TooBig => {
                    pool.release(r);
                    return Err(());
                }
            }
        }
        let v = Version {
            id: [0; 16],
            size: bytes,
            blocks: bytes.div_ceil(piece),
            charge: bytes,
        };
        pool.commit(key.as_bytes(), v, r);
        let mut evicted = Vec::new();
        while let Some((victim, _)) = pool.victim(Some(key.as_bytes())) {
            pool.remove(&victim);
            evicted.push(String::from_utf8(victim).unwrap());
        }
        Ok(evicted)
    }

    fn put(pool: &mut Pool, key: &str, bytes: u64, evict: bool) -> Result<Vec<String>, ()> {
        put_in(pool, key, bytes, 1, evict)
    }

    #[test]
    fn exact_lru_eviction_order() {
        let mut p = Pool::new(Some(4));
        assert_eq!(put(&mut p, "a", 2, true), Ok(vec![]));
        assert_eq!(put(&mut p, "b", 1, true), Ok(vec![]));
        assert_eq!(put(&mut p, "c", 1, true), Ok(vec![]));
        p.touch(b"a"); // order now b, c, a
        assert_eq!(put(&mut p, "d", 2, true), Ok(vec!["b".into(), "c".into()]));
        assert_eq!((p.used, p.reserved, p.free()), (4, 0, Some(0)));
        assert_eq!(put(&mut p, "e", 4, true), Ok(vec!["a".into(), "d".into()]));
        // A stream bigger than the whole pool (its size unknown up front) fails once it passes
        // the capacity, having evicted nothing: victims leave only when an object commits.
        assert_eq!(put(&mut p, "f", 5, true), Err(()));
        assert_eq!((p.used, p.reserved, p.objects()), (4, 0, 1));
        assert!(p.objects.contains_key(b"e".as_slice()));
    }

    #[test]
    fn objects_are_charged_their_bytes_whatever_the_piece_size() {
        // 10 objects of 4,000 bytes in 40,000: all fit, reserved in 1 MiB pieces or 1 KiB.
        for piece in [1 << 20, 1024, 4000] {
            let mut p = Pool::new(Some(40_000));
            for i in 0..10 {
                assert_eq!(
                    put_in(&mut p, &format!("k{i}"), 4000, piece, true),
                    Ok(vec![])
                );
            }
            assert_eq!((p.used, p.free(), p.objects()), (40_000, Some(0), 10));
            assert_eq!(
                put_in(&mut p, "one more byte", 1, piece, true),
                Ok(vec!["k0".into()])
            );
        }
    }

    #[test]
    fn writes_in_progress_may_pass_the_capacity_until_they_commit() {
        let mut p = Pool::new(Some(4));
        assert_eq!(put(&mut p, "a", 4, true), Ok(vec![]));
        let mut r = Reservation::default();
        for _ in 0..3 {
            assert_eq!(p.reserve(b"b", &mut r, 1, true), Reserve::Done);
        }
        assert_eq!((p.used, p.reserved, p.victim(Some(b"b"))), (4, 3, None));
        // The write breaks off: its reservation goes, "a" stays.
        p.release(r);
        assert_eq!((p.used, p.reserved, p.objects()), (4, 0, 1));
    }

    #[test]
    fn full_policy_refuses_without_partial_reservations() {
        let mut p = Pool::new(Some(3));
        assert_eq!(put(&mut p, "a", 2, false), Ok(vec![]));
        assert_eq!(put(&mut p, "b", 2, false), Err(()));
        assert_eq!((p.used, p.reserved, p.objects()), (2, 0, 1));
        // A piece that would pass the capacity is refused whole.
        assert_eq!(put_in(&mut p, "c", 2, 2, false), Err(()));
        assert_eq!(put_in(&mut p, "c", 1, 2, false), Ok(vec![]));
    }

    #[test]
    fn replacing_an_object_uses_its_own_bytes_as_credit() {
        let mut p = Pool::new(Some(3));
        assert_eq!(put(&mut p, "a", 3, false), Ok(vec![]));
        assert_eq!(
            put(&mut p, "a", 3, false),
            Ok(vec![]),
            "a replace fits in a full pool"
        );
        assert_eq!((p.used, p.reserved, p.objects()), (3, 0, 1));
        assert_eq!(put(&mut p, "a", 4, false), Err(()));
        // In one piece as well: the credit covers part of it.
        assert_eq!(put_in(&mut p, "a", 3, 3, false), Ok(vec![]));
    }

    #[test]
    fn credit_does_not_count_against_capacity_when_evicting() {
        // Found by the model test: a replace that needs its own bytes as credit and an
        // eviction as well must fit once the other object is gone.
        let mut p = Pool::new(Some(12));
        assert_eq!(put(&mut p, "a", 6, true), Ok(vec![]));
        assert_eq!(put(&mut p, "b", 5, true), Ok(vec![]));
        assert_eq!(put(&mut p, "a", 8, true), Ok(vec!["b".into()]));
        assert_eq!(
            (p.used, p.reserved, p.credited, p.free()),
            (8, 0, 0, Some(4))
        );
    }
}

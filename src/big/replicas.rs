//! Objects over a replicated store (a [`ShardedStore`](crate::ShardedStore) ring with
//! replicas): each write is a stamped version, a read serves the newest copy of the manifest
//! among the replicas that answer and rewrites the copies that lag (read repair), so the
//! replicas converge on the newest write.
//!
//! The rule (docs/DESIGN.md, Scale-out): a write is acknowledged once every replica stored
//! its manifest; one that failed has an unknown outcome (a replica may hold it, a hung node
//! may apply it when it resumes) and keeps its blocks, since its manifest may be visible. It
//! may become visible, but never over a write stamped later: stamps are this handle's clock in
//! milliseconds shifted left 16 bits, kept above every stamp it made before, and the version
//! id breaks ties, so the newest is the same for every reader.

use std::sync::atomic::Ordering;

use super::BigCache;
use super::manifest::{self, Manifest, VersionId};
use super::stats::bump;
use crate::error::Result;
use crate::store::{Copies, KvStore};

/// What a read found among the copies of one manifest.
struct Found {
    /// The copy to serve: the newest that decodes (or, when none does, one of a newer layout
    /// or a damaged one, for the caller to report or remove), with its expiry.
    chosen: Option<(Vec<u8>, u64)>,
    /// The positions of the replicas whose copy is older, missing or damaged (only when the
    /// chosen copy decodes).
    stale: Vec<usize>,
}

fn newest(copies: Copies) -> Found {
    let mut best: Option<(Manifest, Vec<u8>, u64)> = None;
    let mut other: Option<(Vec<u8>, u64)> = None;
    // Each copy's place in the order of writes (`None`: missing or damaged), kept instead of
    // the decoded manifest, which for an inline object holds its data.
    let mut order: Vec<(usize, Option<(u64, VersionId)>)> = Vec::with_capacity(copies.len());
    for (position, copy) in copies {
        let Some((bytes, expiry)) = copy else {
            order.push((position, None));
            continue;
        };
        match Manifest::decode(&bytes) {
            Some(m) => {
                order.push((position, Some(m.order())));
                if best.as_ref().is_none_or(|(b, _, _)| m.newer_than(b)) {
                    best = Some((m, bytes, expiry));
                }
            }
            None => {
                order.push((position, None));
                // A newer layout cannot be ordered here: it wins over damage.
                if other.is_none() || manifest::unknown_version(&bytes).is_some() {
                    other = Some((bytes, expiry));
                }
            }
        }
    }
    match best {
        None => Found {
            chosen: other,
            stale: Vec::new(),
        },
        Some((best, bytes, expiry)) => Found {
            stale: order
                .into_iter()
                .filter(|(_, o)| o.is_none_or(|o| best.order() > o))
                .map(|(position, _)| position)
                .collect(),
            chosen: Some((bytes, expiry)),
        },
    }
}

impl<S: KvStore> BigCache<S> {
    /// The stamp of a write made now: 0 over a store that keeps one copy (no stamp is
    /// written), else the clock in milliseconds shifted left 16 bits, above every stamp this
    /// handle made before.
    pub(super) fn stamp(&self) -> u64 {
        if self.store.replicas() < 2 {
            return 0;
        }
        let now = self.clock.now_millis().saturating_mul(1 << 16).max(1);
        let mut last = self.last_stamp.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self.last_stamp.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The manifest under `mkey` with its expiry: over a store that keeps one copy, that
    /// copy; over a replicated one, the newest among the replicas that answer, after the
    /// copies that lag behind it are rewritten with it (read repair). `locked`: the caller
    /// holds `key`'s stripe (otherwise the repair takes it, and reads the copies again under
    /// it, so that it never writes over a write this handle made meanwhile).
    pub(super) fn manifest_copy(
        &self,
        key: &[u8],
        mkey: &[u8],
        locked: bool,
    ) -> Result<Option<(Vec<u8>, u64)>> {
        let Some(copies) = self.store.get_copies(mkey)? else {
            return self.store.get_with_expiry(mkey);
        };
        let found = newest(copies);
        if found.stale.is_empty() || found.chosen.is_none() {
            return Ok(found.chosen);
        }
        if locked {
            self.repair(mkey, &found);
            return Ok(found.chosen);
        }
        let _stripe = self.stripe(key);
        let again = match self.store.get_copies(mkey)? {
            Some(copies) => newest(copies),
            None => return Ok(found.chosen), // the ring lost its replicas meanwhile
        };
        self.repair(mkey, &again);
        Ok(again.chosen)
    }

    /// The manifest a condition is checked against (the caller holds `key`'s stripe): as
    /// [`manifest_copy`](Self::manifest_copy), but over a replicated store every replica must
    /// answer — a replica that did not may hold a newer write, and a condition is never
    /// guessed.
    pub(super) fn manifest_for_condition(
        &self,
        key: &[u8],
        mkey: &[u8],
    ) -> Result<Option<(Vec<u8>, u64)>> {
        let Some(copies) = self.store.get_copies(mkey)? else {
            return self.store.get_with_expiry(mkey);
        };
        let replicas = self.store.replicas();
        if copies.len() < replicas {
            return Err(crate::error::Error::remote(
                "ring",
                format_args!(
                    "{} of the {replicas} replicas of `{}` answered: a condition is checked \
                     against every copy; retry when the others are back",
                    copies.len(),
                    key.escape_ascii()
                ),
            ));
        }
        let found = newest(copies);
        self.repair(mkey, &found);
        Ok(found.chosen)
    }

    /// Rewrites the stale copies of `found` with its chosen one, unless that has expired. A
    /// repair that fails is logged: the read is still served, and the next one tries again.
    fn repair(&self, mkey: &[u8], found: &Found) {
        let Some((bytes, expiry)) = &found.chosen else {
            return;
        };
        if found.stale.is_empty() || (*expiry != 0 && *expiry <= self.clock.now_millis()) {
            return;
        }
        match self.store.set_copies(mkey, bytes, *expiry, &found.stale) {
            Ok(()) => bump(&self.counters.repairs),
            Err(e) => tracing::warn!("read repair of an object's manifest failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::big::attributes::Attributes;

    fn manifest(stamp: u64, id: u8) -> Vec<u8> {
        Manifest {
            size: 1,
            block_size: 4,
            id: [id; 16],
            object_crc: crc32fast::hash(b"x"),
            block_crcs: vec![],
            inline: Some(b"x".to_vec()),
            attrs: Attributes::default(),
            stamp,
        }
        .encode()
    }

    #[test]
    fn the_newest_copy_wins_and_every_other_is_stale() {
        let copies: Copies = vec![
            (0, Some((manifest(5, 1), 0))),
            (1, Some((manifest(9, 2), 77))),
            (2, None),
            (3, Some((b"damaged".to_vec(), 0))),
            (4, Some((manifest(9, 2), 77))),
        ];
        let found = newest(copies);
        assert_eq!(found.chosen, Some((manifest(9, 2), 77)));
        assert_eq!(found.stale, vec![0, 2, 3]);
        // Nothing anywhere: nothing chosen, nothing to repair.
        let found = newest(vec![(0, None), (1, None)]);
        assert_eq!(found.chosen, None);
        assert!(found.stale.is_empty());
        // Only damage: it is handed back (for the caller to remove), never repaired with.
        let found = newest(vec![(0, None), (1, Some((b"bad".to_vec(), 0)))]);
        assert_eq!(found.chosen, Some((b"bad".to_vec(), 0)));
        assert!(found.stale.is_empty());
    }
}

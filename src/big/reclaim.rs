//! Giving blocks back: expiry, eviction, broken objects, pinning of versions being read, and
//! block deletes that failed (retried instead of left to the next open).

use super::BigCache;
use super::manifest::{Manifest, VersionId};
use super::pool;
use super::stats::bump;
use crate::store::KvStore;
use crate::sync::lock;

/// Failed block deletes remembered for a retry; past this many, the next open's orphan
/// sweep removes the rest.
const UNDELETED_LIMIT: usize = 1 << 20;

/// Readers of one version, and the block count to delete when the last one is done (set when
/// the version was removed while being read).
#[derive(Debug, Default)]
pub(super) struct Pinned {
    pub(super) readers: usize,
    pub(super) doomed: Option<u64>,
}

impl<S: KvStore> BigCache<S> {
    /// Removes an expired object if it still holds the expired version.
    pub(super) fn drop_expired(&self, key: &[u8], held: &pool::Held) {
        {
            let _stripe = self.stripe(key);
            if lock(&self.pool).remove_version(key, &held.id).is_none() {
                return;
            }
            let _ = self.store.delete(&self.manifest_key(key));
        }
        self.delete_blocks(&held.id, held.blocks);
        bump(&self.counters.expired);
    }

    /// The store no longer has `key`'s manifest (it expired there, or memcached evicted it):
    /// release the blocks the accounting still holds for it. Returns whether it held some.
    pub(super) fn forget_if_gone(&self, key: &[u8], mkey: &[u8]) -> bool {
        let held = {
            let _stripe = self.stripe(key);
            if !matches!(self.manifest_copy(key, mkey, true), Ok(None)) {
                return false;
            }
            lock(&self.pool).remove(key)
        };
        match held {
            Some(h) => {
                self.delete_blocks(&h.id, h.blocks);
                true
            }
            None => false,
        }
    }

    /// Applies what a store that evicts on its own (a [`DurableKVCache`](crate::DurableKVCache)
    /// with a byte budget) evicted of this cache's keys since the last call: an object whose
    /// manifest went is forgotten, one that lost a block is removed whole (it could no longer
    /// be read), so the accounting — `stats().objects` included — holds only objects that
    /// read back. If the store kept too many to list, every object's manifest is checked
    /// instead (one whose block alone went is then found at its next read).
    pub(super) fn apply_store_evictions(&self) {
        if !self.store_evicts {
            return;
        }
        let Some(evicted) = self.store.take_evicted() else {
            return;
        };
        let mprefix = self.manifest_key(b"");
        let mut bprefix = self.namespace.clone();
        bprefix.push(b'b');
        let mut broken: std::collections::HashSet<VersionId> = std::collections::HashSet::new();
        for key in &evicted.keys {
            if let Some(user_key) = key.strip_prefix(mprefix.as_slice()) {
                if self.forget_if_gone(user_key, key) {
                    bump(&self.counters.evictions);
                }
            } else if let Some(id) = key
                .strip_prefix(bprefix.as_slice())
                .and_then(|rest| rest.first_chunk::<16>())
            {
                broken.insert(*id);
            }
        }
        if evicted.overflowed {
            let keys: Vec<Vec<u8>> = lock(&self.pool).iter().map(|(k, _)| k.clone()).collect();
            for key in keys {
                if self.forget_if_gone(&key, &self.manifest_key(&key)) {
                    bump(&self.counters.evictions);
                }
            }
        }
        if broken.is_empty() {
            return;
        }
        let victims: Vec<(Vec<u8>, VersionId)> = lock(&self.pool)
            .iter()
            .filter(|(_, h)| broken.contains(&h.id))
            .map(|(k, h)| (k.clone(), h.id))
            .collect();
        for (key, id) in victims {
            self.evict(&key, &id);
        }
    }

    /// Whether `key`'s object has expired per the accounting; if so it is dropped.
    pub(super) fn check_expired(&self, key: &[u8]) -> bool {
        let held = lock(&self.pool).expired_version(key, self.clock.now_millis());
        match held {
            Some(h) => {
                self.drop_expired(key, &h);
                true
            }
            None => false,
        }
    }

    /// Removes a manifest that does not decode, if it is still the same bytes.
    pub(super) fn drop_damaged_manifest(&self, key: &[u8], mkey: &[u8], bytes: Option<&[u8]>) {
        let _stripe = self.stripe(key);
        let current = self.manifest_copy(key, mkey, true).ok().flatten();
        if bytes.is_none() || current.as_ref().map(|(b, _)| b.as_slice()) == bytes {
            let _ = self.store.delete(mkey);
            if let Some(held) = lock(&self.pool).remove(key) {
                drop(_stripe);
                self.delete_blocks(&held.id, held.blocks);
            }
            bump(&self.counters.damaged);
        }
    }

    /// Removes an object whose blocks are missing or damaged, if `manifest` is still current.
    pub(super) fn remove_broken(&self, key: &[u8], mkey: &[u8], manifest: &Manifest) {
        {
            let _stripe = self.stripe(key);
            let current = self
                .manifest_copy(key, mkey, true)
                .ok()
                .flatten()
                .and_then(|(b, _)| Manifest::decode(&b));
            if current.as_ref().map(|m| m.id) != Some(manifest.id) {
                return; // replaced meanwhile
            }
            let _ = self.store.delete(mkey);
            lock(&self.pool).remove_version(key, &manifest.id);
        }
        self.delete_blocks(&manifest.id, manifest.blocks());
        bump(&self.counters.damaged);
    }

    /// Deletes the blocks of a version, or, while a reader streams that version, leaves
    /// that to the last reader's drop. Failures leave orphans, which the next open over a
    /// listing store removes.
    pub(super) fn delete_blocks(&self, id: &VersionId, blocks: u64) {
        if let Some(pinned) = lock(&self.pins).get_mut(id) {
            pinned.doomed = Some(pinned.doomed.unwrap_or(0).max(blocks));
            return;
        }
        self.delete_blocks_now(id, blocks);
    }

    pub(super) fn delete_blocks_now(&self, id: &VersionId, blocks: u64) {
        let failed: Vec<Vec<u8>> = (0..blocks)
            .map(|i| self.block_key(id, i))
            .filter(|key| self.store.delete(key).is_err())
            .collect();
        self.remember_undeleted(failed);
    }

    pub(super) fn remember_undeleted(&self, keys: Vec<Vec<u8>>) {
        if keys.is_empty() {
            return;
        }
        let mut undeleted = lock(&self.undeleted);
        let room = UNDELETED_LIMIT.saturating_sub(undeleted.len());
        if keys.len() > room {
            tracing::warn!(
                "{} block deletes failed and are not retried: the next open removes them",
                keys.len() - room
            );
        }
        undeleted.extend(keys.into_iter().take(room));
    }

    /// Deletes again the blocks whose delete failed; returns how many are gone now.
    pub(super) fn retry_deletes(&self) -> u64 {
        let keys = std::mem::take(&mut *lock(&self.undeleted));
        let before = keys.len() as u64;
        let failed: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|key| self.store.delete(key).is_err())
            .collect();
        let gone = before - failed.len() as u64;
        self.remember_undeleted(failed);
        gone
    }

    /// Keeps version `id`'s blocks from being deleted until [`unpin`](Self::unpin). Called
    /// with the key's stripe held, so no replace, delete or eviction slips in between reading
    /// the manifest and pinning it.
    pub(super) fn pin(&self, id: &VersionId) {
        lock(&self.pins).entry(*id).or_default().readers += 1;
    }

    /// Ends one reader of version `id`; the last one deletes the blocks if the version was
    /// replaced, deleted or evicted meanwhile.
    pub(super) fn unpin(&self, id: &VersionId) {
        let doomed = {
            let mut pins = lock(&self.pins);
            let Some(pinned) = pins.get_mut(id) else {
                return;
            };
            pinned.readers = pinned.readers.saturating_sub(1);
            if pinned.readers > 0 {
                return;
            }
            pins.remove(id).and_then(|p| p.doomed)
        };
        if let Some(blocks) = doomed {
            self.delete_blocks_now(id, blocks);
        }
    }

    /// Evicts `victim` if it still holds version `id`.
    pub(super) fn evict(&self, victim: &[u8], id: &VersionId) {
        let blocks = {
            let _stripe = self.stripe(victim);
            let Some(held) = lock(&self.pool).remove_version(victim, id) else {
                return;
            };
            let _ = self.store.delete(&self.manifest_key(victim));
            held.blocks
        };
        self.delete_blocks(id, blocks);
        bump(&self.counters.evictions);
    }

    /// Evicts least recently used objects other than `keep` while the committed objects take
    /// more than the capacity.
    pub(super) fn evict_over_capacity(&self, keep: Option<&[u8]>) {
        loop {
            let victim = lock(&self.pool).victim(keep);
            let Some((key, held)) = victim else { break };
            self.evict(&key, &held.id);
        }
    }
}

//! How BigCache names what it stores: the manifest key of an object, the block keys of a
//! version, version ids, and the stripe that serialises one key's manifest changes.

use std::hash::{BuildHasher, Hasher};
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use super::BigCache;
use super::manifest::VersionId;
use crate::error::{Error, Result};
use crate::store::KvStore;
use crate::sync::lock;

impl<S: KvStore> BigCache<S> {
    /// Refuses a key whose manifest key the store would refuse, naming the limit on the
    /// caller's key (the store's own limit less the namespace and the manifest marker).
    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        let prefix = self.namespace.len() + 1;
        let max = self.store.max_key_len().saturating_sub(prefix);
        if key.len() > max {
            return Err(Error::TooLarge {
                what: "key",
                len: key.len() as u64,
                max: max as u64,
            });
        }
        Ok(())
    }

    pub(super) fn manifest_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.namespace.len() + 1 + key.len());
        k.extend_from_slice(&self.namespace);
        k.push(b'm');
        k.extend_from_slice(key);
        k
    }

    pub(super) fn block_key(&self, id: &VersionId, index: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.namespace.len() + 1 + 16 + 8);
        k.extend_from_slice(&self.namespace);
        k.push(b'b');
        k.extend_from_slice(id);
        k.extend_from_slice(&index.to_be_bytes());
        k
    }

    /// A version id no other write will use: a per-process random hash of a counter.
    pub(super) fn new_id(&self) -> VersionId {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 16];
        for (half, salt) in id.chunks_exact_mut(8).zip([0x5eed_u64, 0xface]) {
            let mut h = self.ids.build_hasher();
            h.write_u64(n);
            h.write_u64(salt);
            h.write_u32(std::process::id());
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
        id
    }

    pub(super) fn stripe(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        let i = (self.ids.hash_one(key) as usize) % self.stripes.len();
        lock(&self.stripes[i])
    }
}

//! Finding out what the store holds: the rebuild of the accounting at open (orphans and
//! damaged manifests removed), `verify`, and recovery after the store failed a write.

use super::BigCache;
use super::manifest::{Manifest, VersionId};
use super::pool::{Reservation, Version};
use super::stats::bump;
use crate::error::{Error, Result};
use crate::store::KvStore;
use crate::sync::lock;

/// A damaged object found by [`BigCache::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProblem {
    /// The object's key.
    pub key: Vec<u8>,
    /// What is wrong with it.
    pub problem: String,
}

/// What [`BigCacheBuilder::verify`](crate::BigCacheBuilder::verify) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Objects checked.
    pub objects: u64,
    /// The damaged ones, with what is wrong.
    pub problems: Vec<ObjectProblem>,
}

impl<S: KvStore> BigCache<S> {
    /// Checks every object — its manifest, each block's presence, length and CRC, and the
    /// object's CRC — without changing anything. Returns the damaged objects with what is wrong;
    /// `None` when the store cannot list keys.
    pub fn verify(&self) -> Result<Option<Vec<ObjectProblem>>> {
        Ok(self.verify_all()?.map(|v| v.problems))
    }

    pub(super) fn verify_all(&self) -> Result<Option<Verification>> {
        let Some(keys) = self.keys(b"")? else {
            return Ok(None);
        };
        let objects = keys.len() as u64;
        let mut problems = Vec::new();
        for key in keys {
            let bytes = match self.store.get(&self.manifest_key(&key)) {
                Ok(Some(b)) => b,
                Ok(None) => continue, // deleted meanwhile
                Err(e @ (Error::ChecksumMismatch { .. } | Error::Corrupt { .. })) => {
                    problems.push(ObjectProblem {
                        key,
                        problem: format!("manifest damaged in the store: {e}"),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(manifest) = Manifest::decode(&bytes) else {
                let problem = match super::manifest::unknown_version(&bytes) {
                    Some(v) => format!("manifest of layout version {v}, newer than this build"),
                    None => "manifest does not decode".into(),
                };
                problems.push(ObjectProblem { key, problem });
                continue;
            };
            let mut whole = crc32fast::Hasher::new();
            whole.update(manifest.inline.as_deref().unwrap_or_default());
            let mut bad = None;
            for i in 0..manifest.blocks() {
                match self.load_block(&manifest, i)? {
                    Ok((_, crc)) => whole.combine(&crc),
                    Err(fault) => {
                        bad = Some(format!("block {i} {fault}"));
                        break;
                    }
                }
            }
            if bad.is_none() && whole.finalize() != manifest.object_crc {
                bad = Some("object checksum mismatch".into());
            }
            if let Some(problem) = bad {
                problems.push(ObjectProblem { key, problem });
            }
        }
        Ok(Some(Verification { objects, problems }))
    }

    /// Why the store refuses writes, if it does ([`KvStore::failure`]).
    pub fn failure(&self) -> Option<String> {
        self.store.failure()
    }

    /// Brings the store back into service after a failed write ([`KvStore::recover`]; for
    /// the embedded store [`DurableKVCache::recover`](crate::DurableKVCache::recover)), then deletes the blocks whose delete
    /// failed meanwhile. Returns whether the store recovered.
    pub fn recover(&self) -> Result<bool> {
        let recovered = self.store.recover()?;
        self.retry_deletes();
        Ok(recovered)
    }

    /// Rebuilds the accounting from the manifests and deletes orphan blocks (listing stores).
    pub(super) fn rebuild(&self) -> Result<()> {
        let mprefix = self.manifest_key(b"");
        let Some(mut manifest_keys) = self.store.keys_with_prefix(&mprefix)? else {
            return Ok(()); // the store cannot list: nothing to rebuild from
        };
        // Use order after a reopen is unknown; key order makes it deterministic (the first
        // key is the first evicted).
        manifest_keys.sort_unstable();
        let mut live: std::collections::HashMap<VersionId, u64> = std::collections::HashMap::new();
        for mkey in manifest_keys {
            let key = &mkey[mprefix.len()..];
            let Some(m) = self.load_manifest(key, &mkey)? else {
                continue;
            };
            live.insert(m.id, m.blocks());
            // The store knows the manifest's expiry (the object's TTL).
            let expiry = self.store.get_with_expiry(&mkey)?.map_or(0, |(_, e)| e);
            {
                let mut pool = lock(&self.pool);
                let version = Version {
                    id: m.id,
                    size: m.size,
                    blocks: m.blocks(),
                    charge: m.charge(key.len()),
                };
                pool.commit(key, version, Reservation::default());
                pool.set_expiry(key, expiry);
            }
        }
        let mut bprefix = self.namespace.clone();
        bprefix.push(b'b');
        for bkey in self.store.keys_with_prefix(&bprefix)?.unwrap_or_default() {
            let rest = &bkey[bprefix.len()..];
            let orphan = match (
                rest.first_chunk::<16>(),
                rest.get(16..).and_then(|r| r.first_chunk::<8>()),
            ) {
                (Some(id), Some(index)) if rest.len() == 24 => live
                    .get(id)
                    .is_none_or(|&blocks| u64::from_be_bytes(*index) >= blocks),
                _ => true,
            };
            if orphan {
                self.store.delete(&bkey)?;
                bump(&self.counters.orphans_removed);
            }
        }
        // A smaller capacity than last time: evict down to it.
        self.evict_over_capacity(None);
        Ok(())
    }
}

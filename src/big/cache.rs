//! [`BigCache`], the handle: set, get, delete and the accounting of what it holds.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::builder::{BigCacheBuilder, FullPolicy};
use super::manifest::{self, Manifest, VersionId};
use super::pool::{Pool, Reservation, Reserve, Version};
use super::stream;

use super::reclaim::Pinned;
use super::stats::{Counters, bump};
use crate::clock::{Clock, expiry_after};
use crate::durable::DurableKVCache;
use crate::error::{Error, Result};
use crate::store::KvStore;
use crate::sync::lock;

/// Default block size: 1 MiB (never above the store's largest value).
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;

/// Default largest object stored inside its manifest (one store record instead of two); see
/// [`BigCacheBuilder::inline_max`].
pub const DEFAULT_INLINE_MAX: usize = 4 << 10;

/// Default key namespace: every key BigCache writes starts with these bytes.
pub const DEFAULT_NAMESPACE: &[u8] = b"\xffbc";

/// A condition on the current version of a key (`None`: absent), checked under its lock.
pub(crate) type Allow<'a> = Box<dyn FnOnce(Option<u128>) -> bool + 'a>;

/// Concurrent commits and deletes of one key are serialised on one of these locks.
pub(super) const STRIPES: usize = 64;

/// A block, checked, with its CRC state; or what is wrong with it.
pub(super) type LoadedBlock = std::result::Result<(Vec<u8>, crc32fast::Hasher), BlockFault>;

/// Why a block of an object cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BlockFault {
    /// The store has no such block (evicted by memcached, deleted by a replace, never written).
    Missing,
    /// The store found the block damaged (its own checksum failed).
    Damaged(String),
    /// The block has another length than the manifest says.
    Length { found: u64, expected: u64 },
    /// The block's bytes do not match the manifest's CRC.
    Checksum,
}

impl std::fmt::Display for BlockFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlockFault::Missing => f.write_str("is missing"),
            BlockFault::Damaged(why) => write!(f, "is damaged in the store: {why}"),
            BlockFault::Length { found, expected } => {
                write!(f, "has {found} bytes, expected {expected}")
            }
            BlockFault::Checksum => f.write_str("does not match its checksum"),
        }
    }
}

/// How many times `get` follows a manifest that changed under it before giving up.
pub(super) const GET_RETRIES: usize = 4;

/// A cache of objects of any size over a [`KvStore`] (by default the embedded
/// [`DurableKVCache`]).
///
/// Objects are split into blocks (default 1 MiB, never above the store's largest value)
/// stored under keys unique to each version; a small manifest under the user's key lists them
/// with a CRC32 per block and one for the whole object. Writing the manifest is the commit:
/// readers see the old object or the new one, whole. Every read is checked; a missing or
/// damaged block (memcached evicts blocks on its own) is a miss, never wrong bytes, and the
/// broken object is removed.
///
/// Objects up to [`inline_max`](BigCacheBuilder::inline_max) bytes (default 4 KiB) are stored
/// inside their manifest: one record, one read.
///
/// Capacity is counted in bytes ([`capacity_bytes`](BigCacheBuilder::capacity_bytes)): an
/// object is charged its size plus its key and manifest; when full, least recently used
/// objects are evicted or [`Error::Full`] is returned ([`FullPolicy`]). The accounting lives in this handle: over a
/// store that lists keys it is rebuilt at open; over one that cannot (memcached), objects
/// written by earlier handles are still readable and deletable but not counted.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use logcache::{BigCache, DurableKVCache};
/// use std::io::{Read, Write};
///
/// let store = DurableKVCache::open(dir.path().join("objects.log"))?;
/// let cache = BigCache::new(store)?;
/// let object = vec![7u8; 3 << 20]; // 3 MiB: three blocks
/// cache.set("video:1", &object)?;
/// assert_eq!(cache.get("video:1")?.as_deref(), Some(&object[..]));
///
/// let mut w = cache.writer("stream:1")?; // bounded memory, any size
/// w.write_all(b"chunk one, ")?;
/// w.write_all(b"chunk two")?;
/// w.commit()?;
/// let mut text = String::new();
/// cache.reader("stream:1")?.unwrap().read_to_string(&mut text)?;
/// assert_eq!(text, "chunk one, chunk two");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BigCache<S: KvStore = DurableKVCache> {
    pub(super) store: S,
    pub(super) block_size: usize,
    /// Objects up to this many bytes live inside their manifest.
    pub(super) inline_max: usize,
    pub(super) full_policy: FullPolicy,
    pub(super) namespace: Vec<u8>,
    pub(super) pool: Mutex<Pool>,
    pub(super) stripes: Vec<Mutex<()>>,
    /// Versions being streamed by a [`BigReader`]: their blocks are deleted only when the
    /// last reader is done.
    pub(super) pins: Mutex<HashMap<VersionId, Pinned>>,
    /// Block keys whose delete failed (the store refused writes: a full disk), deleted again
    /// by [`sweep`](Self::sweep) and [`recover`](Self::recover) instead of waiting for the
    /// next open to find them as orphans.
    pub(super) undeleted: Mutex<Vec<Vec<u8>>>,
    pub(super) counters: Counters,
    pub(super) ids: foldhash::quality::RandomState,
    pub(super) next_id: AtomicU64,
    /// The last stamp this handle gave a write (over a replicated store).
    pub(super) last_stamp: AtomicU64,
    /// The store evicts on its own and reports what (see `apply_store_evictions`).
    pub(super) store_evicts: bool,
    pub(super) clock: Arc<dyn Clock>,
}

impl<S: KvStore> std::fmt::Debug for BigCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCache")
            .field("block_size", &self.block_size)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<S: KvStore> BigCache<S> {
    /// A cache over `store` with default options.
    pub fn new(store: S) -> Result<Self> {
        Self::builder(store).open()
    }

    /// A builder for options.
    pub fn builder(store: S) -> BigCacheBuilder<S> {
        BigCacheBuilder::new(store)
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives back the store underneath (for example to
    /// [`close`](crate::DurableKVCache::close) it and see the final sync's result).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The block size in bytes.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The largest object stored inside its manifest, in bytes.
    pub fn inline_max(&self) -> usize {
        self.inline_max
    }

    /// Whether an object of `len` bytes under `key` could fit in the capacity at all (after
    /// evicting everything else): an object that could not is refused with [`Error::Full`].
    pub fn could_hold(&self, key: impl AsRef<[u8]>, len: u64) -> bool {
        let charge = self.charge_of(key.as_ref(), len);
        lock(&self.pool).capacity.is_none_or(|c| charge <= c)
    }

    /// What an object of `len` bytes under `key` is charged against the capacity.
    pub(super) fn charge_of(&self, key: &[u8], len: u64) -> u64 {
        let inline = len <= self.inline_max as u64;
        let blocks = len.div_ceil(self.block_size as u64);
        let data = if inline { 0 } else { len };
        key.len() as u64 + manifest::encoded_len(len, blocks, inline) + data
    }

    /// Stores `value` under `key` until `ttl` from now; after that it reads as absent and its
    /// blocks are deleted (when the key is next touched, by [`sweep`](Self::sweep), by
    /// eviction, or at the next open). Blocks carry no TTL of their own, so they never expire
    /// before the manifest that names them.
    pub fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let mut w = self.writer_with_ttl(key, ttl)?;
        w.write_all(value.as_ref()).map_err(stream::unwrap_io)?;
        w.commit().map(drop)
    }

    /// Drops every object whose TTL has run out now, and deletes again the blocks whose
    /// delete failed earlier (a full disk); returns how many objects expired.
    pub fn sweep(&self) -> u64 {
        self.retry_deletes();
        let expired = lock(&self.pool).expired(self.clock.now_millis());
        let n = expired.len() as u64;
        for (key, held) in expired {
            self.drop_expired(&key, &held);
        }
        n
    }
    /// Stores `value` under `key`, replacing any previous object atomically. An object
    /// larger than the whole capacity is refused with [`Error::Full`] before anything is
    /// written or evicted.
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        if !self.could_hold(key, value.len() as u64) {
            return Err(Error::Full);
        }
        let mut w = self.writer(key)?;
        w.write_all(value).map_err(stream::unwrap_io)?;
        w.commit().map(drop)
    }

    /// The object under `key`, or `None` (absent, evicted, or damaged: never wrong bytes).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        if self.check_expired(key) {
            bump(&self.counters.misses);
            return Ok(None);
        }
        let mkey = self.manifest_key(key);
        let mut seen: Option<VersionId> = None;
        for _ in 0..GET_RETRIES {
            let Some(manifest) = self.load_manifest(key, &mkey)? else {
                self.forget_if_gone(key, &mkey);
                break;
            };
            if seen == Some(manifest.id) {
                // The same version failed twice: it is damaged, not being replaced.
                self.remove_broken(key, &mkey, &manifest);
                break;
            }
            seen = Some(manifest.id);
            if let Some(data) = manifest.inline {
                // Decoding checked its length and CRC.
                lock(&self.pool).touch(key);
                bump(&self.counters.hits);
                return Ok(Some(data));
            }
            let len = usize::try_from(manifest.size).map_err(|_| Error::TooLarge {
                what: "object",
                len: manifest.size,
                max: usize::MAX as u64,
            })?;
            // Capacity grows with the blocks actually read, not with what a manifest claims.
            let mut out = Vec::with_capacity(len.min(64 << 20));
            let mut whole = crc32fast::Hasher::new();
            let mut intact = true;
            for i in 0..manifest.blocks() {
                match self.load_block(&manifest, i)? {
                    Ok((block, crc)) => {
                        whole.combine(&crc);
                        out.extend_from_slice(&block);
                    }
                    Err(_) => {
                        intact = false;
                        break;
                    }
                }
            }
            if intact && whole.finalize() == manifest.object_crc && out.len() == len {
                lock(&self.pool).touch(key);
                bump(&self.counters.hits);
                return Ok(Some(out));
            }
            // A block is missing or damaged: either a writer replaced the object meanwhile
            // (its old blocks are gone; follow the new manifest) or it is broken.
        }
        bump(&self.counters.misses);
        Ok(None)
    }

    /// Removes the object under `key`; returns whether there was one.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.remove(key.as_ref(), None)
    }

    /// Removes the object under `key` only if `allow`, given its current version (`None`:
    /// absent), returns `true`; otherwise changes nothing and returns
    /// [`Error::PreconditionFailed`]. Checked and done as one step, as
    /// [`BigWriter::commit_if`](crate::BigWriter::commit_if). Returns whether there was an object.
    pub fn delete_if(
        &self,
        key: impl AsRef<[u8]>,
        allow: impl FnOnce(Option<u128>) -> bool,
    ) -> Result<bool> {
        self.remove(key.as_ref(), Some(Box::new(allow)))
    }

    pub(super) fn remove(&self, key: &[u8], allow: Option<Allow<'_>>) -> Result<bool> {
        let mkey = self.manifest_key(key);
        let found = {
            let _stripe = self.stripe(key);
            let manifest = self.previous(key, &mkey, allow, "delete")?;
            let existed = self.store.delete(&mkey)?;
            let held = lock(&self.pool).remove(key);
            match (manifest, held) {
                (Some(m), _) => Some((m.id, m.blocks())),
                (None, Some(h)) => Some((h.id, h.blocks)),
                (None, None) if existed => None,
                (None, None) => return Ok(false),
            }
        };
        if let Some((id, blocks)) = found {
            self.delete_blocks(&id, blocks);
        }
        bump(&self.counters.deletes);
        Ok(true)
    }

    /// Whether an object is stored under `key` (its manifest is intact; blocks not read).
    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        let mkey = self.manifest_key(key);
        Ok(self
            .manifest_copy(key, &mkey, false)?
            .is_some_and(|(b, _)| Manifest::decode(&b).is_some()))
    }

    /// The size in bytes of the object under `key`, from its manifest.
    pub fn size_of(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        let key = key.as_ref();
        Ok(self
            .load_manifest(key, &self.manifest_key(key))?
            .map(|m| m.size))
    }

    /// The version of the object under `key` (see [`Committed::version`](crate::Committed::version)), from its manifest;
    /// `None` when there is none or it has expired. For a condition checked before a long
    /// write starts; [`BigWriter::commit_if`](crate::BigWriter::commit_if) checks again at the commit point.
    pub fn version_of(&self, key: impl AsRef<[u8]>) -> Result<Option<u128>> {
        let key = key.as_ref();
        if self.check_expired(key) {
            return Ok(None);
        }
        Ok(self
            .load_manifest(key, &self.manifest_key(key))?
            .map(|m| u128::from_be_bytes(m.id)))
    }

    /// The keys of the objects whose key starts with `prefix`, sorted; `None` when the store
    /// cannot list keys.
    pub fn keys(&self, prefix: impl AsRef<[u8]>) -> Result<Option<Vec<Vec<u8>>>> {
        let strip = self.manifest_key(b"").len();
        let listed = self
            .store
            .keys_with_prefix(&self.manifest_key(prefix.as_ref()))?;
        Ok(listed.map(|keys| {
            let mut keys: Vec<Vec<u8>> = keys.into_iter().map(|k| k[strip..].to_vec()).collect();
            keys.sort_unstable();
            keys
        }))
    }

    // ---- reading ---------------------------------------------------------------------------

    /// The manifest under `mkey`; a damaged one is removed and reads as absent, one of a newer
    /// layout version is [`Error::UnsupportedManifest`] and stays.
    pub(super) fn load_manifest(&self, key: &[u8], mkey: &[u8]) -> Result<Option<Manifest>> {
        let bytes = match self.manifest_copy(key, mkey, false) {
            Ok(Some((b, _))) => b,
            Ok(None) => return Ok(None),
            Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {
                self.drop_damaged_manifest(key, mkey, None);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match Manifest::decode(&bytes) {
            Some(m) if u64::from(m.block_size) <= self.store.max_value_len() => Ok(Some(m)),
            None if let Some(version) = manifest::unknown_version(&bytes) => {
                Err(Error::UnsupportedManifest {
                    key: key.escape_ascii().to_string(),
                    version,
                })
            }
            _ => {
                self.drop_damaged_manifest(key, mkey, Some(&bytes));
                Ok(None)
            }
        }
    }

    /// Block `i` of `manifest`, checked against its length and CRC, with its CRC state (the
    /// object's CRC is combined from the blocks' rather than computed in another pass); the
    /// [`BlockFault`] when it is missing or damaged. The one place blocks are read: `get`,
    /// streaming reads and `verify` all go through it. `Err` only when the store fails.
    pub(super) fn load_block(&self, manifest: &Manifest, i: u64) -> Result<LoadedBlock> {
        let block = match self.store.get(&self.block_key(&manifest.id, i)) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Err(BlockFault::Missing)),
            Err(e @ (Error::ChecksumMismatch { .. } | Error::Corrupt { .. })) => {
                return Ok(Err(BlockFault::Damaged(e.to_string())));
            }
            Err(e) => return Err(e),
        };
        let expected = manifest.block_len(i);
        if block.len() as u64 != expected {
            return Ok(Err(BlockFault::Length {
                found: block.len() as u64,
                expected,
            }));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&block);
        if Some(crc.clone().finalize()) != manifest.block_crcs.get(i as usize).copied() {
            return Ok(Err(BlockFault::Checksum));
        }
        Ok(Ok((block, crc)))
    }

    /// The manifest a write or delete of `key` replaces, read under the key's stripe; with a
    /// condition, [`Error::PreconditionFailed`] unless it allows the current version.
    pub(super) fn previous(
        &self,
        key: &[u8],
        mkey: &[u8],
        allow: Option<Allow<'_>>,
        op: &'static str,
    ) -> Result<Option<Manifest>> {
        let Some(allow) = allow else {
            // Unconditional: whatever decodes is what gets replaced.
            return Ok(self
                .manifest_copy(key, mkey, true)
                .ok()
                .flatten()
                .and_then(|(b, _)| Manifest::decode(&b)));
        };
        let current = self.current(key, mkey)?;
        if !allow(current.as_ref().map(|m| u128::from_be_bytes(m.id))) {
            return Err(Error::PreconditionFailed {
                key: key.escape_ascii().to_string(),
                op,
            });
        }
        Ok(current)
    }

    /// The manifest a condition is checked against, read under the key's stripe: an expired
    /// object counts as absent, and so does a damaged one (the write replaces it, the delete
    /// removes it); one of a newer layout and a store error are errors (a condition is never
    /// guessed).
    pub(super) fn current(&self, key: &[u8], mkey: &[u8]) -> Result<Option<Manifest>> {
        if lock(&self.pool)
            .expired_version(key, self.clock.now_millis())
            .is_some()
        {
            return Ok(None);
        }
        let bytes = match self.manifest_for_condition(key, mkey) {
            Ok(Some((b, _))) => b,
            Ok(None) | Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match Manifest::decode(&bytes) {
            None if let Some(version) = manifest::unknown_version(&bytes) => {
                Err(Error::UnsupportedManifest {
                    key: key.escape_ascii().to_string(),
                    version,
                })
            }
            decoded => Ok(decoded),
        }
    }

    // ---- writing (used by BigWriter) -------------------------------------------------------

    /// Reserves `bytes` for a write of `key`. Nothing is evicted here (see
    /// [`Pool::reserve`]): [`evict_over_capacity`](Self::evict_over_capacity) makes room
    /// once the object commits.
    pub(super) fn reserve(&self, key: &[u8], r: &mut Reservation, bytes: u64) -> Result<()> {
        let evict = self.full_policy == FullPolicy::EvictLru;
        match lock(&self.pool).reserve(key, r, bytes, evict) {
            Reserve::Done => Ok(()),
            Reserve::Full | Reserve::TooBig => Err(Error::Full),
        }
    }

    /// Publishes a written version: manifest first (the commit point), then accounting, then
    /// the old version's blocks go. The key and manifest bytes are reserved here (the blocks
    /// were as they were written); on error `reserved` still holds them for the caller to
    /// release.
    ///
    /// `sent` is set once the manifest has been handed to the store: after that, a failure of
    /// a replicated store leaves the outcome unknown (some replicas may hold the manifest).
    pub(super) fn commit(
        &self,
        key: &[u8],
        manifest: &Manifest,
        reserved: &mut Reservation,
        ttl: Option<Duration>,
        allow: Option<Allow<'_>>,
        sent: &mut bool,
    ) -> Result<()> {
        let bytes = manifest.encode();
        let max = self.store.max_value_len();
        if bytes.len() as u64 > max {
            return Err(Error::TooLarge {
                what: "manifest",
                len: bytes.len() as u64,
                max,
            });
        }
        self.reserve(key, reserved, key.len() as u64 + bytes.len() as u64)?;
        let mkey = self.manifest_key(key);
        let old = {
            let _stripe = self.stripe(key);
            let previous = self.previous(key, &mkey, allow, "write")?;
            *sent = true;
            match ttl {
                Some(ttl) => self.store.set_with_ttl(&mkey, &bytes, ttl)?,
                None => self.store.set(&mkey, &bytes)?,
            }
            let mut pool = lock(&self.pool);
            let version = Version {
                id: manifest.id,
                size: manifest.size,
                blocks: manifest.blocks(),
                charge: manifest.charge(key.len()),
            };
            let held = pool.commit(key, version, std::mem::take(reserved));
            if let Some(ttl) = ttl {
                pool.set_expiry(key, expiry_after(&*self.clock, ttl));
            }
            drop(pool);
            // The store's manifest is the truth (the accounting may not know objects written
            // by an earlier handle over a store that cannot list keys).
            previous
                .map(|m| (m.id, m.blocks()))
                .or(held.map(|h| (h.id, h.blocks)))
                .filter(|(id, _)| id != &manifest.id)
        };
        if let Some((id, blocks)) = old {
            self.delete_blocks(&id, blocks);
        }
        // The object is in: now, and only now, make room for it.
        self.evict_over_capacity(Some(key));
        self.apply_store_evictions();
        bump(&self.counters.sets);
        Ok(())
    }
}

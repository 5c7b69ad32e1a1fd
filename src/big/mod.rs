//! [`BigCache`]: objects of any size over any [`KvStore`], in blocks under a manifest.
//!
//! `set` writes an object's blocks under keys unique to this version of it, then the manifest
//! under the user's key: the manifest is the commit point, so a reader sees the whole old
//! object or the whole new one, never a mix. The old version's blocks are deleted after.

mod manifest;
mod pool;
pub(crate) mod stream;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use stream::{BigReader, BigWriter, Committed};

use manifest::{Manifest, VersionId};
use pool::{Pool, Reservation, Reserve};

use crate::clock::{Clock, SystemClock, expiry_after};
use crate::durable::DurableKVCache;
use crate::error::{Error, Result};
use crate::store::KvStore;

/// Default block size: 1 MiB (never above the store's largest value).
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;

/// Default key namespace: every key BigCache writes starts with these bytes.
pub const DEFAULT_NAMESPACE: &[u8] = b"\xffbc";

/// Concurrent commits and deletes of one key are serialised on one of these locks.
const STRIPES: usize = 64;

/// How many times `get` follows a manifest that changed under it before giving up.
const GET_RETRIES: usize = 4;

/// What a full [`BigCache`] (capacity in blocks reached) does with a new object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FullPolicy {
    /// Evict least recently used objects until the new one fits (the default).
    #[default]
    EvictLru,
    /// Refuse with [`Error::Full`]; nothing of the new object is kept.
    Fail,
}

/// Failed block deletes remembered for a retry; past this many, the next open's orphan
/// sweep removes the rest.
const UNDELETED_LIMIT: usize = 1 << 20;

/// A damaged object found by [`BigCache::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProblem {
    /// The object's key.
    pub key: Vec<u8>,
    /// What is wrong with it.
    pub problem: String,
}

/// What [`BigCacheBuilder::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Objects checked.
    pub objects: u64,
    /// The damaged ones, with what is wrong.
    pub problems: Vec<ObjectProblem>,
}

/// Counters and block accounting of a [`BigCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BigStats {
    /// Objects held (as far as this handle's accounting knows; see [`BigCache`]).
    pub objects: u64,
    /// Blocks held by committed objects.
    pub used_blocks: u64,
    /// Blocks reserved by writes in progress.
    pub reserved_blocks: u64,
    /// Free blocks (`None` without a capacity).
    pub free_blocks: Option<u64>,
    /// Capacity in blocks (`None` = unbounded).
    pub capacity_blocks: Option<u64>,
    /// Block size in bytes.
    pub block_size: u64,
    /// `get`s that returned an object.
    pub hits: u64,
    /// `get`s that found none (absent, evicted, or damaged).
    pub misses: u64,
    /// Objects committed.
    pub sets: u64,
    /// Objects deleted by `delete`.
    pub deletes: u64,
    /// Objects evicted to make room.
    pub evictions: u64,
    /// Objects found with a missing or damaged block or manifest, and removed.
    pub damaged: u64,
    /// Orphan blocks (written by a set that never committed) removed at open.
    pub orphans_removed: u64,
    /// Objects dropped because their TTL ran out.
    pub expired: u64,
}

impl BigStats {
    /// The stats as named values, in a fixed order (for reports and metrics); the capacity
    /// and free blocks only when there is a capacity.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut rows = vec![
            ("objects", self.objects),
            ("used_blocks", self.used_blocks),
            ("reserved_blocks", self.reserved_blocks),
            ("block_size", self.block_size),
            ("hits", self.hits),
            ("misses", self.misses),
            ("sets", self.sets),
            ("deletes", self.deletes),
            ("evictions", self.evictions),
            ("damaged", self.damaged),
            ("orphans_removed", self.orphans_removed),
            ("expired", self.expired),
        ];
        if let Some(c) = self.capacity_blocks {
            rows.push(("capacity_blocks", c));
        }
        if let Some(f) = self.free_blocks {
            rows.push(("free_blocks", f));
        }
        rows
    }
}

/// Readers of one version, and the block count to delete when the last one is done (set when
/// the version was removed while being read).
#[derive(Debug, Default)]
struct Pinned {
    readers: usize,
    doomed: Option<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    evictions: AtomicU64,
    damaged: AtomicU64,
    orphans_removed: AtomicU64,
    expired: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Configures a [`BigCache`]; start from [`BigCache::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until .open() is called"]
pub struct BigCacheBuilder<S> {
    store: S,
    block_size: Option<usize>,
    capacity_blocks: Option<u64>,
    full_policy: FullPolicy,
    namespace: Vec<u8>,
    clock: Arc<dyn Clock>,
}

impl<S: KvStore> BigCacheBuilder<S> {
    /// The wall clock for object TTLs; give it the same clock as the store. Default the
    /// system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Block size in bytes. Default 1 MiB, or the store's largest value if smaller; a size
    /// above the store's largest value is refused.
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = Some(bytes);
        self
    }

    /// Capacity in blocks (seed 000's pool: a 1 GB memcached holds about 1000 blocks of 1 MB).
    /// Default: unbounded.
    pub fn capacity_blocks(mut self, blocks: u64) -> Self {
        self.capacity_blocks = Some(blocks);
        self
    }

    /// What a full cache does. Default [`FullPolicy::EvictLru`].
    pub fn full_policy(mut self, policy: FullPolicy) -> Self {
        self.full_policy = policy;
        self
    }

    /// The prefix of every key BigCache writes (default [`DEFAULT_NAMESPACE`]). Keys of the
    /// store that do not start with it are never read, written or deleted.
    pub fn namespace(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.namespace = prefix.into();
        self
    }

    /// Opens the cache. Over a store that lists keys, rebuilds the block accounting from the
    /// manifests, removes damaged manifests and deletes orphan blocks (left by a crash between
    /// blocks and manifest); past the capacity, evicts least recently listed objects.
    pub fn open(self) -> Result<BigCache<S>> {
        let cache = self.build()?;
        cache.rebuild()?;
        Ok(cache)
    }

    /// Checks every object in the store, as [`BigCache::verify`] does, without opening the
    /// cache: no accounting is rebuilt and nothing is removed or written, so a read-only
    /// store will do (`logcache check` uses one). `None` when the store cannot list keys.
    pub fn verify(self) -> Result<Option<Verification>> {
        self.build()?.verify_all()
    }

    /// The cache over the store, its accounting empty.
    fn build(self) -> Result<BigCache<S>> {
        let max = self.store.max_value_len();
        let block_size = match self.block_size {
            Some(0) => return Err(Error::InvalidArgument("block size 0".into())),
            Some(b) if b as u64 > max => {
                return Err(Error::InvalidArgument(format!(
                    "block size {b} is over the store's largest value {max}"
                )));
            }
            Some(b) => b,
            None => DEFAULT_BLOCK_SIZE.min(usize::try_from(max).unwrap_or(usize::MAX)),
        };
        if block_size == 0 || block_size > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "block size {block_size} is not in 1..=u32::MAX"
            )));
        }
        let cache = BigCache {
            store: self.store,
            block_size,
            full_policy: self.full_policy,
            namespace: self.namespace,
            pool: Mutex::new(Pool::new(self.capacity_blocks)),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            pins: Mutex::new(HashMap::new()),
            undeleted: Mutex::new(Vec::new()),
            counters: Counters::default(),
            ids: foldhash::quality::RandomState::default(),
            next_id: AtomicU64::new(0),
            clock: self.clock,
        };
        Ok(cache)
    }
}

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
/// Capacity is counted in blocks; when full, least recently used objects are evicted or
/// [`Error::Full`] is returned ([`FullPolicy`]). The accounting lives in this handle: over a
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
    store: S,
    block_size: usize,
    full_policy: FullPolicy,
    namespace: Vec<u8>,
    pool: Mutex<Pool>,
    stripes: Vec<Mutex<()>>,
    /// Versions being streamed by a [`BigReader`]: their blocks are deleted only when the
    /// last reader is done.
    pins: Mutex<HashMap<VersionId, Pinned>>,
    /// Block keys whose delete failed (the store refused writes: a full disk), deleted again
    /// by [`sweep`](Self::sweep) and [`recover`](Self::recover) instead of waiting for the
    /// next open to find them as orphans.
    undeleted: Mutex<Vec<Vec<u8>>>,
    counters: Counters,
    ids: foldhash::quality::RandomState,
    next_id: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl<S: KvStore> std::fmt::Debug for BigCache<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCache")
            .field("block_size", &self.block_size)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S: KvStore> BigCache<S> {
    /// A cache over `store` with default options.
    pub fn new(store: S) -> Result<Self> {
        Self::builder(store).open()
    }

    /// A builder for options.
    pub fn builder(store: S) -> BigCacheBuilder<S> {
        BigCacheBuilder {
            store,
            block_size: None,
            capacity_blocks: None,
            full_policy: FullPolicy::default(),
            namespace: DEFAULT_NAMESPACE.to_vec(),
            clock: Arc::new(SystemClock),
        }
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

    /// Removes an expired object if it still holds the expired version.
    fn drop_expired(&self, key: &[u8], held: &pool::Held) {
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
    /// release the blocks the accounting still holds for it.
    fn forget_if_gone(&self, key: &[u8], mkey: &[u8]) {
        let held = {
            let _stripe = self.stripe(key);
            if !matches!(self.store.get(mkey), Ok(None)) {
                return;
            }
            lock(&self.pool).remove(key)
        };
        if let Some(h) = held {
            self.delete_blocks(&h.id, h.blocks);
        }
    }

    /// Whether `key`'s object has expired per the accounting; if so it is dropped.
    fn check_expired(&self, key: &[u8]) -> bool {
        let held = lock(&self.pool).expired_version(key, self.clock.now_millis());
        match held {
            Some(h) => {
                self.drop_expired(key, &h);
                true
            }
            None => false,
        }
    }

    /// Stores `value` under `key`, replacing any previous object atomically. An object
    /// larger than the whole capacity is refused with [`Error::Full`] before anything is
    /// written or evicted.
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let value = value.as_ref();
        let blocks = (value.len() as u64).div_ceil(self.block_size as u64);
        if lock(&self.pool).capacity.is_some_and(|c| blocks > c) {
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
                    Some((block, crc)) => {
                        whole.combine(&crc);
                        out.extend_from_slice(&block);
                    }
                    None => {
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
        let key = key.as_ref();
        let mkey = self.manifest_key(key);
        let found = {
            let _stripe = self.stripe(key);
            let manifest = self
                .store
                .get(&mkey)
                .ok()
                .flatten()
                .and_then(|b| Manifest::decode(&b));
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
        let mkey = self.manifest_key(key.as_ref());
        Ok(self
            .store
            .get(&mkey)?
            .is_some_and(|b| Manifest::decode(&b).is_some()))
    }

    /// The size in bytes of the object under `key`, from its manifest.
    pub fn size_of(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        let key = key.as_ref();
        Ok(self
            .load_manifest(key, &self.manifest_key(key))?
            .map(|m| m.size))
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

    /// Checks every object — its manifest, each block's presence, length and CRC, and the
    /// object's CRC — without changing anything. Returns the damaged objects with what is wrong;
    /// `None` when the store cannot list keys.
    pub fn verify(&self) -> Result<Option<Vec<ObjectProblem>>> {
        Ok(self.verify_all()?.map(|v| v.problems))
    }

    fn verify_all(&self) -> Result<Option<Verification>> {
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
                problems.push(ObjectProblem {
                    key,
                    problem: "manifest does not decode".into(),
                });
                continue;
            };
            let mut whole = crc32fast::Hasher::new();
            let mut bad = None;
            for i in 0..manifest.blocks() {
                match self.store.get(&self.block_key(&manifest.id, i)) {
                    Ok(Some(block)) if block.len() as u64 != manifest.block_len(i) => {
                        bad = Some(format!(
                            "block {i} has {} bytes, expected {}",
                            block.len(),
                            manifest.block_len(i)
                        ));
                    }
                    Ok(Some(block)) => {
                        let mut crc = crc32fast::Hasher::new();
                        crc.update(&block);
                        if Some(crc.clone().finalize())
                            != manifest.block_crcs.get(i as usize).copied()
                        {
                            bad = Some(format!("block {i} does not match its checksum"));
                        }
                        whole.combine(&crc);
                    }
                    Ok(None) => bad = Some(format!("block {i} is missing")),
                    Err(e @ (Error::ChecksumMismatch { .. } | Error::Corrupt { .. })) => {
                        bad = Some(format!("block {i} is damaged in the store: {e}"));
                    }
                    Err(e) => return Err(e),
                }
                if bad.is_some() {
                    break;
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

    /// Blocks held by each object in the accounting, as `(key, blocks)`.
    pub fn blocks_per_key(&self) -> Vec<(Vec<u8>, u64)> {
        lock(&self.pool)
            .iter()
            .map(|(k, h)| (k.clone(), h.blocks))
            .collect()
    }

    /// Counters and block accounting.
    pub fn stats(&self) -> BigStats {
        let (objects, used, reserved, free, capacity) = {
            let p = lock(&self.pool);
            (p.objects() as u64, p.used, p.reserved, p.free(), p.capacity)
        };
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BigStats {
            objects,
            used_blocks: used,
            reserved_blocks: reserved,
            free_blocks: free,
            capacity_blocks: capacity,
            block_size: self.block_size as u64,
            hits: get(&c.hits),
            misses: get(&c.misses),
            sets: get(&c.sets),
            deletes: get(&c.deletes),
            evictions: get(&c.evictions),
            damaged: get(&c.damaged),
            orphans_removed: get(&c.orphans_removed),
            expired: get(&c.expired),
        }
    }

    // ---- keys ------------------------------------------------------------------------------

    /// Refuses a key whose manifest key the store would refuse, naming the limit on the
    /// caller's key (the store's own limit less the namespace and the manifest marker).
    fn check_key(&self, key: &[u8]) -> Result<()> {
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

    fn manifest_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.namespace.len() + 1 + key.len());
        k.extend_from_slice(&self.namespace);
        k.push(b'm');
        k.extend_from_slice(key);
        k
    }

    fn block_key(&self, id: &VersionId, index: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.namespace.len() + 1 + 16 + 8);
        k.extend_from_slice(&self.namespace);
        k.push(b'b');
        k.extend_from_slice(id);
        k.extend_from_slice(&index.to_be_bytes());
        k
    }

    /// A version id no other write will use: a per-process random hash of a counter.
    fn new_id(&self) -> VersionId {
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

    fn stripe(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        let i = (self.ids.hash_one(key) as usize) % self.stripes.len();
        lock(&self.stripes[i])
    }

    // ---- reading ---------------------------------------------------------------------------

    /// The manifest under `mkey`; a damaged one is removed and reads as absent.
    fn load_manifest(&self, key: &[u8], mkey: &[u8]) -> Result<Option<Manifest>> {
        let bytes = match self.store.get(mkey) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {
                self.drop_damaged_manifest(key, mkey, None);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match Manifest::decode(&bytes) {
            Some(m) if u64::from(m.block_size) <= self.store.max_value_len() => Ok(Some(m)),
            _ => {
                self.drop_damaged_manifest(key, mkey, Some(&bytes));
                Ok(None)
            }
        }
    }

    /// Block `i` of `manifest`, checked, with its CRC state (the object's CRC is combined from
    /// the blocks' rather than computed in another pass); `None` when missing, damaged or of
    /// the wrong length.
    fn load_block(
        &self,
        manifest: &Manifest,
        i: u64,
    ) -> Result<Option<(Vec<u8>, crc32fast::Hasher)>> {
        let block = match self.store.get(&self.block_key(&manifest.id, i)) {
            Ok(Some(b)) => b,
            Ok(None) | Err(Error::ChecksumMismatch { .. } | Error::Corrupt { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if block.len() as u64 != manifest.block_len(i) {
            return Ok(None);
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&block);
        let expected = manifest.block_crcs.get(i as usize).copied();
        Ok((Some(crc.clone().finalize()) == expected).then_some((block, crc)))
    }

    // ---- removing --------------------------------------------------------------------------

    /// Removes a manifest that does not decode, if it is still the same bytes.
    fn drop_damaged_manifest(&self, key: &[u8], mkey: &[u8], bytes: Option<&[u8]>) {
        let _stripe = self.stripe(key);
        let current = self.store.get(mkey).ok().flatten();
        if bytes.is_none() || current.as_deref() == bytes {
            let _ = self.store.delete(mkey);
            if let Some(held) = lock(&self.pool).remove(key) {
                drop(_stripe);
                self.delete_blocks(&held.id, held.blocks);
            }
            bump(&self.counters.damaged);
        }
    }

    /// Removes an object whose blocks are missing or damaged, if `manifest` is still current.
    fn remove_broken(&self, key: &[u8], mkey: &[u8], manifest: &Manifest) {
        {
            let _stripe = self.stripe(key);
            let current = self
                .store
                .get(mkey)
                .ok()
                .flatten()
                .and_then(|b| Manifest::decode(&b));
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
    fn delete_blocks(&self, id: &VersionId, blocks: u64) {
        if let Some(pinned) = lock(&self.pins).get_mut(id) {
            pinned.doomed = Some(pinned.doomed.unwrap_or(0).max(blocks));
            return;
        }
        self.delete_blocks_now(id, blocks);
    }

    fn delete_blocks_now(&self, id: &VersionId, blocks: u64) {
        let failed: Vec<Vec<u8>> = (0..blocks)
            .map(|i| self.block_key(id, i))
            .filter(|key| self.store.delete(key).is_err())
            .collect();
        self.remember_undeleted(failed);
    }

    fn remember_undeleted(&self, keys: Vec<Vec<u8>>) {
        if keys.is_empty() {
            return;
        }
        let mut undeleted = lock(&self.undeleted);
        let room = UNDELETED_LIMIT.saturating_sub(undeleted.len());
        if keys.len() > room {
            log::warn!(
                "{} block deletes failed and are not retried: the next open removes them",
                keys.len() - room
            );
        }
        undeleted.extend(keys.into_iter().take(room));
    }

    /// Deletes again the blocks whose delete failed; returns how many are gone now.
    fn retry_deletes(&self) -> u64 {
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

    /// Why the store refuses writes, if it does ([`KvStore::failure`]).
    pub fn failure(&self) -> Option<String> {
        self.store.failure()
    }

    /// Brings the store back into service after a failed write ([`KvStore::recover`]; for
    /// the embedded store [`DurableKVCache::recover`]), then deletes the blocks whose delete
    /// failed meanwhile. Returns whether the store recovered.
    pub fn recover(&self) -> Result<bool> {
        let recovered = self.store.recover()?;
        self.retry_deletes();
        Ok(recovered)
    }

    /// Keeps version `id`'s blocks from being deleted until [`unpin`](Self::unpin). Called
    /// with the key's stripe held, so no replace, delete or eviction slips in between reading
    /// the manifest and pinning it.
    fn pin(&self, id: &VersionId) {
        lock(&self.pins).entry(*id).or_default().readers += 1;
    }

    /// Ends one reader of version `id`; the last one deletes the blocks if the version was
    /// replaced, deleted or evicted meanwhile.
    fn unpin(&self, id: &VersionId) {
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
    fn evict(&self, victim: &[u8], id: &VersionId) {
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

    // ---- writing (used by BigWriter) -------------------------------------------------------

    /// Reserves one block for a write of `key`. Nothing is evicted here (see
    /// [`Pool::reserve`]): [`evict_over_capacity`](Self::evict_over_capacity) makes room
    /// once the object commits.
    fn reserve_block(&self, key: &[u8], r: &mut Reservation) -> Result<()> {
        match lock(&self.pool).reserve(key, r, self.full_policy == FullPolicy::EvictLru) {
            Reserve::Done => Ok(()),
            Reserve::Full | Reserve::TooBig => Err(Error::Full),
        }
    }

    /// Evicts least recently used objects other than `keep` while the committed objects take
    /// more than the capacity.
    fn evict_over_capacity(&self, keep: Option<&[u8]>) {
        loop {
            let victim = lock(&self.pool).victim(keep);
            let Some((key, held)) = victim else { break };
            self.evict(&key, &held.id);
        }
    }

    /// Publishes a written version: manifest first (the commit point), then accounting, then
    /// the old version's blocks go.
    fn commit(
        &self,
        key: &[u8],
        manifest: &Manifest,
        reserved: Reservation,
        ttl: Option<Duration>,
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
        let mkey = self.manifest_key(key);
        let old = {
            let _stripe = self.stripe(key);
            let previous = self
                .store
                .get(&mkey)
                .ok()
                .flatten()
                .and_then(|b| Manifest::decode(&b));
            match ttl {
                Some(ttl) => self.store.set_with_ttl(&mkey, &bytes, ttl)?,
                None => self.store.set(&mkey, &bytes)?,
            }
            let mut pool = lock(&self.pool);
            let held = pool.commit(key, manifest.id, manifest.size, manifest.blocks(), reserved);
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
        bump(&self.counters.sets);
        Ok(())
    }

    // ---- open ------------------------------------------------------------------------------

    /// Rebuilds the accounting from the manifests and deletes orphan blocks (listing stores).
    fn rebuild(&self) -> Result<()> {
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
                pool.commit(key, m.id, m.size, m.blocks(), Reservation::default());
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

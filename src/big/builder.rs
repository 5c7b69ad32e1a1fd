//! [`BigCacheBuilder`] and [`FullPolicy`]: how a [`BigCache`] is configured and opened.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use super::manifest::OVERHEAD;
use super::pool::Pool;
use super::recover::Verification;
use super::stats::Counters;
use super::{BigCache, DEFAULT_BLOCK_SIZE, DEFAULT_INLINE_MAX, DEFAULT_NAMESPACE, STRIPES};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::store::KvStore;

/// What a full [`BigCache`] (capacity in bytes reached) does with a new object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Evict least recently used objects until the new one fits (the default).
    #[default]
    EvictLru,
    /// Refuse with [`Error::Full`]; nothing of the new object is kept.
    Fail,
}

/// Configures a [`BigCache`]; start from [`BigCache::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until .open() is called"]
pub struct BigCacheBuilder<S> {
    store: S,
    block_size: Option<usize>,
    capacity_bytes: Option<u64>,
    inline_max: Option<usize>,
    full_policy: FullPolicy,
    namespace: Vec<u8>,
    clock: Arc<dyn Clock>,
}

impl<S: KvStore> BigCacheBuilder<S> {
    pub(super) fn new(store: S) -> Self {
        BigCacheBuilder {
            store,
            block_size: None,
            capacity_bytes: None,
            inline_max: None,
            full_policy: FullPolicy::default(),
            namespace: DEFAULT_NAMESPACE.to_vec(),
            clock: Arc::new(SystemClock),
        }
    }

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

    /// Capacity in bytes. Each object is charged its size plus its key and its manifest
    /// (46 bytes, plus 4 per block); block keys and the store's own record headers are not
    /// counted. Past it, least recently used objects are evicted, or new ones refused
    /// ([`full_policy`](Self::full_policy)). Default: unbounded; 0 is refused.
    ///
    /// Over memcached, size it below memcached's `-m`: memcached evicts on its own when its
    /// memory is full, and a block it drops makes its object a miss.
    pub fn capacity_bytes(mut self, bytes: u64) -> Self {
        self.capacity_bytes = Some(bytes);
        self
    }

    /// The largest object kept inside its manifest: one store record and one read instead of
    /// two. Default [`DEFAULT_INLINE_MAX`] (4 KiB); never above the block size or what fits
    /// in one store value; 0 keeps every non-empty object in blocks.
    pub fn inline_max(mut self, bytes: usize) -> Self {
        self.inline_max = Some(bytes);
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
        let mut cache = self.build()?;
        // Before the rebuild, so that nothing the store evicts from here on goes unnoticed.
        cache.store_evicts = cache.store.watch_evictions(&cache.namespace);
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
        if self.capacity_bytes == Some(0) {
            return Err(Error::InvalidArgument(
                "a capacity of 0 bytes holds nothing; leave it unset for no limit".into(),
            ));
        }
        let fits = usize::try_from(max.saturating_sub(OVERHEAD)).unwrap_or(usize::MAX);
        let inline_max = self
            .inline_max
            .unwrap_or(DEFAULT_INLINE_MAX)
            .min(block_size)
            .min(fits);
        let cache = BigCache {
            store: self.store,
            block_size,
            inline_max,
            full_policy: self.full_policy,
            namespace: self.namespace,
            pool: Mutex::new(Pool::new(self.capacity_bytes)),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            pins: Mutex::new(HashMap::new()),
            undeleted: Mutex::new(Vec::new()),
            counters: Counters::default(),
            ids: foldhash::quality::RandomState::default(),
            next_id: AtomicU64::new(0),
            last_stamp: AtomicU64::new(0),
            store_evicts: false,
            clock: self.clock,
        };
        Ok(cache)
    }
}

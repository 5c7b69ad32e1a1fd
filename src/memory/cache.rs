//! [`MemoryCache`]: the sharded, byte-bounded in-memory cache and its builder.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::policy::{EvictionPolicy, PolicyKind};

use crate::counters::{add, stats};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::store::KvStore;
use crate::sync::lock;

/// Bytes counted per entry on top of its key and value: the table slot, the policy's
/// bookkeeping and the value's allocation header, measured roughly on 64-bit Linux. Capacity is
/// "key + value + this" per entry, so that a cache of small entries stays near its budget.
pub const ENTRY_OVERHEAD: u64 = 96;

/// Default number of shards (independent locks).
pub const DEFAULT_SHARDS: usize = 16;

#[derive(Debug)]
pub(super) struct Item {
    pub(super) value: Arc<[u8]>,
    pub(super) id: u64,
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub(super) expiry: u64,
    pub(super) weight: u64,
}

impl Item {
    pub(super) fn expired(&self, now: u64) -> bool {
        self.expiry != 0 && self.expiry <= now
    }
}

#[derive(Debug)]
pub(super) struct Shard {
    pub(super) map: HashMap<Box<[u8]>, Item, foldhash::fast::RandomState>,
    pub(super) ids: HashMap<u64, Box<[u8]>, foldhash::fast::RandomState>,
    pub(super) policy: Box<dyn EvictionPolicy>,
    pub(super) capacity: u64,
    pub(super) used: u64,
    pub(super) next_id: u64,
    pub(super) with_ttl: u64,
    /// Read counters live in the shard, under its lock: a global atomic bumped by every get
    /// made two threads slower than one (the counter's cache line bounced between cores).
    pub(super) hits: u64,
    pub(super) misses: u64,
}

stats! {
    /// Counters of a [`MemoryCache`].
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct MemoryStats, counted by pub(super) Counters {
        gauges {
            /// Reads that found a live entry (counted per shard, under its lock).
            hits: u64,
            /// Reads that found none (absent or expired).
            misses: u64,
            /// Bytes accounted (key + value + [`ENTRY_OVERHEAD`] per entry).
            bytes: u64,
            /// Entries held (expired ones not yet reclaimed included).
            entries: u64,
            /// Capacity in bytes.
            capacity: u64,
        }
        counters {
            /// Entries stored.
            inserts,
            /// Entries evicted to stay within capacity.
            evictions_size,
            /// Entries dropped because they expired (on access or by a sweep).
            evictions_expired,
            /// Entries removed by `delete` (or invalidated by a write-around).
            removals,
        }
    }
}

impl MemoryStats {
    /// hits / (hits + misses), or 0 before any read.
    pub fn hit_ratio(&self) -> f64 {
        let reads = self.hits + self.misses;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

/// Configures a [`MemoryCache`]; start from [`MemoryCache::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct MemoryCacheBuilder {
    pub(super) capacity: u64,
    pub(super) shards: usize,
    pub(super) policy: PolicyChoice,
    pub(super) clock: Arc<dyn Clock>,
}

/// Makes one shard's policy, given the shard's capacity in bytes.
pub(super) type PolicyFactory = Arc<dyn Fn(u64) -> Box<dyn EvictionPolicy> + Send + Sync>;

/// A built-in policy, or one the user supplies.
#[derive(Clone)]
pub(super) enum PolicyChoice {
    Kind(PolicyKind),
    Custom(PolicyFactory),
}

impl std::fmt::Debug for PolicyChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyChoice::Kind(k) => k.fmt(f),
            PolicyChoice::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl PolicyChoice {
    pub(super) fn build(&self, capacity: u64) -> Box<dyn EvictionPolicy> {
        match self {
            PolicyChoice::Kind(kind) => kind.build(capacity),
            PolicyChoice::Custom(factory) => factory(capacity),
        }
    }
}

impl MemoryCacheBuilder {
    /// Number of shards: independent locks, each with `capacity / shards` bytes. Default 16;
    /// 1 gives exact global eviction order (tests, simulations).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// The eviction policy. Default [`PolicyKind::S3Fifo`].
    pub fn policy(mut self, policy: PolicyKind) -> Self {
        self.policy = PolicyChoice::Kind(policy);
        self
    }

    /// An eviction policy of your own: `factory` makes one [`EvictionPolicy`] per shard,
    /// given the shard's capacity in bytes. The cache tells it of inserts, reads and removals
    /// and asks it for a victim when a shard is full.
    pub fn custom_policy(
        mut self,
        factory: impl Fn(u64) -> Box<dyn EvictionPolicy> + Send + Sync + 'static,
    ) -> Self {
        self.policy = PolicyChoice::Custom(Arc::new(factory));
        self
    }

    /// The wall clock for TTLs. Default the system clock; tests use a
    /// [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the cache.
    pub fn build(self) -> MemoryCache {
        let per_shard = self.capacity / self.shards as u64;
        MemoryCache {
            shards: (0..self.shards)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::default(),
                        ids: HashMap::default(),
                        policy: self.policy.build(per_shard),
                        capacity: per_shard,
                        used: 0,
                        next_id: 0,
                        with_ttl: 0,
                        hits: 0,
                        misses: 0,
                    })
                })
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
            clock: self.clock,
            capacity: per_shard * self.shards as u64,
            counters: Counters::default(),
        }
    }
}

/// An in-memory cache with a byte budget, per-entry TTL and a pluggable eviction policy
/// ([`PolicyKind::Lru`] or the scan-resistant [`PolicyKind::S3Fifo`]).
///
/// Thread-safe: keys are spread over shards, each with its own lock and a slice of the
/// capacity. An entry weighs its key, its value and [`ENTRY_OVERHEAD`] bytes; the bytes held
/// never exceed the capacity. Expired entries read as absent and are not counted by
/// [`len`](Self::len); their memory is reclaimed when they are next touched, when room is
/// needed, and by [`sweep`](Self::sweep).
///
/// ```
/// use logcache::{MemoryCache, PolicyKind};
/// use std::time::Duration;
///
/// let cache = MemoryCache::builder(64 << 20).policy(PolicyKind::S3Fifo).build();
/// cache.set("session:1", "alice")?;
/// cache.set_with_ttl("otp:1", "123456", Duration::from_secs(30))?;
/// assert_eq!(cache.get("session:1").as_deref(), Some(&b"alice"[..]));
/// println!("hit ratio {:.2}", cache.stats().hit_ratio());
/// # Ok::<(), logcache::Error>(())
/// ```
#[derive(Debug)]
pub struct MemoryCache {
    pub(super) shards: Vec<Mutex<Shard>>,
    pub(super) hasher: foldhash::fast::RandomState,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) capacity: u64,
    pub(super) counters: Counters,
}

impl MemoryCache {
    /// A cache of `capacity` bytes with default options.
    pub fn new(capacity: u64) -> Self {
        Self::builder(capacity).build()
    }

    /// A builder for options.
    pub fn builder(capacity: u64) -> MemoryCacheBuilder {
        MemoryCacheBuilder {
            capacity,
            shards: DEFAULT_SHARDS,
            policy: PolicyChoice::Kind(PolicyKind::default()),
            clock: Arc::new(SystemClock),
        }
    }

    pub(super) fn shard_of(&self, key: &[u8]) -> (&Mutex<Shard>, u64) {
        let h = self.hasher.hash_one(key);
        (&self.shards[(h as usize) % self.shards.len()], h)
    }

    /// The value of `key`, shared (no copy), or `None` when absent or expired.
    pub fn get_shared(&self, key: impl AsRef<[u8]>) -> Option<Arc<[u8]>> {
        let key = key.as_ref();
        let (shard, _) = self.shard_of(key);
        let mut s = lock(shard);
        let now = s.now(&*self.clock);
        let found = match s.map.get(key) {
            Some(item) if item.expired(now) => {
                s.remove(key);
                add(&self.counters.evictions_expired, 1);
                None
            }
            Some(item) => {
                let (id, value) = (item.id, Arc::clone(&item.value));
                s.policy.on_access(id);
                Some(value)
            }
            None => None,
        };
        if found.is_some() {
            s.hits += 1;
        } else {
            s.misses += 1;
        }
        found
    }

    /// The value of `key`, copied, or `None` when absent or expired.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        self.get_shared(key).map(|v| v.to_vec())
    }

    /// Stores `value` under `key` with no expiry, evicting per the policy to stay within
    /// capacity. An entry larger than a shard's capacity is refused with [`Error::TooLarge`].
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.insert(key.as_ref(), value.as_ref(), 0)
    }

    /// Stores `value` under `key` until `ttl` from now.
    pub fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let expiry = crate::clock::expiry_after(&*self.clock, ttl);
        self.insert(key.as_ref(), value.as_ref(), expiry)
    }

    pub(super) fn insert(&self, key: &[u8], value: &[u8], expiry: u64) -> Result<()> {
        let weight = key.len() as u64 + value.len() as u64 + ENTRY_OVERHEAD;
        let (shard, fingerprint) = self.shard_of(key);
        let value: Arc<[u8]> = Arc::from(value);
        let now = self.clock.now_millis();
        let mut s = lock(shard);
        if weight > s.capacity {
            return Err(Error::TooLarge {
                what: "entry",
                len: weight,
                max: s.capacity,
            });
        }
        if s.remove(key).is_some() {
            // Replaced: not an explicit removal, not an eviction.
        }
        if s.used + weight > s.capacity && s.with_ttl > 0 {
            let expired = s.sweep(now);
            add(&self.counters.evictions_expired, expired);
        }
        let mut evicted = 0;
        while s.used + weight > s.capacity {
            let Some(victim) = s.policy.evict() else {
                break;
            };
            if let Some(k) = s.ids.remove(&victim)
                && let Some(item) = s.map.remove(&k)
            {
                s.used -= item.weight;
                s.with_ttl -= u64::from(item.expiry != 0);
                evicted += 1;
            }
        }
        let id = s.next_id;
        s.next_id += 1;
        s.policy.on_insert(id, weight, fingerprint);
        s.ids.insert(id, key.into());
        s.map.insert(
            key.into(),
            Item {
                value,
                id,
                expiry,
                weight,
            },
        );
        s.used += weight;
        s.with_ttl += u64::from(expiry != 0);
        drop(s);
        add(&self.counters.inserts, 1);
        add(&self.counters.evictions_size, evicted);
        Ok(())
    }

    /// Stores `value` under `key` until the absolute instant `expiry` (Unix ms, 0 = never):
    /// how a tier copies an entry's expiry from the store behind it.
    pub(crate) fn set_until(&self, key: &[u8], value: &[u8], expiry: u64) -> Result<()> {
        self.insert(key, value, expiry)
    }

    /// The live value of `key` without counting a read or telling the policy.
    pub(super) fn peek(&self, key: &[u8]) -> Option<Arc<[u8]>> {
        let (shard, _) = self.shard_of(key);
        let now = self.clock.now_millis();
        lock(shard)
            .map
            .get(key)
            .filter(|i| !i.expired(now))
            .map(|i| Arc::clone(&i.value))
    }

    /// Removes `key`; returns whether it held a live value.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> bool {
        let key = key.as_ref();
        let (shard, _) = self.shard_of(key);
        let now = self.clock.now_millis();
        let removed = lock(shard).remove(key);
        match removed {
            Some(item) if !item.expired(now) => {
                add(&self.counters.removals, 1);
                true
            }
            Some(_) => {
                add(&self.counters.evictions_expired, 1);
                false
            }
            None => false,
        }
    }

    /// Whether `key` holds a live value (does not count as a read).
    pub fn contains(&self, key: impl AsRef<[u8]>) -> bool {
        let key = key.as_ref();
        let (shard, _) = self.shard_of(key);
        let now = self.clock.now_millis();
        lock(shard).map.get(key).is_some_and(|i| !i.expired(now))
    }

    /// Live (unexpired) entries.
    pub fn len(&self) -> usize {
        let now = self.clock.now_millis();
        self.shards
            .iter()
            .map(|m| {
                let s = lock(m);
                if s.with_ttl == 0 {
                    s.map.len()
                } else {
                    s.map.values().filter(|i| !i.expired(now)).count()
                }
            })
            .sum()
    }

    /// Whether no live entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live keys, in no particular order (a snapshot).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let now = self.clock.now_millis();
        self.shards
            .iter()
            .flat_map(|m| {
                lock(m)
                    .map
                    .iter()
                    .filter(|(_, i)| !i.expired(now))
                    .map(|(k, _)| k.to_vec())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Drops every expired entry now; returns how many.
    pub fn sweep(&self) -> u64 {
        let now = self.clock.now_millis();
        let n: u64 = self.shards.iter().map(|m| lock(m).sweep(now)).sum();
        add(&self.counters.evictions_expired, n);
        n
    }

    /// Counters and sizes.
    pub fn stats(&self) -> MemoryStats {
        let (bytes, entries, hits, misses) =
            self.shards
                .iter()
                .fold((0, 0, 0, 0), |(b, e, h, m), shard| {
                    let s = lock(shard);
                    (b + s.used, e + s.map.len() as u64, h + s.hits, m + s.misses)
                });
        let mut stats = MemoryStats {
            hits,
            misses,
            bytes,
            entries,
            capacity: self.capacity,
            ..MemoryStats::default()
        };
        self.counters.fill(&mut stats);
        stats
    }

    /// Capacity in bytes (rounded down to a multiple of the shard count).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(super) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

impl Shard {
    /// The time to check expiries against: the clock is read only when some entry here has a
    /// TTL (0 makes nothing expired).
    pub(super) fn now(&self, clock: &dyn Clock) -> u64 {
        if self.with_ttl > 0 {
            clock.now_millis()
        } else {
            0
        }
    }

    pub(super) fn remove(&mut self, key: &[u8]) -> Option<Item> {
        let item = self.map.remove(key)?;
        self.ids.remove(&item.id);
        self.policy.on_remove(item.id);
        self.used -= item.weight;
        self.with_ttl -= u64::from(item.expiry != 0);
        Some(item)
    }

    pub(super) fn sweep(&mut self, now: u64) -> u64 {
        if self.with_ttl == 0 {
            return 0;
        }
        let expired: Vec<Box<[u8]>> = self
            .map
            .iter()
            .filter(|(_, i)| i.expired(now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.remove(k);
        }
        expired.len() as u64
    }
}

impl KvStore for MemoryCache {
    fn waits(&self) -> crate::store::Waits {
        crate::store::Waits::Never
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(MemoryCache::get(self, key))
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        MemoryCache::set(self, key, value)
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        MemoryCache::set_with_ttl(self, key, value, ttl)
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        Ok(MemoryCache::delete(self, key))
    }
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        let (shard, _) = self.shard_of(key);
        let mut s = lock(shard);
        let now = s.now(&*self.clock);
        let found = s
            .map
            .get(key)
            .filter(|i| !i.expired(now))
            .map(|i| (i.value.to_vec(), i.expiry, i.id));
        match found {
            Some((v, expiry, id)) => {
                s.policy.on_access(id);
                s.hits += 1;
                Ok(Some((v, expiry)))
            }
            None => {
                s.misses += 1;
                Ok(None)
            }
        }
    }
    fn max_value_len(&self) -> u64 {
        (self.capacity / self.shards.len() as u64).saturating_sub(ENTRY_OVERHEAD)
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        Ok(Some(
            self.keys()
                .into_iter()
                .filter(|k| k.starts_with(prefix))
                .collect(),
        ))
    }
}

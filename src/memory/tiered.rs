//! [`Tiered`]: a [`MemoryCache`] in front of any [`KvStore`], written through or around, and
//! read through with single-flight loads (groupcache's idea).

use std::time::Duration;

use super::flight::SingleFlight;
use super::{MemoryCache, MemoryStats};
use crate::counters::{bump, stats};
use crate::error::{Error, Result};
use crate::store::KvStore;

/// How [`Tiered`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WritePolicy {
    /// Write the backing store first, then the memory tier: both hold the new value.
    #[default]
    Through,
    /// Write the backing store only and drop the key from the memory tier, so that data
    /// written once and rarely read does not displace what is hot. The next read loads it.
    Around,
}

/// Loads a value the backing store does not have (from a database, say): `Ok(None)` when it
/// does not exist anywhere.
pub type Loader = Box<dyn Fn(&[u8]) -> Result<Option<Vec<u8>>> + Send + Sync>;

/// A memory tier in front of a backing store.
///
/// - Reads try the memory tier, then the backing store, then the [`Loader`] if one is set; a
///   value found behind is copied into the memory tier with the same expiry (read-through).
///   Concurrent misses on one key cause one load (single-flight): the others wait for it.
/// - Writes follow the [`WritePolicy`]; the backing store is always written first, so a failed
///   write never leaves the memory tier holding a value the store does not have.
/// - TTLs mean the same in both tiers: an entry set with a TTL expires in both at the same
///   instant (they share the clock you give them), and a value read through keeps its expiry.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use logcache::{DurableKVCache, MemoryCache, Tiered, WritePolicy};
///
/// let back = DurableKVCache::open(dir.path().join("cache.log"))?;
/// let tiered = Tiered::builder(MemoryCache::new(64 << 20), back)
///     .write_policy(WritePolicy::Through)
///     .loader(|key| Ok(Some(format!("loaded {}", String::from_utf8_lossy(key)).into_bytes())))
///     .build();
/// tiered.set("a", "1")?;
/// assert_eq!(tiered.get("a")?.as_deref(), Some(&b"1"[..]));
/// assert_eq!(tiered.get("b")?.as_deref(), Some(&b"loaded b"[..])); // from the loader
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Tiered<S: KvStore> {
    front: MemoryCache,
    back: S,
    write: WritePolicy,
    loader: Option<Loader>,
    flights: SingleFlight,
    counters: Counters,
}

stats! {
    /// Counters of a [`Tiered`] pair: its memory tier's, and the loads behind it.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct TieredStats, counted by Counters {
        gauges {
            /// The memory tier's counters.
            front: MemoryStats,
        }
        counters {
            /// Loads from the backing store or the loader (one per burst of misses on a key).
            loads,
            /// Loads that failed.
            load_errors,
            /// Reads that waited for another caller's load of the same key instead of loading.
            load_waits,
        }
    }
}

impl<S: KvStore> std::fmt::Debug for Tiered<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tiered")
            .field("front", &self.front)
            .field("write", &self.write)
            .field("loader", &self.loader.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Tiered`] pair; start from [`Tiered::builder`].
#[must_use = "a builder does nothing until .build() is called"]
pub struct TieredBuilder<S: KvStore> {
    front: MemoryCache,
    back: S,
    write: WritePolicy,
    loader: Option<Loader>,
}

impl<S: KvStore> TieredBuilder<S> {
    /// The write strategy. Default [`WritePolicy::Through`].
    pub fn write_policy(mut self, write: WritePolicy) -> Self {
        self.write = write;
        self
    }

    /// Where a value missing from both tiers comes from. Values it returns are written to the
    /// backing store and, per the write policy, to the memory tier.
    pub fn loader(
        mut self,
        load: impl Fn(&[u8]) -> Result<Option<Vec<u8>>> + Send + Sync + 'static,
    ) -> Self {
        self.loader = Some(Box::new(load));
        self
    }

    /// Builds the pair.
    pub fn build(self) -> Tiered<S> {
        Tiered {
            front: self.front,
            back: self.back,
            write: self.write,
            loader: self.loader,
            flights: SingleFlight::default(),
            counters: Counters::default(),
        }
    }
}

impl<S: KvStore> Tiered<S> {
    /// A builder with `front` in front of `back`.
    pub fn builder(front: MemoryCache, back: S) -> TieredBuilder<S> {
        TieredBuilder {
            front,
            back,
            write: WritePolicy::default(),
            loader: None,
        }
    }

    /// The memory tier.
    pub fn front(&self) -> &MemoryCache {
        &self.front
    }

    /// The backing store.
    pub fn back(&self) -> &S {
        &self.back
    }

    /// The value of `key`: from memory, else loaded (once, however many callers miss at once).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.get_with_expiry(key.as_ref())?.map(|(v, _)| v))
    }

    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        if let Some(v) = self.front.get_shared(key) {
            return Ok(Some((v.to_vec(), 0)));
        }
        // A load that finished meanwhile populated the memory tier before it left the flight
        // table, so the check under the table's lock sees one or the other.
        let recheck = || self.front.peek(key).map(|v| (v.to_vec(), 0));
        let (result, waited) = self.flights.run(key, recheck, || self.load(key));
        if waited {
            bump(&self.counters.load_waits);
        }
        result
    }

    /// Counters of the memory tier and of the loads behind it.
    pub fn stats(&self) -> TieredStats {
        let mut stats = TieredStats {
            front: self.front.stats(),
            ..TieredStats::default()
        };
        self.counters.fill(&mut stats);
        stats
    }

    /// One load: the backing store, then the loader; populates the memory tier.
    fn load(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        let counters = &self.counters;
        bump(&counters.loads);
        let found = match self.back.get_with_expiry(key) {
            Ok(Some(found)) => Some(found),
            Ok(None) => match &self.loader {
                Some(load) => match load(key) {
                    Ok(Some(v)) => {
                        self.back.set(key, &v)?;
                        Some((v, 0))
                    }
                    Ok(None) => None,
                    Err(e) => {
                        bump(&counters.load_errors);
                        return Err(Error::Load {
                            reason: e.to_string(),
                        });
                    }
                },
                None => None,
            },
            Err(e) => {
                bump(&counters.load_errors);
                return Err(e);
            }
        };
        if let Some((v, expiry)) = &found {
            // Read-through populates the memory tier under either write policy (write-around
            // keeps only writes out of it), with the store's expiry. A value too large for the
            // memory tier is still returned, just not kept there.
            let _ = self.front.set_until(key, v, *expiry);
        }
        Ok(found)
    }

    /// Writes `value` per the write policy (backing store first).
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.back.set(key, value)?;
        self.after_write(key, value, 0)
    }

    /// Writes `value` until `ttl` from now, in both tiers per the write policy.
    pub fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let expiry = crate::clock::expiry_after(&**self.front.clock(), ttl);
        self.back.set_with_ttl(key, value, ttl)?;
        self.after_write(key, value, expiry)
    }

    fn after_write(&self, key: &[u8], value: &[u8], expiry: u64) -> Result<()> {
        match self.write {
            WritePolicy::Through => {
                if self.front.set_until(key, value, expiry).is_err() {
                    // Too large for memory: the store has it; memory must not keep an old value.
                    self.front.delete(key);
                }
            }
            WritePolicy::Around => {
                self.front.delete(key);
            }
        }
        Ok(())
    }

    /// Removes `key` from both tiers; returns whether either held it.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        let back = self.back.delete(key)?;
        let front = self.front.delete(key);
        Ok(back || front)
    }
}

impl<S: KvStore> KvStore for Tiered<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Tiered::get(self, key)
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        Tiered::set(self, key, value)
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        Tiered::set_with_ttl(self, key, value, ttl)
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        Tiered::delete(self, key)
    }
    fn max_value_len(&self) -> u64 {
        self.back.max_value_len()
    }
    fn max_key_len(&self) -> usize {
        self.back.max_key_len()
    }
    fn failure(&self) -> Option<String> {
        self.back.failure()
    }
    fn probe(&self) -> Result<()> {
        self.back.probe()
    }
    fn recover(&self) -> Result<bool> {
        self.back.recover()
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        self.back.keys_with_prefix(prefix)
    }
}

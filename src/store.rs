//! [`KvStore`]: the one seam every layer above a store works through.

use std::sync::Arc;
use std::time::Duration;

use crate::durable::DurableKVCache;
use crate::error::Result;

/// The key a remote store reads to answer [`KvStore::probe`] (it need not exist).
pub(crate) const PROBE_KEY: &[u8] = b"logcache:probe";

/// A key-value store that values of bounded size can be kept in: the embedded
/// [`DurableKVCache`], [`MemoryCache`](crate::MemoryCache), [`Tiered`](crate::Tiered),
/// [`MemcachedStore`](crate::MemcachedStore), `HttpStore` (feature `http-store`), and a
/// [`ShardedStore`](crate::ShardedStore) ring over any of them.
///
/// Kept small on purpose: what [`BigCache`](crate::BigCache) needs and every store can do.
/// Implementations are shared between threads.
pub trait KvStore: Send + Sync {
    /// The value of `key`, or `None` when absent (or expired, or evicted by the store).
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Sets `key` to `value`.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()>;

    /// Sets `key` to `value` until `ttl` from now.
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()>;

    /// Removes `key`; returns whether it was there.
    fn delete(&self, key: &[u8]) -> Result<bool>;

    /// The value of `key` with its absolute expiry in Unix milliseconds (0 = none), so that a
    /// tier in front can expire its copy at the same instant. Stores that do not know expiries
    /// report 0.
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        Ok(self.get(key)?.map(|v| (v, 0)))
    }

    /// [`get_with_expiry`](Self::get_with_expiry) into `buf`, replacing its contents and
    /// reusing its capacity: the expiry when there was a value (`buf` holds it), `None` when
    /// not (`buf` left empty). A server that answers many reads keeps one buffer instead of
    /// allocating one per value; the embedded store reads straight into it.
    fn get_into_with_expiry(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<Option<u64>> {
        buf.clear();
        Ok(self.get_with_expiry(key)?.map(|(v, expiry)| {
            *buf = v;
            expiry
        }))
    }

    /// How many copies of each key the store keeps, on separate nodes: 1 (the default)
    /// unless it is a [`ShardedStore`](crate::ShardedStore) ring with replicas.
    fn replicas(&self) -> usize {
        1
    }

    /// Every copy of `key` a replicated store keeps, as the replicas that answered hold it:
    /// `(position, copy)` per replica that answered (position 0 is the key's first replica),
    /// the copy with its expiry (Unix ms, 0 = none) or `None` when that replica has none.
    /// `Ok(None)` for a store that keeps one copy (the default: use [`get`](Self::get)). Errs
    /// only when no replica answered.
    fn get_copies(&self, key: &[u8]) -> Result<Option<Copies>> {
        let _ = key;
        Ok(None)
    }

    /// Writes `value`, expiring at `expiry` (Unix ms, 0 = never), to the replicas of `key` at
    /// `positions` only: how a reader repairs the copies it found stale. A store that keeps
    /// one copy (the default) writes it.
    fn set_copies(&self, key: &[u8], value: &[u8], expiry: u64, positions: &[usize]) -> Result<()> {
        let _ = positions;
        set_until(self, key, value, expiry)
    }

    /// Asks the store to record the keys starting with `prefix` that it evicts on its own (a
    /// [`DurableKVCache`] with a byte budget), for [`take_evicted`](Self::take_evicted);
    /// returns whether it will (the default: no).
    fn watch_evictions(&self, prefix: &[u8]) -> bool {
        let _ = prefix;
        false
    }

    /// The watched keys the store evicted since the last take; `None` when it records none.
    fn take_evicted(&self) -> Option<crate::durable::Evicted> {
        None
    }

    /// The largest value `set` accepts, in bytes.
    fn max_value_len(&self) -> u64;

    /// The longest key the store accepts, in bytes; unbounded by default (stores that hash
    /// long keys, as [`MemcachedStore`](crate::MemcachedStore) does).
    fn max_key_len(&self) -> usize {
        usize::MAX
    }

    /// The keys starting with `prefix`, when the store can list keys (`None` when it cannot,
    /// as memcached cannot).
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        let _ = prefix;
        Ok(None)
    }

    /// Makes every write this store acknowledged so far durable, for stores whose writes are
    /// not durable on return (a [`DurableKVCache`] opened with `Durability::None` or
    /// `Interval`). Stores with nothing to sync return `Ok`.
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    /// Named counters and gauges for monitoring (the HTTP server exports them under
    /// `/v1/stats` and `/metrics`); none by default.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// Why the store refuses writes now, if it does: a [`DurableKVCache`] whose write or
    /// fsync failed (poisoned) until [`recover`](Self::recover) succeeds. `None` by default.
    /// The HTTP server's `/healthz` answers `503` with it.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Checks that the store can serve now, asking it when it is remote: a memcached or
    /// `logcache serve` node answers one read of a probe key, a ring succeeds when at least
    /// one node answers. The error says why not. By default, [`Error::Poisoned`](crate::Error::Poisoned) while
    /// [`failure`](Self::failure) reports one. The HTTP server's `/healthz` uses it.
    fn probe(&self) -> Result<()> {
        match self.failure() {
            Some(reason) => Err(crate::error::Error::Poisoned { reason }),
            None => Ok(()),
        }
    }

    /// Which of its calls may wait long — for an `fdatasync` or the network — so that an
    /// event loop serving many clients runs those on threads of their own and the rest in
    /// place. [`Waits::Always`] by default (a remote store).
    fn waits(&self) -> Waits {
        Waits::Always
    }

    /// The embedded log this store is, when it is one: an event loop uses its deferred
    /// writes ([`DurableKVCache::set_deferred`]) to share fsyncs without a thread per waiting
    /// write. `None` by default.
    fn embedded(&self) -> Option<&DurableKVCache> {
        None
    }

    /// Brings a store that refuses writes after a failure back into service, when it can:
    /// `Ok(true)` when it recovered, `Ok(false)` when there was nothing to recover, an error
    /// when it cannot yet (try again later). Nothing by default; see
    /// [`DurableKVCache::recover`].
    fn recover(&self) -> Result<bool> {
        Ok(false)
    }
}

/// Sets `key` on `store` to expire at `expiry` (Unix ms by the system clock, 0 = never).
pub(crate) fn set_until<S: KvStore + ?Sized>(
    store: &S,
    key: &[u8],
    value: &[u8],
    expiry: u64,
) -> Result<()> {
    match crate::clock::ttl_until(expiry) {
        None => store.set(key, value),
        Some(ttl) => store.set_with_ttl(key, value, ttl),
    }
}

/// The copies of one key on the replicas that answered ([`KvStore::get_copies`]): each
/// replica's position and its copy with its expiry (Unix ms, 0 = none), or `None`.
pub type Copies = Vec<(usize, Option<(Vec<u8>, u64)>)>;

/// Which calls of a [`KvStore`] may wait long ([`KvStore::waits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Waits {
    /// None: every call is served from memory or the page cache (a [`DurableKVCache`] whose
    /// writes do not wait for `fdatasync`, a [`MemoryCache`](crate::MemoryCache)).
    Never,
    /// Writes wait for the disk (a [`DurableKVCache`] with
    /// [`Durability::Sync`](crate::Durability::Sync)); reads do not.
    Writes,
    /// Any call may wait (for the network).
    Always,
}

impl<T: KvStore + ?Sized> KvStore for Arc<T> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        (**self).set(key, value)
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        (**self).set_with_ttl(key, value, ttl)
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        (**self).delete(key)
    }
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        (**self).get_with_expiry(key)
    }
    fn get_into_with_expiry(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<Option<u64>> {
        (**self).get_into_with_expiry(key, buf)
    }
    fn replicas(&self) -> usize {
        (**self).replicas()
    }
    fn watch_evictions(&self, prefix: &[u8]) -> bool {
        (**self).watch_evictions(prefix)
    }
    fn take_evicted(&self) -> Option<crate::durable::Evicted> {
        (**self).take_evicted()
    }
    fn get_copies(&self, key: &[u8]) -> Result<Option<Copies>> {
        (**self).get_copies(key)
    }
    fn set_copies(&self, key: &[u8], value: &[u8], expiry: u64, positions: &[usize]) -> Result<()> {
        (**self).set_copies(key, value, expiry, positions)
    }
    fn max_value_len(&self) -> u64 {
        (**self).max_value_len()
    }
    fn max_key_len(&self) -> usize {
        (**self).max_key_len()
    }
    fn failure(&self) -> Option<String> {
        (**self).failure()
    }
    fn probe(&self) -> Result<()> {
        (**self).probe()
    }
    fn recover(&self) -> Result<bool> {
        (**self).recover()
    }
    fn waits(&self) -> Waits {
        (**self).waits()
    }
    fn embedded(&self) -> Option<&DurableKVCache> {
        (**self).embedded()
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        (**self).keys_with_prefix(prefix)
    }
    fn sync(&self) -> Result<()> {
        (**self).sync()
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        (**self).counters()
    }
}

impl KvStore for DurableKVCache {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        DurableKVCache::get(self, key)
    }
    fn watch_evictions(&self, prefix: &[u8]) -> bool {
        DurableKVCache::watch_evictions(self, prefix)
    }
    fn take_evicted(&self) -> Option<crate::durable::Evicted> {
        DurableKVCache::take_evicted(self)
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        DurableKVCache::set(self, key, value)
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        DurableKVCache::set_with_ttl(self, key, value, ttl)
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        DurableKVCache::delete(self, key)
    }
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        self.get_with_expiry(key)
    }
    fn get_into_with_expiry(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<Option<u64>> {
        self.get_into_with_expiry(key, buf)
    }
    fn max_value_len(&self) -> u64 {
        DurableKVCache::max_value_len(self)
    }
    fn max_key_len(&self) -> usize {
        crate::log::record::MAX_KEY_LEN
    }
    fn failure(&self) -> Option<String> {
        DurableKVCache::failure(self)
    }
    fn recover(&self) -> Result<bool> {
        DurableKVCache::recover(self)
    }
    fn embedded(&self) -> Option<&DurableKVCache> {
        Some(self)
    }
    fn waits(&self) -> Waits {
        match self.durability() {
            crate::Durability::Sync => Waits::Writes,
            _ => Waits::Never,
        }
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        Ok(Some(
            self.keys().filter(|k| k.starts_with(prefix)).collect(),
        ))
    }
    fn sync(&self) -> Result<()> {
        DurableKVCache::sync(self)
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.stats().counters()
    }
}

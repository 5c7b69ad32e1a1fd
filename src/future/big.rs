//! [`AsyncBigCache`]: a [`BigCache`] with `async` calls and streams.

use std::sync::Arc;
use std::time::Duration;

use super::Pool;
use super::stream::{AsyncBigReader, AsyncBigWriter};
use crate::big::{BigCache, BigStats};
use crate::error::Result;
use crate::store::KvStore;

/// A [`BigCache`] for async code: whole-object calls on a [`Pool`], and streams
/// ([`writer`](Self::writer), [`reader`](Self::reader)) that keep memory at about one block.
/// Cheap to clone (clones share the cache and the pool).
#[derive(Debug)]
pub struct AsyncBigCache<S: KvStore> {
    cache: Arc<BigCache<S>>,
    pool: Pool,
}

impl<S: KvStore> Clone for AsyncBigCache<S> {
    fn clone(&self) -> Self {
        AsyncBigCache {
            cache: self.cache.clone(),
            pool: self.pool.clone(),
        }
    }
}

impl<S: KvStore + 'static> AsyncBigCache<S> {
    /// `cache` on a default [`Pool`] of its own.
    pub fn new(cache: BigCache<S>) -> Self {
        AsyncBigCache::with_pool(Arc::new(cache), Pool::default())
    }

    /// A shared cache on a given pool.
    pub fn with_pool(cache: Arc<BigCache<S>>, pool: Pool) -> Self {
        AsyncBigCache { cache, pool }
    }

    /// The cache, for calls that do not block ([`BigCache::stats`], say).
    pub fn inner(&self) -> &Arc<BigCache<S>> {
        &self.cache
    }

    /// Counters and byte accounting ([`BigCache::stats`]; it does not block on the store).
    pub fn stats(&self) -> BigStats {
        self.cache.stats()
    }

    /// Runs `call` on the cache on the pool: any call the async methods lack.
    pub async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&BigCache<S>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let cache = self.cache.clone();
        self.pool.run(move || call(&cache)).await
    }

    /// [`BigCache::set`]: the whole object from memory.
    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) -> Result<()> {
        let (key, value) = (key.as_ref().to_vec(), value.into());
        self.run(move |c| c.set(&key, &value)).await
    }

    /// [`BigCache::set_with_ttl`].
    pub async fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<Vec<u8>>,
        ttl: Duration,
    ) -> Result<()> {
        let (key, value) = (key.as_ref().to_vec(), value.into());
        self.run(move |c| c.set_with_ttl(&key, &value, ttl)).await
    }

    /// [`BigCache::get`]: the whole object in memory.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref().to_vec();
        self.run(move |c| c.get(&key)).await
    }

    /// [`BigCache::delete`].
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref().to_vec();
        self.run(move |c| c.delete(&key)).await
    }

    /// [`BigCache::contains`].
    pub async fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref().to_vec();
        self.run(move |c| c.contains(&key)).await
    }

    /// [`BigCache::size_of`].
    pub async fn size_of(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        let key = key.as_ref().to_vec();
        self.run(move |c| c.size_of(&key)).await
    }

    /// [`BigCache::version_of`].
    pub async fn version_of(&self, key: impl AsRef<[u8]>) -> Result<Option<u128>> {
        let key = key.as_ref().to_vec();
        self.run(move |c| c.version_of(&key)).await
    }

    /// [`BigCache::keys`].
    pub async fn keys(&self, prefix: impl AsRef<[u8]>) -> Result<Option<Vec<Vec<u8>>>> {
        let prefix = prefix.as_ref().to_vec();
        self.run(move |c| c.keys(&prefix)).await
    }

    /// A streaming writer of the object under `key` (see [`AsyncBigWriter`]).
    pub async fn writer(&self, key: impl AsRef<[u8]>) -> Result<AsyncBigWriter> {
        AsyncBigWriter::start(self.cache.clone(), key.as_ref().to_vec(), None)
    }

    /// As [`writer`](Self::writer), for an object that expires `ttl` after its commit.
    pub async fn writer_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<AsyncBigWriter> {
        AsyncBigWriter::start(self.cache.clone(), key.as_ref().to_vec(), Some(ttl))
    }

    /// A streaming reader of the object under `key`, or `None` when there is none (see
    /// [`AsyncBigReader`]).
    pub async fn reader(&self, key: impl AsRef<[u8]>) -> Result<Option<AsyncBigReader>> {
        AsyncBigReader::open(self.cache.clone(), key.as_ref().to_vec()).await
    }
}

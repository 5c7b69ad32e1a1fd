//! [`AsyncStore`]: any [`KvStore`]'s calls as `async fn`s, each run on a [`Pool`] thread.

use super::Pool;
use std::sync::Arc;

/// The owned byte chunks the streams exchange (re-exported from `bytes`).
use crate::durable::DurableKVCache;
use crate::error::Result;
use crate::store::KvStore;

/// The largest record [`AsyncStore::get`] reads in place, on the caller's task.
pub const INLINE_READ: usize = 64 << 10;

/// Any [`KvStore`] with `async` calls, run on a [`Pool`].
#[derive(Debug)]
pub struct AsyncStore<S: KvStore> {
    pub(super) store: Arc<S>,
    pub(super) pool: Pool,
}

impl<S: KvStore> Clone for AsyncStore<S> {
    fn clone(&self) -> Self {
        AsyncStore {
            store: self.store.clone(),
            pool: self.pool.clone(),
        }
    }
}

/// The embedded store, async.
pub type AsyncCache = AsyncStore<DurableKVCache>;

impl<S: KvStore + 'static> AsyncStore<S> {
    /// `store` on a default [`Pool`] of its own.
    pub fn new(store: S) -> Self {
        AsyncStore::with_pool(Arc::new(store), Pool::default())
    }

    /// A shared store on a given pool (share one pool between handles to share its bound).
    pub fn with_pool(store: Arc<S>, pool: Pool) -> Self {
        AsyncStore { store, pool }
    }

    /// The store, for calls that do not block (statistics, say).
    pub fn inner(&self) -> &Arc<S> {
        &self.store
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `call` on the store on the pool: any blocking call the async methods lack
    /// (`compact`, `recover`, …).
    pub async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&S) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        self.pool.run(move || call(&store)).await
    }

    /// [`KvStore::get`]. Over the embedded log a value of at most [`INLINE_READ`] bytes (or
    /// a miss) is read in place — from the page cache that is a `pread`, cheaper than the hop
    /// to a pool thread and back; larger values and remote stores go to the pool.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        if let Some(log) = self.store.embedded()
            && log
                .record_len(key)
                .is_none_or(|len| len as usize <= INLINE_READ)
        {
            return self.store.get(key);
        }
        let key = key.to_vec();
        self.run(move |s| s.get(&key)).await
    }

    /// [`KvStore::set`]: with `Durability::Sync`, answered once the value is on disk.
    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref().to_vec(), value.as_ref().to_vec());
        self.run(move |s| s.set(&key, &value)).await
    }

    /// [`KvStore::set_with_ttl`].
    pub async fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        let (key, value) = (key.as_ref().to_vec(), value.as_ref().to_vec());
        self.run(move |s| s.set_with_ttl(&key, &value, ttl)).await
    }

    /// [`KvStore::delete`].
    pub async fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref().to_vec();
        self.run(move |s| s.delete(&key)).await
    }

    /// [`KvStore::sync`].
    pub async fn sync(&self) -> Result<()> {
        self.run(|s| s.sync()).await
    }
}

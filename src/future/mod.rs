//! The async API for tokio programs (feature `tokio`): the same stores, their calls run on a
//! bounded pool of blocking threads so that a `Sync` put waiting for `fdatasync`, a network
//! call to a remote node or a large read never stalls the runtime's workers.
//!
//! - [`AsyncStore`] wraps any [`KvStore`] (and [`AsyncCache`] is it over the embedded
//!   [`DurableKVCache`]): `get`, `set`, `delete`, … as `async fn`s, and
//!   [`run`](AsyncStore::run) for any other call.
//! - [`AsyncBigCache`] wraps a [`BigCache`](crate::BigCache), with streams:
//!   [`AsyncBigWriter`] (`AsyncWrite`, then `commit`) and [`AsyncBigReader`] (`AsyncRead`),
//!   each holding about one block of memory whatever the object's size, with back-pressure.
//! - [`AsyncTiered`] reads through a [`Tiered`](crate::Tiered) with an `async` loader,
//!   single-flight: however many tasks miss on one key at once, one load runs.
//!
//! **The pool.** Every call but one runs on one of the [`Pool`]'s own threads (at most
//! [`DEFAULT_POOL_THREADS`] by default, started as needed). So a thousand concurrent `Sync`
//! puts use at most that many threads, queue without blocking a runtime worker, and still share
//! their `fdatasync`s (group commit batches the puts in flight). Handles made from one `Pool`
//! share its threads. Streams hold one of tokio's blocking threads for their lifetime instead
//! (not the pool's: a stream waits on its peer, not on the disk, and must not starve calls).
//! The exception is [`AsyncStore::get`] of a small value (at most [`INLINE_READ`] bytes) or a
//! miss over the embedded log: read in place, as a page-cache read costs less than the hop.
//!
//! **Cancellation.** Dropping a future never leaves a half-written value or object visible:
//! a call that has started runs to its end on its thread (a `set` is then stored whole, or not
//! at all if it fails), one that had not started does not run, and an [`AsyncBigWriter`] dropped before
//! [`commit`](AsyncBigWriter::commit) publishes nothing and deletes the blocks it wrote. A
//! dropped [`AsyncBigReader`] lets go of the version it pinned.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir().unwrap();
//! use logcache::future::{AsyncBigCache, AsyncCache};
//! use logcache::{BigCache, DurableKVCache};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // Small values: the embedded store, async.
//! let cache = AsyncCache::new(DurableKVCache::open(dir.path().join("kv.log"))?);
//! cache.set("user:1", "ada").await?;
//! assert_eq!(cache.get("user:1").await?.as_deref(), Some(&b"ada"[..]));
//!
//! // Objects of any size, streamed in and out.
//! let objects = AsyncBigCache::new(BigCache::new(DurableKVCache::open(dir.path().join("o.log"))?)?);
//! let mut w = objects.writer("video:1").await?;
//! w.write_all(&vec![7u8; 3 << 20]).await?;
//! w.commit().await?;
//! let mut r = objects.reader("video:1").await?.ok_or("the object was just written")?;
//! let mut back = Vec::new();
//! r.read_to_end(&mut back).await?;
//! assert_eq!(back.len(), 3 << 20);
//! # Ok(()) }
//! ```

mod big;
mod stream;
mod tiered;

use std::sync::Arc;

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use crate::sync::lock;

pub use big::AsyncBigCache;
/// The owned byte chunks the streams exchange (re-exported from `bytes`).
pub use bytes::Bytes;
pub use stream::{AsyncBigReader, AsyncBigWriter};
pub use tiered::AsyncTiered;

use crate::durable::DurableKVCache;
use crate::error::{Error, Result};
use crate::store::KvStore;

/// The largest record [`AsyncStore::get`] reads in place, on the caller's task.
pub const INLINE_READ: usize = 64 << 10;

/// Default bound of a [`Pool`]: blocking store calls in flight at once.
pub const DEFAULT_POOL_THREADS: usize = 64;

/// A call waiting for a thread.
type Job = Box<dyn FnOnce() + Send>;

/// A pool of at most `threads` threads of its own, started as calls need them. Written here
/// rather than taken from a crate: tokio's blocking pool is shared and grows to 512 threads,
/// and the well-kept thread-pool crates (rayon, threadpool) are for CPU work or unmaintained;
/// this is a queue, a counter and a condition on both, under 80 lines.
#[derive(Debug)]
struct Threads {
    queue: Mutex<Queue>,
    wake: Condvar,
    max: usize,
    name: String,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    started: usize,
    idle: usize,
    closed: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("jobs", &self.jobs.len())
            .field("started", &self.started)
            .finish()
    }
}

impl Threads {
    fn submit(self: &Arc<Self>, job: Job) -> Result<()> {
        let mut q = lock(&self.queue);
        q.jobs.push_back(job);
        if q.idle >= q.jobs.len() {
            self.wake.notify_one();
            return Ok(());
        }
        if q.started < self.max {
            q.started += 1;
            drop(q);
            let threads = self.clone();
            let spawned = std::thread::Builder::new()
                .name(self.name.clone())
                .spawn(move || threads.work());
            if let Err(e) = spawned {
                lock(&self.queue).started -= 1;
                return Err(worker("starting a pool thread", e));
            }
        }
        Ok(())
    }

    fn work(&self) {
        let mut q = lock(&self.queue);
        loop {
            if let Some(job) = q.jobs.pop_front() {
                drop(q);
                // A panicking call drops its answer channel (its caller gets an error); the
                // thread stays in the pool.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                q = lock(&self.queue);
                continue;
            }
            if q.closed {
                q.started -= 1;
                return;
            }
            q.idle += 1;
            q = self
                .wake
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            q.idle -= 1;
        }
    }
}

/// A bound on the blocking store calls in flight at once: at most that many threads of its
/// own, started as calls need them and stopped when the last clone is dropped. Cheap to clone
/// (clones share the threads). See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Pool {
    threads: Arc<Threads>,
    _closer: Arc<Closer>,
}

/// Closes the queue (the idle threads exit) when the last [`Pool`] clone is dropped.
#[derive(Debug)]
struct Closer(Arc<Threads>);

impl Drop for Closer {
    fn drop(&mut self) {
        lock(&self.0.queue).closed = true;
        self.0.wake.notify_all();
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(DEFAULT_POOL_THREADS)
    }
}

impl Pool {
    /// A pool of at most `threads` threads (at least 1), named `logcache-pool`.
    pub fn new(threads: usize) -> Pool {
        Pool::with_name(threads, "logcache-pool")
    }

    /// As [`new`](Self::new), its threads named `name` (as profilers and `top -H` show them).
    pub fn with_name(threads: usize, name: impl Into<String>) -> Pool {
        let threads = Arc::new(Threads {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            max: threads.max(1),
            name: name.into(),
        });
        Pool {
            _closer: Arc::new(Closer(threads.clone())),
            threads,
        }
    }

    /// The bound.
    pub fn threads(&self) -> usize {
        self.threads.max
    }

    /// Runs `work` on one of the pool's threads, waiting (without blocking the caller's
    /// thread) while all are busy. Once `work` has started it runs to its end even if this
    /// future is dropped; a call whose future is dropped before it starts does not run.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.threads.submit(Box::new(move || {
            if !tx.is_closed() {
                let _ = tx.send(work());
            }
        }))?;
        rx.await
            .map_err(|_| worker("a store call", "it panicked"))?
    }
}

/// [`Error::Worker`] for a blocking task that did not complete (it panicked, or the runtime
/// is shutting down).
pub(crate) fn worker(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Worker {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// Any [`KvStore`] with `async` calls, run on a [`Pool`].
#[derive(Debug)]
pub struct AsyncStore<S: KvStore> {
    store: Arc<S>,
    pool: Pool,
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

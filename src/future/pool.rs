//! [`Pool`]: the bounded pool of threads the async calls run on.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use crate::error::{Error, Result};
use crate::sync::lock;

/// Default bound of a [`Pool`]: blocking store calls in flight at once.
pub const DEFAULT_POOL_THREADS: usize = 64;

/// A call waiting for a thread.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// A pool of at most `threads` threads of its own, started as calls need them. Written here
/// rather than taken from a crate: tokio's blocking pool is shared and grows to 512 threads,
/// and the well-kept thread-pool crates (rayon, threadpool) are for CPU work or unmaintained;
/// this is a queue, a counter and a condition on both, under 80 lines.
#[derive(Debug)]
pub(super) struct Threads {
    pub(super) queue: Mutex<Queue>,
    pub(super) wake: Condvar,
    pub(super) max: usize,
    pub(super) name: String,
}

#[derive(Default)]
pub(super) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    pub(super) started: usize,
    pub(super) idle: usize,
    pub(super) closed: bool,
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
    pub(super) fn submit(self: &Arc<Self>, job: Job) -> Result<()> {
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

    pub(super) fn work(&self) {
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
/// (clones share the threads). See the [module documentation](crate::future).
#[derive(Debug, Clone)]
pub struct Pool {
    pub(super) threads: Arc<Threads>,
    pub(super) _closer: Arc<Closer>,
}

/// Closes the queue (the idle threads exit) when the last [`Pool`] clone is dropped.
#[derive(Debug)]
pub(super) struct Closer(Arc<Threads>);

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

//! The async API for tokio programs (feature `tokio`): the same stores, their calls run on a
//! bounded pool of blocking threads so that a `Sync` put waiting for `fdatasync`, a network
//! call to a remote node or a large read never stalls the runtime's workers.
//!
//! - [`AsyncStore`] wraps any [`KvStore`](crate::KvStore) (and [`AsyncCache`] is it over the embedded
//!   [`DurableKVCache`](crate::DurableKVCache)): `get`, `set`, `delete`, … as `async fn`s, and
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
mod pool;
mod store;
mod stream;
mod tiered;

pub use big::AsyncBigCache;
pub use bytes::Bytes;
use pool::worker;
pub use pool::{DEFAULT_POOL_THREADS, Pool};
pub use store::{AsyncCache, AsyncStore, INLINE_READ};
pub use stream::{AsyncBigReader, AsyncBigWriter};
pub use tiered::AsyncTiered;

//! logcache: an embedded, durable cache for values of any size.
//!
//! [`DurableKVCache`] keeps every write in one append-only log of tab-separated,
//! CRC32-checked, binary-safe records, and rebuilds an in-memory index by replaying the log on
//! open — or, after a clean close or a compaction, by reading the checksummed hint file beside
//! it and replaying only the records after it. A text value under a text key stays readable
//! with `less`.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("cache_data.log");
//! use logcache::DurableKVCache;
//! use std::time::Duration;
//!
//! let cache = DurableKVCache::open(&path)?;
//! cache.set("user:123", r#"{"name": "Alice", "role": "admin"}"#)?;
//! cache.set_with_ttl("session:9", "token", Duration::from_secs(60))?;
//! assert!(cache.delete("session:9")?);
//! drop(cache);
//!
//! let cache = DurableKVCache::open(&path)?; // reads the index back (hint file, then the log)
//! assert_eq!(
//!     cache.get("user:123")?.as_deref(),
//!     Some(&br#"{"name": "Alice", "role": "admin"}"#[..])
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every store type names its calls alike: `get`, `set`, `set_with_ttl`, `delete`. The
//! engine also answers to `put` and `put_with_ttl`, the verbs of the design it grew from.
//!
//! [`BigCache`] stores objects of any size over any [`KvStore`] (the embedded
//! `DurableKVCache` by default): blocks with a CRC32 each under a manifest written last, so
//! readers see the old object or the new one, and a missing or damaged block is a miss, never
//! wrong bytes. Streaming [`BigWriter`] and [`BigReader`] keep memory at about one block.
//!
//! [`StoreSpec`] names a store in one string — a path, `memcached://HOST:PORT[,…][?replicas=R]`
//! or `http://HOST:PORT[,…][?replicas=R]` — and opens it as an [`AnyStore`], one [`KvStore`]
//! whatever it is: what the CLI's `--store` and `logcache serve --store` take.
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use logcache::{BigCache, StoreSpec};
//!
//! let spec: StoreSpec = dir.path().join("objects.log").to_str().unwrap().parse()?;
//! let objects = BigCache::new(spec.open()?)?; // or memcached://…, http://…
//! objects.set("report.pdf", b"%PDF-1.7 ...")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `tokio` feature, `logcache::future` has the same stores for async programs: calls on a
//! bounded pool, objects streamed as `AsyncWrite` / `AsyncRead`.
//!
#![cfg_attr(
    feature = "tokio",
    doc = r##"
```
# #[tokio::main(flavor = "current_thread")]
# async fn main() -> Result<(), Box<dyn std::error::Error>> {
# let dir = tempfile::tempdir()?;
use logcache::future::{AsyncBigCache, AsyncCache};
use logcache::{BigCache, DurableKVCache};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

let cache = AsyncCache::new(DurableKVCache::open(dir.path().join("kv.log"))?);
cache.set("user:1", "ada").await?;
assert_eq!(cache.get("user:1").await?.as_deref(), Some(&b"ada"[..]));

let objects = AsyncBigCache::new(BigCache::new(DurableKVCache::open(dir.path().join("o.log"))?)?);
let mut w = objects.writer("film").await?;
w.write_all(&[1u8; 5 << 20]).await?; // streamed: memory stays at about one block
w.commit().await?;
let mut r = objects.reader("film").await?.ok_or("the object was just written")?;
let mut back = Vec::new();
r.read_to_end(&mut back).await?;
assert_eq!(back.len(), 5 << 20);
# Ok(()) }
```
"##
)]
//!
//! # Features
//!
//! None is needed for the library itself; each adds a front door or a test tool.
//!
//! - `cli` (default): the `logcache` command-line tool (clap, indicatif and anyhow are only its
//!   dependencies, never the library's).
//! - `tokio`: `future`, the async API (tokio).
//! - `server`: `logcache serve` and [`server`], an HTTP object server over a [`BigCache`]
//!   (axum, hyper, tokio; includes `tokio`).
//! - `http-store`: `HttpStore`, a [`KvStore`] on a remote `logcache serve` node, so a
//!   [`ShardedStore`] can ring them (ureq, without TLS).
//! - `sim`: [`sim`], a simulated file system for crash and fault-injection tests and fuzzing.
//!
//! `./scripts/test` builds the crate with no features and with each feature alone, so no
//! combination breaks unnoticed.
//!
//! # Guarantees
//!
//! - With [`Durability::Sync`] (the default), `put` and `delete` return only after the record
//!   is on stable storage, and an acknowledged write survives a crash at any instant with its
//!   exact bytes. Concurrent writers share one `fdatasync` (group commit).
//! - A write that was not acknowledged is, after a crash, either whole or absent.
//! - A torn tail (a crash mid-append) is cut back to the last intact record at open. A damaged
//!   record with intact records after it is handled by the [`RecoveryMode`]: skipped and
//!   counted ([`RecoveryMode::Salvage`], the default) or refused ([`RecoveryMode::Strict`]).
//! - Every read is checked against the record's CRC32: damaged bytes give an error, never a
//!   wrong value. No bytes in the file can make open panic or allocate more than a fixed window
//!   plus what the file actually holds.
//! - A failed write or fsync poisons the handle ([`Error::Poisoned`]); a failed fsync is never
//!   retried and then trusted.
//! - One handle at a time per log: a second open, in any process, gets [`Error::Locked`].
//!   [`DurableKVCache::close`] closes it and reports errors that dropping it would hide.
//! - Compaction rewrites the live records into a new file on a background thread once enough
//!   of the log is stale ([`DurableKVCacheBuilder::compaction_threshold`]); readers never wait
//!   for it, writers only for its final switch, and a crash at any of its steps leaves the old
//!   or the new log complete.
//!
//! # Limits and non-goals
//!
//! - Keys up to 64 KiB; values up to [`DEFAULT_MAX_VALUE_LEN`] (256 MiB) by default, at most
//!   about 4 GiB.
//! - The index holds every key in memory (a few dozen bytes plus the key per entry); values
//!   stay on disk.
//! - No transactions, no range scans in key order, no replication: a cache, not a database.
//! - Unix only (positional I/O and `flock`).
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod any_store;
mod big;
mod clock;
mod counters;
mod durable;
mod error;
pub mod fs;
#[cfg(feature = "tokio")]
pub mod future;
mod log;
mod memory;
mod options;
mod protocol;
mod remote;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
mod spec;
mod store;
mod sync;

pub use any_store::{AnyStore, StoreOptions};
pub use big::{
    Attributes, BigCache, BigCacheBuilder, BigReader, BigStats, BigWriter, Committed,
    DEFAULT_BLOCK_SIZE, DEFAULT_INLINE_MAX, DEFAULT_NAMESPACE, Digest, FullPolicy, MAX_ATTRIBUTES,
    ObjectProblem, Verification,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use durable::{
    Change, Current, DEFAULT_COMPACTION_DEAD_BYTES, DEFAULT_COMPACTION_DEAD_RATIO,
    DEFAULT_COMPACTION_THRESHOLD, DEFAULT_MAX_VALUE_LEN, DurableKVCache, DurableKVCacheBuilder,
    Evicted, Follower, RecoveryStats, Stats, Ticket,
};
pub use error::{Error, Result};
pub use log::reader::{LogItem, LogRecord, LogSummary, read_log};
pub use log::record::{MAX_KEY_LEN, MAX_VALUE_LEN_LIMIT};
pub use memory::policy::{EvictionPolicy, Lru, PolicyKind, S3Fifo};
pub use memory::{
    DEFAULT_SHARDS, ENTRY_OVERHEAD, Loader, MemoryCache, MemoryCacheBuilder, MemoryStats, Tiered,
    TieredBuilder, TieredStats, WritePolicy,
};
pub use options::{Durability, Eviction, RecoveryMode};
pub use remote::DEFAULT_NODE_TIMEOUT;
#[cfg(feature = "http-store")]
pub use remote::http::{HttpStore, HttpStoreBuilder, Listed, NodeStatsDoc, ObjectStream};
pub use remote::memcached::{
    MEMCACHED_MAX_KEY, MemcachedProtocol, MemcachedStore, MemcachedStoreBuilder,
};
pub use remote::ring::{
    DEFAULT_VNODES, NodeStats, ShardedStats, ShardedStore, ShardedStoreBuilder, ring_hash,
};
pub use spec::StoreSpec;
pub use store::{Copies, KvStore, Waits};

/// The README's examples, compiled as doctests so they cannot drift from the API (its async
/// example needs the `tokio` feature, as `./scripts/test` builds them).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

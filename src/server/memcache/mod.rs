//! A memcached front end on the durable store (feature `server`): memcached's text and meta
//! protocols, so every memcached client, in any language, gets a cache that survives
//! `kill -9` with everything it acknowledged. `logcache serve --memcached ADDR` runs it.
//!
//! Items live in the store under their own namespace (docs/MEMCACHED.md has the coverage and
//! the differences from memcached). The accept loop runs on the caller's tokio runtime (the
//! HTTP server's, under `logcache serve`) and hands each connection to one of the door's
//! event-loop threads, a single-threaded tokio runtime each, as memcached has a libevent loop
//! per worker: a connection's pipelined requests are read, answered and written back in
//! batches. Reads run in place on the loop — a value in the page cache costs a `pread`, not a
//! thread hop. With [`Durability::Sync`](crate::Durability::Sync) on the embedded log, writes
//! are appended in place too and their answers held until one fsync thread has made them
//! durable (group commit across all connections, see
//! [`DurableKVCache::set_deferred`](crate::DurableKVCache::set_deferred)); over a store whose
//! calls may wait otherwise, they run on a small pool of threads. So `STORED` means on disk,
//! and a hundred connections cost a handful of threads.
//!
//! ```no_run
//! use std::sync::Arc;
//! use logcache::DurableKVCache;
//! use logcache::server::memcache::{MemcacheConfig, MemcacheServer};
//!
//! let store = Arc::new(DurableKVCache::open("items.log")?);
//! let server = MemcacheServer::bind(MemcacheConfig::default(), store)?;
//! println!("memcached protocol on {}", server.local_addr());
//! server.run(); // until stop() is called from another thread
//! # Ok::<(), logcache::Error>(())
//! ```

mod conn;
mod door;
mod items;
mod meta;
mod stats;
mod syncer;
mod text;
mod workers;

pub use door::{MemcacheConfig, MemcacheServer, MemcacheStopper};
use door::{Shared, VERSION, log_store_error};
pub use items::MemcacheStats;

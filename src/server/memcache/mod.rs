//! A memcached front end on the durable store (feature `server`): memcached's text protocol,
//! so every memcached client, in any language, gets a cache that survives `kill -9` with
//! everything it acknowledged. `logcache serve --memcached ADDR` runs it.
//!
//! Items live in the store under their own namespace (docs/MEMCACHED.md has the coverage and
//! the differences from memcached). Each connection is a thread: the store is synchronous,
//! and a blocked write (a group fsync) holds only its own connection. With
//! [`Durability::Sync`](crate::Durability::Sync) on the store, `STORED` means on disk, and the
//! writes of all connections share fsyncs.
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
mod items;
mod meta;

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::store::KvStore;
use crate::sync::lock;
use items::Items;
pub use items::MemcacheStats;

/// What `version` answers.
const VERSION: &str = concat!("1.6.0-logcache-", env!("CARGO_PKG_VERSION"));

/// Configures a [`MemcacheServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemcacheConfig {
    /// Address to listen on (default `127.0.0.1:11211`). Anything but loopback must be asked
    /// for with [`allow_remote`](Self::allow_remote): memcached's protocol has no
    /// authentication.
    pub listen: SocketAddr,
    /// Accept clients from other machines (default false).
    pub allow_remote: bool,
    /// The largest value, in bytes (memcached's `-I`; default 1 MiB). Reported as
    /// `item_size_max` by `stats settings`.
    pub max_item_size: usize,
    /// Connections served at once (memcached's `-c`; default 1024). Further clients are
    /// closed at once.
    pub max_connections: usize,
    /// A connection without a request for this long is closed (default 300 s).
    pub idle_timeout: Duration,
    /// The store's byte budget, reported as `limit_maxbytes` (0: none).
    pub limit_maxbytes: u64,
}

impl Default for MemcacheConfig {
    fn default() -> Self {
        MemcacheConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 11211)),
            allow_remote: false,
            max_item_size: 1 << 20,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            limit_maxbytes: 0,
        }
    }
}

/// What every connection shares.
struct Shared<S: KvStore> {
    items: Items<S>,
    config: MemcacheConfig,
    stop: AtomicBool,
    started: Instant,
    clock: Arc<dyn Clock>,
    curr_connections: AtomicU64,
    total_connections: AtomicU64,
    rejected_connections: AtomicU64,
    /// Open connections, to shut down at stop.
    open: Mutex<HashMap<u64, TcpStream>>,
}

impl<S: KvStore> Shared<S> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// `flush_all <delay>`: every item there at that moment goes then.
    fn flush_later(self: &Arc<Self>, delay: Duration)
    where
        S: 'static,
    {
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            if let Err(e) = me.items.flush() {
                log::error!("memcached front end: a delayed flush_all failed: {e}");
            }
        });
    }

    /// `stats`, with memcached's names.
    fn stats(&self) -> Vec<(&'static str, String)> {
        let c = &self.items.counts;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let store: HashMap<&str, u64> = self.items.store.counters().into_iter().collect();
        let mut rows = vec![
            ("pid", std::process::id().to_string()),
            ("uptime", self.started.elapsed().as_secs().to_string()),
            ("time", (self.clock.now_millis() / 1000).to_string()),
            ("version", VERSION.to_string()),
            (
                "pointer_size",
                (8 * std::mem::size_of::<usize>()).to_string(),
            ),
            ("curr_connections", load(&self.curr_connections)),
            ("total_connections", load(&self.total_connections)),
            ("rejected_connections", load(&self.rejected_connections)),
        ];
        rows.extend(c.rows().into_iter().map(|(k, v)| (k, v.to_string())));
        rows.extend([
            ("limit_maxbytes", self.config.limit_maxbytes.to_string()),
            ("threads", "1".to_string()),
            (
                "bytes",
                store.get("live_bytes").copied().unwrap_or(0).to_string(),
            ),
            ("curr_items", self.items.count().to_string()),
            // Not memcached's: the store's fsyncs (group commit shares them among writers).
            (
                "logcache_syncs",
                store.get("syncs").copied().unwrap_or(0).to_string(),
            ),
            (
                "evictions",
                store.get("evictions").copied().unwrap_or(0).to_string(),
            ),
        ]);
        rows
    }

    /// `stats settings`: what a client sizes itself by.
    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("maxbytes", self.config.limit_maxbytes.to_string()),
            ("maxconns", self.config.max_connections.to_string()),
            ("tcpport", self.config.listen.port().to_string()),
            ("item_size_max", self.config.max_item_size.to_string()),
            ("cas_enabled", "yes".to_string()),
            (
                "idle_timeout",
                self.config.idle_timeout.as_secs().to_string(),
            ),
            ("binding_protocol", "ascii".to_string()),
        ]
    }
}

/// A memcached-protocol server over a store; see the [module docs](self).
pub struct MemcacheServer<S: KvStore + 'static> {
    listener: TcpListener,
    shared: Arc<Shared<S>>,
}

impl<S: KvStore + 'static> std::fmt::Debug for MemcacheServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcacheServer")
            .field("listen", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Stops a running [`MemcacheServer`] from another thread.
#[derive(Clone)]
pub struct MemcacheStopper<S: KvStore + 'static> {
    shared: Arc<Shared<S>>,
    addr: SocketAddr,
}

impl<S: KvStore + 'static> std::fmt::Debug for MemcacheStopper<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcacheStopper").finish_non_exhaustive()
    }
}

impl<S: KvStore + 'static> MemcacheStopper<S> {
    /// Stops accepting, closes every connection; [`MemcacheServer::run`] then returns.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in lock(&self.shared.open).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

impl<S: KvStore + 'static> MemcacheServer<S> {
    /// Binds the listener. A non-loopback address without `allow_remote` is refused.
    pub fn bind(config: MemcacheConfig, store: S) -> Result<Self> {
        if !config.listen.ip().is_loopback() && !config.allow_remote {
            return Err(Error::InvalidArgument(format!(
                "{}: memcached's protocol has no authentication; listen on a loopback address, \
                 or allow other machines explicitly (--memcached-remote)",
                config.listen
            )));
        }
        if config.max_item_size == 0 || config.max_item_size as u64 > store.max_value_len() {
            return Err(Error::InvalidArgument(format!(
                "an item size of {} bytes is not in 1..={} (the store's largest value)",
                config.max_item_size,
                store.max_value_len()
            )));
        }
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| Error::system(format!("binding {}", config.listen), e))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let items = Items::new(store, config.max_item_size, Arc::clone(&clock))?;
        Ok(MemcacheServer {
            listener,
            shared: Arc::new(Shared {
                items,
                config,
                stop: AtomicBool::new(false),
                started: Instant::now(),
                clock,
                curr_connections: AtomicU64::new(0),
                total_connections: AtomicU64::new(0),
                rejected_connections: AtomicU64::new(0),
                open: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config.listen)
    }

    /// What it has counted so far.
    pub fn stats(&self) -> MemcacheStats {
        let mut stats = MemcacheStats::default();
        self.shared.items.counts.fill(&mut stats);
        stats
    }

    /// A handle that stops the server from another thread.
    pub fn stopper(&self) -> MemcacheStopper<S> {
        MemcacheStopper {
            shared: Arc::clone(&self.shared),
            addr: self.local_addr(),
        }
    }

    /// Accepts and serves connections (a thread each) until stopped; returns once every
    /// connection has ended.
    pub fn run(self) {
        let mut threads = Vec::new();
        let mut next_id = 0u64;
        for stream in self.listener.incoming() {
            if self.shared.stopping() {
                break;
            }
            let Ok(stream) = stream else { continue };
            threads.retain(|t: &std::thread::JoinHandle<()>| !t.is_finished());
            let shared = &self.shared;
            if shared.curr_connections.load(Ordering::Relaxed) as usize
                >= shared.config.max_connections
            {
                shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
                let mut s = stream;
                let _ = std::io::Write::write_all(
                    &mut s,
                    b"SERVER_ERROR too many open connections\r\n",
                );
                continue;
            }
            next_id += 1;
            let id = next_id;
            if let Ok(clone) = stream.try_clone() {
                lock(&shared.open).insert(id, clone);
            }
            shared.curr_connections.fetch_add(1, Ordering::Relaxed);
            shared.total_connections.fetch_add(1, Ordering::Relaxed);
            let shared = Arc::clone(shared);
            let spawned = std::thread::Builder::new()
                .name("logcache-memcached".into())
                .spawn(move || {
                    if let Err(e) = conn::serve(stream, &shared) {
                        log::debug!("memcached connection ended: {e}");
                    }
                    lock(&shared.open).remove(&id);
                    shared.curr_connections.fetch_sub(1, Ordering::Relaxed);
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    log::error!("memcached front end: cannot start a connection thread: {e}");
                    lock(&self.shared.open).remove(&id);
                    self.shared.curr_connections.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

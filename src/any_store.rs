//! [`AnyStore`]: the store a [`StoreSpec`] names, opened — the embedded log, one memcached
//! server or a ring of them, one `logcache serve` node or a ring of them — as one
//! [`KvStore`], so that one `BigCache<AnyStore>` serves every front door.

use std::time::Duration;

use crate::durable::DurableKVCache;
use crate::error::{Error, Result};
use crate::options::Durability;
use crate::remote::memcached::MemcachedStore;
use crate::remote::ring::{ShardedStats, ShardedStore};
use crate::spec::StoreSpec;
use crate::store::KvStore;

#[cfg(feature = "http-store")]
use crate::remote::http::HttpStore;

/// How [`StoreSpec::open_with`] opens a store.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Durability of the embedded log (default [`Durability::Sync`]). Callers that sync
    /// before they acknowledge, as the CLI and the server do, choose [`Durability::None`].
    pub durability: Durability,
    /// The bearer token of `logcache serve` nodes (`http://` stores).
    pub token: Option<String>,
    /// A byte budget for the embedded log ([`max_bytes`](crate::DurableKVCacheBuilder::max_bytes)).
    pub max_bytes: Option<u64>,
}

impl StoreOptions {
    /// The embedded log's durability.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// The token `http://` nodes require.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// A byte budget for the embedded log (`None`: none).
    pub fn max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_bytes = bytes;
        self
    }
}

/// A store named by a [`StoreSpec`], opened; a [`KvStore`] whatever it is.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// The embedded log.
    Embedded(DurableKVCache),
    /// One memcached server.
    Memcached(MemcachedStore),
    /// A ring of memcached servers.
    MemcachedRing(ShardedStore<MemcachedStore>),
    /// One `logcache serve` node.
    #[cfg(feature = "http-store")]
    Http(HttpStore),
    /// A ring of `logcache serve` nodes.
    #[cfg(feature = "http-store")]
    HttpRing(ShardedStore<HttpStore>),
}

impl StoreSpec {
    /// Opens the store with default [`StoreOptions`].
    pub fn open(&self) -> Result<AnyStore> {
        self.open_with(&StoreOptions::default())
    }

    /// Opens the store: the embedded log, or connections to the servers. A ring starts while
    /// some of its servers are down, as long as one answers (the others are tried again on
    /// use, after their backoff); a single server, or a ring none of whose servers answers,
    /// is an error naming them.
    pub fn open_with(&self, o: &StoreOptions) -> Result<AnyStore> {
        match self {
            StoreSpec::Path(path) => {
                let mut b = DurableKVCache::builder(path).durability(o.durability);
                if let Some(max) = o.max_bytes {
                    b = b.max_bytes(max);
                }
                Ok(AnyStore::Embedded(b.open()?))
            }
            StoreSpec::Memcached {
                nodes,
                replicas,
                timeout,
            } => {
                let deadline = timeout.unwrap_or(crate::DEFAULT_NODE_TIMEOUT);
                let builder = |n: &str| {
                    MemcachedStore::builder(n)
                        .io_timeout(deadline)
                        .connect_timeout(deadline.min(Duration::from_secs(1)))
                };
                if let [one] = nodes.as_slice() {
                    return Ok(AnyStore::Memcached(builder(one).connect()?));
                }
                let stores = connect_all(
                    nodes,
                    |n| builder(n).connect(),
                    |n, s: &MemcachedStore| builder(n).item_size_max(s.item_size_max()).connect(),
                )?;
                Ok(AnyStore::MemcachedRing(ShardedStore::new(
                    stores, *replicas,
                )?))
            }
            #[cfg(feature = "http-store")]
            StoreSpec::Http {
                nodes,
                replicas,
                timeout,
            } => {
                let builder = |n: &str| {
                    let b = HttpStore::builder(format!("http://{n}"))
                        .timeout(timeout.unwrap_or(crate::DEFAULT_NODE_TIMEOUT));
                    match &o.token {
                        Some(t) => b.token(t.clone()),
                        None => b,
                    }
                };
                if let [one] = nodes.as_slice() {
                    return Ok(AnyStore::Http(builder(one).connect()?));
                }
                let stores = connect_all(
                    nodes,
                    |n| builder(n).connect(),
                    |n, s: &HttpStore| builder(n).max_value_len(s.max_value_len()).connect(),
                )?;
                Ok(AnyStore::HttpRing(ShardedStore::new(stores, *replicas)?))
            }
            #[cfg(not(feature = "http-store"))]
            StoreSpec::Http { .. } => Err(Error::InvalidArgument(format!(
                "store `{self}`: this build has no HTTP client; rebuild logcache with the \
                 `http-store` feature"
            ))),
        }
    }
}

/// Connects to every node; nodes that do not answer are added with the limit another node
/// reported (declared, so that they need not answer now). Fails when none answers.
fn connect_all<S>(
    nodes: &[String],
    connect: impl Fn(&str) -> Result<S>,
    declared: impl Fn(&str, &S) -> Result<S>,
) -> Result<Vec<(String, S)>> {
    let tried: Vec<(String, Result<S>)> = nodes
        .iter()
        .map(|n| (n.clone(), connect(n.as_str())))
        .collect();
    let Some(template) = tried.iter().find_map(|(_, r)| r.as_ref().ok()) else {
        let why: Vec<String> = tried
            .iter()
            .filter_map(|(n, r)| {
                r.as_ref()
                    .err()
                    .map(|e| format!("{n}: {}", e.reason_for_node()))
            })
            .collect();
        // A remote failure, not a bad argument: the caller may retry when a server is back.
        return Err(Error::remote(
            &nodes.join(", "),
            format_args!("no server of the ring answers ({})", why.join("; ")),
        ));
    };
    let mut out = Vec::with_capacity(nodes.len());
    let mut late = Vec::new();
    for (name, result) in &tried {
        match result {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("{name} does not answer ({e}); it joins the ring and is retried");
                late.push((name.clone(), declared(name, template)?));
            }
        }
    }
    for (name, result) in tried {
        if let Ok(store) = result {
            out.push((name, store));
        }
    }
    out.extend(late);
    Ok(out)
}

impl AnyStore {
    /// The embedded log, when this is it.
    pub fn embedded(&self) -> Option<&DurableKVCache> {
        match self {
            AnyStore::Embedded(s) => Some(s),
            _ => None,
        }
    }

    /// Counters of the ring and of each node, when this is a ring.
    pub fn ring_stats(&self) -> Option<ShardedStats> {
        match self {
            AnyStore::MemcachedRing(r) => Some(r.stats()),
            #[cfg(feature = "http-store")]
            AnyStore::HttpRing(r) => Some(r.stats()),
            _ => None,
        }
    }
}

/// Calls `$method` on whichever store `$self` is.
macro_rules! dispatch {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Embedded($s) => $call,
            AnyStore::Memcached($s) => $call,
            AnyStore::MemcachedRing($s) => $call,
            #[cfg(feature = "http-store")]
            AnyStore::Http($s) => $call,
            #[cfg(feature = "http-store")]
            AnyStore::HttpRing($s) => $call,
        }
    };
}

impl KvStore for AnyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        dispatch!(self, s => s.get(key))
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        dispatch!(self, s => s.set(key, value))
    }
    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        dispatch!(self, s => s.set_with_ttl(key, value, ttl))
    }
    fn delete(&self, key: &[u8]) -> Result<bool> {
        dispatch!(self, s => s.delete(key))
    }
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        dispatch!(self, s => s.get_with_expiry(key))
    }
    fn get_into_with_expiry(&self, key: &[u8], buf: &mut Vec<u8>) -> Result<Option<u64>> {
        dispatch!(self, s => s.get_into_with_expiry(key, buf))
    }
    fn replicas(&self) -> usize {
        dispatch!(self, s => s.replicas())
    }
    fn watch_evictions(&self, prefix: &[u8]) -> bool {
        dispatch!(self, s => s.watch_evictions(prefix))
    }
    fn take_evicted(&self) -> Option<crate::durable::Evicted> {
        dispatch!(self, s => s.take_evicted())
    }
    fn get_copies(&self, key: &[u8]) -> Result<Option<crate::store::Copies>> {
        dispatch!(self, s => s.get_copies(key))
    }
    fn set_copies(&self, key: &[u8], value: &[u8], expiry: u64, positions: &[usize]) -> Result<()> {
        dispatch!(self, s => s.set_copies(key, value, expiry, positions))
    }
    fn max_value_len(&self) -> u64 {
        dispatch!(self, s => s.max_value_len())
    }
    fn max_key_len(&self) -> usize {
        dispatch!(self, s => s.max_key_len())
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        dispatch!(self, s => s.keys_with_prefix(prefix))
    }
    fn sync(&self) -> Result<()> {
        dispatch!(self, s => s.sync())
    }
    fn counters(&self) -> Vec<(&'static str, u64)> {
        dispatch!(self, s => s.counters())
    }
    fn failure(&self) -> Option<String> {
        dispatch!(self, s => s.failure())
    }
    fn probe(&self) -> Result<()> {
        dispatch!(self, s => s.probe())
    }
    fn recover(&self) -> Result<bool> {
        dispatch!(self, s => s.recover())
    }
    fn waits(&self) -> crate::store::Waits {
        dispatch!(self, s => s.waits())
    }
    fn embedded(&self) -> Option<&DurableKVCache> {
        match self {
            AnyStore::Embedded(log) => Some(log),
            _ => None,
        }
    }
}

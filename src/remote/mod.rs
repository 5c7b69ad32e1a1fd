//! The network side: stores on other machines, and the ring that spreads keys over them.
//!
//! - [`memcached`]: [`MemcachedStore`](crate::MemcachedStore), a `KvStore` on one memcached
//!   server (meta protocol), with its connection pool and key encoding.
//! - [`http`] (feature `http-store`): [`HttpStore`](crate::HttpStore), a `KvStore` on a
//!   `logcache serve` node.
//! - [`ring`]: [`ShardedStore`](crate::ShardedStore), a consistent-hash ring with replicas and
//!   failover over any of them.

#[cfg(feature = "http-store")]
pub(crate) mod http;
pub(crate) mod memcached;
pub(crate) mod ring;

/// The reason a call to a node that ran out of its deadline fails with.
pub(crate) fn timed_out(deadline: std::time::Duration) -> String {
    format!("it did not answer within {deadline:?} (timed out): it may be hung or overloaded")
}

/// A remote node's deadline unless configured otherwise (`?timeout=` in a
/// [`StoreSpec`](crate::StoreSpec), `HttpStoreBuilder::timeout`,
/// [`MemcachedStoreBuilder::io_timeout`](crate::MemcachedStoreBuilder::io_timeout)): 2 s. A
/// hung node costs a call at most this; shorter than every timeout of the server's own doors.
pub const DEFAULT_NODE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

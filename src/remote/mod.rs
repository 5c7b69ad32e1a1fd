//! The network side: stores on other machines, and the ring that spreads keys over them.
//!
//! - [`memcached`]: [`MemcachedStore`](crate::MemcachedStore), a `KvStore` on one memcached
//!   server (meta protocol), with its connection pool and key encoding.
//! - [`http`] (feature `http-store`, and the wire format the `server` shares):
//!   [`HttpStore`](crate::HttpStore), a `KvStore` on a `logcache serve` node.
//! - [`ring`]: [`ShardedStore`](crate::ShardedStore), a consistent-hash ring with replicas and
//!   failover over any of them.

#[cfg(any(feature = "server", feature = "http-store"))]
pub(crate) mod http;
pub(crate) mod memcached;
pub(crate) mod ring;

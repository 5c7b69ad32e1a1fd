//! [`MemcachedStore`]: a `KvStore` on one memcached server.

mod keys;
mod pool;
mod store;
mod text;

use store::{MAX_BINARY_KEY, MAX_LINE, RELATIVE_TTL_MAX};
pub use store::{MEMCACHED_MAX_KEY, MemcachedProtocol, MemcachedStore, MemcachedStoreBuilder};

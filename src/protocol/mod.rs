//! Wire protocols, written once for both ends: the rules a client and a server of the same
//! protocol must agree on live here, and both sides import them.
//!
//! - [`memcache`]: memcached's text and meta protocol — key limits, the exptime rule, number
//!   parsing as memcached parses numbers, base64 keys, request lines (the memcached door and
//!   [`MemcachedStore`](crate::MemcachedStore)).
//! - [`http`]: the object API's formats — header names, the listing and stats documents, keys
//!   in URLs (the HTTP door and `HttpStore`).

#[cfg(any(feature = "server", feature = "http-store"))]
pub(crate) mod http;

#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) mod memcache;

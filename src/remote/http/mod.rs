//! HTTP: [`HttpStore`](crate::HttpStore), a `KvStore` on a `logcache serve` node (feature
//! `http-store`). The API's formats it shares with the server are
//! [`protocol::http`](crate::protocol::http).

#[cfg(feature = "http-store")]
mod objects;
#[cfg(feature = "http-store")]
mod store;

#[cfg(feature = "http-store")]
pub use objects::{Listed, NodeStatsDoc, ObjectStream};
#[cfg(feature = "http-store")]
pub use store::{HttpStore, HttpStoreBuilder};

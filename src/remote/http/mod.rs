//! HTTP: [`HttpStore`](crate::HttpStore), a `KvStore` on a `logcache serve` node (feature
//! `http-store`), and [`wire`], the API's formats that the server and the client share.

#[cfg(feature = "http-store")]
mod objects;
#[cfg(feature = "http-store")]
mod store;
pub(crate) mod wire;

#[cfg(feature = "http-store")]
pub use objects::{Listed, NodeStatsDoc, ObjectStream};
#[cfg(feature = "http-store")]
pub use store::{HttpStore, HttpStoreBuilder};

//! `logcache serve`: an HTTP object server over a [`BigCache`] (feature `server`).
//!
//! | request | answer |
//! |---|---|
//! | `PUT /v1/objects/<key>` | body streamed into the cache; `200` + `ETag` once durable; `Content-Type` and `x-logcache-meta-*` kept with it |
//! | `GET /v1/objects/<key>` | body streamed out, `Content-Length`, `Content-Type`, `ETag`; `206` for a `Range`; `404` |
//! | `HEAD /v1/objects/<key>` | the same headers, no body |
//! | `DELETE /v1/objects/<key>` | `204`, or `404` when absent |
//! | `GET /v1/objects?prefix=&after=&limit=` | keys and sizes, JSON |
//! | `GET /v1/stats` | counters, JSON |
//! | `GET /metrics` | counters, Prometheus text format |
//! | `GET /healthz` | `200 ok`; `503` with the reason while the store refuses writes or no node of a ring answers |
//!
//! `If-Match` / `If-None-Match` work on the four object requests (`304` / `412`); for PUT and
//! DELETE they are checked at the commit point, so `If-None-Match: *` is an atomic
//! create-only write.
//!
//! Keys are the percent-decoded bytes after `/v1/objects/`: never file paths, never
//! normalised (`a/b/c`, `../x`, `%2e%2e%2f` are keys). `x-logcache-ttl: <seconds>` on a PUT
//! gives the object a TTL; GET and HEAD then report `x-logcache-expires-at: <Unix ms>`.
//!
//! Safe by default: it listens on 127.0.0.1; a listen address that is not loopback is refused
//! unless a bearer token is configured, and with a token every request must carry
//! `Authorization: Bearer <token>` (compared in constant time) or get `401`. An object over
//! [`ServerConfig::max_object_size`] is answered `413` before its body is read. Timeouts bound
//! the request head, each wait for body bytes, and idle connections; the number of open
//! connections is capped (further clients wait in the listen backlog).
//!
//! The store is synchronous, so the routes use the library's async API ([`crate::future`]):
//! store calls run on its pool, objects stream through its readers and writers, and bytes
//! cross between the two through small bounded channels, so memory per request stays at about
//! one block whatever the object's size.
//!
//! ```no_run
//! # async fn run() -> logcache::Result<()> {
//! use std::sync::Arc;
//! use logcache::server::{Server, ServerConfig, shutdown_signal};
//! use logcache::{BigCache, Durability, DurableKVCache};
//!
//! let store = DurableKVCache::builder("objects.log").durability(Durability::None).open()?;
//! let cache = Arc::new(BigCache::new(store)?);
//! let server = Server::bind(ServerConfig::default(), cache).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(shutdown_signal()?).await?;
//! # Ok(()) }
//! ```

pub(crate) mod access;
pub(crate) mod app;
mod auth;
mod conditions;
mod config;
pub(crate) mod drain;
mod figures;
pub(crate) mod health;
pub(crate) mod io;
mod list;
mod metrics;
mod objects;
mod prometheus;
pub(crate) mod range;
mod requests;
pub(crate) mod response;
mod routes;
pub(crate) mod server;

pub use crate::protocol::http::{EXPIRES_AT_HEADER, META_PREFIX, TTL_HEADER};
pub use access::ACCESS_TARGET;
pub use config::ServerConfig;
pub use server::{Server, router};

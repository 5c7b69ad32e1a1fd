//! The front doors, side by side over one store (feature `server`): the HTTP object API
//! ([`http`](self#the-http-door), `logcache serve`) and the memcached protocol
//! ([`memcache`], `logcache serve --memcached`) and S3's ([`S3Server`], `logcache serve
//! --s3`, docs/S3.md). What each door shares with its client — the
//! object API's formats, memcached's protocol rules — is in the crate's protocol layer, written
//! once for both ends. Every door stops on [`shutdown_signal`].
//!
//! # The HTTP door
//!
//! See [`Server`] and [`router`]; the routes and their answers are in docs/SERVER.md.

mod http;
pub mod memcache;
mod s3;
mod signal;

pub use http::{
    ACCESS_TARGET, EXPIRES_AT_HEADER, META_PREFIX, Server, ServerConfig, TTL_HEADER, router,
};
pub use s3::{S3Config, S3Server};
pub use signal::shutdown_signal;

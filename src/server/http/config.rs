//! [`ServerConfig`]: the HTTP door's settings and their checks.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result};

/// How a [`Server`](crate::server::Server) listens and what it accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on; default `127.0.0.1:8080`. Port 0 picks a free port
    /// ([`Server::local_addr`](crate::server::Server::local_addr) tells which).
    pub listen: SocketAddr,
    /// The bearer token every request must carry. Required when `listen` is not a loopback
    /// address.
    pub token: Option<String>,
    /// The largest object a PUT may store, in bytes; default 1 GiB. Larger ones get `413`.
    pub max_object_size: u64,
    /// Time allowed for a connection's first request head to arrive in full; default 10 s.
    pub header_timeout: Duration,
    /// The longest wait for the next bytes of a request body before the upload is abandoned
    /// with `408` (nothing is stored); default 30 s.
    pub body_timeout: Duration,
    /// A connection on which no bytes move either way for this long is closed, whatever it
    /// is doing (a keep-alive connection between requests, a client that stopped reading a
    /// response); default 60 s.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog. Default 256.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests get to finish; default 30 s.
    pub shutdown_grace: Duration,
    /// While the store refuses writes after a failed write (a full disk), how often the
    /// server tries to recover it in place; default 5 s. It also tries at every PUT and
    /// DELETE.
    pub recovery_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            max_object_size: 1 << 30,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(30),
            recovery_interval: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Checks the settings: a non-loopback address needs a token; a token must be non-empty
    /// printable ASCII without spaces; timeouts and the connection limit must be non-zero.
    pub fn validate(&self) -> Result<()> {
        if self.token.is_none() && !self.listen.ip().is_loopback() {
            return Err(Error::InvalidArgument(format!(
                "refusing to listen on {} without a token: anyone who can reach it could \
                 read and write every object; set a token (--token-file or LOGCACHE_TOKEN) \
                 or listen on 127.0.0.1",
                self.listen
            )));
        }
        self.validate_requests()
    }

    /// The checks that matter to the routes alone ([`router`]): the token's form, non-zero
    /// timeouts and limits. `listen` is not looked at.
    pub(super) fn validate_requests(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument(msg));
        if let Some(t) = &self.token
            && (t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return bad("the token must be non-empty printable ASCII without spaces".into());
        }
        if self.header_timeout.is_zero()
            || self.body_timeout.is_zero()
            || self.idle_timeout.is_zero()
            || self.recovery_interval.is_zero()
        {
            return bad("timeouts must be greater than zero".into());
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1".into());
        }
        Ok(())
    }
}

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

mod access;
mod auth;
mod conditions;
mod health;
mod io;
mod list;
pub mod memcache;
mod metrics;
mod objects;
mod prometheus;
mod range;
mod response;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use crate::protocol::http::{EXPIRES_AT_HEADER, META_PREFIX, TTL_HEADER};
pub use access::ACCESS_TARGET;

use crate::big::BigCache;
use crate::error::{Error, Result};
use crate::store::KvStore;
use io::{Activity, Tracked};
use metrics::add;
use routes::App;

/// How a [`Server`] listens and what it accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on; default `127.0.0.1:8080`. Port 0 picks a free port
    /// ([`Server::local_addr`] tells which).
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
    fn validate_requests(&self) -> Result<()> {
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

/// The object API as an [`axum::Router`], to nest in a program's own axum application:
/// every route of the table above, with `config`'s token, size limit and body timeout.
/// `config.listen`, the connection limit, the header and idle timeouts and the shutdown grace
/// are the application's business (they belong to its listener), and so is recovery from a
/// failed write between requests: the routes recover the store at the next PUT or DELETE,
/// and [`Server`] adds a watchdog that tries every
/// [`recovery_interval`](ServerConfig::recovery_interval). Paths are relative to where the
/// router is nested: under `/cache`, objects are `/cache/v1/objects/<key>`.
///
/// ```no_run
/// # async fn run() -> logcache::Result<()> {
/// use std::sync::Arc;
/// use logcache::server::{ServerConfig, router};
/// use logcache::{BigCache, DurableKVCache};
///
/// let cache = Arc::new(BigCache::new(DurableKVCache::open("objects.log")?)?);
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "my application" }))
///     .nest("/cache", router(cache, &ServerConfig::default())?);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # Ok(()) }
/// ```
pub fn router<S: KvStore + 'static>(
    cache: Arc<BigCache<S>>,
    config: &ServerConfig,
) -> Result<axum::Router> {
    config.validate_requests()?;
    Ok(routes::router(Arc::new(App::new(cache, config.clone()))))
}

/// A bound HTTP object server; [`run`](Self::run) serves until a shutdown future completes.
pub struct Server<S: KvStore + 'static> {
    listener: TcpListener,
    app: Arc<App<S>>,
}

impl<S: KvStore + 'static> std::fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl<S: KvStore + 'static> Server<S> {
    /// Validates `config` and binds its address (within a tokio runtime).
    pub async fn bind(config: ServerConfig, cache: Arc<BigCache<S>>) -> Result<Self> {
        config.validate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::system(format_args!("listening on {}", config.listen), e))?;
        Ok(Server {
            listener,
            app: Arc::new(App::new(cache, config)),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.app.config.listen)
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (up to [`ServerConfig::shutdown_grace`]) and syncs the store.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let config = self.app.config.clone();
        let service = TowerToHyperService::new(routes::router(self.app.clone()));
        let limit = Arc::new(Semaphore::new(config.max_connections));
        let graceful = GracefulShutdown::new();
        let counters = self.app.counters.clone();
        let watchdog = tokio::spawn(health::watchdog(
            self.app.objects.clone(),
            config.recovery_interval,
        ));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = limit.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, _peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            add(&counters.connections_accepted, 1);
            add(&counters.connections_open, 1);
            let activity = Activity::new();
            let io = TokioIo::new(Tracked::new(stream, activity.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_timeout)
                .serve_connection(io, service.clone());
            let conn = graceful.watch(conn);
            let idle = config.idle_timeout;
            let counters = counters.clone();
            tokio::spawn(async move {
                tokio::select! {
                    result = conn => {
                        if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        }
                    }
                    () = idle_expired(&activity, idle) => {
                        add(&counters.connections_idle_closed, 1);
                    }
                }
                counters.connections_open.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
        drop(self.listener);
        watchdog.abort();
        if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight requests still running after {:?}; closing them",
                config.shutdown_grace
            );
        }
        let cache = self.app.cache.clone();
        tokio::task::spawn_blocking(move || {
            // A store still refusing writes after a failure gets a last chance to recover,
            // so that what it holds is synced and a clean restart follows.
            if cache.failure().is_some() {
                let _ = cache.recover();
            }
            cache.store().sync()
        })
        .await
        .map_err(|e| Error::Worker {
            what: "the final sync".into(),
            reason: e.to_string(),
        })?
    }
}

/// Completes once no bytes have moved on the connection for `idle`.
async fn idle_expired(activity: &Activity, idle: Duration) {
    loop {
        let deadline = activity.last() + idle;
        if tokio::time::Instant::now().into_std() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// The shutdown future for [`Server::run`]: completes on SIGINT (Ctrl-C) or SIGTERM. The
/// handlers are installed when this is called (inside a tokio runtime), so a signal that
/// arrives before the server first polls the future is not lost.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind| signal(kind).map_err(|e| Error::system("installing a signal handler", e));
    let mut int = install(SignalKind::interrupt())?;
    let mut term = install(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DurableKVCache;

    #[test]
    fn the_router_checks_the_token_but_not_the_listen_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = DurableKVCache::open(dir.path().join("s.log")).unwrap();
        let cache = Arc::new(BigCache::new(store).unwrap());
        let mut config = ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            ..ServerConfig::default()
        };
        assert!(
            config.validate().is_err(),
            "a public address without a token"
        );
        assert!(
            router(cache.clone(), &config).is_ok(),
            "the router has no listener"
        );
        config.token = Some("two words".into());
        let err = router(cache, &config).unwrap_err();
        assert!(err.to_string().contains("printable ASCII"), "{err}");
    }
}

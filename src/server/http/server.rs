//! [`Server`]: the HTTP door bound to its listener — the accept loop, the connection cap and
//! idle timeout, graceful shutdown — and [`router`], the same routes for an application to
//! nest.

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

use super::ServerConfig;
use super::app::App;
use super::health;
use super::io::{Activity, Tracked};
use super::metrics::add;
use super::routes;
use crate::big::BigCache;
use crate::error::{Error, Result};
use crate::store::KvStore;

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
        let router = routes::router(self.app.clone());
        serve(self.listener, router, self.app, shutdown).await
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (up to the config's shutdown grace) and syncs the store: the
/// connection handling every door on HTTP shares (the object API, the S3 door).
pub(crate) async fn serve<S: KvStore + 'static>(
    listener: TcpListener,
    router: axum::Router,
    app: Arc<App<S>>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let config = app.config.clone();
    let service = TowerToHyperService::new(router);
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let counters = app.counters.clone();
    let watchdog = tokio::spawn(health::watchdog(
        app.objects.clone(),
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
            accepted = listener.accept() => match accepted {
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
    drop(listener);
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
    let cache = app.cache.clone();
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

//! The routes, and the layer every request passes: counting, the token check, and transfer
//! codings the server cannot decode.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;

use super::ServerConfig;
use super::access::Started;
use super::auth;
use super::health::healthz;
use super::list::list_objects;
use super::metrics::{Counters, add, stats};
use super::objects::{REFUSED, delete_object, drain_later, get_object, head_object, put_object};
use super::prometheus::{RequestMetrics, prometheus};
use super::response::text;
use crate::big::BigCache;
use crate::future::{AsyncBigCache, Pool};
use crate::store::KvStore;

/// Store calls (syncs, deletes, listings, probes) in flight at once; streams are apart.
const POOL_THREADS: usize = 64;

/// Shared by every handler.
pub(crate) struct App<S: KvStore> {
    pub(crate) cache: Arc<BigCache<S>>,
    /// The same cache for async code: every store call and stream of the routes goes
    /// through it (one async path, the library's).
    pub(crate) objects: AsyncBigCache<S>,
    pub(crate) config: ServerConfig,
    pub(crate) counters: Arc<Counters>,
    /// Requests by route, method and status, and their latencies.
    pub(crate) requests: Arc<RequestMetrics>,
    /// What `/metrics` renders.
    pub(crate) registry: prometheus_client::registry::Registry,
}

impl<S: KvStore + 'static> App<S> {
    pub(crate) fn new(cache: Arc<BigCache<S>>, config: ServerConfig) -> Self {
        let counters = Counters::default();
        counters
            .max_object_size
            .store(config.max_object_size, std::sync::atomic::Ordering::Relaxed);
        let counters = Arc::new(counters);
        let requests = Arc::new(RequestMetrics::default());
        let registry = super::prometheus::registry(&requests, cache.clone(), counters.clone());
        let objects = AsyncBigCache::with_pool(
            cache.clone(),
            Pool::with_name(POOL_THREADS, "logcache-store"),
        );
        App {
            cache,
            objects,
            config,
            counters,
            requests,
            registry,
        }
    }
}

pub(super) type AppState<S> = State<Arc<App<S>>>;

pub(crate) fn router<S: KvStore + 'static>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route(
            "/v1/objects/{*key}",
            get(get_object::<S>)
                .head(head_object::<S>)
                .put(put_object::<S>)
                .delete(delete_object::<S>),
        )
        .route("/v1/objects", get(list_objects::<S>))
        .route("/v1/stats", get(stats::<S>))
        .route("/metrics", get(prometheus::<S>))
        .route("/healthz", get(healthz::<S>))
        .fallback(|| async {
            text(
                StatusCode::NOT_FOUND,
                "no such endpoint; see docs/SERVER.md",
            )
        })
        .layer(from_fn_with_state(app.clone(), guard::<S>))
        .with_state(app)
}

/// Counts and logs every request (`Started`, at the end of its body); with a token configured, answers 401 to any
/// request without `Authorization: Bearer <token>`.
async fn guard<S: KvStore + 'static>(
    State(app): AppState<S>,
    req: Request,
    next: Next,
) -> Response {
    let started = Started::new(
        req.method(),
        req.uri().path(),
        req.headers(),
        app.requests.clone(),
    );
    let response = match &app.config.token {
        Some(token) if !auth::authorized(req.headers(), token) => {
            add(&app.counters.unauthorized, 1);
            auth::refuse(req, &app.config)
        }
        _ if !decodable(req.headers()) => {
            drain_later(req, app.config.body_timeout, REFUSED);
            text(
                StatusCode::NOT_IMPLEMENTED,
                "this server decodes no transfer coding but chunked: send the body as it is \
                 (Content-Length) or with `Transfer-Encoding: chunked` alone",
            )
        }
        _ => next.run(req).await,
    };
    started.finish(response)
}

/// Whether the body's transfer codings are ones hyper decodes: none, or `chunked` alone.
/// Anything else (`gzip, chunked`) would be stored still encoded.
fn decodable(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty())
        .all(|coding| coding.eq_ignore_ascii_case(b"chunked"))
}

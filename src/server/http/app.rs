//! [`App`]: what every handler shares — the cache (blocking and async), the settings, the
//! counters and the request metrics — and [`blocking`], a store call on the server's pool.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;

use super::ServerConfig;
use super::metrics::Counters;
use super::requests::RequestMetrics;
use super::response::error_response;
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

pub(crate) type AppState<S> = State<Arc<App<S>>>;

/// Runs a blocking call on the cache on the server's pool ([`AsyncBigCache::run`]); a failure
/// is the response to give.
pub(crate) async fn blocking<S: KvStore + 'static, T: Send + 'static>(
    app: &App<S>,
    call: impl FnOnce(&BigCache<S>) -> crate::Result<T> + Send + 'static,
) -> Result<T, Response> {
    app.objects.run(call).await.map_err(|e| error_response(&e))
}

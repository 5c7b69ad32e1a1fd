//! `/metrics`: requests by route, method and status (the one request count, which
//! `/v1/stats` sums by method and by status class) and their latency histograms, rendered by
//! `prometheus-client` (the Prometheus project's Rust library: typed families, exact
//! OpenMetrics text), plus the server's, the objects' and the store's own figures, read at
//! each scrape, each described by its field's doc comment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::metrics::{Counters, ServerFigures};
use super::objects::blocking;
use super::routes::{App, AppState};
use crate::big::{BigCache, BigStats};
use crate::store::KvStore;
use crate::sync::lock;

/// The OpenMetrics content type `/metrics` is served with (Prometheus negotiates it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a request is counted under.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// What a request's latency is recorded under.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

/// Request methods given their own label; every other is `other`.
pub(crate) const METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "DELETE", "POST", "other"];
/// Response status classes, as `/v1/stats` sums them.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The requests, shared by the layer that records and the registry and `/v1/stats` that
/// render: one count per route, method and status (a bounded set: six routes, six methods,
/// the statuses the server answers), and a latency histogram per route and method.
#[derive(Debug, Clone)]
pub(crate) struct RequestMetrics {
    counts: Arc<Mutex<HashMap<RequestLabels, u64>>>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

/// Latency buckets: 100 µs doubling to about 52 s (20 buckets), from a cached small read to
/// a slow multi-GiB upload.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            counts: Arc::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl RequestMetrics {
    /// Counts a finished request and records how long it took (to the end of its body).
    pub(crate) fn record(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        took: Duration,
    ) {
        let labels = RequestLabels {
            route,
            method,
            status,
        };
        *lock(&self.counts).entry(labels).or_insert(0) += 1;
        self.latency
            .get_or_create(&RouteLabels { route, method })
            .observe(took.as_secs_f64());
    }

    /// Every count, in a stable order (route, method, status).
    fn counts(&self) -> Vec<(RequestLabels, u64)> {
        let mut rows: Vec<_> = lock(&self.counts)
            .iter()
            .map(|(l, n)| (l.clone(), *n))
            .collect();
        rows.sort_by_key(|(l, _)| (l.route, l.method, l.status));
        rows
    }

    /// Requests by method (`/v1/stats`).
    pub(crate) fn by_method(&self) -> Vec<(&'static str, u64)> {
        let counts = self.counts();
        METHODS
            .iter()
            .map(|m| {
                let n = counts
                    .iter()
                    .filter(|(l, _)| l.method == *m)
                    .map(|(_, n)| n);
                (*m, n.sum())
            })
            .collect()
    }

    /// Responses by status class (`/v1/stats`).
    pub(crate) fn by_class(&self) -> Vec<(&'static str, u64)> {
        let counts = self.counts();
        let class = |status: u16| usize::from(status / 100).clamp(1, CLASSES.len()) - 1;
        CLASSES
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = counts.iter().filter(|(l, _)| class(l.status) == i);
                (*c, n.map(|(_, n)| n).sum())
            })
            .collect()
    }
}

/// The route a path belongs to: a small fixed set, so labels stay bounded whatever clients
/// send.
pub(crate) fn route_of(path: &str) -> &'static str {
    match path {
        p if p.starts_with("/v1/objects/") => "object",
        "/v1/objects" => "list",
        "/v1/stats" => "stats",
        "/metrics" => "metrics",
        "/healthz" => "healthz",
        _ => "other",
    }
}

/// The registry of a server: the request families and a collector of everything else.
pub(crate) fn registry<S: KvStore + 'static>(
    requests: &RequestMetrics,
    cache: Arc<BigCache<S>>,
    counters: Arc<Counters>,
) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "logcache_http_request_duration_seconds",
        "Time from a request's arrival to the end of its response body, by route and method",
        requests.latency.clone(),
    );
    registry.register_collector(Box::new(Figures {
        cache,
        counters,
        requests: requests.clone(),
    }));
    registry
}

/// The server's, the objects' and the store's figures, read at each scrape (the caller runs
/// the encoding on the blocking pool: the store's figures take its locks).
struct Figures<S: KvStore> {
    cache: Arc<BigCache<S>>,
    counters: Arc<Counters>,
    requests: RequestMetrics,
}

impl<S: KvStore> std::fmt::Debug for Figures<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figures").finish_non_exhaustive()
    }
}

/// A store counter whose kind (total or level) logcache does not know: OpenMetrics `unknown`.
#[derive(Debug)]
struct Unknown(u64);

impl EncodeMetric for Unknown {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

/// How one figure is exposed.
enum Kind {
    Counter,
    Gauge,
    Unknown,
}

fn emit(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: Kind,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let (metric, kind): (Box<dyn EncodeMetric>, MetricType) = match kind {
        Kind::Counter => (Box::new(ConstCounter::new(value)), MetricType::Counter),
        Kind::Gauge => (Box::new(ConstGauge::new(value)), MetricType::Gauge),
        Kind::Unknown => (Box::new(Unknown(value)), MetricType::Unknown),
    };
    metric.encode(encoder.encode_descriptor(name, help, None, kind)?)
}

impl<S: KvStore + 'static> Collector for Figures<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut family = encoder.encode_descriptor(
                "logcache_http_requests",
                "HTTP requests answered, by route, method and status.",
                None,
                MetricType::Counter,
            )?;
            for (labels, n) in self.requests.counts() {
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        let described = |help: Option<String>| help.unwrap_or_else(|| "A logcache figure.".into());
        for (name, v) in self.counters.rows() {
            let kind = if ServerFigures::GAUGE_NAMES.contains(&name) {
                Kind::Gauge
            } else {
                Kind::Counter
            };
            let help = described(ServerFigures::help(name));
            emit(
                &mut encoder,
                &format!("logcache_http_{name}"),
                &help,
                kind,
                v,
            )?;
        }
        for (name, v) in self.cache.stats().counters() {
            let metric = match name {
                "objects" => "logcache_objects".to_string(),
                _ => format!("logcache_objects_{name}"),
            };
            let kind = if BigStats::GAUGE_NAMES.contains(&name) {
                Kind::Gauge
            } else {
                Kind::Counter
            };
            emit(
                &mut encoder,
                &metric,
                &described(BigStats::help(name)),
                kind,
                v,
            )?;
        }
        // The embedded store's figures are typed and described; another store's are `unknown`.
        type Durable = crate::durable::Stats;
        for (name, v) in self.cache.store().counters() {
            let (kind, help) = if Durable::COUNTER_NAMES.contains(&name) {
                (Kind::Counter, Durable::help(name))
            } else if Durable::GAUGE_NAMES.contains(&name) {
                (Kind::Gauge, Durable::help(name))
            } else {
                (Kind::Unknown, None)
            };
            let help = help.unwrap_or_else(|| "A figure the store reports.".into());
            emit(
                &mut encoder,
                &format!("logcache_store_{name}"),
                &help,
                kind,
                v,
            )?;
        }
        Ok(())
    }
}

/// `GET /metrics`: OpenMetrics text.
pub(super) async fn prometheus<S: KvStore + 'static>(State(app): AppState<S>) -> Response {
    let app: Arc<App<S>> = app;
    let shared = app.clone();
    match blocking(&app, move |_| {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &shared.registry).map_err(|_| {
            crate::Error::Worker {
                what: "rendering /metrics".into(),
                reason: "a metric did not encode".into(),
            }
        })?;
        Ok(out)
    })
    .await
    {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(r) => r,
    }
}

//! `/metrics`: requests by route, method and status and their latency histograms, kept by
//! `prometheus-client` (the Prometheus project's Rust library: typed families, exact
//! OpenMetrics text), plus the server's, the objects' and the store's own figures, read at
//! each scrape.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::metrics::{Counters, help};
use super::objects::blocking;
use super::routes::{App, AppState};
use crate::big::BigCache;
use crate::store::KvStore;

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

/// The request families, shared by the layer that records and the registry that renders.
#[derive(Debug, Clone)]
pub(crate) struct RequestMetrics {
    requests: Family<RequestLabels, Counter>,
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
            requests: Family::default(),
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
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route, method })
            .observe(took.as_secs_f64());
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
        "logcache_http_requests",
        "HTTP requests answered, by route, method and status",
        requests.requests.clone(),
    );
    registry.register(
        "logcache_http_request_duration_seconds",
        "Time from a request's arrival to the end of its response body, by route and method",
        requests.latency.clone(),
    );
    registry.register_collector(Box::new(Figures { cache, counters }));
    registry
}

/// The server's, the objects' and the store's figures, read at each scrape (the caller runs
/// the encoding on the blocking pool: the store's figures take its locks).
struct Figures<S: KvStore> {
    cache: Arc<BigCache<S>>,
    counters: Arc<Counters>,
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
    // The encoder ends the help with a full stop of its own.
    let help = help.trim_end_matches('.');
    metric.encode(encoder.encode_descriptor(name, help, None, kind)?)
}

impl<S: KvStore + 'static> Collector for Figures<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, v) in self.counters.named.rows() {
            let kind = if matches!(name, "connections_open" | "max_object_size") {
                Kind::Gauge
            } else {
                Kind::Counter
            };
            emit(
                &mut encoder,
                &format!("logcache_http_{name}"),
                help(name),
                kind,
                v,
            )?;
        }
        for (name, v) in self.cache.stats().counters() {
            let (metric, kind) = match name {
                "objects" => ("logcache_objects".to_string(), Kind::Gauge),
                "used_bytes" | "reserved_bytes" | "blocks" | "block_size" | "capacity_bytes"
                | "free_bytes" => (format!("logcache_objects_{name}"), Kind::Gauge),
                _ => (format!("logcache_objects_{name}"), Kind::Counter),
            };
            emit(&mut encoder, &metric, help(name), kind, v)?;
        }
        // The embedded store's figures are typed; another store's are `unknown`.
        let durable = crate::durable::Stats::COUNTER_NAMES;
        let levels = crate::durable::Stats::GAUGE_NAMES;
        for (name, v) in self.cache.store().counters() {
            let (kind, help) = if durable.contains(&name) {
                (Kind::Counter, "A total counted by the store")
            } else if levels.contains(&name) {
                (Kind::Gauge, "A level the store reports")
            } else {
                (Kind::Unknown, "A figure the store reports")
            };
            emit(
                &mut encoder,
                &format!("logcache_store_{name}"),
                help,
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

//! `/metrics`: requests by route, method and status (the one request count, which
//! `/v1/stats` sums by method and by status class) and their latency histograms, rendered by
//! `prometheus-client` (the Prometheus project's Rust library: typed families, exact
//! OpenMetrics text), plus the server's, the objects' and the store's own figures, read at
//! each scrape, each described by its field's doc comment.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::metrics::{Counters, ServerFigures};
use super::requests::RequestMetrics;
use crate::big::{BigCache, BigStats};
use crate::store::KvStore;

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

//! The one count of HTTP requests, by route, method and status, with a latency histogram per
//! route and method: `/metrics` renders it, `/v1/stats` sums it by method and status class.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::sync::lock;

/// What a request is counted under.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// What a request's latency is recorded under.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabels {
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
    pub(super) latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
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
    pub(super) fn counts(&self) -> Vec<(RequestLabels, u64)> {
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

//! The server's counters, rendered as JSON (`/v1/stats`); `/metrics` is in
//! [`prometheus`](super::prometheus).

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::objects::blocking;
use super::routes::AppState;
use crate::big::BigStats;
use crate::remote::http::wire::{Rows, StatsDoc};
use crate::store::KvStore;

pub(crate) use crate::counters::add;
use crate::counters::{load as get, stats};

/// Request methods counted separately; everything else is `other`.
pub(crate) const METHODS: [&str; 5] = ["GET", "HEAD", "PUT", "DELETE", "other"];
/// Response status classes.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

stats! {
    /// The server's own figures (for `/v1/stats`, `/metrics` and clients such as `HttpStore`).
    #[derive(Debug, Default)]
    pub(crate) struct ServerFigures, counted by pub(crate) Named {
        gauges {}
        counters {
            /// TCP connections accepted.
            connections_accepted,
            /// TCP connections open now (a gauge kept in an atomic).
            connections_open,
            /// Connections closed by the idle timeout.
            connections_idle_closed,
            /// Requests refused for a missing or wrong token.
            unauthorized,
            /// PUTs refused for their size.
            too_large,
            /// PUTs abandoned because the body stalled.
            body_timeouts,
            /// Object bytes received in PUT bodies.
            bytes_received,
            /// Object bytes sent in GET bodies.
            bytes_sent,
            /// The configured `max_object_size`.
            max_object_size,
        }
    }
}

/// Everything the server counts: its own figures, requests by method, responses by class.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) named: Named,
    pub(crate) requests: [AtomicU64; 5],
    pub(crate) responses: [AtomicU64; 5],
}

impl Counters {
    pub(crate) fn request(&self, method: &axum::http::Method) {
        let i = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(METHODS.len() - 1);
        if let Some(c) = self.requests.get(i) {
            add(c, 1);
        }
    }

    pub(crate) fn response(&self, status: u16) {
        let i = usize::from(status / 100)
            .saturating_sub(1)
            .min(CLASSES.len() - 1);
        if let Some(c) = self.responses.get(i) {
            add(c, 1);
        }
    }

    fn server_rows(&self) -> Vec<(&'static str, u64)> {
        self.named.rows()
    }
}

/// Each label with its counter's value.
fn labelled(labels: &[&'static str; 5], counters: &[AtomicU64; 5]) -> Vec<(&'static str, u64)> {
    labels
        .iter()
        .zip(counters)
        .map(|(l, n)| (*l, get(n)))
        .collect()
}

/// `/v1/stats`: `{"server":{...},"requests":{...},"responses":{...},"objects":{...},"store":{...}}`.
pub(crate) fn json(c: &Counters, big: &BigStats, store: &[(&'static str, u64)]) -> String {
    let doc = StatsDoc {
        server: Rows(c.server_rows()),
        requests: Rows(labelled(&METHODS, &c.requests)),
        responses: Rows(labelled(&CLASSES, &c.responses)),
        objects: Rows(big.counters()),
        store: Rows(store.to_vec()),
    };
    // Maps of names to integers always serialize.
    let mut out = serde_json::to_string(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// The `# HELP` text of a counter.
pub(super) fn help(name: &str) -> &'static str {
    match name {
        "connections_accepted" => "TCP connections accepted.",
        "connections_open" => "TCP connections open now.",
        "connections_idle_closed" => "Connections closed by the idle timeout.",
        "unauthorized" => "Requests refused for a missing or wrong bearer token.",
        "too_large" => "PUTs refused for exceeding the maximum object size.",
        "body_timeouts" => "PUTs abandoned because the body stalled.",
        "bytes_received" => "Object bytes received in PUT bodies.",
        "bytes_sent" => "Object bytes sent in GET bodies.",
        "max_object_size" => "The largest object a PUT may store, in bytes.",
        "objects" => "Objects held.",
        "used_bytes" => "Bytes charged to committed objects (size, key and manifest).",
        "reserved_bytes" => "Bytes reserved by uploads in progress.",
        "blocks" => "Blocks in the store held by committed objects.",
        "block_size" => "Block size in bytes.",
        "capacity_bytes" => "Capacity in bytes.",
        "free_bytes" => "Free bytes under the capacity.",
        "hits" => "Object reads that found the object.",
        "misses" => "Object reads that found nothing.",
        "sets" => "Objects committed.",
        "deletes" => "Objects deleted.",
        "evictions" => "Objects evicted to make room.",
        "damaged" => "Damaged objects found and removed.",
        "orphans_removed" => "Orphan blocks removed at open.",
        "expired" => "Objects dropped because their TTL ran out.",
        "repairs" => "Manifest copies rewritten by read repair (replicated stores).",
        "recoveries" => "Recoveries of the store in place after a failed write or fsync.",
        _ => "A logcache counter.",
    }
}

/// `GET /v1/stats` (the store's stats take its locks: blocking pool).
pub(super) async fn stats<S: KvStore + 'static>(State(app): AppState<S>) -> Response {
    let counters = app.counters.clone();
    match blocking(&app, move |cache| {
        Ok(json(&counters, &cache.stats(), &cache.store().counters()))
    })
    .await
    {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(r) => r,
    }
}

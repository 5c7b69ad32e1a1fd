//! The server's own counters, declared once, and the `/v1/stats` document; `/metrics` renders
//! them with the requests (prometheus.rs, requests.rs).

use crate::big::BigStats;
use crate::protocol::http::{Rows, StatsDoc};

use super::requests::RequestMetrics;
pub(crate) use crate::counters::add;
use crate::counters::stats;

stats! {
    /// The server's own figures (for `/v1/stats`, `/metrics` and clients such as `HttpStore`).
    #[derive(Debug, Default)]
    pub(crate) struct ServerFigures, counted by pub(crate) Counters {
        gauges {}
        counters {
            /// TCP connections accepted.
            connections_accepted,
            /// Connections closed by the idle timeout.
            connections_idle_closed,
            /// Requests refused for a missing or wrong bearer token.
            unauthorized,
            /// PUTs refused for exceeding the maximum object size.
            too_large,
            /// PUTs abandoned because the body stalled.
            body_timeouts,
            /// Object bytes received in PUT bodies.
            bytes_received,
            /// Object bytes sent in GET bodies.
            bytes_sent,
        }
        levels {
            /// TCP connections open now.
            connections_open,
            /// The largest object a PUT may store, in bytes.
            max_object_size,
        }
    }
}

/// `/v1/stats`: `{"server":{...},"requests":{...},"responses":{...},"objects":{...},"store":{...}}`;
/// requests by method and responses by status class are sums of the one request count
/// ([`RequestMetrics`]) that `/metrics` shows by route, method and status.
pub(crate) fn json(
    c: &Counters,
    requests: &RequestMetrics,
    big: &BigStats,
    store: &[(&'static str, u64)],
) -> String {
    let doc = StatsDoc {
        server: Rows(c.rows()),
        requests: Rows(requests.by_method()),
        responses: Rows(requests.by_class()),
        objects: Rows(big.counters()),
        store: Rows(store.to_vec()),
    };
    // Maps of names to integers always serialize.
    let mut out = serde_json::to_string(&doc).unwrap_or_default();
    out.push('\n');
    out
}

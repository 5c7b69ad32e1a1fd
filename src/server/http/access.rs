//! The access log and the request metrics: one `tracing` event per request (target
//! `logcache::access`, level `INFO`) and one sample in the route's latency histogram, both
//! taken when the response body ends — so a streamed GET is logged with the bytes it really
//! sent and the time it really took, and a download the client broke off says so.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use bytes::Bytes;

use super::requests::{METHODS, RequestMetrics, route_of};

/// The `tracing` target of access-log events.
pub const ACCESS_TARGET: &str = "logcache::access";

/// What is known of a request before its response ends.
pub(crate) struct Started {
    method: &'static str,
    path: String,
    received: Option<u64>,
    at: Instant,
    metrics: Arc<RequestMetrics>,
}

impl Started {
    pub(crate) fn new(
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        metrics: Arc<RequestMetrics>,
    ) -> Self {
        Started {
            method: method_label(method),
            path: path.to_owned(),
            received: headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            at: Instant::now(),
            metrics,
        }
    }

    /// Wraps the response's body so that the request is logged and recorded when it ends.
    pub(crate) fn finish(self, response: Response) -> Response {
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let observed = Observed {
            expected: http_body::Body::size_hint(&body).exact(),
            inner: body,
            sent: 0,
            pending: Some((self, status)),
        };
        Response::from_parts(parts, Body::new(observed))
    }
}

/// The method as a bounded label (one of [`METHODS`]).
fn method_label(m: &Method) -> &'static str {
    METHODS
        .iter()
        .find(|l| **l == m.as_str())
        .copied()
        .unwrap_or("other")
}

/// A response body that counts what it sends and reports the request when it ends or is
/// dropped (a client that went away).
struct Observed {
    inner: Body,
    /// The body's length when known (`Content-Length`).
    expected: Option<u64>,
    sent: u64,
    pending: Option<(Started, u16)>,
}

impl Observed {
    fn report(&mut self, complete: bool) {
        let Some((started, status)) = self.pending.take() else {
            return;
        };
        let took = started.at.elapsed();
        let route = route_of(&started.path);
        started.metrics.record(route, started.method, status, took);
        tracing::info!(
            target: ACCESS_TARGET,
            method = %started.method,
            path = %started.path,
            status,
            received = started.received.unwrap_or(0),
            sent = self.sent,
            ms = %format_args!("{:.3}", took.as_secs_f64() * 1e3),
            complete,
        );
    }
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                self.sent += n;
            }
            Poll::Ready(None) => self.report(true),
            Poll::Ready(Some(Err(_))) => self.report(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // An empty body may never be polled, nor a body of known length once it is sent; a
        // broken-off download is dropped half sent.
        let complete =
            http_body::Body::is_end_stream(&self.inner) || self.expected == Some(self.sent);
        self.report(complete);
    }
}

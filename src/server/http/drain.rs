//! Draining a refused request's body (within a bound of bytes and time), so that a client
//! that sent it without waiting for `100 Continue` reads the answer instead of a reset.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use http_body_util::BodyExt;

/// The most of a refused request's body read (and thrown away) after the answer, so that a
/// client that sends its body without waiting for `100 Continue` can finish sending and read
/// the answer instead of meeting a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// However fast or slow the client sends, a drain ends after this long: a client trickling a
/// byte at a time cannot hold its connection (and a connection slot) for longer.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// How much a drain may read, and for how long in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainBound {
    pub(crate) bytes: u64,
    pub(crate) deadline: Duration,
}

/// The bound of a refused request's drain (`413`, `507`, `501`).
pub(crate) const REFUSED: DrainBound = DrainBound {
    bytes: DRAIN_LIMIT,
    deadline: DRAIN_DEADLINE,
};

/// Reads and discards what is left of a request's body in the background, within `bound`,
/// each read waiting at most `timeout` — when the client did not ask to wait for
/// `100 Continue` (then it sends no body at all, and hyper closes the connection if the body
/// stays unread) and did not announce more than the bound's bytes. A drain that ends early
/// drops the body, which closes the connection.
pub(crate) fn drain_later(req: Request, timeout: Duration, bound: DrainBound) {
    let headers = req.headers();
    let expects_continue = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if expects_continue || declared.is_some_and(|n| n > bound.bytes) {
        return;
    }
    drain_body(req.into_body(), timeout, bound);
}

/// Reads and discards `body` in the background within `bound`, at most `timeout` per read.
pub(crate) fn drain_body(mut body: Body, timeout: Duration, bound: DrainBound) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + bound.deadline;
        let mut seen = 0u64;
        while seen <= bound.bytes {
            let wait = timeout.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            match tokio::time::timeout(wait, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => return,
            }
        }
    });
}

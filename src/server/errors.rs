//! What a client is told when a request fails: the status each [`Error`] maps to, a one-line
//! body that never reveals the server's file paths (the log line has them), and the bounded
//! draining of a refused request's body.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::error::Error;

/// A plain-text response of one line.
pub(super) fn text(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// The status an [`Error`] is answered with, and the sentence for the client. Exhaustive
/// (no `_` arm): a new variant must be placed here, not fall into a 500 unnoticed.
fn status_and_message(e: &Error) -> (StatusCode, String) {
    let internal = StatusCode::INTERNAL_SERVER_ERROR;
    match e {
        Error::Io { .. } if e.is_storage_full() => (
            StatusCode::INSUFFICIENT_STORAGE,
            "no space left on the server's disk; nothing was stored: delete objects or free \
             disk space, then retry"
                .into(),
        ),
        Error::Io { op, source, .. } => (internal, format!("I/O error during {op}: {source}")),
        Error::NoSpace { .. } => (
            StatusCode::INSUFFICIENT_STORAGE,
            "not enough free disk space on the server; delete objects or free disk space".into(),
        ),
        Error::Full => (StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
        Error::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, e.to_string()),
        Error::Poisoned { reason } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the store refuses writes after a failure ({reason}); it recovers by itself \
                 once the disk accepts writes again: retry later"
            ),
        ),
        Error::Locked { .. } | Error::ReadOnly { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store cannot be written now; retry later".into(),
        ),
        Error::Corrupt { offset, .. } => (
            internal,
            format!("stored data is damaged (at byte {offset}); the server log has the details"),
        ),
        Error::ChecksumMismatch { .. } => (
            internal,
            "stored data does not match its checksum; the object is lost: delete it".into(),
        ),
        Error::BadPath { .. } | Error::NotALog { .. } | Error::UnsupportedVersion { .. } => (
            internal,
            "the server's store is misconfigured; the server log has the details".into(),
        ),
        Error::Load { .. } => (internal, e.to_string()),
        Error::System { .. } | Error::Worker { .. } => (
            internal,
            "the server failed; the server log has the details".into(),
        ),
        Error::Remote { .. } => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// The response for a failed request: status, one line for the client; server errors are
/// logged in full (paths and causes included).
pub(super) fn error_response(e: &Error) -> Response {
    let (status, message) = status_and_message(e);
    if status.is_server_error() {
        log::error!("request failed: {}", chain(e));
    }
    text(status, message)
}

/// The most of a refused request's body read (and thrown away) after the answer, so that a
/// client that sends its body without waiting for `100 Continue` can finish sending and read
/// the answer instead of meeting a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;

/// However fast or slow the client sends, a drain ends after this long: a client trickling a
/// byte at a time cannot hold its connection (and a connection slot) for longer.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// How much a drain may read, and for how long in all.
#[derive(Debug, Clone, Copy)]
pub(super) struct DrainBound {
    pub(super) bytes: u64,
    pub(super) deadline: Duration,
}

/// The bound of a refused request's drain (`413`, `507`, `501`).
pub(super) const REFUSED: DrainBound = DrainBound {
    bytes: DRAIN_LIMIT,
    deadline: DRAIN_DEADLINE,
};

/// Reads and discards what is left of a request's body in the background, within `bound`,
/// each read waiting at most `timeout` — when the client did not ask to wait for
/// `100 Continue` (then it sends no body at all, and hyper closes the connection if the body
/// stays unread) and did not announce more than the bound's bytes. A drain that ends early
/// drops the body, which closes the connection.
pub(super) fn drain_later(req: Request, timeout: Duration, bound: DrainBound) {
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
pub(super) fn drain_body(mut body: Body, timeout: Duration, bound: DrainBound) {
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

/// `e` and each of its causes, joined by `: ` (for log lines).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

//! Responses: one-line text, JSON, and what a client is told when a request fails — the
//! status each [`Error`] maps to, with a body that never reveals the server's file paths (the
//! log line has them).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// `value` as a JSON response.
pub(crate) fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(mut body) => {
            body.push('\n');
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            tracing::error!("a response did not serialize: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// A plain-text response of one line.
pub(crate) fn text(status: StatusCode, message: impl std::fmt::Display) -> Response {
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
        Error::Unsupported { .. } => (StatusCode::NOT_IMPLEMENTED, e.to_string()),
        Error::WriterClosed { .. } | Error::Damaged { .. } => (internal, e.to_string()),
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
        Error::BadPath { .. }
        | Error::NotALog { .. }
        | Error::UnsupportedVersion { .. }
        | Error::NotShared { .. } => (
            internal,
            "the server's store is misconfigured; the server log has the details".into(),
        ),
        Error::Load { .. } => (internal, e.to_string()),
        Error::UnsupportedManifest { version, .. } => (
            internal,
            format!(
                "the object was written by a newer logcache (layout version {version}); \
                 this server cannot read it and left it as it is"
            ),
        ),
        Error::System { .. } | Error::Worker { .. } => (
            internal,
            "the server failed; the server log has the details".into(),
        ),
        Error::Remote { .. } => (StatusCode::BAD_GATEWAY, e.to_string()),
        Error::PreconditionFailed { .. } => (
            StatusCode::PRECONDITION_FAILED,
            "the object is not in the state If-Match / If-None-Match require; nothing was \
             changed"
                .into(),
        ),
    }
}

/// The response for a failed request: status, one line for the client; server errors are
/// logged in full (paths and causes included).
pub(crate) fn error_response(e: &Error) -> Response {
    let (status, message) = status_and_message(e);
    if status.is_server_error() {
        tracing::error!("request failed: {}", chain(e));
    }
    text(status, message)
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

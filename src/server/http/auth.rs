//! The bearer token: constant-time comparison, and the answer to a request without it.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use std::time::Duration;

use super::ServerConfig;
use super::drain::{DrainBound, drain_later};
use super::response::text;

/// Equal-length byte strings compared without an early exit, so the time taken does not
/// say how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The answer to a request without the right token: `401`, and the connection closed. At
/// most a little of its body is read, briefly, so such a client cannot hold a connection slot.
pub(super) fn refuse(req: Request, config: &ServerConfig) -> Response {
    drain_later(req, config.body_timeout, UNAUTHORIZED);
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send `Authorization: Bearer <token>`",
    );
    let h = r.headers_mut();
    h.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"logcache\""),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// What of an unauthenticated request's body is read before its connection is closed.
const UNAUTHORIZED: DrainBound = DrainBound {
    bytes: 64 << 10,
    deadline: Duration::from_secs(1),
};

pub(super) fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(given) = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
        .and_then(|_| value.get(7..))
    else {
        return false;
    };
    constant_time_eq(given, token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_and_length() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "tok"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert!(authorized(&h, "tok"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer tok"),
        );
        assert!(authorized(&h, "tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic tok"));
        assert!(!authorized(&h, "tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert!(!authorized(&h, "tok"));
    }
}

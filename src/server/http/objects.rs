//! `PUT`, `GET`, `HEAD` and `DELETE /v1/objects/<key>`: objects streamed in and out through
//! the library's async API ([`AsyncBigWriter`](crate::future::AsyncBigWriter),
//! [`AsyncBigReader`](crate::future::AsyncBigReader), store calls on its pool), and the
//! bounded draining of a refused request's body.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::app::{App, AppState, blocking};
use super::conditions::{Conditions, Verdict, attribute_headers, attributes_of, etag};
use super::drain::{REFUSED, drain_body, drain_later};
use super::health::writable;
use super::io::ObjectBody;
use super::metrics::add;
use super::range::{Wanted, wanted};
use super::response::{error_response, text};
use crate::big::Attributes;
use crate::error::Error;
use crate::protocol::http::{EXPIRES_AT_HEADER, TTL_HEADER, percent_decode};
use crate::store::KvStore;

/// A request refused before any work: its status and one-line message.
struct Refusal(StatusCode, std::borrow::Cow<'static, str>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.0, self.1)
    }
}

/// The object key in `/v1/objects/<key>`: the raw path after the prefix, percent-decoded.
fn object_key(uri: &Uri) -> Result<Vec<u8>, Refusal> {
    let raw = uri
        .path()
        .strip_prefix("/v1/objects/")
        .ok_or(Refusal(StatusCode::NOT_FOUND, "no such endpoint".into()))?;
    let key = percent_decode(raw.as_bytes()).ok_or(Refusal(
        StatusCode::BAD_REQUEST,
        "bad percent-encoding in the key: every % must be followed by two hex digits".into(),
    ))?;
    if key.is_empty() {
        return Err(Refusal(StatusCode::BAD_REQUEST, "empty key".into()));
    }
    Ok(key)
}

/// What a PUT asks besides its bytes.
struct PutOptions {
    ttl: Option<Duration>,
    attrs: Attributes,
    conditions: Conditions,
}

fn parse_ttl(headers: &HeaderMap) -> Result<Option<Duration>, Refusal> {
    let Some(value) = headers.get(TTL_HEADER) else {
        return Ok(None);
    };
    match value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs))),
        _ => Err(Refusal(
            StatusCode::BAD_REQUEST,
            "x-logcache-ttl must be a whole number of seconds, at least 1".into(),
        )),
    }
}

/// `PUT /v1/objects/<key>`: streams the body into a [`BigWriter`](crate::BigWriter), commits,
/// syncs the store, then answers `200` with the `ETag`. Too large a `Content-Length` is
/// answered `413` before any of the body is read; a body that grows past the limit, stalls
/// longer than the body timeout (`408`) or breaks off stores nothing.
pub(super) async fn put_object<S: KvStore + 'static>(
    State(app): AppState<S>,
    req: Request,
) -> Response {
    let max = app.config.max_object_size;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // An object larger than the whole capacity could never fit: refuse it before evicting
    // anything for it (the streamed write would otherwise evict as it grows).
    let checked = object_key(req.uri()).and_then(|key| {
        let headers = req.headers();
        let attrs =
            attributes_of(headers).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.into()))?;
        let options = PutOptions {
            ttl: parse_ttl(headers)?,
            attrs,
            conditions: Conditions::of(headers),
        };
        Ok((key, options))
    });
    let over_capacity = match (&checked, declared) {
        (Ok((key, _)), Some(len)) => !app.cache.could_hold(key, len),
        _ => false,
    };
    let (key, options) = match checked {
        Ok(ok) if declared.is_none_or(|len| len <= max) && !over_capacity => ok,
        refused => {
            let response = match refused {
                Err(r) => r.into_response(),
                Ok(_) if over_capacity => error_response(&Error::Full),
                Ok(_) => too_large(&app, max),
            };
            drain_later(req, app.config.body_timeout, REFUSED);
            return response;
        }
    };
    if let Err(response) = writable(&app).await {
        drain_later(req, app.config.body_timeout, REFUSED);
        return response;
    }
    // A condition that already fails is answered before the body is read (a create-only PUT
    // of a large object that exists uploads nothing); it is checked again at the commit.
    if options.conditions.any() {
        let k = key.clone();
        let current = match blocking(&app, move |c| c.version_of(&k)).await {
            Ok(v) => v,
            Err(response) => {
                drain_later(req, app.config.body_timeout, REFUSED);
                return response;
            }
        };
        if options.conditions.evaluate(current, false) == Verdict::Failed {
            drain_later(req, app.config.body_timeout, REFUSED);
            return error_response(&Error::PreconditionFailed {
                key: key.escape_ascii().to_string(),
                op: "write",
            });
        }
    }
    let writer = match options.ttl {
        Some(ttl) => app.objects.writer_with_ttl(&key, ttl).await,
        None => app.objects.writer(&key).await,
    };
    let mut writer = match writer.and_then(|mut w| w.set_attributes(options.attrs).map(|()| w)) {
        Ok(w) => w,
        Err(e) => {
            drain_later(req, app.config.body_timeout, REFUSED);
            return error_response(&e);
        }
    };
    let mut body = req.into_body();
    let mut received = 0u64;
    let early: Option<Response> = loop {
        let frame = match tokio::time::timeout(app.config.body_timeout, body.frame()).await {
            Err(_) => {
                add(&app.counters.body_timeouts, 1);
                break Some(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body stalled longer than the body timeout; nothing was stored",
                ));
            }
            Ok(None) => break None,
            Ok(Some(Err(e))) => {
                break Some(text(
                    StatusCode::BAD_REQUEST,
                    format_args!("reading the request body failed ({e}); nothing was stored"),
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        received += data.len() as u64;
        add(&app.counters.bytes_received, data.len() as u64);
        if received > max {
            drain_body(body, app.config.body_timeout, REFUSED);
            break Some(too_large(&app, max));
        }
        if let Err(e) = writer.send(data).await {
            // The writer stopped on an error: let the client finish sending so that it reads
            // the answer.
            drain_body(body, app.config.body_timeout, REFUSED);
            break Some(error_response(&e));
        }
    };
    if let Some(response) = early {
        // Nothing is published; the blocks are gone before the answer.
        writer.abort().await;
        return response;
    }
    let conditions = options.conditions;
    let committed = if conditions.any() {
        writer
            .commit_if(move |current| conditions.evaluate(current, false) == Verdict::Proceed)
            .await
    } else {
        writer.commit().await
    };
    let synced = match committed {
        Ok(c) => blocking(&app, |c| c.store().sync()).await.map(|()| c),
        Err(e) => Err(error_response(&e)),
    };
    match synced {
        Ok(c) => {
            let mut r = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag(c.version)) {
                r.headers_mut().insert(header::ETAG, v);
            }
            r
        }
        Err(response) => response,
    }
}

fn too_large<S: KvStore>(app: &App<S>, max: u64) -> Response {
    add(&app.counters.too_large, 1);
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format_args!("the object is over this server's limit of {max} bytes (--max-object-size)"),
    )
}

/// `GET` and `HEAD`: headers from the manifest; for `GET` (unless a condition says `304` or
/// `412`) the blocks streamed by an [`AsyncBigReader`](crate::future::AsyncBigReader), each
/// checked against its CRC — only those a `Range` touches.
async fn read_object<S: KvStore + 'static>(app: Arc<App<S>>, req: Request, head: bool) -> Response {
    let key = match object_key(req.uri()) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    let headers = req.headers();
    let mut reader = match app.objects.reader(&key).await {
        Ok(Some(r)) => r,
        Ok(None) => return text(StatusCode::NOT_FOUND, "no such object"),
        // A cache server that does not answer holds nothing for now: a miss, as memcached's
        // clients treat it (the client fetches from its origin).
        Err(e @ Error::Remote { .. }) => {
            tracing::warn!("an object read as absent: {e}");
            return text(StatusCode::NOT_FOUND, "no such object");
        }
        Err(e) => return error_response(&e),
    };
    let size = reader.len();
    let tag = etag(reader.version());
    let expires_at = reader.expires_at();
    let attrs = reader.attributes().clone();
    let verdict = Conditions::of(headers).evaluate(Some(reader.version()), true);
    if verdict == Verdict::Failed {
        return precondition_failed(&tag);
    }
    let not_modified = verdict == Verdict::NotModified;
    let wanted = if head || not_modified {
        Wanted::Whole
    } else {
        wanted(headers, size, &tag)
    };
    let (status, length) = match wanted {
        Wanted::Unsatisfiable => {
            let mut response = text(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "the range starts past the end of the object",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
        Wanted::Part { start, end } => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        Wanted::Whole if not_modified => (StatusCode::NOT_MODIFIED, 0),
        Wanted::Whole => (StatusCode::OK, size),
    };
    let mut response = if head || not_modified {
        Response::new(Body::empty())
    } else {
        if let Wanted::Part { start, end } = wanted
            && let Err(e) = reader.set_range(start..end + 1)
        {
            return error_response(&e);
        }
        // The first block is read before the answer starts: an object whose first block is
        // gone (memcached lost it) is a clean 404, not a connection closed without a status.
        let first = match reader.next_chunk().await {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!("an object read as absent: its first block {e}");
                return text(StatusCode::NOT_FOUND, "no such object");
            }
        };
        Response::new(Body::new(ObjectBody::new(
            first,
            reader,
            length,
            app.counters.clone(),
        )))
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Wanted::Part { start, end } = wanted
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Some(ms) = expires_at {
        h.insert(EXPIRES_AT_HEADER, HeaderValue::from(ms));
    }
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        attribute_headers(h, &attrs);
    }
    response
}

/// `412`, with the current `ETag` when there is an object.
fn precondition_failed(tag: &str) -> Response {
    let mut r = text(
        StatusCode::PRECONDITION_FAILED,
        "the object is not in the state If-Match / If-None-Match require; nothing was changed",
    );
    if let Ok(v) = HeaderValue::from_str(tag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

pub(super) async fn get_object<S: KvStore + 'static>(
    State(app): AppState<S>,
    req: Request,
) -> Response {
    read_object(app, req, false).await
}

pub(super) async fn head_object<S: KvStore + 'static>(
    State(app): AppState<S>,
    req: Request,
) -> Response {
    read_object(app, req, true).await
}

/// `DELETE /v1/objects/<key>`: `204` when it was there, `404` when not; synced before the
/// answer.
pub(super) async fn delete_object<S: KvStore + 'static>(
    State(app): AppState<S>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let conditions = Conditions::of(&headers);
    let key = match object_key(&uri) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    if let Err(response) = writable(&app).await {
        return response;
    }
    match blocking(&app, move |cache| {
        // An absent object is a 404 whatever the conditions (RFC 9110 §13.2.1).
        let existed = if conditions.any() {
            cache.delete_if(&key, |current| {
                current.is_none() || conditions.evaluate(current, false) == Verdict::Proceed
            })?
        } else {
            cache.delete(&key)?
        };
        cache.store().sync()?;
        Ok(existed)
    })
    .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => text(StatusCode::NOT_FOUND, "no such object"),
        Err(r) => r,
    }
}

//! The HTTP API: routes, authentication, and the handlers that stream objects in and out of
//! [`BigCache`] (whose API is synchronous: every store call runs on the blocking pool).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::ServerConfig;
use super::errors::{DrainBound, REFUSED, drain_body, drain_later, error_response, text};
use super::health::{healthz, writable};
use super::io::{ChannelBody, Chunk};
use super::metrics::{self, Counters, add};
use crate::big::stream::unwrap_io;
use crate::big::{BigCache, Committed};
use crate::error::Error;
use crate::remote::http::wire::{
    EXPIRES_AT_HEADER, Listing, TTL_HEADER, percent_decode, query_param,
};
use crate::store::KvStore;

/// Body frames buffered between the network and the blocking writer of a PUT.
const CHANNEL: usize = 4;
/// Blocks buffered between the blocking reader of a GET and the network.
const GET_CHANNEL: usize = 2;
/// Keys listed per `GET /v1/objects` response unless `limit` says otherwise.
const LIST_LIMIT: usize = 1000;

/// Shared by every handler.
pub(crate) struct App<S: KvStore> {
    pub(crate) cache: Arc<BigCache<S>>,
    pub(crate) config: ServerConfig,
    pub(crate) counters: Arc<Counters>,
}

type AppState<S> = State<Arc<App<S>>>;

pub(crate) fn router<S: KvStore + 'static>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route(
            "/v1/objects/{*key}",
            get(get_object::<S>)
                .head(head_object::<S>)
                .put(put_object::<S>)
                .delete(delete_object::<S>),
        )
        .route("/v1/objects", get(list_objects::<S>))
        .route("/v1/stats", get(stats::<S>))
        .route("/metrics", get(prometheus::<S>))
        .route("/healthz", get(healthz::<S>))
        .fallback(|| async {
            text(
                StatusCode::NOT_FOUND,
                "no such endpoint; see docs/SERVER.md",
            )
        })
        .layer(from_fn_with_state(app.clone(), guard::<S>))
        .with_state(app)
}

/// Equal-length byte strings compared without an early exit, so the time taken does not
/// say how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Counts every request and response; with a token configured, answers 401 to any request
/// without `Authorization: Bearer <token>`.
async fn guard<S: KvStore + 'static>(
    State(app): AppState<S>,
    req: Request,
    next: Next,
) -> Response {
    app.counters.request(req.method());
    let response = match &app.config.token {
        Some(token) if !authorized(req.headers(), token) => {
            add(&app.counters.unauthorized, 1);
            // A client without the token gets its answer and loses the connection: at most a
            // little of its body is read, briefly, so it cannot hold a connection slot.
            drain_later(req, app.config.body_timeout, UNAUTHORIZED);
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
        _ if !decodable(req.headers()) => {
            drain_later(req, app.config.body_timeout, REFUSED);
            text(
                StatusCode::NOT_IMPLEMENTED,
                "this server decodes no transfer coding but chunked: send the body as it is \
                 (Content-Length) or with `Transfer-Encoding: chunked` alone",
            )
        }
        _ => next.run(req).await,
    };
    app.counters.response(response.status().as_u16());
    response
}

/// What of an unauthenticated request's body is read before its connection is closed.
const UNAUTHORIZED: DrainBound = DrainBound {
    bytes: 64 << 10,
    deadline: Duration::from_secs(1),
};

/// Whether the body's transfer codings are ones hyper decodes: none, or `chunked` alone.
/// Anything else (`gzip, chunked`) would be stored still encoded.
fn decodable(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|coding| !coding.is_empty())
        .all(|coding| coding.eq_ignore_ascii_case(b"chunked"))
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
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

/// A request refused before any work: its status and one-line message.
struct Refusal(StatusCode, &'static str);

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
        .ok_or(Refusal(StatusCode::NOT_FOUND, "no such endpoint"))?;
    let key = percent_decode(raw.as_bytes()).ok_or(Refusal(
        StatusCode::BAD_REQUEST,
        "bad percent-encoding in the key: every % must be followed by two hex digits",
    ))?;
    if key.is_empty() {
        return Err(Refusal(StatusCode::BAD_REQUEST, "empty key"));
    }
    Ok(key)
}

/// `"<object crc32 in hex>-<size in hex>"`.
fn etag(size: u64, crc32: u32) -> String {
    format!("\"{crc32:08x}-{size:x}\"")
}

/// Whether an `If-None-Match` header matches `tag` (weak comparison, as RFC 9110 asks).
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
    })
}

/// Runs blocking store work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error_response(&e)),
        Err(e) => {
            log::error!("a store task failed: {e}");
            Err(text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

/// What the network side hands the blocking writer.
enum Piece {
    Data(Bytes),
    End,
}

fn store_stream<S: KvStore>(
    cache: &BigCache<S>,
    key: &[u8],
    ttl: Option<Duration>,
    mut rx: mpsc::Receiver<Piece>,
) -> crate::Result<Committed> {
    let mut w = match ttl {
        Some(ttl) => cache.writer_with_ttl(key, ttl)?,
        None => cache.writer(key)?,
    };
    loop {
        match rx.blocking_recv() {
            Some(Piece::Data(bytes)) => w.write_all(&bytes).map_err(unwrap_io)?,
            Some(Piece::End) => break,
            // The upload broke off: dropping the writer deletes what it wrote.
            None => return Err(Error::InvalidArgument("the upload broke off".into())),
        }
    }
    let committed = w.commit()?;
    cache.store().sync()?;
    Ok(committed)
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
            "x-logcache-ttl must be a whole number of seconds, at least 1",
        )),
    }
}

/// `PUT /v1/objects/<key>`: streams the body into a [`BigWriter`](crate::BigWriter), commits,
/// syncs the store, then answers `200` with the `ETag`. Too large a `Content-Length` is
/// answered `413` before any of the body is read; a body that grows past the limit, stalls
/// longer than the body timeout (`408`) or breaks off stores nothing.
async fn put_object<S: KvStore + 'static>(State(app): AppState<S>, req: Request) -> Response {
    let max = app.config.max_object_size;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // An object larger than the whole capacity could never fit: refuse it before evicting
    // anything for it (the streamed write would otherwise evict as it grows).
    let stats = app.cache.stats();
    let over_capacity = declared.is_some_and(|len| {
        stats
            .capacity_blocks
            .is_some_and(|cap| len.div_ceil(stats.block_size.max(1)) > cap)
    });
    let checked = object_key(req.uri()).and_then(|key| Ok((key, parse_ttl(req.headers())?)));
    let (key, ttl) = match checked {
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
    if let Err(response) = writable(&app.cache).await {
        drain_later(req, app.config.body_timeout, REFUSED);
        return response;
    }
    let (tx, rx) = mpsc::channel::<Piece>(CHANNEL);
    let cache = app.cache.clone();
    let task_key = key.clone();
    let task = tokio::task::spawn_blocking(move || store_stream(&cache, &task_key, ttl, rx));
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
        if tx.send(Piece::Data(data)).await.is_err() {
            // The writer stopped on an error (reported below): let the client finish sending
            // so that it reads the answer.
            drain_body(body, app.config.body_timeout, REFUSED);
            break None;
        }
    };
    match early {
        Some(response) => {
            drop(tx); // the writer sees the channel close and deletes its blocks
            let _ = task.await;
            response
        }
        None => {
            let _ = tx.send(Piece::End).await;
            drop(tx);
            match task.await {
                Ok(Ok(c)) => {
                    let mut r = StatusCode::OK.into_response();
                    if let Ok(v) = HeaderValue::from_str(&etag(c.size, c.crc32)) {
                        r.headers_mut().insert(header::ETAG, v);
                    }
                    r
                }
                Ok(Err(e)) => error_response(&e),
                Err(e) => {
                    log::error!("a store task failed: {e}");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                }
            }
        }
    }
}

fn too_large<S: KvStore>(app: &App<S>, max: u64) -> Response {
    add(&app.counters.too_large, 1);
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format_args!("the object is over this server's limit of {max} bytes (--max-object-size)"),
    )
}

/// What the blocking reader found.
struct Found {
    size: u64,
    crc32: u32,
    expires_at: Option<u64>,
}

/// `GET` and `HEAD`: headers from the manifest; for `GET` (unless `If-None-Match` matches)
/// the blocks streamed from a blocking thread, each checked against its CRC.
async fn read_object<S: KvStore + 'static>(app: Arc<App<S>>, req: Request, head: bool) -> Response {
    let key = match object_key(req.uri()) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    let headers = req.headers().clone();
    let (meta_tx, meta_rx) = oneshot::channel::<crate::Result<Option<Found>>>();
    let (tx, rx) = mpsc::channel::<Chunk>(GET_CHANNEL);
    let cache = app.cache.clone();
    let want_body = !head;
    let task_headers = headers.clone();
    tokio::task::spawn_blocking(move || {
        let mut reader = match cache.reader(&key) {
            Ok(Some(r)) => r,
            Ok(None) => {
                let _ = meta_tx.send(Ok(None));
                return;
            }
            Err(e) => {
                let _ = meta_tx.send(Err(e));
                return;
            }
        };
        let found = Found {
            size: reader.len(),
            crc32: reader.crc32(),
            expires_at: reader.expires_at(),
        };
        let skip = !want_body || none_match(&task_headers, &etag(found.size, found.crc32));
        if meta_tx.send(Ok(Some(found))).is_err() || skip {
            return;
        }
        // Blocks go out as they are read from the store: no copy, no zeroed buffers.
        loop {
            match reader.next_chunk() {
                Ok(Some(chunk)) => {
                    if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                        return; // the client went away
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    log::warn!("streaming an object broke off: {e}");
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let found = match meta_rx.await {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return text(StatusCode::NOT_FOUND, "no such object"),
        Ok(Err(e)) => return error_response(&e),
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let tag = etag(found.size, found.crc32);
    let not_modified = none_match(&headers, &tag);
    let mut response = if head || not_modified {
        Response::new(Body::empty())
    } else {
        Response::new(Body::new(ChannelBody::new(
            rx,
            found.size,
            app.counters.clone(),
        )))
    };
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Some(ms) = found.expires_at {
        h.insert(EXPIRES_AT_HEADER, HeaderValue::from(ms));
    }
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(found.size));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    response
}

async fn get_object<S: KvStore + 'static>(State(app): AppState<S>, req: Request) -> Response {
    read_object(app, req, false).await
}

async fn head_object<S: KvStore + 'static>(State(app): AppState<S>, req: Request) -> Response {
    read_object(app, req, true).await
}

/// `DELETE /v1/objects/<key>`: `204` when it was there, `404` when not; synced before the
/// answer.
async fn delete_object<S: KvStore + 'static>(State(app): AppState<S>, uri: Uri) -> Response {
    let key = match object_key(&uri) {
        Ok(k) => k,
        Err(r) => return r.into_response(),
    };
    if let Err(response) = writable(&app.cache).await {
        return response;
    }
    let cache = app.cache.clone();
    match blocking(move || {
        let existed = cache.delete(&key)?;
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

/// `GET /v1/objects?prefix=P&after=K&limit=N`: keys in byte order with their sizes, as JSON;
/// keys percent-encoded. `"truncated":true` means more follow: ask again with `after` set to
/// the last key.
async fn list_objects<S: KvStore + 'static>(State(app): AppState<S>, uri: Uri) -> Response {
    let query = uri.query();
    let (Some(prefix), Some(after)) = (
        query_param(query, "prefix").unwrap_or(Some(Vec::new())),
        query_param(query, "after").unwrap_or(Some(Vec::new())),
    ) else {
        return text(StatusCode::BAD_REQUEST, "bad percent-encoding in the query");
    };
    let limit = match query_param(query, "limit") {
        None => LIST_LIMIT,
        Some(v) => match v
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<usize>().ok())
        {
            Some(n) if n > 0 => n,
            _ => return text(StatusCode::BAD_REQUEST, "limit must be a positive number"),
        },
    };
    let cache = app.cache.clone();
    let listed = blocking(move || {
        let Some(mut keys) = cache.keys(&prefix)? else {
            return Ok(None);
        };
        keys.sort_unstable();
        keys.retain(|k| after.is_empty() || *k > after);
        let truncated = keys.len() > limit;
        keys.truncate(limit);
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(size) = cache.size_of(&key)? {
                items.push((key, size));
            }
        }
        Ok(Some((items, truncated)))
    })
    .await;
    match listed {
        Ok(Some((items, truncated))) => json(&Listing::new(&items, truncated)),
        Ok(None) => text(
            StatusCode::NOT_IMPLEMENTED,
            "this server's store cannot list keys",
        ),
        Err(r) => r,
    }
}

/// `value` as a JSON response.
fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(mut body) => {
            body.push('\n');
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            log::error!("a response did not serialize: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// The counters rendered by `render` (the store's stats take its locks: blocking pool).
async fn report<S: KvStore + 'static>(
    app: Arc<App<S>>,
    content_type: &'static str,
    render: fn(&Counters, &crate::BigStats, &[(&'static str, u64)]) -> String,
) -> Response {
    let cache = app.cache.clone();
    let counters = app.counters.clone();
    match blocking(move || Ok(render(&counters, &cache.stats(), &cache.store().counters()))).await {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(r) => r,
    }
}

async fn stats<S: KvStore + 'static>(State(app): AppState<S>) -> Response {
    report(app, "application/json", metrics::json).await
}

async fn prometheus<S: KvStore + 'static>(State(app): AppState<S>) -> Response {
    report(app, "text/plain; version=0.0.4", metrics::prometheus).await
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

    #[test]
    fn etags_and_if_none_match() {
        let tag = etag(10, 0xdead_beef);
        assert_eq!(tag, "\"deadbeef-a\"");
        let mut h = HeaderMap::new();
        assert!(!none_match(&h, &tag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"deadbeef-a\""),
        );
        assert!(none_match(&h, &tag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, &tag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"deadbeef-b\""),
        );
        assert!(!none_match(&h, &tag));
    }

    #[test]
    fn method_names_match_the_counters() {
        assert_eq!(
            metrics::METHODS.first(),
            Some(&axum::http::Method::GET.as_str())
        );
    }
}

//! `PUT`, `GET`, `HEAD` and `DELETE /v1/objects/<key>`: objects streamed in and out of
//! [`BigCache`] (whose API is synchronous: every store call runs on the blocking pool), and the
//! bounded draining of a refused request's body.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::conditions::{Conditions, Verdict, attribute_headers, attributes_of, etag};
use super::health::writable;
use super::io::{ChannelBody, Chunk};
use super::metrics::add;
use super::range::{Wanted, wanted};
use super::response::{error_response, text};
use super::routes::{App, AppState};
use crate::big::stream::unwrap_io;
use crate::big::{Attributes, BigCache, Committed};
use crate::error::Error;
use crate::remote::http::wire::{EXPIRES_AT_HEADER, TTL_HEADER, percent_decode};
use crate::store::KvStore;

/// Body frames buffered between the network and the blocking writer of a PUT.
const CHANNEL: usize = 4;
/// Blocks buffered between the blocking reader of a GET and the network.
const GET_CHANNEL: usize = 2;
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

/// Runs blocking store work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
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

/// What a PUT asks besides its bytes.
struct PutOptions {
    ttl: Option<Duration>,
    attrs: Attributes,
    conditions: Conditions,
}

fn store_stream<S: KvStore>(
    cache: &BigCache<S>,
    key: &[u8],
    options: PutOptions,
    mut rx: mpsc::Receiver<Piece>,
) -> crate::Result<Committed> {
    let mut w = match options.ttl {
        Some(ttl) => cache.writer_with_ttl(key, ttl)?,
        None => cache.writer(key)?,
    };
    w.set_attributes(options.attrs)?;
    loop {
        match rx.blocking_recv() {
            Some(Piece::Data(bytes)) => w.write_all(&bytes).map_err(unwrap_io)?,
            Some(Piece::End) => break,
            // The upload broke off: dropping the writer deletes what it wrote.
            None => return Err(Error::InvalidArgument("the upload broke off".into())),
        }
    }
    let conditions = options.conditions;
    let committed = if conditions.any() {
        w.commit_if(|current| conditions.evaluate(current, false) == Verdict::Proceed)?
    } else {
        w.commit()?
    };
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
    if let Err(response) = writable(&app.cache).await {
        drain_later(req, app.config.body_timeout, REFUSED);
        return response;
    }
    // A condition that already fails is answered before the body is read (a create-only PUT
    // of a large object that exists uploads nothing); it is checked again at the commit.
    if options.conditions.any() {
        let (cache, k) = (app.cache.clone(), key.clone());
        let current = match blocking(move || cache.version_of(&k)).await {
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
    let (tx, rx) = mpsc::channel::<Piece>(CHANNEL);
    let cache = app.cache.clone();
    let task_key = key.clone();
    let task = tokio::task::spawn_blocking(move || store_stream(&cache, &task_key, options, rx));
    let mut body = req.into_body();
    let mut received = 0u64;
    let early: Option<Response> = loop {
        let frame = match tokio::time::timeout(app.config.body_timeout, body.frame()).await {
            Err(_) => {
                add(&app.counters.named.body_timeouts, 1);
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
        add(&app.counters.named.bytes_received, data.len() as u64);
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
                    if let Ok(v) = HeaderValue::from_str(&etag(c.version)) {
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
    add(&app.counters.named.too_large, 1);
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format_args!("the object is over this server's limit of {max} bytes (--max-object-size)"),
    )
}

/// What the blocking reader found.
struct Found {
    size: u64,
    version: u128,
    attrs: Attributes,
    expires_at: Option<u64>,
    /// What `If-Match` / `If-None-Match` decided.
    verdict: Verdict,
    /// What a GET's `Range` asks for.
    wanted: Wanted,
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
            // A cache server that does not answer holds nothing for now: a miss, as
            // memcached's clients treat it (the client fetches from its origin).
            Err(e @ Error::Remote { .. }) => {
                log::warn!("an object read as absent: {e}");
                let _ = meta_tx.send(Ok(None));
                return;
            }
            Err(e) => {
                let _ = meta_tx.send(Err(e));
                return;
            }
        };
        let tag = etag(reader.version());
        let verdict = Conditions::of(&task_headers).evaluate(Some(reader.version()), true);
        let mut found = Found {
            size: reader.len(),
            version: reader.version(),
            attrs: reader.attributes().clone(),
            expires_at: reader.expires_at(),
            verdict,
            wanted: Wanted::Whole,
        };
        let skip = !want_body || verdict != Verdict::Proceed;
        if !skip {
            found.wanted = wanted(&task_headers, found.size, &tag);
        }
        if skip || found.wanted == Wanted::Unsatisfiable {
            let _ = meta_tx.send(Ok(Some(found)));
            return;
        }
        // A range: only the blocks it touches are read.
        let mut left = match found.wanted {
            Wanted::Part { start, end } => {
                if let Err(e) = std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(start)) {
                    let _ = meta_tx.send(Err(unwrap_io(e)));
                    return;
                }
                end - start + 1
            }
            _ => found.size,
        };
        // The first block is read before the answer starts: an object whose first block is
        // gone (memcached lost it) is a clean 404, not a connection closed without a status.
        let mut next = match reader.next_chunk() {
            Ok(first) => first,
            Err(e) => {
                log::warn!("an object read as absent: its first block {e}");
                let _ = meta_tx.send(Ok(None));
                return;
            }
        };
        if meta_tx.send(Ok(Some(found))).is_err() {
            return;
        }
        // Blocks go out as they are read from the store: no copy, no zeroed buffers.
        while let Some(mut chunk) = next.take() {
            chunk.truncate(usize::try_from(left).unwrap_or(usize::MAX));
            left -= chunk.len() as u64;
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return; // the client went away
            }
            if left == 0 {
                return;
            }
            match reader.next_chunk() {
                Ok(chunk) => next = chunk,
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
    let tag = etag(found.version);
    let not_modified = found.verdict == Verdict::NotModified;
    if found.verdict == Verdict::Failed {
        return precondition_failed(&tag);
    }
    if found.wanted == Wanted::Unsatisfiable {
        let mut response = text(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "the range starts past the end of the object",
        );
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", found.size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return response;
    }
    let (status, length) = match found.wanted {
        Wanted::Part { start, end } => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        _ if not_modified => (StatusCode::NOT_MODIFIED, 0),
        _ => (StatusCode::OK, found.size),
    };
    let mut response = if head || not_modified {
        Response::new(Body::empty())
    } else {
        Response::new(Body::new(ChannelBody::new(
            rx,
            length,
            app.counters.clone(),
        )))
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Wanted::Part { start, end } = found.wanted
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", found.size))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Some(ms) = found.expires_at {
        h.insert(EXPIRES_AT_HEADER, HeaderValue::from(ms));
    }
    if !not_modified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        attribute_headers(h, &found.attrs);
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
    if let Err(response) = writable(&app.cache).await {
        return response;
    }
    let cache = app.cache.clone();
    match blocking(move || {
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
pub(crate) const REFUSED: DrainBound = DrainBound {
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

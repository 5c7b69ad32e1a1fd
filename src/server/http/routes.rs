//! The routes, and the layer every request passes: counting, the token check, and transfer
//! codings the server cannot decode.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;

use super::access::Started;
use super::app::{App, AppState};
use super::auth;
use super::drain::{REFUSED, drain_later};
use super::figures::{prometheus, stats};
use super::health::healthz;
use super::list::list_objects;
use super::metrics::add;
use super::objects::{delete_object, get_object, head_object, put_object};
use super::response::text;
use crate::store::KvStore;

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

/// Counts and logs every request (`Started`, at the end of its body); with a token configured, answers 401 to any
/// request without `Authorization: Bearer <token>`.
async fn guard<S: KvStore + 'static>(
    State(app): AppState<S>,
    req: Request,
    next: Next,
) -> Response {
    let started = Started::new(
        req.method(),
        req.uri().path(),
        req.headers(),
        app.requests.clone(),
    );
    let response = match &app.config.token {
        Some(token) if !auth::authorized(req.headers(), token) => {
            add(&app.counters.unauthorized, 1);
            auth::refuse(req, &app.config)
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
    started.finish(response)
}

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

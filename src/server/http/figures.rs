//! The figures' two routes: `GET /v1/stats` (JSON) and `GET /metrics` (OpenMetrics text);
//! both read the store's figures, which take its locks, on the server's pool.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::app::{App, AppState, blocking};
use super::metrics::json;
use crate::store::KvStore;

/// The OpenMetrics content type `/metrics` is served with (Prometheus negotiates it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /v1/stats` (the store's stats take its locks: blocking pool).
pub(super) async fn stats<S: KvStore + 'static>(State(app): AppState<S>) -> Response {
    let (counters, requests) = (app.counters.clone(), app.requests.clone());
    match blocking(&app, move |cache| {
        Ok(json(
            &counters,
            &requests,
            &cache.stats(),
            &cache.store().counters(),
        ))
    })
    .await
    {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(r) => r,
    }
}

/// `GET /metrics`: OpenMetrics text.
pub(super) async fn prometheus<S: KvStore + 'static>(State(app): AppState<S>) -> Response {
    let app: Arc<App<S>> = app;
    let shared = app.clone();
    match blocking(&app, move |_| {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &shared.registry).map_err(|_| {
            crate::Error::Worker {
                what: "rendering /metrics".into(),
                reason: "a metric did not encode".into(),
            }
        })?;
        Ok(out)
    })
    .await
    {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(r) => r,
    }
}

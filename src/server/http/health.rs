//! Health that tells the truth, and recovery after a failed write without a restart.
//!
//! A write that fails on the disk (a full disk, an I/O error) poisons the embedded store: it
//! refuses writes, since what follows the failure on disk is unknown. `/healthz` answers `503`
//! with the reason while that lasts. The server brings the store back in place
//! ([`BigCache::recover`]: cut the log back to what is known to be on disk, as a reopen
//! would) at the start of the next PUT or DELETE, and from a watchdog that tries every
//! [`ServerConfig::recovery_interval`](super::ServerConfig::recovery_interval) while
//! the store stays poisoned. So once the disk accepts writes again, writes succeed again.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::app::App;
use super::response::{error_response, text};
use crate::error::Error;
use crate::future::AsyncBigCache;
use crate::store::KvStore;

/// `GET /healthz`: `200 ok`, or `503` with the reason while the store refuses writes or
/// (a remote store) does not answer: a ring is healthy while at least one node answers.
pub(crate) async fn healthz<S: KvStore + 'static>(State(app): State<Arc<App<S>>>) -> Response {
    match app.objects.run(|c| c.store().probe()).await {
        Ok(()) => "ok\n".into_response(),
        Err(Error::Poisoned { reason }) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format_args!(
                "unhealthy: the store refuses writes after a failure ({reason}); it recovers at \
                 the next write, or within {:?}, once the disk accepts writes again",
                app.config.recovery_interval
            ),
        ),
        Err(e @ Error::Worker { .. }) => error_response(&e),
        Err(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format_args!("unhealthy: the store does not answer: {e}"),
        ),
    }
}

/// Before a write: when the store refuses writes after a failure, tries to recover it (on the
/// blocking pool). `Err` is the answer to give when it cannot recover yet.
pub(crate) async fn writable<S: KvStore + 'static>(app: &App<S>) -> Result<(), Response> {
    if app.cache.failure().is_none() {
        return Ok(());
    }
    app.objects
        .run(|c| c.recover())
        .await
        .map(drop)
        .map_err(|e| error_response(&e))
}

/// Tries to recover a store that has refused writes since the previous tick, every
/// `interval`, until the task is aborted.
pub(crate) async fn watchdog<S: KvStore + 'static>(objects: AsyncBigCache<S>, interval: Duration) {
    let mut failed_before = false;
    loop {
        tokio::time::sleep(interval).await;
        let failed = objects.inner().failure().is_some();
        if failed
            && failed_before
            && let Err(e) = objects.run(|c| c.recover()).await
        {
            tracing::warn!(
                "the store still cannot recover: {}",
                super::response::chain(&e)
            );
        }
        failed_before = objects.inner().failure().is_some();
    }
}

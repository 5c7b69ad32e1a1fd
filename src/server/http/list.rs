//! `GET /v1/objects?prefix=&after=&limit=`: keys in byte order with their sizes, one page at
//! a time.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::app::{AppState, blocking};
use super::response::{json, text};
use crate::protocol::http::{Listing, query_param};
use crate::store::KvStore;

/// Keys listed per `GET /v1/objects` response unless `limit` says otherwise.
const LIST_LIMIT: usize = 1000;

/// `GET /v1/objects?prefix=P&after=K&limit=N`: keys in byte order with their sizes, as JSON;
/// keys percent-encoded. `"truncated":true` means more follow: ask again with `after` set to
/// the last key.
pub(super) async fn list_objects<S: KvStore + 'static>(
    State(app): AppState<S>,
    uri: Uri,
) -> Response {
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
    let listed = blocking(&app, move |cache| {
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
            "this server's store cannot list keys (memcached, for one, keeps no index of them); \
             fetch objects by their key",
        ),
        Err(r) => r,
    }
}

//! A `logcache serve` node's objects, streamed: what the CLI's `--store http://HOST:PORT` uses
//! (the objects anyone reaches with curl), beside [`HttpStore`]'s `KvStore` calls, which hold
//! a whole value in memory.

use std::io::Read;
use std::time::Duration;

use super::store::{HttpStore, Response};
use crate::error::{Error, Result};
use crate::protocol::http::{Listing, TTL_HEADER, percent_encode};
use crate::store::KvStore;

/// Objects with their sizes, as a listing gives them: `(key, size)` in key order.
pub type Listed = Vec<(Vec<u8>, u64)>;

/// A node's `/v1/stats`: each section with its named counters.
pub type NodeStatsDoc = Vec<(String, Vec<(String, u64)>)>;

/// An object being read from a node: `io::Read` over the response body, which the node
/// checks block by block as it sends (a damaged block cuts the body short: a read error,
/// never wrong bytes). Created by [`HttpStore::get_object`].
pub struct ObjectStream {
    len: Option<u64>,
    body: ureq::BodyReader<'static>,
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl ObjectStream {
    /// The object's size from `Content-Length` (`None` if the node did not send one).
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// Whether the object is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }
}

impl Read for ObjectStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.body.read(buf)
    }
}

/// Streams have no deadline of their own (a large object takes as long as it takes); a node
/// that stops answering is still caught by the connect timeout and by TCP.
fn unbounded<S: ureq::AsSendBody>(
    store: &HttpStore,
    req: ureq::http::Request<S>,
) -> ureq::http::Request<S> {
    store
        .agent()
        .configure_request(req)
        .timeout_global(None)
        .timeout_recv_body(None)
        .timeout_send_body(None)
        .build()
}

impl HttpStore {
    /// Stores everything `body` yields as the object `key` (a chunked upload: memory stays
    /// small whatever the size), expiring after `ttl` if given. Returns once the node has
    /// committed and synced it. `413` is [`Error::TooLarge`], `507` [`Error::Full`].
    pub fn put_object(&self, key: &[u8], body: &mut dyn Read, ttl: Option<Duration>) -> Result<()> {
        let headers: Vec<(&str, String)> = ttl
            .map(|t| (TTL_HEADER, t.as_secs().max(1).to_string()))
            .into_iter()
            .collect();
        let req = self
            .prepare(self.object("PUT", key), &headers)
            .body(ureq::SendBody::from_reader(body))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let req = unbounded(self, req);
        let response = self.agent().run(req).map_err(|e| self.transport(e))?;
        let mut response = self.check(response)?;
        match response.status().as_u16() {
            200 => Ok(()),
            413 => Err(Error::TooLarge {
                what: "object",
                len: 0,
                max: self.max_value_len(),
            }),
            507 => Err(Error::Full),
            s => Err(self.refused("PUT", s, &mut response)),
        }
    }

    /// The object `key` as a stream, or `None` when the node has none.
    pub fn get_object(&self, key: &[u8]) -> Result<Option<ObjectStream>> {
        let req = self
            .prepare(self.object("GET", key), &[])
            .body(())
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let req = unbounded(self, req);
        let response = self.agent().run(req).map_err(|e| self.transport(e))?;
        let mut response = self.check(response)?;
        match response.status().as_u16() {
            200 => {
                let len = response
                    .headers()
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                Ok(Some(ObjectStream {
                    len,
                    body: response.into_body().into_reader(),
                }))
            }
            404 => Ok(None),
            s => Err(self.refused("GET", s, &mut response)),
        }
    }

    /// The objects whose key starts with `prefix`, with their sizes, in key order (paging
    /// through `GET /v1/objects`); `None` when the node's store cannot list.
    pub fn list_objects(&self, prefix: &[u8]) -> Result<Option<Listed>> {
        let mut all: Listed = Vec::new();
        loop {
            let mut path = format!("/v1/objects?limit=1000&prefix={}", percent_encode(prefix));
            if let Some((after, _)) = all.last() {
                path.push_str(&format!("&after={}", percent_encode(after)));
            }
            let mut response = self.send_get(&path)?;
            match response.status().as_u16() {
                200 => {}
                501 => return Ok(None),
                s => return Err(self.refused("listing", s, &mut response)),
            }
            let json = response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .map_err(|e| self.transport(e))?;
            let listing: Listing = serde_json::from_str(&json)
                .map_err(|e| Error::remote_from(self.url(), "a listing that does not parse", e))?;
            let keys = listing
                .keys()
                .ok_or_else(|| Error::remote(self.url(), "a listed key is not percent-encoded"))?;
            let page = keys.len();
            all.extend(keys.into_iter().zip(listing.objects.iter().map(|o| o.size)));
            if !listing.truncated || page == 0 {
                return Ok(Some(all));
            }
        }
    }

    /// The node's `/v1/stats`: each section (`server`, `requests`, `responses`, `objects`,
    /// `store`) with its named counters, in the node's order.
    pub fn node_stats(&self) -> Result<NodeStatsDoc> {
        let text = self.text(self.request("GET", "/v1/stats"), 1 << 20)?;
        let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| Error::remote_from(self.url(), "its /v1/stats do not parse", e))?;
        Ok(doc
            .into_iter()
            .map(|(section, rows)| {
                let rows = match rows {
                    serde_json::Value::Object(rows) => rows
                        .into_iter()
                        .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
                        .collect(),
                    _ => Vec::new(),
                };
                (section, rows)
            })
            .collect())
    }

    fn send_get(&self, path: &str) -> Result<Response> {
        let req = self
            .prepare(self.request("GET", path), &[])
            .body(())
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let response = self.agent().run(req).map_err(|e| self.transport(e))?;
        self.check(response)
    }

    /// An answer no call expects, with the first line of its body.
    fn refused(&self, what: &str, status: u16, response: &mut Response) -> Error {
        let message = self.body_text(response);
        Error::remote(
            self.url(),
            format_args!("{what} answered {status}: {message}"),
        )
    }
}

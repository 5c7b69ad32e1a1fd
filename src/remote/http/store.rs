//! [`HttpStore`]: a `KvStore` on a remote `logcache serve` node (feature `http-store`).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::protocol::http::{EXPIRES_AT_HEADER, StatsHead, TTL_HEADER, percent_encode};
use crate::remote::DEFAULT_NODE_TIMEOUT;
use crate::store::KvStore;

/// Configures an [`HttpStore`]; start from [`HttpStore::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .connect() is called"]
pub struct HttpStoreBuilder {
    url: String,
    token: Option<String>,
    connect_timeout: Duration,
    timeout: Duration,
    max_value_len: Option<u64>,
}

impl HttpStoreBuilder {
    /// Declares the node's `--max-object-size` instead of asking it: `connect` then does not
    /// need the node to be up (it is contacted on first use), so a ring can start while one
    /// of its nodes is down.
    pub fn max_value_len(mut self, bytes: u64) -> Self {
        self.max_value_len = Some(bytes);
        self
    }

    /// The node's bearer token (`logcache serve --token-file`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Time allowed to open a connection (default 1 s, and never more than
    /// [`timeout`](Self::timeout)).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// The node's deadline (default [`DEFAULT_NODE_TIMEOUT`], 2 s): the longest it may take to
    /// answer a request, and the longest a transfer may stand still (no byte sent or received)
    /// before the call fails as timed out. A large body takes as long as it needs while bytes
    /// move; a hung node costs a call at most this. A ring marks a node that timed out down.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Checks that the node answers (`/v1/stats`, with the token) and reads its largest
    /// object size (unless it was declared with [`max_value_len`](Self::max_value_len)).
    pub fn connect(self) -> Result<HttpStore> {
        let base = self.url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(Error::InvalidArgument(format!(
                "{base}: an HttpStore URL starts with http:// (put TLS in a proxy in front)"
            )));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "HttpStore timeouts must be greater than zero".into(),
            ));
        }
        // ureq's per-read and per-write limits are inactivity deadlines: a hung node is caught
        // within `timeout` at any point of a call, and a long transfer is never cut while it
        // moves.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout.min(self.timeout)))
            .timeout_recv_response(Some(self.timeout))
            .timeout_per_read(Some(self.timeout))
            .timeout_per_write(Some(self.timeout))
            .max_idle_connections_per_host(16)
            .build()
            .into();
        let mut store = HttpStore {
            base,
            agent,
            timeout: self.timeout,
            auth: self.token.map(|t| format!("Bearer {t}")),
            max_value_len: 0,
        };
        if let Some(declared) = self.max_value_len {
            store.max_value_len = declared;
            return Ok(store);
        }
        let stats = store.text(store.request("GET", "/v1/stats"), 1 << 20)?;
        let head: StatsHead = serde_json::from_str(&stats)
            .map_err(|e| Error::remote_from(&store.base, "its /v1/stats do not parse", e))?;
        store.max_value_len = head.server.max_object_size;
        Ok(store)
    }
}

/// A [`KvStore`] on a remote `logcache serve` node (feature `http-store`), so a
/// [`ShardedStore`](crate::ShardedStore) of logcache servers is a durable distributed cache.
///
/// Each value is an object on the node: `set` is a `PUT /v1/objects/<key>` (answered once the
/// node has synced it), `get` a `GET`, `delete` a `DELETE`, `set_with_ttl` sends
/// `x-logcache-ttl`, `keys_with_prefix` pages through `GET /v1/objects?prefix=`. Keys are
/// percent-encoded bytes. Connections are kept alive and reused (ureq's pool).
///
/// Transport failures, timeouts and `5xx` answers are [`Error::Remote`] (a ring marks the node
/// down); `413` is [`Error::TooLarge`], `507` [`Error::Full`]. The largest value is the node's
/// `max_object_size`, read from its `/v1/stats` at connect. `get_with_expiry` reports the
/// expiry the node sends (`x-logcache-expires-at`), so a tier in front expires its copy at
/// the same instant.
#[derive(Debug)]
pub struct HttpStore {
    base: String,
    agent: ureq::Agent,
    /// The node's deadline, for messages.
    timeout: Duration,
    auth: Option<String>,
    max_value_len: u64,
}

/// A request ready to send.
pub(super) struct Call {
    method: &'static str,
    url: String,
}

pub(super) type Response = ureq::http::Response<ureq::Body>;

impl HttpStore {
    /// A store on the node at `url` (`http://host:port`) with default options.
    pub fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder(url).connect()
    }

    /// A builder for the node at `url` (`http://host:port`).
    pub fn builder(url: impl Into<String>) -> HttpStoreBuilder {
        HttpStoreBuilder {
            url: url.into(),
            token: None,
            connect_timeout: Duration::from_secs(1),
            timeout: DEFAULT_NODE_TIMEOUT,
            max_value_len: None,
        }
    }

    /// The node's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    pub(super) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    pub(super) fn request(&self, method: &'static str, path: &str) -> Call {
        Call {
            method,
            url: format!("{}{path}", self.base),
        }
    }

    pub(super) fn object(&self, method: &'static str, key: &[u8]) -> Call {
        // Every byte but unreserved ones escaped, `/` included: the key is one path segment.
        let mut path = String::from("/v1/objects/");
        path.push_str(&percent_encode(key).replace('/', "%2F"));
        self.request(method, &path)
    }

    /// A request for `call` with the token and `headers`.
    pub(super) fn prepare(
        &self,
        call: Call,
        headers: &[(&str, String)],
    ) -> ureq::http::request::Builder {
        let mut builder = ureq::http::Request::builder()
            .method(call.method)
            .uri(&call.url);
        if let Some(auth) = &self.auth {
            builder = builder.header("authorization", auth);
        }
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder
    }

    /// Sends `call` with `body` (for PUT) and `headers`; transport failures are `Remote`.
    fn send(
        &self,
        call: Call,
        body: Option<&[u8]>,
        headers: &[(&str, String)],
    ) -> Result<Response> {
        let builder = self.prepare(call, headers);
        let result = match body {
            Some(body) => builder
                .body(body)
                .map_err(|e| Error::InvalidArgument(e.to_string()))
                .and_then(|req| self.agent.run(req).map_err(|e| self.transport(e))),
            None => builder
                .body(())
                .map_err(|e| Error::InvalidArgument(e.to_string()))
                .and_then(|req| self.agent.run(req).map_err(|e| self.transport(e))),
        };
        self.check(result?)
    }

    /// A response, or the error its status means for every call: `401` (the token) and
    /// `5xx` other than `507` (the node failed: a ring marks it down).
    pub(super) fn check(&self, response: Response) -> Result<Response> {
        match response.status().as_u16() {
            401 => Err(Error::remote(
                &self.base,
                "it refused this client's token (401): give the client the node's token \
                 (`--token-file` or `LOGCACHE_TOKEN` for the logcache CLI and `serve`, \
                 `HttpStoreBuilder::token` in Rust)",
            )),
            s if s >= 500 && s != 507 => {
                let mut response = response;
                let message = self.body_text(&mut response);
                Err(Error::remote(
                    &self.base,
                    format_args!("the node answered {s}: {message}"),
                ))
            }
            _ => Ok(response),
        }
    }

    pub(super) fn transport(&self, e: ureq::Error) -> Error {
        let reason = match &e {
            ureq::Error::Timeout(_) => crate::remote::timed_out(self.timeout),
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                crate::remote::timed_out(self.timeout)
            }
            ureq::Error::BodyStalled => format!(
                "its answer stalled for {:?} (timed out): it may be hung or overloaded",
                self.timeout
            ),
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                "cannot connect: check that it is running and reachable".to_string()
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "cannot connect (connection refused): check that it is running and reachable"
                    .to_string()
            }
            _ => "the request failed".to_string(),
        };
        Error::remote_from(&self.base, reason, e)
    }

    /// The first line of an answer's body, for error messages.
    pub(super) fn body_text(&self, response: &mut Response) -> String {
        response
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    pub(super) fn text(&self, call: Call, limit: u64) -> Result<String> {
        let mut response = self.send(call, None, &[])?;
        if response.status() != 200 {
            let message = self.body_text(&mut response);
            return Err(Error::remote(
                &self.base,
                format_args!("answered {}: {message}", response.status()),
            ));
        }
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_string()
            .map_err(|e| self.transport(e))
    }

    fn put(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        if value.len() as u64 > self.max_value_len {
            return Err(Error::TooLarge {
                what: "value",
                len: value.len() as u64,
                max: self.max_value_len,
            });
        }
        let headers: Vec<(&str, String)> = ttl
            .map(|t| {
                let secs = (t.as_secs() + u64::from(t.subsec_nanos() > 0)).max(1);
                (TTL_HEADER, secs.to_string())
            })
            .into_iter()
            .collect();
        let mut response = self.send(self.object("PUT", key), Some(value), &headers)?;
        match response.status().as_u16() {
            200 => Ok(()),
            413 => Err(Error::TooLarge {
                what: "value",
                len: value.len() as u64,
                max: self.max_value_len,
            }),
            507 => Err(Error::Full),
            s => {
                let message = self.body_text(&mut response);
                Err(Error::remote(
                    &self.base,
                    format_args!("PUT answered {s}: {message}"),
                ))
            }
        }
    }
}

/// The number after `"name":` in a flat JSON text.
impl KvStore for HttpStore {
    /// One read of a probe key: an error when the node does not answer.
    fn probe(&self) -> Result<()> {
        self.get(crate::store::PROBE_KEY).map(drop)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.get_with_expiry(key)?.map(|(v, _)| v))
    }

    /// The value with the expiry the node reports (`x-logcache-expires-at`; 0 without a TTL).
    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        let mut response = self.send(self.object("GET", key), None, &[])?;
        match response.status().as_u16() {
            200 => {
                let expiry = response
                    .headers()
                    .get(EXPIRES_AT_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                response
                    .body_mut()
                    .with_config()
                    .limit(self.max_value_len)
                    .read_to_vec()
                    .map(|v| Some((v, expiry)))
                    .map_err(|e| self.transport(e))
            }
            404 => Ok(None),
            s => {
                let message = self.body_text(&mut response);
                Err(Error::remote(
                    &self.base,
                    format_args!("GET answered {s}: {message}"),
                ))
            }
        }
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(key, value, None)
    }

    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.put(key, value, Some(ttl))
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        let mut response = self.send(self.object("DELETE", key), None, &[])?;
        match response.status().as_u16() {
            204 => Ok(true),
            404 => Ok(false),
            s => {
                let message = self.body_text(&mut response);
                Err(Error::remote(
                    &self.base,
                    format_args!("DELETE answered {s}: {message}"),
                ))
            }
        }
    }

    fn max_value_len(&self) -> u64 {
        self.max_value_len
    }

    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<Vec<u8>>>> {
        Ok(self
            .list_objects(prefix)?
            .map(|listed| listed.into_iter().map(|(key, _)| key).collect()))
    }
}

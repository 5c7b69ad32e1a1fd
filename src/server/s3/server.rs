//! [`S3Server`]: the S3 door's listener, its shared state ([`S3`]) and the dispatch of each
//! request — authentication, then the bucket and key from the path (or the host, virtual-host
//! style), then the operation from the method and the query.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use super::auth::{Payload, authenticate};
use super::body::Incoming;
use super::buckets;
use super::config::S3Config;
use super::error::{S3Error, S3Result};
use super::{list, multipart, objects};
use crate::big::BigCache;
use crate::error::{Error, Result};
use crate::protocol::http::percent_decode;
use crate::server::ServerConfig;
use crate::server::http::access::Started;
use crate::server::http::app::App;
use crate::server::http::drain::{REFUSED, drain_body};
use crate::store::KvStore;

/// What every S3 request shares: the object server's state (cache, pool, limits, counters),
/// the door's settings and the buckets known.
pub(crate) struct S3<S: KvStore> {
    pub(crate) app: Arc<App<S>>,
    pub(crate) config: S3Config,
    /// Bucket name → creation time (Unix ms).
    pub(crate) buckets: Mutex<BTreeMap<String, u64>>,
}

impl<S: KvStore + 'static> S3<S> {
    /// A blocking call on the cache, on the server's pool; a failure as S3 says it.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&BigCache<S>) -> crate::Result<T> + Send + 'static,
    ) -> S3Result<T> {
        self.app
            .objects
            .run(call)
            .await
            .map_err(|e| S3Error::from_store(&e))
    }
}

/// One request, taken apart.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Query,
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// In a mutex so that `&Call` may be held across an await (a body is `Send`, not
    /// `Sync`).
    body: Mutex<Option<Body>>,
    pub(crate) payload: Payload,
}

impl Call {
    /// The body, to be read with at most `max` bytes of object data.
    pub(crate) fn into_incoming<S: KvStore>(self, app: &App<S>, max: u64) -> S3Result<Incoming> {
        let body = self
            .body
            .into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(Body::empty);
        Incoming::new(
            &self.headers,
            body,
            self.payload,
            max,
            app.config.body_timeout,
        )
    }

    /// `/bucket/key`, for error documents.
    pub(crate) fn resource(&self) -> String {
        format!("/{}/{}", self.bucket, self.key)
    }
}

/// The query's parameters, percent-decoded, in order.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (n, v) = p.split_once('=').unwrap_or((p, ""));
                    let dec = |s: &str| {
                        let s = s.replace('+', " ");
                        String::from_utf8_lossy(&super::sigv4::uri_decode(&s)).into_owned()
                    };
                    (dec(n), dec(v))
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// A bound S3 door; [`run`](Self::run) serves until a shutdown future completes.
pub struct S3Server<S: KvStore + 'static> {
    listener: TcpListener,
    s3: Arc<S3<S>>,
}

impl<S: KvStore + 'static> std::fmt::Debug for S3Server<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("listen", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl<S: KvStore + 'static> S3Server<S> {
    /// Validates the settings, loads the buckets and binds `s3.listen` (within a tokio
    /// runtime). `config` gives the limits and timeouts shared with the object API (its
    /// `listen` and `token` are not used: S3 requests are signed).
    pub async fn bind(config: ServerConfig, s3: S3Config, cache: Arc<BigCache<S>>) -> Result<Self> {
        s3.validate()?;
        let mut config = config;
        config.listen = s3.listen;
        config.token = None;
        config.validate()?;
        let app = Arc::new(App::new(cache, config));
        let known = app.objects.run(|c| buckets::load(c)).await?;
        let listener = TcpListener::bind(s3.listen)
            .await
            .map_err(|e| Error::system(format_args!("listening on {}", s3.listen), e))?;
        Ok(S3Server {
            listener,
            s3: Arc::new(S3 {
                app,
                config: s3,
                buckets: Mutex::new(known),
            }),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.s3.config.listen)
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and syncs the
    /// store.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let app = self.s3.app.clone();
        let router = Router::new().fallback(handle::<S>).with_state(self.s3);
        crate::server::http::server::serve(self.listener, router, app, shutdown).await
    }
}

async fn handle<S: KvStore + 'static>(State(s3): State<Arc<S3<S>>>, req: Request) -> Response {
    let started = Started::new(
        req.method(),
        req.uri().path(),
        req.headers(),
        s3.app.requests.clone(),
    );
    let head = req.method() == Method::HEAD;
    let response = match dispatch(&s3, req).await {
        Ok(r) => r,
        Err(e) if head => {
            // A HEAD answer has no body: the status says it all.
            let mut r = StatusCode::OK.into_response();
            *r.status_mut() = e.status;
            r
        }
        Err(e) => e.into_response(),
    };
    started.finish(response)
}

/// The bucket and key a request addresses: from the host (virtual-host style, with a
/// domain) or the path's first segment, and the rest of the path.
fn target(config: &S3Config, headers: &HeaderMap, path: &str) -> S3Result<(String, String)> {
    let decode = |s: &str| {
        percent_decode(s.as_bytes())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| S3Error::invalid_argument("the path is not percent-encoded UTF-8"))
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name));
    if let (Some(domain), Some(host)) = (&config.domain, host)
        && let Some(bucket) = host
            .strip_suffix(domain.as_str())
            .and_then(|b| b.strip_suffix('.'))
        && !bucket.is_empty()
    {
        return Ok((bucket.to_string(), decode(path)?));
    }
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    Ok((decode(bucket)?, decode(key)?))
}

async fn dispatch<S: KvStore + 'static>(s3: &S3<S>, req: Request) -> S3Result {
    let (parts, body) = req.into_parts();
    let payload = match authenticate(&s3.config, &parts.method, &parts.uri, &parts.headers) {
        Ok(p) => p,
        Err(e) => {
            drain_body(body, s3.app.config.body_timeout, REFUSED);
            return Err(e);
        }
    };
    let (bucket, key) = target(&s3.config, &parts.headers, parts.uri.path())?;
    let call = Call {
        query: Query::parse(parts.uri.query().unwrap_or("")),
        method: parts.method,
        headers: parts.headers,
        bucket,
        key,
        body: Mutex::new(Some(body)),
        payload,
    };
    let m = &call.method;
    let q = &call.query;
    if call.bucket.is_empty() {
        return match *m {
            Method::GET => buckets::list_buckets(s3).await,
            _ => Err(S3Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource",
            )),
        };
    }
    for unsupported in [
        "acl",
        "policy",
        "cors",
        "lifecycle",
        "versioning",
        "tagging",
        "website",
        "replication",
        "encryption",
        "logging",
        "notification",
        "object-lock",
        "retention",
        "legal-hold",
        "versions",
        "torrent",
        "restore",
        "select",
        "attributes",
    ] {
        if q.has(unsupported) {
            return Err(S3Error::not_implemented(&format!("?{unsupported}")));
        }
    }
    if call.key.is_empty() {
        let bucket = call.bucket.clone();
        return match *m {
            Method::PUT => buckets::create_bucket(s3, call).await,
            Method::HEAD => buckets::head_bucket(s3, &bucket).await,
            Method::DELETE => buckets::delete_bucket(s3, &bucket).await,
            Method::GET if q.has("location") => buckets::location(s3, &bucket).await,
            Method::GET if q.has("uploads") => multipart::list_uploads(s3, call).await,
            Method::GET => list::list_objects(s3, call).await,
            Method::POST if q.has("delete") => objects::delete_objects(s3, call).await,
            _ => Err(S3Error::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against a bucket",
            )),
        };
    }
    s3.bucket_exists(&call.bucket).await?;
    let upload = q.has("uploadId");
    match *m {
        Method::PUT if upload => multipart::upload_part(s3, call).await,
        Method::PUT if call.headers.contains_key("x-amz-copy-source") => {
            objects::copy_object(s3, call).await
        }
        Method::PUT => objects::put_object(s3, call).await,
        Method::GET if upload => multipart::list_parts(s3, call).await,
        Method::GET => objects::get_object(s3, call, false).await,
        Method::HEAD => objects::get_object(s3, call, true).await,
        Method::DELETE if upload => multipart::abort(s3, call).await,
        Method::DELETE => objects::delete_object(s3, call).await,
        Method::POST if q.has("uploads") => multipart::create(s3, call).await,
        Method::POST if upload => multipart::complete(s3, call).await,
        _ => Err(S3Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against an object",
        )),
    }
}

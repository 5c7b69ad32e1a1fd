//! Writing an object through the S3 door: a writer opened after the size and the store's
//! health are checked, bytes pumped in from a request body or from other objects (a copy, a
//! multipart upload's parts), the MD5 and the time of writing put in its manifest, and the
//! commit synced before any `200`.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use md5::{Digest as _, Md5};

use super::body::Incoming;
use super::error::{S3Error, S3Result};
use super::server::S3;
use super::time::now_ms;
use crate::big::{Attributes, Committed, Digest};
use crate::future::{AsyncBigReader, AsyncBigWriter};
use crate::server::http::health::writable;
use crate::store::KvStore;

/// The object size a request announces: `x-amz-decoded-content-length` for an `aws-chunked`
/// body, else `Content-Length`.
pub(crate) fn declared_len(headers: &HeaderMap) -> Option<u64> {
    ["x-amz-decoded-content-length", "content-length"]
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl<S: KvStore + 'static> S3<S> {
    /// A writer for `key` (with a TTL for parts), once an announced size is known to fit and
    /// the store takes writes.
    pub(crate) async fn writer(
        &self,
        key: &[u8],
        len: Option<u64>,
        ttl: Option<Duration>,
    ) -> S3Result<AsyncBigWriter> {
        let max = self.app.config.max_object_size;
        if let Some(len) = len {
            if len > max {
                return Err(S3Error::too_large(max));
            }
            if !self.app.cache.could_hold(key, len) {
                return Err(S3Error::from_store(&crate::Error::Full));
            }
        }
        writable(&self.app).await.map_err(|r| {
            S3Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!(
                    "the store refuses writes after a failed write (status {}); retry",
                    r.status()
                ),
            )
        })?;
        let writer = match ttl {
            Some(ttl) => self.app.objects.writer_with_ttl(key, ttl).await,
            None => self.app.objects.writer(key).await,
        };
        writer.map_err(|e| S3Error::from_store(&e))
    }

    /// Publishes what `writer` holds with `attrs` plus `digest` and the time now, if `allow`
    /// (given the current version) says so; synced before it returns.
    pub(crate) async fn commit(
        &self,
        mut writer: AsyncBigWriter,
        mut attrs: Attributes,
        digest: Digest,
        allow: Option<Box<dyn FnOnce(Option<u128>) -> bool + Send>>,
    ) -> S3Result<(Committed, Attributes)> {
        attrs.digest = Some(digest);
        attrs.modified = Some(now_ms());
        if let Err(e) = writer.set_attributes(attrs.clone()) {
            writer.abort().await;
            return Err(S3Error::from_store(&e));
        }
        let committed = match allow {
            Some(allow) => writer.commit_if(allow).await,
            None => writer.commit().await,
        }
        .map_err(|e| S3Error::from_store(&e))?;
        self.run(|c| c.store().sync()).await?;
        Ok((committed, attrs))
    }
}

/// Sends a request body into `writer`; the body's MD5, once everything it must match holds.
/// On any failure the writer is aborted (nothing is published).
pub(crate) async fn pump_body(
    writer: &mut AsyncBigWriter,
    mut body: Incoming,
) -> S3Result<[u8; 16]> {
    loop {
        match body.next().await {
            Ok(Some(data)) => writer
                .send(data)
                .await
                .map_err(|e| S3Error::from_store(&e))?,
            Ok(None) => return body.finish(),
            Err(e) => return Err(e),
        }
    }
}

/// Sends an object's bytes into `writer`, hashing them into `md5` when given (a copy needs
/// the MD5 of its bytes; a Complete's comes from the parts').
pub(crate) async fn pump_object(
    writer: &mut AsyncBigWriter,
    reader: &mut AsyncBigReader,
    mut md5: Option<&mut Md5>,
) -> S3Result<()> {
    while let Some(chunk) = reader
        .next_chunk()
        .await
        .map_err(|e| S3Error::from_store(&e))?
    {
        if let Some(md5) = md5.as_deref_mut() {
            md5.update(&chunk);
        }
        writer
            .send(chunk)
            .await
            .map_err(|e| S3Error::from_store(&e))?;
    }
    Ok(())
}

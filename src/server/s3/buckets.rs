//! Buckets: namespaces over the one store. Object `key` of bucket `b` is the store's key
//! `b/key` (the same object `/v1/objects/b/key` serves). A bucket exists once created: its
//! marker (`\0s3/bucket/<name>`, holding the creation time) is kept in the store and in
//! memory, and written again by a listing of the buckets that finds it evicted.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::error::{S3Error, S3Result};
use super::server::{Call, S3};
use super::time::{iso8601, now_ms};
use super::xml::Xml;
use crate::store::KvStore;

/// Where bucket markers are kept.
const MARKERS: &[u8] = b"\0s3/bucket/";

/// The store key of a bucket's marker.
fn marker(bucket: &str) -> Vec<u8> {
    [MARKERS, bucket.as_bytes()].concat()
}

/// The store key of object `key` in `bucket`.
pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

/// S3's rules for a bucket name: 3–63 characters of `a-z 0-9 . -`, starting and ending with a
/// letter or digit.
pub(crate) fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(c))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..")
}

/// The buckets found in the store at startup (a store that cannot list: none).
pub(crate) fn load<S: KvStore>(cache: &crate::BigCache<S>) -> crate::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for key in cache.keys(MARKERS)?.unwrap_or_default() {
        let Some(name) = key.strip_prefix(MARKERS) else {
            continue;
        };
        let Ok(name) = String::from_utf8(name.to_vec()) else {
            continue;
        };
        let created = cache
            .get(&key)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.insert(name, created);
    }
    Ok(out)
}

impl<S: KvStore + 'static> S3<S> {
    /// `Ok` when `bucket` exists: known here, or its marker is in the store (made by another
    /// server over the same store).
    pub(crate) async fn bucket_exists(&self, bucket: &str) -> S3Result<()> {
        if crate::sync::lock(&self.buckets).contains_key(bucket) {
            return Ok(());
        }
        let m = marker(bucket);
        let found = self.run(move |c| c.get(&m)).await?;
        let Some(created) = found else {
            return Err(S3Error::no_such_bucket(bucket));
        };
        let created = String::from_utf8_lossy(&created).parse().unwrap_or(0);
        crate::sync::lock(&self.buckets).insert(bucket.to_string(), created);
        Ok(())
    }
}

/// `GET /`: every bucket, with its creation time. A marker the cache evicted is written again.
pub(crate) async fn list_buckets<S: KvStore + 'static>(s3: &S3<S>) -> S3Result {
    let known = crate::sync::lock(&s3.buckets).clone();
    let missing = known.clone();
    // Synced only when a marker had to be written again: a listing is otherwise read-only.
    let restored = s3
        .run(move |c| {
            let mut wrote = false;
            for (name, created) in &missing {
                let m = marker(name);
                if !c.contains(&m)? {
                    c.set(&m, created.to_string())?;
                    wrote = true;
                }
            }
            if wrote {
                c.store().sync()?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = restored {
        tracing::warn!("could not restore a bucket marker: {}", e.message);
    }
    let mut xml = Xml::new();
    xml.open("ListAllMyBucketsResult");
    owner(&mut xml);
    xml.open("Buckets");
    for (name, created) in known {
        xml.open("Bucket");
        xml.elem("Name", &name);
        xml.elem("CreationDate", &iso8601(created));
        xml.close("Bucket");
    }
    xml.close("Buckets");
    xml.close("ListAllMyBucketsResult");
    Ok(xml.into_response())
}

/// The one owner of everything this server holds.
pub(crate) fn owner(xml: &mut Xml) {
    xml.open("Owner");
    xml.elem("ID", "logcache");
    xml.elem("DisplayName", "logcache");
    xml.close("Owner");
}

/// `PUT /bucket`: creates it (`409 BucketAlreadyOwnedByYou` when it exists).
pub(crate) async fn create_bucket<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let bucket = call.bucket.clone();
    // A `CreateBucketConfiguration` (a location constraint) is read and not needed.
    let _ = call.into_incoming(&s3.app, 64 << 10)?.collect().await?;
    if !valid_name(&bucket) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid: 3-63 characters of a-z, 0-9, '.' and '-', \
             starting and ending with a letter or digit",
        )
        .on(format!("/{bucket}")));
    }
    if s3.bucket_exists(&bucket).await.is_ok() {
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it",
        )
        .on(format!("/{bucket}")));
    }
    let created = now_ms();
    let m = marker(&bucket);
    s3.run(move |c| {
        c.set(&m, created.to_string())?;
        c.store().sync()
    })
    .await?;
    crate::sync::lock(&s3.buckets).insert(bucket.clone(), created);
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = format!("/{bucket}").parse() {
        r.headers_mut().insert("location", v);
    }
    Ok(r)
}

/// `HEAD /bucket`: `200` or `404`.
pub(crate) async fn head_bucket<S: KvStore + 'static>(s3: &S3<S>, bucket: &str) -> S3Result {
    s3.bucket_exists(bucket).await?;
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = s3.config.region.parse() {
        r.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(r)
}

/// `DELETE /bucket`: only an empty bucket (`409 BucketNotEmpty`); `204`.
pub(crate) async fn delete_bucket<S: KvStore + 'static>(s3: &S3<S>, bucket: &str) -> S3Result {
    s3.bucket_exists(bucket).await?;
    let prefix = object_key(bucket, "");
    let m = marker(bucket);
    let emptied = s3
        .run(move |c| {
            let empty = c.keys(&prefix)?.unwrap_or_default().is_empty();
            if empty {
                c.delete(&m)?;
                c.store().sync()?;
            }
            Ok(empty)
        })
        .await?;
    if !emptied {
        return Err(S3Error::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty: delete its objects first",
        )
        .on(format!("/{bucket}")));
    }
    crate::sync::lock(&s3.buckets).remove(bucket);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /bucket?location`.
pub(crate) async fn location<S: KvStore + 'static>(s3: &S3<S>, bucket: &str) -> S3Result {
    s3.bucket_exists(bucket).await?;
    let mut xml = Xml::new();
    // us-east-1 is written as an empty constraint, as S3 does.
    let region = if s3.config.region == "us-east-1" {
        ""
    } else {
        &s3.config.region
    };
    xml.open("LocationConstraint");
    let mut s = xml.into_string();
    s.push_str(&quick_xml::escape::escape(region));
    s.push_str("</LocationConstraint>");
    let mut r = s.into_response();
    if let Ok(v) = "application/xml".parse() {
        r.headers_mut().insert(axum::http::header::CONTENT_TYPE, v);
    }
    Ok(r)
}

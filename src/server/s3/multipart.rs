//! Multipart uploads: Create, UploadPart, Complete, Abort, ListParts, ListMultipartUploads.
//!
//! An upload is a record (`\0s3/upload/<bucket>/<id>`: the key, its attributes, when it
//! started) and its parts, each an object of its own (`\0s3/part/<bucket>/<id>/<number>`)
//! with the part's MD5; record and parts carry a TTL of the door's multipart expiry, so an
//! upload never completed is reclaimed. Nothing is visible under the key until Complete,
//! which streams the listed parts into one object (committed atomically, as any write) and
//! then deletes the upload. A crash before that commit leaves the upload as it was; after it,
//! the object is whole and the parts expire.

use std::hash::{BuildHasher, Hasher};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};

use super::buckets::{object_key, owner};
use super::error::{S3Error, S3Result};
use super::headers::{attributes_of, etag_of, modified_of};
use super::objects::open;
use super::server::{Call, S3};
use super::sigv4::hex;
use super::time::{iso8601, now_ms};
use super::write::{declared_len, pump_body, pump_object};
use super::xml::{Xml, fields};
use crate::big::{Attributes, Digest};
use crate::store::KvStore;

/// The smallest part but the last, as S3.
pub(crate) const MIN_PART: u64 = 5 << 20;
/// The most parts an upload may have.
const MAX_PARTS: u32 = 10_000;

/// What an upload's record keeps.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    key: String,
    initiated: u64,
    content_type: Option<String>,
    metadata: Vec<(String, String)>,
}

fn record_key(bucket: &str, id: &str) -> Vec<u8> {
    format!("\0s3/upload/{bucket}/{id}").into_bytes()
}

fn parts_prefix(bucket: &str, id: &str) -> Vec<u8> {
    format!("\0s3/part/{bucket}/{id}/").into_bytes()
}

fn part_key(bucket: &str, id: &str, number: u32) -> Vec<u8> {
    let mut k = parts_prefix(bucket, id);
    k.extend_from_slice(format!("{number:05}").as_bytes());
    k
}

/// A fresh upload id: 128 random bits (the standard library's per-process random hash keys,
/// mixed with the time), in hex.
fn new_id() -> String {
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now_ms());
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    hex(&out)
}

impl<S: KvStore + 'static> S3<S> {
    /// The record of upload `id` of `call`'s key; `NoSuchUpload` when it is not one.
    async fn record(&self, call: &Call) -> S3Result<(String, Record)> {
        let id = call.query.get("uploadId").unwrap_or("").to_string();
        let k = record_key(&call.bucket, &id);
        let record = self
            .run(move |c| c.get(&k))
            .await?
            .and_then(|v| serde_json::from_slice::<Record>(&v).ok())
            .filter(|r| r.key == call.key)
            .ok_or_else(|| S3Error::no_such_upload(&id))?;
        Ok((id, record))
    }

    /// The parts of an upload stored so far: number → (size, MD5 digest, time); `None`
    /// over a store that cannot list its keys.
    async fn parts(&self, bucket: &str, id: &str) -> S3Result<Option<Vec<Part>>> {
        let prefix = parts_prefix(bucket, id);
        let (bucket, id) = (bucket.to_string(), id.to_string());
        self.run(move |c| {
            let Some(mut keys) = c.keys(&prefix)? else {
                return Ok(None);
            };
            keys.sort_unstable();
            let numbers = keys.iter().filter_map(|k| {
                std::str::from_utf8(k.get(prefix.len()..)?)
                    .ok()?
                    .parse()
                    .ok()
            });
            Ok(Some(read_parts(c, &bucket, &id, numbers)?))
        })
        .await
    }

    /// Deletes an upload's record, the parts numbered `known` and every other part a
    /// listing finds (over a store that cannot list, the others expire), synced.
    async fn forget(&self, bucket: &str, id: &str, known: Vec<u32>) -> S3Result<()> {
        let record = record_key(bucket, id);
        let prefix = parts_prefix(bucket, id);
        let (bucket, id) = (bucket.to_string(), id.to_string());
        self.run(move |c| {
            for n in known {
                c.delete(part_key(&bucket, &id, n))?;
            }
            for k in c.keys(&prefix)?.unwrap_or_default() {
                c.delete(&k)?;
            }
            c.delete(&record)?;
            c.store().sync()
        })
        .await
    }
}

/// A stored part: number, size, MD5 digest, time of writing.
type Part = (u32, u64, Digest, u64);

/// The parts numbered `numbers` of upload `id` that are stored, read from their manifests.
fn read_parts<S: KvStore>(
    c: &crate::BigCache<S>,
    bucket: &str,
    id: &str,
    numbers: impl Iterator<Item = u32>,
) -> crate::Result<Vec<Part>> {
    let mut out = Vec::new();
    for number in numbers {
        if let Some(r) = c.reader(part_key(bucket, id, number))? {
            let a = r.attributes();
            out.push((
                number,
                r.len(),
                a.digest.unwrap_or_default(),
                modified_of(a),
            ));
        }
    }
    Ok(out)
}

/// `POST /bucket/key?uploads`.
pub(crate) async fn create<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let attrs = attributes_of(&call.headers)?;
    let id = new_id();
    let record = Record {
        key: call.key.clone(),
        initiated: now_ms(),
        content_type: attrs.content_type,
        metadata: attrs.metadata,
    };
    let value = serde_json::to_vec(&record)
        .map_err(|e| S3Error::invalid_argument(format!("the upload's record: {e}")))?;
    let k = record_key(&call.bucket, &id);
    let ttl = s3.config.multipart_expiry;
    s3.run(move |c| {
        c.set_with_ttl(&k, value, ttl)?;
        c.store().sync()
    })
    .await?;
    let mut xml = Xml::new();
    xml.open("InitiateMultipartUploadResult");
    xml.elem("Bucket", &call.bucket);
    xml.elem("Key", &call.key);
    xml.elem("UploadId", &id);
    xml.close("InitiateMultipartUploadResult");
    Ok(xml.into_response())
}

/// `PUT /bucket/key?partNumber=N&uploadId=ID`: one part, kept with its MD5.
pub(crate) async fn upload_part<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    if call.headers.contains_key("x-amz-copy-source") {
        return Err(S3Error::not_implemented("UploadPartCopy"));
    }
    let number = call
        .query
        .get("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    let (id, _) = s3.record(&call).await?;
    let key = part_key(&call.bucket, &id, number);
    let ttl = s3.config.multipart_expiry;
    let mut writer = s3
        .writer(&key, declared_len(&call.headers), Some(ttl))
        .await?;
    let body = call.into_incoming(&s3.app, s3.app.config.max_object_size)?;
    let md5 = match pump_body(&mut writer, body).await {
        Ok(md5) => md5,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    let digest = Digest { md5, parts: 0 };
    s3.commit(writer, Attributes::default(), digest, None)
        .await?;
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&digest.etag()) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

/// `GET /bucket/key?uploadId=ID`: the parts stored, by number.
pub(crate) async fn list_parts<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let (id, _) = s3.record(&call).await?;
    let marker: u32 = call
        .query
        .get("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = call
        .query
        .get("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let parts: Vec<_> = s3
        .parts(&call.bucket, &id)
        .await?
        .ok_or_else(|| {
            S3Error::not_implemented("ListParts over a store that cannot list its keys")
        })?
        .into_iter()
        .filter(|p| p.0 > marker)
        .collect();
    let truncated = parts.len() > max;
    let mut xml = Xml::new();
    xml.open("ListPartsResult");
    xml.elem("Bucket", &call.bucket);
    xml.elem("Key", &call.key);
    xml.elem("UploadId", &id);
    xml.elem("PartNumberMarker", &marker.to_string());
    if let Some(last) = parts.get(max.saturating_sub(1)).filter(|_| truncated) {
        xml.elem("NextPartNumberMarker", &last.0.to_string());
    }
    xml.elem("MaxParts", &max.to_string());
    xml.elem("IsTruncated", if truncated { "true" } else { "false" });
    for (number, size, digest, modified) in parts.iter().take(max) {
        xml.open("Part");
        xml.elem("PartNumber", &number.to_string());
        xml.elem("LastModified", &iso8601(*modified));
        xml.elem("ETag", &digest.etag());
        xml.elem("Size", &size.to_string());
        xml.close("Part");
    }
    xml.elem("StorageClass", "STANDARD");
    xml.close("ListPartsResult");
    Ok(xml.into_response())
}

/// `DELETE /bucket/key?uploadId=ID`: the upload and its parts are gone; `204`.
pub(crate) async fn abort<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let (id, _) = s3.record(&call).await?;
    s3.forget(&call.bucket, &id, Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /bucket?uploads`: the uploads begun and not completed or aborted.
pub(crate) async fn list_uploads<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    s3.bucket_exists(&call.bucket).await?;
    let prefix = record_key(&call.bucket, "");
    let wanted = call.query.get("prefix").unwrap_or("").to_string();
    let mut uploads: Vec<(String, String, u64)> = s3
        .run(move |c| {
            let mut out = Vec::new();
            for k in c.keys(&prefix)?.unwrap_or_default() {
                let id =
                    String::from_utf8_lossy(k.get(prefix.len()..).unwrap_or_default()).into_owned();
                if let Some(r) = c
                    .get(&k)?
                    .and_then(|v| serde_json::from_slice::<Record>(&v).ok())
                {
                    out.push((r.key, id, r.initiated));
                }
            }
            Ok(out)
        })
        .await?
        .into_iter()
        .filter(|(key, _, _)| key.starts_with(&wanted))
        .collect();
    uploads.sort();
    let mut xml = Xml::new();
    xml.open("ListMultipartUploadsResult");
    xml.elem("Bucket", &call.bucket);
    xml.elem("KeyMarker", "");
    xml.elem("UploadIdMarker", "");
    xml.elem("Prefix", &wanted);
    xml.elem("MaxUploads", "1000");
    xml.elem("IsTruncated", "false");
    for (key, id, initiated) in uploads {
        xml.open("Upload");
        xml.elem("Key", &key);
        xml.elem("UploadId", &id);
        xml.open("Initiator");
        xml.elem("ID", "logcache");
        xml.elem("DisplayName", "logcache");
        xml.close("Initiator");
        owner(&mut xml);
        xml.elem("StorageClass", "STANDARD");
        xml.elem("Initiated", &iso8601(initiated));
        xml.close("Upload");
    }
    xml.close("ListMultipartUploadsResult");
    Ok(xml.into_response())
}

/// The parts a Complete document lists: (number, ETag without quotes), in order.
fn listed(doc: &[u8]) -> S3Result<Vec<(u32, String)>> {
    let f = fields(doc, "Part").ok_or_else(|| {
        S3Error::malformed_xml("the CompleteMultipartUpload document is not well-formed XML")
    })?;
    let groups = f.iter().map(|(g, _, _)| *g).max().unwrap_or(0);
    let mut out = Vec::with_capacity(groups);
    for g in 1..=groups {
        let get = |name: &str| {
            f.iter()
                .filter(|(gg, n, _)| *gg == g && n == name)
                .map(|(_, _, t)| t.as_str())
                .collect::<String>()
        };
        let number = get("PartNumber")
            .trim()
            .parse::<u32>()
            .map_err(|_| S3Error::malformed_xml("a Part without a PartNumber"))?;
        out.push((number, get("ETag").trim().trim_matches('"').to_string()));
    }
    if out.is_empty() {
        return Err(S3Error::malformed_xml("You must specify at least one part"));
    }
    if out.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ));
    }
    Ok(out)
}

/// `POST /bucket/key?uploadId=ID`: the listed parts become the object, whose `ETag` is the
/// MD5 of the parts' MD5s and `-N`.
pub(crate) async fn complete<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let (id, record) = s3.record(&call).await?;
    let bucket = call.bucket.clone();
    let key = call.key.clone();
    let mut doc = call.into_incoming(&s3.app, 4 << 20)?;
    let bytes = doc.collect().await?;
    doc.finish()?;
    let wanted = listed(&bytes)?;
    // The listed parts, read by number: no listing needed.
    let numbers: Vec<u32> = wanted.iter().map(|(n, _)| *n).collect();
    let (b, i) = (bucket.clone(), id.clone());
    let stored = s3
        .run(move |c| read_parts(c, &b, &i, numbers.into_iter()))
        .await?;
    let invalid = |n: u32| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            format!(
                "Part {n} could not be found or its ETag does not match: upload it again, or \
                 list the parts (ListParts)"
            ),
        )
    };
    let mut of_parts = Md5::new();
    let mut total = 0u64;
    for (i, (number, etag)) in wanted.iter().enumerate() {
        let Some((_, size, digest, _)) = stored.iter().find(|p| p.0 == *number) else {
            return Err(invalid(*number));
        };
        if digest.etag().trim_matches('"') != etag {
            return Err(invalid(*number));
        }
        if *size < MIN_PART && i + 1 < wanted.len() {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                format!(
                    "Part {number} is {size} bytes: every part but the last must be at least 5 MiB"
                ),
            ));
        }
        of_parts.update(digest.md5);
        total += size;
    }
    let target = object_key(&bucket, &key);
    let mut writer = s3.writer(&target, Some(total), None).await?;
    for (number, _) in &wanted {
        let part = open(s3, &part_key(&bucket, &id, *number)).await;
        let mut reader = match part {
            Ok(Some(r)) => r,
            other => {
                writer.abort().await;
                return Err(other.err().unwrap_or_else(|| invalid(*number)));
            }
        };
        if let Err(e) = pump_object(&mut writer, &mut reader, None).await {
            writer.abort().await;
            return Err(e);
        }
    }
    let digest = Digest {
        md5: of_parts.finalize().into(),
        parts: u32::try_from(wanted.len()).unwrap_or(MAX_PARTS),
    };
    let attrs = Attributes {
        content_type: record.content_type,
        metadata: record.metadata,
        ..Attributes::default()
    };
    let (committed, attrs) = s3.commit(writer, attrs, digest, None).await?;
    s3.forget(&bucket, &id, wanted.iter().map(|(n, _)| *n).collect())
        .await?;
    let mut xml = Xml::new();
    xml.open("CompleteMultipartUploadResult");
    xml.elem("Location", &format!("/{bucket}/{key}"));
    xml.elem("Bucket", &bucket);
    xml.elem("Key", &key);
    xml.elem("ETag", &etag_of(&attrs, committed.version));
    xml.close("CompleteMultipartUploadResult");
    Ok(xml.into_response())
}

//! Objects: PutObject, GetObject and HeadObject (ranges and conditions), DeleteObject,
//! DeleteObjects and CopyObject.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::{Digest as _, Md5};

use super::buckets::object_key;
use super::error::{S3Error, S3Result};
use super::headers::{Decision, attributes_of, decide, etag_of, modified_of, object_headers};
use super::server::{Call, S3};
use super::time::iso8601;
use super::write::{declared_len, pump_body, pump_object};
use super::xml::{Xml, fields};
use crate::big::Digest;
use crate::error::Error;
use crate::future::AsyncBigReader;
use crate::server::http::io::ObjectBody;
use crate::server::http::range::{Wanted, wanted};
use crate::store::KvStore;

/// What a PUT's own conditions (S3 conditional writes) allow at the commit point.
type Allow = Option<Box<dyn FnOnce(Option<u128>) -> bool + Send>>;

/// `If-None-Match: *` (create only) and `If-Match: <etag>` (replace that version only).
async fn put_conditions<S: KvStore + 'static>(
    s3: &S3<S>,
    call: &Call,
    key: &[u8],
) -> S3Result<Allow> {
    let header = |n: &str| call.headers.get(n).and_then(|v| v.to_str().ok());
    if header("if-none-match").is_some_and(|v| v.trim() == "*") {
        return Ok(Some(Box::new(|current: Option<u128>| current.is_none())));
    }
    if header("if-match").is_none() {
        return Ok(None);
    }
    // The ETag asked for must be the current object's; the commit then replaces that version
    // only.
    let version = match open(s3, key).await? {
        Some(r)
            if decide(&call.headers, "", &etag_of(r.attributes(), r.version()), 0)
                != Decision::Failed =>
        {
            r.version()
        }
        _ => return Err(S3Error::precondition_failed().on(call.resource())),
    };
    Ok(Some(Box::new(move |current: Option<u128>| {
        current == Some(version)
    })))
}

/// A reader of `key`; `None` when absent. A node that does not answer reads as absent (a
/// cache miss).
pub(crate) async fn open<S: KvStore + 'static>(
    s3: &S3<S>,
    key: &[u8],
) -> S3Result<Option<AsyncBigReader>> {
    match s3.app.objects.reader(key).await {
        Ok(r) => Ok(r),
        Err(e @ Error::Remote { .. }) => {
            tracing::warn!("an object read as absent: {e}");
            Ok(None)
        }
        Err(e) => Err(S3Error::from_store(&e)),
    }
}

/// `PUT /bucket/key`: the body streamed in; `200` with the MD5 `ETag` once durable.
pub(crate) async fn put_object<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let key = object_key(&call.bucket, &call.key);
    let attrs = attributes_of(&call.headers)?;
    let allow = put_conditions(s3, &call, &key).await?;
    let len = declared_len(&call.headers);
    let mut writer = s3.writer(&key, len, None).await?;
    let resource = call.resource();
    let body = call.into_incoming(&s3.app, s3.app.config.max_object_size)?;
    let md5 = match pump_body(&mut writer, body).await {
        Ok(md5) => md5,
        Err(e) => {
            writer.abort().await;
            return Err(e.on(resource));
        }
    };
    let digest = Digest { md5, parts: 0 };
    s3.commit(writer, attrs, digest, allow)
        .await
        .map_err(|e| e.on(resource))?;
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&digest.etag()) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

/// `GET` and `HEAD /bucket/key`.
pub(crate) async fn get_object<S: KvStore + 'static>(
    s3: &S3<S>,
    call: Call,
    head: bool,
) -> S3Result {
    if call.query.has("partNumber") {
        return Err(S3Error::not_implemented("GetObject with partNumber"));
    }
    let key = object_key(&call.bucket, &call.key);
    let Some(mut reader) = open(s3, &key).await? else {
        return Err(S3Error::no_such_key(&call.bucket, &call.key));
    };
    let attrs = reader.attributes().clone();
    let size = reader.len();
    let tag = etag_of(&attrs, reader.version());
    let decision = decide(&call.headers, "", &tag, modified_of(&attrs));
    if decision == Decision::Failed {
        return Err(S3Error::precondition_failed().on(call.resource()));
    }
    let not_modified = decision == Decision::NotModified;
    let range = if head || not_modified {
        Wanted::Whole
    } else {
        wanted(&call.headers, size, &tag)
    };
    let (status, length) = match range {
        Wanted::Unsatisfiable => {
            return Err(S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .on(call.resource()));
        }
        Wanted::Part { start, end } => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        Wanted::Whole if not_modified => (StatusCode::NOT_MODIFIED, 0),
        Wanted::Whole => (StatusCode::OK, size),
    };
    let mut response = if head || not_modified || length == 0 {
        Response::new(Body::empty())
    } else {
        if let Wanted::Part { start, end } = range {
            reader
                .set_range(start..end + 1)
                .map_err(|e| S3Error::from_store(&e))?;
        }
        let first = match reader.next_chunk().await {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!("an object read as absent: its first block {e}");
                return Err(S3Error::no_such_key(&call.bucket, &call.key));
            }
        };
        Response::new(Body::new(ObjectBody::new(
            first,
            reader,
            length,
            s3.app.counters.clone(),
        )))
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    object_headers(h, &attrs, &tag);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Wanted::Part { start, end } = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if not_modified {
        h.remove(header::CONTENT_TYPE);
    } else {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(response)
}

/// `DELETE /bucket/key`: `204` whether or not it was there, once synced.
pub(crate) async fn delete_object<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let key = object_key(&call.bucket, &call.key);
    s3.run(move |c| {
        c.delete(&key)?;
        c.store().sync()
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /bucket?delete`: up to 1,000 keys; a `DeleteResult` naming each (unless quiet).
pub(crate) async fn delete_objects<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    s3.bucket_exists(&call.bucket).await?;
    let bucket = call.bucket.clone();
    let doc = call.into_incoming(&s3.app, 2 << 20)?;
    let doc = {
        let mut doc = doc;
        let bytes = doc.collect().await?;
        doc.finish()?;
        bytes
    };
    let f = fields(&doc, "Object")
        .ok_or_else(|| S3Error::malformed_xml("the Delete document is not well-formed XML"))?;
    let quiet = f.iter().any(|(_, n, t)| n == "Quiet" && t.trim() == "true");
    let keys: Vec<String> = f
        .into_iter()
        .filter(|(g, n, _)| *g > 0 && n == "Key")
        .map(|(_, _, t)| t)
        .collect();
    if keys.len() > 1000 {
        return Err(S3Error::malformed_xml(
            "at most 1000 keys may be deleted at once",
        ));
    }
    let store_keys: Vec<Vec<u8>> = keys.iter().map(|k| object_key(&bucket, k)).collect();
    let results = s3
        .run(move |c| {
            let r: Vec<Option<String>> = store_keys
                .iter()
                .map(|k| c.delete(k).err().map(|e| e.to_string()))
                .collect();
            c.store().sync()?;
            Ok(r)
        })
        .await?;
    let mut xml = Xml::new();
    xml.open("DeleteResult");
    for (key, failed) in keys.iter().zip(results) {
        match failed {
            None if quiet => {}
            None => {
                xml.open("Deleted");
                xml.elem("Key", key);
                xml.close("Deleted");
            }
            Some(message) => {
                xml.open("Error");
                xml.elem("Key", key);
                xml.elem("Code", "InternalError");
                xml.elem("Message", &message);
                xml.close("Error");
            }
        }
    }
    xml.close("DeleteResult");
    Ok(xml.into_response())
}

/// The bucket and key of `x-amz-copy-source` (`bucket/key` or `/bucket/key`, percent-encoded).
fn copy_source(call: &Call) -> S3Result<(String, String)> {
    let raw = call
        .headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    if query
        .split('&')
        .any(|p| p.starts_with("versionId=") && p != "versionId=null")
    {
        return Err(S3Error::not_implemented(
            "copying a version (this server keeps one)",
        ));
    }
    let decoded = String::from_utf8(super::sigv4::uri_decode(path))
        .map_err(|_| S3Error::invalid_argument("x-amz-copy-source is not UTF-8"))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(S3Error::invalid_argument(
            "x-amz-copy-source must be bucket/key, percent-encoded",
        )),
    }
}

/// `PUT /bucket/key` with `x-amz-copy-source`: a server-side copy. Metadata is the source's
/// (`x-amz-metadata-directive: COPY`, the default) or the request's (`REPLACE`).
pub(crate) async fn copy_object<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    let (src_bucket, src_key) = copy_source(&call)?;
    s3.bucket_exists(&src_bucket).await?;
    let replace = match call
        .headers
        .get("x-amz-metadata-directive")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "x-amz-metadata-directive must be COPY or REPLACE",
            ));
        }
    };
    if !replace && src_bucket == call.bucket && src_key == call.key {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata",
        ));
    }
    let Some(mut reader) = open(s3, &object_key(&src_bucket, &src_key)).await? else {
        return Err(S3Error::no_such_key(&src_bucket, &src_key));
    };
    let src_attrs = reader.attributes().clone();
    let src_tag = etag_of(&src_attrs, reader.version());
    if decide(
        &call.headers,
        "x-amz-copy-source-",
        &src_tag,
        modified_of(&src_attrs),
    ) != Decision::Proceed
    {
        return Err(S3Error::precondition_failed().on(call.resource()));
    }
    let mut attrs = if replace {
        attributes_of(&call.headers)?
    } else {
        src_attrs
    };
    attrs.digest = None;
    let key = object_key(&call.bucket, &call.key);
    let mut writer = s3.writer(&key, Some(reader.len()), None).await?;
    let mut md5 = Md5::new();
    if let Err(e) = pump_object(&mut writer, &mut reader, Some(&mut md5)).await {
        writer.abort().await;
        return Err(e);
    }
    let digest = Digest {
        md5: md5.finalize().into(),
        parts: 0,
    };
    let (_, attrs) = s3.commit(writer, attrs, digest, None).await?;
    let mut xml = Xml::new();
    xml.open("CopyObjectResult");
    xml.elem("LastModified", &iso8601(modified_of(&attrs)));
    xml.elem("ETag", &digest.etag());
    xml.close("CopyObjectResult");
    Ok(xml.into_response())
}

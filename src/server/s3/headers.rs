//! What an object says in headers, both ways: `Content-Type` and `x-amz-meta-*` onto the
//! object's attributes, and `ETag`, `Last-Modified`, `Content-Type` and metadata back; and
//! the conditions of a GET (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`) evaluated as S3 does, against the MD5 `ETag`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use super::error::S3Error;
use super::time::{http_date, parse_http_date};
use crate::big::Attributes;

/// The prefix of user metadata headers.
const META: &str = "x-amz-meta-";

/// The content headers an object keeps besides its type: stored as metadata under their name
/// with a leading `.` (a user's `x-amz-meta-` name does not start with one).
const KEPT: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// The content type and `x-amz-meta-*` of a request, checked.
pub(crate) fn attributes_of(headers: &HeaderMap) -> Result<Attributes, S3Error> {
    let mut attrs = Attributes::default();
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .map_err(|_| S3Error::invalid_argument("Content-Type is not printable ASCII"))?;
        attrs.content_type = Some(ct.to_string());
    }
    for kept in KEPT {
        let Some(value) = headers.get(kept).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        // `aws-chunked` is the request's framing, not the object's encoding.
        let value = match kept {
            "content-encoding" => value
                .split(',')
                .map(str::trim)
                .filter(|c| !c.eq_ignore_ascii_case("aws-chunked") && !c.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            _ => value.to_string(),
        };
        if !value.is_empty() {
            attrs.metadata.push((format!(".{kept}"), value));
        }
    }
    for (name, value) in headers {
        if let Some(meta) = name.as_str().strip_prefix(META) {
            let value = value.to_str().map_err(|_| {
                S3Error::invalid_argument(format!(
                    "the value of {name} is not printable ASCII (encode it, as RFC 2047 says)"
                ))
            })?;
            attrs.metadata.push((meta.to_string(), value.to_string()));
        }
    }
    attrs
        .check()
        .map_err(|e| S3Error::invalid_argument(e.to_string()))?;
    Ok(attrs)
}

/// An object's S3 entity tag: its MD5 (with the part count of a multipart object), or for an
/// object written through `/v1` without one, the version tag that API gives it.
pub(crate) fn etag_of(attrs: &Attributes, version: u128) -> String {
    match attrs.digest {
        Some(d) => d.etag(),
        None => format!("\"{version:032x}\""),
    }
}

/// When an object was written (Unix ms); 0 for one written through `/v1`, which keeps no
/// time.
pub(crate) fn modified_of(attrs: &Attributes) -> u64 {
    attrs.modified.unwrap_or(0)
}

/// `ETag`, `Last-Modified`, `Content-Type` and `x-amz-meta-*`.
pub(crate) fn object_headers(h: &mut HeaderMap, attrs: &Attributes, etag: &str) {
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(modified_of(attrs))) {
        h.insert(header::LAST_MODIFIED, v);
    }
    let ct = attrs
        .content_type
        .as_deref()
        .unwrap_or("binary/octet-stream");
    if let Ok(v) = HeaderValue::from_str(ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    for (name, value) in &attrs.metadata {
        let name = match name.strip_prefix('.') {
            Some(kept) => kept.to_string(),
            None => format!("{META}{name}"),
        };
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            h.append(n, v);
        }
    }
}

/// What a GET's conditions decide.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Proceed,
    NotModified,
    Failed,
}

/// Whether `etag` is among the tags of a condition header (`*` matches any).
fn matches(value: &str, etag: &str) -> bool {
    let bare = etag.trim_matches('"');
    value
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == bare)
}

fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// S3's order (RFC 7232 §6): If-Match, else If-Unmodified-Since; then If-None-Match, else
/// If-Modified-Since. `prefix` is `""` for a GET, `x-amz-copy-source-` for a copy's source.
pub(crate) fn decide(headers: &HeaderMap, prefix: &str, etag: &str, modified_ms: u64) -> Decision {
    let header = |name: &str| get(headers, &format!("{prefix}{name}"));
    let modified = modified_ms / 1000;
    if let Some(v) = header("if-match") {
        if !matches(v, etag) {
            return Decision::Failed;
        }
    } else if let Some(since) = header("if-unmodified-since").and_then(parse_http_date)
        && modified > since
    {
        return Decision::Failed;
    }
    if let Some(v) = header("if-none-match") {
        if matches(v, etag) {
            return Decision::NotModified;
        }
    } else if let Some(since) = header("if-modified-since").and_then(parse_http_date)
        && modified <= since
    {
        return Decision::NotModified;
    }
    Decision::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn conditions_follow_s3s_order() {
        let tag = "\"abc\"";
        let at = 1_369_353_600_000; // Fri, 24 May 2013 00:00:00 GMT
        let d = |pairs: &[(&'static str, &'static str)]| decide(&headers(pairs), "", tag, at);
        assert_eq!(d(&[]), Decision::Proceed);
        assert_eq!(d(&[("if-match", "\"abc\"")]), Decision::Proceed);
        assert_eq!(d(&[("if-match", "\"x\", \"abc\"")]), Decision::Proceed);
        assert_eq!(d(&[("if-match", "\"x\"")]), Decision::Failed);
        assert_eq!(d(&[("if-none-match", "abc")]), Decision::NotModified);
        assert_eq!(d(&[("if-none-match", "*")]), Decision::NotModified);
        let later = "Sat, 25 May 2013 00:00:00 GMT";
        let earlier = "Thu, 23 May 2013 00:00:00 GMT";
        assert_eq!(d(&[("if-modified-since", later)]), Decision::NotModified);
        assert_eq!(d(&[("if-modified-since", earlier)]), Decision::Proceed);
        assert_eq!(d(&[("if-unmodified-since", earlier)]), Decision::Failed);
        assert_eq!(d(&[("if-unmodified-since", later)]), Decision::Proceed);
        // If-Match that holds overrides If-Unmodified-Since; If-None-Match overrides
        // If-Modified-Since.
        assert_eq!(
            d(&[("if-match", "\"abc\""), ("if-unmodified-since", earlier)]),
            Decision::Proceed
        );
        assert_eq!(
            d(&[("if-none-match", "\"x\""), ("if-modified-since", later)]),
            Decision::Proceed
        );
    }

    #[test]
    fn metadata_and_content_type_become_attributes() {
        let h = headers(&[
            ("content-type", "text/plain"),
            ("x-amz-meta-mtime", "1700000000.5"),
            ("x-amz-meta-s3cmd-attrs", "md5:abc/size:3"),
            ("content-encoding", "aws-chunked, gzip"),
            ("cache-control", "max-age=60"),
        ]);
        let a = attributes_of(&h).unwrap();
        assert_eq!(a.content_type.as_deref(), Some("text/plain"));
        assert_eq!(a.metadata.len(), 4);
        let mut out = HeaderMap::new();
        object_headers(&mut out, &a, "\"t\"");
        assert_eq!(out.get("x-amz-meta-mtime").unwrap(), "1700000000.5");
        assert_eq!(out.get("content-encoding").unwrap(), "gzip");
        assert_eq!(out.get("cache-control").unwrap(), "max-age=60");
        let only_framing = headers(&[("content-encoding", "aws-chunked")]);
        assert!(attributes_of(&only_framing).unwrap().metadata.is_empty());
        assert_eq!(out.get("etag").unwrap(), "\"t\"");
        assert_eq!(
            out.get("last-modified").unwrap(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}

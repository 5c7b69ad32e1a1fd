//! Entity tags and conditional requests (RFC 9110 §8.8.3, §13): `If-Match` and
//! `If-None-Match` on GET, HEAD, PUT and DELETE, and an object's attributes as headers.
//!
//! The entity tag of an object is its version (a 128-bit id unique to the write that made
//! it), so it is strong: two writes of the same bytes have different tags, and a tag never
//! names two different objects. For PUT and DELETE the conditions are checked at the commit
//! point, under the key's lock ([`BigWriter::commit_if`](crate::BigWriter::commit_if)), so
//! of many clients racing `If-None-Match: *` exactly one creates the object.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::big::Attributes;
use crate::protocol::http::META_PREFIX;

/// The entity tag of object version `version`: `"<32 hex digits>"`.
pub(super) fn etag(version: u128) -> String {
    format!("\"{version:032x}\"")
}

/// A list of entity tags in a condition header, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tags {
    Any,
    List(Vec<String>),
}

impl Tags {
    /// The tags in every instance of header `name`; `None` when it is absent.
    fn parse(headers: &HeaderMap, name: &HeaderName) -> Option<Tags> {
        let mut list = Vec::new();
        let mut present = false;
        for value in headers.get_all(name) {
            present = true;
            // A value that is not visible ASCII names no tag of ours: it matches nothing.
            let Ok(value) = value.to_str() else { continue };
            for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag == "*" {
                    return Some(Tags::Any);
                }
                list.push(tag.to_owned());
            }
        }
        present.then_some(Tags::List(list))
    }

    /// Strong comparison (`If-Match`): a weak tag never matches.
    fn strong_match(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Tags::Any, Some(_)) => true,
            (Tags::List(list), Some(tag)) => list.iter().any(|t| t == tag),
        }
    }

    /// Weak comparison (`If-None-Match`): `W/` is ignored.
    fn weak_match(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Tags::Any, Some(_)) => true,
            (Tags::List(list), Some(tag)) => list
                .iter()
                .any(|t| t.strip_prefix("W/").unwrap_or(t) == tag),
        }
    }
}

/// What a request's conditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Go on.
    Proceed,
    /// `304` (a GET or HEAD whose `If-None-Match` matches).
    NotModified,
    /// `412`.
    Failed,
}

/// A request's `If-Match` and `If-None-Match`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Conditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

impl Conditions {
    pub(super) fn of(headers: &HeaderMap) -> Conditions {
        Conditions {
            if_match: Tags::parse(headers, &header::IF_MATCH),
            if_none_match: Tags::parse(headers, &header::IF_NONE_MATCH),
        }
    }

    /// Whether there are any.
    pub(super) fn any(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some()
    }

    /// RFC 9110 §13.2.2 for the object's current version (`None`: absent): `If-Match` first,
    /// then `If-None-Match` (`304` for a read, `412` for a write).
    pub(super) fn evaluate(&self, current: Option<u128>, read: bool) -> Verdict {
        let tag = current.map(etag);
        if let Some(tags) = &self.if_match
            && !tags.strong_match(tag.as_deref())
        {
            return Verdict::Failed;
        }
        match &self.if_none_match {
            Some(tags) if tags.weak_match(tag.as_deref()) => {
                if read {
                    Verdict::NotModified
                } else {
                    Verdict::Failed
                }
            }
            _ => Verdict::Proceed,
        }
    }
}

/// The attributes a PUT gives its object: `Content-Type` and each `x-logcache-meta-<name>`
/// header (names are lowercase in HTTP/1 as hyper hands them over). `Err` says what is wrong.
pub(super) fn attributes_of(headers: &HeaderMap) -> Result<Attributes, String> {
    let mut attrs = Attributes::default();
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .map_err(|_| "the Content-Type must be printable ASCII".to_string())?;
        attrs.content_type = Some(ct.trim().to_owned()).filter(|c| !c.is_empty());
    }
    for (name, value) in headers {
        let Some(meta) = name.as_str().strip_prefix(META_PREFIX) else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| format!("{name}: metadata values must be printable ASCII"))?;
        attrs.metadata.push((meta.to_owned(), value.to_owned()));
    }
    attrs.check().map_err(|e| e.to_string())?;
    Ok(attrs)
}

/// Puts an object's attributes on a GET or HEAD response (`application/octet-stream` when it
/// has no content type).
pub(super) fn attribute_headers(h: &mut HeaderMap, attrs: &Attributes) {
    let ct = attrs
        .content_type
        .as_deref()
        .and_then(|ct| HeaderValue::from_str(ct).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    for (name, value) in &attrs.metadata {
        // Checked when stored: both always convert.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(format!("{META_PREFIX}{name}").as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.append(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&'static str, &'static str)]) -> Conditions {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        Conditions::of(&h)
    }

    #[test]
    fn rfc_9110_evaluation() {
        let v = 0xabc_u128;
        let tag = etag(v);
        assert_eq!(tag, "\"00000000000000000000000000000abc\"");
        let weak: &'static str = Box::leak(format!("W/{tag}").into_boxed_str());
        let exact: &'static str = Box::leak(tag.clone().into_boxed_str());
        use Verdict::*;
        for (conds, current, read, expect) in [
            (with(&[]), None, false, Proceed),
            (with(&[("if-none-match", "*")]), None, false, Proceed),
            (with(&[("if-none-match", "*")]), Some(v), false, Failed),
            (with(&[("if-none-match", "*")]), Some(v), true, NotModified),
            (with(&[("if-match", "*")]), None, false, Failed),
            (with(&[("if-match", "*")]), Some(v), false, Proceed),
            (with(&[("if-match", exact)]), Some(v), false, Proceed),
            (with(&[("if-match", exact)]), Some(v + 1), false, Failed),
            (with(&[("if-match", weak)]), Some(v), false, Failed),
            (with(&[("if-none-match", weak)]), Some(v), true, NotModified),
            (
                with(&[("if-match", "\"x\", \"y\""), ("if-match", exact)]),
                Some(v),
                false,
                Proceed,
            ),
            (
                with(&[("if-match", exact), ("if-none-match", exact)]),
                Some(v),
                false,
                Failed,
            ),
            (with(&[("if-match", "\"x\"")]), Some(v), true, Failed),
        ] {
            assert_eq!(
                conds.evaluate(current, read),
                expect,
                "{conds:?} {current:?} {read}"
            );
        }
    }

    #[test]
    fn attributes_from_headers_and_back() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        h.insert(
            "x-logcache-meta-camera",
            HeaderValue::from_static("front door"),
        );
        let attrs = attributes_of(&h).unwrap();
        assert_eq!(attrs.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(attrs.metadata, vec![("camera".into(), "front door".into())]);
        let mut out = HeaderMap::new();
        attribute_headers(&mut out, &attrs);
        assert_eq!(out["content-type"], "video/mp4");
        assert_eq!(out["x-logcache-meta-camera"], "front door");
        let mut out = HeaderMap::new();
        attribute_headers(&mut out, &Attributes::default());
        assert_eq!(out["content-type"], "application/octet-stream");
        h.insert(
            "x-logcache-meta-big",
            HeaderValue::from_str(&"v".repeat(9000)).unwrap(),
        );
        assert!(attributes_of(&h).unwrap_err().contains("at most"));
    }
}

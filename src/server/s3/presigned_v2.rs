//! Presigned URLs of Signature Version 2 (`AWSAccessKeyId`, `Expires`, `Signature`): what
//! boto3's `generate_presigned_url` makes unless told `signature_version="s3v4"`. The
//! signature is base64 of HMAC-SHA1 over the method, `Content-MD5`, `Content-Type`, the
//! expiry, the `x-amz-*` headers and the resource (the path and its sub-resources).

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::sigv4::uri_decode;
use crate::protocol::memcache::base64;

/// The query parameters S3 signs as part of the resource, in the order it sorts them.
const SUBRESOURCES: [&str; 16] = [
    "acl",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "uploadId",
    "uploads",
];

/// A version-2 presigned URL's authentication, from its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PresignedV2 {
    pub(crate) access_key: String,
    /// Unix seconds after which the URL is refused.
    pub(crate) expires: u64,
    signature: String,
}

impl PresignedV2 {
    /// `Some` when the query carries `AWSAccessKeyId`, `Expires` and `Signature`.
    pub(crate) fn parse(query: &str) -> Option<PresignedV2> {
        let get = |name: &str| {
            query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| *n == name)
                .map(|(_, v)| String::from_utf8_lossy(&uri_decode(v)).into_owned())
        };
        Some(PresignedV2 {
            access_key: get("AWSAccessKeyId")?,
            expires: get("Expires")?.parse().ok()?,
            signature: get("Signature")?,
        })
    }

    /// Whether the signature holds for `method` on `path` (as sent) with `query`, the headers
    /// (`content-md5`, `content-type`, `x-amz-*`) and `secret`.
    pub(crate) fn verify(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        secret: &str,
    ) -> bool {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| v.trim())
        };
        let mut amz: Vec<(String, &str)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
            .filter(|(n, _)| n.starts_with("x-amz-"))
            .collect();
        amz.sort();
        let mut to_sign = format!(
            "{method}\n{}\n{}\n{}\n",
            header("content-md5"),
            header("content-type"),
            self.expires
        );
        for (n, v) in amz {
            to_sign.push_str(&format!("{n}:{v}\n"));
        }
        to_sign.push_str(path);
        let mut subs: Vec<(String, Option<String>)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (
                    n.to_string(),
                    Some(String::from_utf8_lossy(&uri_decode(v)).into_owned()),
                ),
                None => (p.to_string(), None),
            })
            .filter(|(n, _)| SUBRESOURCES.contains(&n.as_str()))
            .collect();
        subs.sort();
        for (i, (n, v)) in subs.iter().enumerate() {
            to_sign.push(if i == 0 { '?' } else { '&' });
            to_sign.push_str(n);
            if let Some(v) = v {
                to_sign.push('=');
                to_sign.push_str(v);
            }
        }
        // HMAC takes a key of any length: `new_from_slice` does not fail.
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(to_sign.as_bytes());
        let expected = base64(&mac.finalize().into_bytes());
        super::sigv4::constant_time_eq(expected.as_bytes(), self.signature.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL botocore's `HmacV1QueryAuth` presigned (a sub-resource in the query, a space in
    /// the path), expiring at 1175139620.
    #[test]
    fn a_url_botocore_presigned_verifies() {
        let query = "uploadId=abc&AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE\
                     &Signature=zEBlSymAX5p0R2KNhaENL4O4bMQ%3D&Expires=1175139620";
        let p = PresignedV2::parse(query).unwrap();
        assert_eq!(p.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(p.expires, 1_175_139_620);
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let path = "/johnsmith/photos/puppy%20dog.jpg";
        assert!(p.verify("GET", path, query, &[], secret));
        assert!(!p.verify("GET", "/johnsmith/photos/kitten.jpg", query, &[], secret));
        assert!(!p.verify("PUT", path, query, &[], secret));
        assert!(!p.verify("GET", path, query, &[], "wrong"));
        assert!(PresignedV2::parse("prefix=a").is_none());
    }
}

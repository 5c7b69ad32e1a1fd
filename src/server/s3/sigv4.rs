//! AWS Signature Version 4, the server's half: parse the `Authorization` header, rebuild the
//! canonical request from what arrived, derive the signing key from the secret, and compare
//! signatures in constant time.
//!
//! The steps are AWS's ("Authenticating Requests (AWS Signature Version 4)", the S3 API
//! reference): canonical request → string to sign → signing key → HMAC-SHA256. S3 encodes the
//! path once (no double encoding, no dot-segment normalisation); the query's parameters are
//! sorted by name, then value; header values are trimmed with inner runs of spaces collapsed.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in the header and the string to sign.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why a request's signature was not accepted (each an S3 error code for the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SigError {
    /// The `Authorization` header is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
    /// Signature=…` (S3: `AuthorizationHeaderMalformed`).
    Malformed(&'static str),
    /// The signature does not match (S3: `SignatureDoesNotMatch`).
    Mismatch,
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    pub(crate) access_key: String,
    /// `YYYYMMDD`, the scope's date.
    pub(crate) date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    /// Lower-case header names, in the order given (sorted, as SigV4 requires).
    pub(crate) signed_headers: Vec<String>,
    /// The hex signature as sent.
    pub(crate) signature: String,
}

impl Authorization {
    /// Parses the header's value.
    pub(crate) fn parse(value: &str) -> Result<Authorization, SigError> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .ok_or(SigError::Malformed("the algorithm is not AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, v) = part
                .trim()
                .split_once('=')
                .ok_or(SigError::Malformed("a component without `=`"))?;
            match name {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => return Err(SigError::Malformed("an unknown component")),
            }
        }
        let credential = credential.ok_or(SigError::Malformed("no Credential"))?;
        let mut scope = credential.split('/');
        let mut next = |what| {
            scope
                .next()
                .filter(|s| !s.is_empty())
                .ok_or(SigError::Malformed(what))
        };
        let access_key = next("no access key")?.to_string();
        let date = next("no date in the scope")?.to_string();
        let region = next("no region in the scope")?.to_string();
        let service = next("no service in the scope")?.to_string();
        if next("no terminator in the scope")? != "aws4_request" || scope.next().is_some() {
            return Err(SigError::Malformed(
                "the scope does not end in aws4_request",
            ));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SigError::Malformed("the scope's date is not YYYYMMDD"));
        }
        let signed_headers: Vec<String> = signed
            .ok_or(SigError::Malformed("no SignedHeaders"))?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        if signed_headers.iter().any(String::is_empty) {
            return Err(SigError::Malformed("an empty name in SignedHeaders"));
        }
        let signature = signature.ok_or(SigError::Malformed("no Signature"))?;
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SigError::Malformed("the signature is not 64 hex digits"));
        }
        Ok(Authorization {
            access_key,
            date,
            region,
            service,
            signed_headers,
            signature: signature.to_ascii_lowercase(),
        })
    }

    /// `DATE/REGION/SERVICE/aws4_request`.
    pub(crate) fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What of a request the signature covers, as it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The path as sent (percent-encoded), without the query.
    pub(crate) path: &'a str,
    /// The raw query string, without the `?`.
    pub(crate) query: &'a str,
    /// Every header (name, value), names in any case, repeated names kept.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// `x-amz-content-sha256`: the payload's hex SHA-256, `UNSIGNED-PAYLOAD`, or a streaming
    /// mode's name.
    pub(crate) payload_hash: &'a str,
}

/// The canonical request for `signed` headers (lower-case, sorted as in the header).
pub(crate) fn canonical_request(req: &Request<'_>, signed: &[String]) -> String {
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_path(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed.join(";"));
    out.push('\n');
    out.push_str(req.payload_hash);
    out
}

/// The string to sign for a canonical request made at `amz_date` (`YYYYMMDDTHHMMSSZ`).
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signing key: HMAC chained over the date, region, service and `aws4_request`, from
/// `"AWS4" + secret`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The hex signature of `string_to_sign` under `key`.
pub(crate) fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac(key, string_to_sign.as_bytes()))
}

/// Checks `auth`'s signature over `req`, made at `amz_date`, against `secret`.
pub(crate) fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    amz_date: &str,
    secret: &str,
) -> Result<(), SigError> {
    let canonical = canonical_request(req, &auth.signed_headers);
    let to_sign = string_to_sign(amz_date, &auth.scope(), &canonical);
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    let expected = signature(&key, &to_sign);
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Equal lengths and bytes, in time that does not depend on where they differ. Written here:
/// eight lines, where a crate (`subtle`) would add a dependency for one call.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AWS's URI encoding: unreserved characters as they are, every other byte `%XX` (upper
/// case); `/` kept when `keep_slash`.
pub(crate) fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decodes; a `%` not followed by two hex digits is kept as it is (the signature then
/// fails rather than the parse).
pub(crate) fn uri_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hexval = |c: u8| (c as char).to_digit(16);
        match (b.get(i), b.get(i + 1), b.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) if hexval(h).is_some() && hexval(l).is_some() => {
                let v = hexval(h).unwrap_or(0) * 16 + hexval(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (Some(&c), _, _) => {
                out.push(c);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    out
}

/// The path as S3 signs it: decoded once and encoded again, slashes kept (so `%2f` and `/`
/// differ, and any client's choice of which characters to escape signs the same).
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    uri_encode(&uri_decode(path), true)
}

/// The query's parameters encoded, sorted by name then value, `name=value` joined by `&`.
fn canonical_query(query: &str) -> String {
    // A `+` in a query is a space (form encoding, as reqwest and object_store send one); a
    // literal plus arrives as `%2B`.
    let decode = |s: &str| uri_decode(&s.replace('+', " "));
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(n), false), uri_encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secret of AWS's Signature Version 4 test suite.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// The secret of the S3 API reference's examples (one character differs).
    const S3_DOC_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// The S3 API reference's worked example: GET of the first 10 bytes of `test.txt` from
    /// `examplebucket`, signed with the documentation's example secret.
    #[test]
    fn the_s3_reference_example_signs_as_documented() {
        let headers = [
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let auth = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        )
        .unwrap();
        let canonical = canonical_request(&req, &auth.signed_headers);
        assert_eq!(
            canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let to_sign = string_to_sign("20130524T000000Z", &auth.scope(), &canonical);
        assert!(
            to_sign.ends_with("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"),
            "{to_sign}"
        );
        assert_eq!(
            verify(&req, &auth, "20130524T000000Z", S3_DOC_SECRET),
            Ok(())
        );
        assert_eq!(
            verify(&req, &auth, "20130524T000000Z", "another secret"),
            Err(SigError::Mismatch)
        );
        let mut tampered = headers;
        tampered[1].1 = "bytes=0-10";
        let req = Request {
            headers: &tampered,
            ..req
        };
        assert_eq!(
            verify(&req, &auth, "20130524T000000Z", S3_DOC_SECRET),
            Err(SigError::Mismatch)
        );
    }

    /// Two cases of AWS's Signature Version 4 test suite (service `service`): a header sent
    /// three times is signed as its values joined by commas, in the order sent.
    #[test]
    fn repeated_headers_sign_as_the_suite_says() {
        for (values, signature) in [
            (
                ["value2", "value2", "value1"],
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            ),
            (
                ["value1", "value2", "value3"],
                "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790",
            ),
        ] {
            let headers = [
                ("host", "example.amazonaws.com"),
                ("My-Header1", values[0]),
                ("My-Header1", values[1]),
                ("My-Header1", values[2]),
                ("x-amz-date", "20150830T123600Z"),
            ];
            let req = Request {
                method: "GET",
                path: "/",
                query: "",
                headers: &headers,
                payload_hash: EMPTY_SHA256,
            };
            let auth = Authorization::parse(&format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;my-header1;x-amz-date, Signature={signature}"
            ))
            .unwrap();
            assert_eq!(
                verify(&req, &auth, "20150830T123600Z", SECRET),
                Ok(()),
                "{values:?}"
            );
        }
    }

    #[test]
    fn the_query_and_path_are_canonicalised_as_s3_does() {
        assert_eq!(
            canonical_query("b=2&a=1&a=0&list-type=2"),
            "a=0&a=1&b=2&list-type=2"
        );
        assert_eq!(canonical_query("uploads"), "uploads=");
        assert_eq!(
            canonical_query("prefix=a b&delimiter=%2F"),
            "delimiter=%2F&prefix=a%20b"
        );
        assert_eq!(
            canonical_query("prefix=foo+bar%2F&x=1%2B1"),
            "prefix=foo%20bar%2F&x=1%2B1",
            "+ is a space in a query, %2B a plus"
        );
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/b/a%20b/%7Ec"), "/b/a%20b/~c");
        assert_eq!(canonical_path("/b/a+b"), "/b/a%2Bb");
        assert_eq!(canonical_path("/b/%zz"), "/b/%25zz");
    }

    #[test]
    fn malformed_headers_are_refused_with_what_is_wrong() {
        for (value, why) in [
            (
                "AWS4-HMAC-SHA1 Credential=a/20130524/r/s3/aws4_request",
                "algorithm",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/2013/r/s3/aws4_request, SignedHeaders=host, Signature=00",
                "date",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20130524/r/s3/x, SignedHeaders=host, Signature=00",
                "aws4_request",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20130524/r/s3/aws4_request, Signature=00",
                "SignedHeaders",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20130524/r/s3/aws4_request, SignedHeaders=host, Signature=zz",
                "64 hex",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20130524/r/s3/aws4_request, Bogus=1",
                "unknown",
            ),
        ] {
            match Authorization::parse(value) {
                Err(SigError::Malformed(m)) => assert!(m.contains(why), "{value}: {m}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }
}

/// The signature of one `aws-chunked` chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): each
/// chains to the one before it, the first to the request's (seed) signature. (The server
/// hashes chunks as they stream by: [`chunk_signature_of_hash`]; the tests sign whole ones.)
#[cfg(test)]
pub(crate) fn chunk_signature(
    key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    previous: &str,
    chunk: &[u8],
) -> String {
    chunk_signature_of_hash(key, amz_date, scope, previous, &Sha256::digest(chunk))
}

/// [`chunk_signature`] from the chunk's SHA-256, for a chunk hashed as it streamed by.
pub(crate) fn chunk_signature_of_hash(
    key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    previous: &str,
    chunk_hash: &[u8],
) -> String {
    let to_sign = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{}\n{}",
        hex(&Sha256::digest(b"")),
        hex(chunk_hash)
    );
    signature(key, &to_sign)
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    /// The S3 API reference's worked example of a chunked upload: 66,560 bytes of `a` in a
    /// 65,536-byte chunk, a 1,024-byte one and the empty last one, each signature chained.
    #[test]
    fn the_s3_reference_chunked_upload_chains_as_documented() {
        let headers = [
            ("content-encoding", "aws-chunked"),
            ("content-length", "66824"),
            ("host", "s3.amazonaws.com"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ];
        let req = Request {
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: "",
            headers: &headers,
            payload_hash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        };
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let auth = Authorization::parse(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class,Signature={seed}"
        ))
        .unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(verify(&req, &auth, "20130524T000000Z", secret), Ok(()));
        let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
        let mut previous = seed.to_string();
        for (len, expected) in [
            (
                65536,
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            ),
            (
                1024,
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            ),
            (
                0,
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ),
        ] {
            let sig = chunk_signature(
                &key,
                "20130524T000000Z",
                &auth.scope(),
                &previous,
                &vec![b'a'; len],
            );
            assert_eq!(sig, expected, "chunk of {len}");
            previous = sig;
        }
    }
}

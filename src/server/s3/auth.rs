//! Who may make a request: AWS Signature Version 4 in the `Authorization` header or a
//! presigned URL (or a Signature Version 2 presigned URL, boto3's default), checked against the credentials, the clock, and the payload mode the request
//! declares (`x-amz-content-sha256`), which says how its body must be read.

use axum::http::{HeaderMap, Method, StatusCode, Uri};

use super::chunked::Signing;
use super::config::S3Config;
use super::error::S3Error;
use super::presigned::Presigned;
use super::presigned_v2::PresignedV2;
use super::sigv4::{Authorization, Request, SigError, signing_key, verify};
use super::time::{now_ms, parse_amz_date, parse_http_date};

/// How a request's body is to be read.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// As sent (`UNSIGNED-PAYLOAD`, a presigned URL, or any body when no credentials are set).
    Plain,
    /// As sent, and its SHA-256 must be this (lower-case hex).
    Sha256(String),
    /// `aws-chunked`: decoded, each chunk's signature checked when signing is given.
    Chunked(Option<Signing>),
}

const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The payload mode `x-amz-content-sha256` declares, before any signature is checked.
fn declared(headers: &HeaderMap) -> Result<Payload, S3Error> {
    match header(headers, "x-amz-content-sha256") {
        None | Some("UNSIGNED-PAYLOAD") => Ok(Payload::Plain),
        Some(STREAMING_SIGNED | STREAMING_SIGNED_TRAILER | STREAMING_UNSIGNED_TRAILER) => {
            Ok(Payload::Chunked(None))
        }
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Payload::Sha256(h.to_ascii_lowercase()))
        }
        Some(other) => Err(S3Error::invalid_argument(format!(
            "x-amz-content-sha256 {other:?} is neither a SHA-256 in hex nor a payload mode \
             this server reads"
        ))),
    }
}

/// Checks a request's signature (when the door has credentials) and returns how to read its
/// body.
pub(crate) fn authenticate(
    config: &S3Config,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Payload, S3Error> {
    let payload = declared(headers)?;
    if config.credentials.is_empty() {
        return Ok(payload);
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    let query = uri.query().unwrap_or("");
    let req = Request {
        method: method.as_str(),
        path: uri.path(),
        query,
        headers: &pairs,
        payload_hash: header(headers, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD"),
    };
    let now = now_ms() / 1000;
    let skew = config.max_clock_skew.as_secs();
    if let Some(presigned) = Presigned::parse(query) {
        let p = presigned.map_err(malformed)?;
        let secret = secret(config, &p.auth)?;
        p.verify(&req, secret).map_err(malformed)?;
        let signed = parse_amz_date(&p.amz_date)
            .ok_or_else(|| malformed(SigError::Malformed("X-Amz-Date is not a date")))?;
        if now + skew < signed {
            return Err(S3Error::access_denied(
                "Request is not valid yet (X-Amz-Date is in the future)",
            ));
        }
        if now > signed.saturating_add(p.expires) {
            return Err(S3Error::access_denied("Request has expired"));
        }
        return Ok(Payload::Plain);
    }
    if let Some(p) = PresignedV2::parse(query) {
        let secret = config.secret_of(&p.access_key).ok_or_else(unknown_key)?;
        if !p.verify(method.as_str(), uri.path(), query, &pairs, secret) {
            return Err(S3Error::signature_mismatch());
        }
        if now > p.expires {
            return Err(S3Error::access_denied("Request has expired"));
        }
        return Ok(Payload::Plain);
    }
    let Some(value) = header(headers, "authorization") else {
        return Err(S3Error::access_denied(
            "Access Denied: this server has credentials, and the request is not signed",
        ));
    };
    if value.starts_with("AWS ") {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Signature Version 2 in the Authorization header is not supported: sign with \
             Signature Version 4 (s3v4)",
        ));
    }
    let auth = Authorization::parse(value).map_err(malformed)?;
    let secret = secret(config, &auth)?;
    let amz_date = header(headers, "x-amz-date").map(str::to_string);
    let signed = match &amz_date {
        Some(d) => parse_amz_date(d),
        None => header(headers, "date").and_then(parse_http_date),
    }
    .ok_or_else(|| {
        S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
    })?;
    if now.abs_diff(signed) > skew {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large: set \
             the client's clock",
        ));
    }
    let amz_date = amz_date.unwrap_or_default();
    verify(&req, &auth, &amz_date, secret).map_err(malformed)?;
    Ok(match payload {
        Payload::Chunked(_) if req.payload_hash != STREAMING_UNSIGNED_TRAILER => {
            Payload::Chunked(Some(Signing {
                key: signing_key(secret, &auth.date, &auth.region, &auth.service),
                amz_date,
                scope: auth.scope(),
                previous: auth.signature.clone(),
            }))
        }
        other => other,
    })
}

fn secret<'a>(config: &'a S3Config, auth: &Authorization) -> Result<&'a str, S3Error> {
    config.secret_of(&auth.access_key).ok_or_else(unknown_key)
}

fn unknown_key() -> S3Error {
    S3Error::new(
        StatusCode::FORBIDDEN,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records (the server's \
         --s3-credentials file)",
    )
}

fn malformed(e: SigError) -> S3Error {
    match e {
        SigError::Malformed(why) => S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            format!("The authorization header is malformed: {why}"),
        ),
        SigError::Mismatch => S3Error::signature_mismatch(),
    }
}

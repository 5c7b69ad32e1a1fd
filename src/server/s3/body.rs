//! A request body as the S3 door reads it: `aws-chunked` framing decoded, the payload's
//! SHA-256, the `Content-MD5` and the `x-amz-checksum-*` header or trailer verified at the
//! end, and the MD5 every object's `ETag` is made of computed as the bytes pass.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::auth::Payload;
use super::checksum::{Algorithm, Running};
use super::chunked::{ChunkError, Decoder};
use super::error::S3Error;
use super::sigv4::hex;
use crate::protocol::memcache::base64_decode;

/// The body of one request, read chunk by chunk.
pub(crate) struct Incoming {
    body: Body,
    decoder: Option<Decoder>,
    /// The SHA-256 the payload must have, and the running hash.
    sha256: Option<(String, Sha256)>,
    md5: Md5,
    content_md5: Option<Vec<u8>>,
    /// The checksum asked for, and its value when it came in a header (else in a trailer).
    checksum: Option<(Running, Option<String>, String)>,
    received: u64,
    /// `x-amz-decoded-content-length`: what an `aws-chunked` body must decode to.
    expected: Option<u64>,
    max: u64,
    timeout: Duration,
    ended: bool,
}

/// Why a body's framing was refused, as S3 says it.
fn chunk_error(e: ChunkError) -> S3Error {
    match e {
        ChunkError::Signature => S3Error::signature_mismatch(),
        ChunkError::Truncated => S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The request body ended before its last aws-chunked chunk",
        ),
        ChunkError::Malformed(why) => S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            format!("The aws-chunked body is malformed: {why}"),
        ),
    }
}

impl Incoming {
    /// A reader of `body` in the mode authentication found, refusing more than `max` bytes
    /// and a wait for bytes longer than `timeout`.
    pub(crate) fn new(
        headers: &HeaderMap,
        body: Body,
        payload: Payload,
        max: u64,
        timeout: Duration,
    ) -> Result<Incoming, S3Error> {
        let (decoder, sha256) = match payload {
            Payload::Plain => (None, None),
            Payload::Sha256(hex) => (None, Some((hex, Sha256::new()))),
            Payload::Chunked(signing) => (Some(Decoder::new(signing)), None),
        };
        let content_md5 = match headers.get("content-md5") {
            None => None,
            Some(v) => Some(
                base64_decode(v.as_bytes())
                    .filter(|d| d.len() == 16)
                    .ok_or_else(|| {
                        S3Error::new(
                            StatusCode::BAD_REQUEST,
                            "InvalidDigest",
                            "The Content-MD5 you specified is not valid",
                        )
                    })?,
            ),
        };
        let mut checksum = None;
        for (name, value) in headers {
            if let Some(alg) = Algorithm::from_name(name.as_str()) {
                let v = value.to_str().unwrap_or_default().to_string();
                checksum = Some((Running::new(alg), Some(v), name.as_str().to_string()));
            }
        }
        if checksum.is_none()
            && let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok())
            && let Some(alg) = Algorithm::from_name(trailer.trim())
        {
            checksum = Some((Running::new(alg), None, trailer.trim().to_ascii_lowercase()));
        }
        Ok(Incoming {
            body,
            decoder,
            sha256,
            md5: Md5::new(),
            content_md5,
            checksum,
            received: 0,
            expected: headers
                .get("x-amz-decoded-content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
            max,
            timeout,
            ended: false,
        })
    }

    /// The next piece of the object's bytes; `None` at the end of the body.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, S3Error> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let frame = match tokio::time::timeout(self.timeout, self.body.frame()).await {
                Err(_) => {
                    return Err(S3Error::new(
                        StatusCode::BAD_REQUEST,
                        "RequestTimeout",
                        "Your socket connection to the server was not read from or written to \
                         within the timeout period; nothing was stored",
                    ));
                }
                Ok(None) => {
                    self.ended = true;
                    return Ok(None);
                }
                Ok(Some(Err(e))) => {
                    return Err(S3Error::new(
                        StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        format!("Reading the request body failed ({e}); nothing was stored"),
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(raw) = frame.into_data() else {
                continue; // HTTP trailers: S3's come inside the aws-chunked body
            };
            let data = match &mut self.decoder {
                None => raw,
                Some(decoder) => {
                    let mut out = Vec::with_capacity(raw.len());
                    decoder.feed(&raw, &mut out).map_err(chunk_error)?;
                    Bytes::from(out)
                }
            };
            if data.is_empty() {
                continue;
            }
            self.received += data.len() as u64;
            if self.received > self.max {
                return Err(S3Error::too_large(self.max));
            }
            self.md5.update(&data);
            if let Some((_, h)) = &mut self.sha256 {
                h.update(&data);
            }
            if let Some((running, _, _)) = &mut self.checksum {
                running.update(&data);
            }
            return Ok(Some(data));
        }
    }

    /// Reads the whole body into memory (request documents: at most `max` bytes).
    pub(crate) async fn collect(&mut self) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        while let Some(d) = self.next().await? {
            out.extend_from_slice(&d);
        }
        Ok(out)
    }

    /// Ends the body: checks everything it was to match, and returns the MD5 of its bytes.
    pub(crate) fn finish(self) -> Result<[u8; 16], S3Error> {
        let trailers = match self.decoder {
            Some(d) => d.finish().map_err(chunk_error)?,
            None => Vec::new(),
        };
        if self.expected.is_some_and(|n| n != self.received) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "The body's chunks do not add up to x-amz-decoded-content-length",
            ));
        }
        if let Some((want, h)) = self.sha256
            && hex(&h.finalize()) != want
        {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed",
            ));
        }
        let md5: [u8; 16] = self.md5.finalize().into();
        if self.content_md5.as_deref().is_some_and(|m| m != md5) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received",
            ));
        }
        if let Some((running, sent, name)) = self.checksum {
            let sent = sent.or_else(|| {
                trailers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
            });
            let Some(sent) = sent else {
                return Err(S3Error::invalid_request(format!(
                    "the request announced the trailer {name} and did not send it"
                )));
            };
            if !running.matches(&sent) {
                return Err(S3Error::new(
                    StatusCode::BAD_REQUEST,
                    "BadDigest",
                    format!("The {name} you specified did not match the calculated checksum"),
                ));
            }
        }
        Ok(md5)
    }
}

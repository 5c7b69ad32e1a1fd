//! S3's errors: a code clients switch on, an HTTP status and a message, sent as S3's XML
//! `<Error>` document (HEAD answers carry the status alone).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::xml::Xml;
use crate::error::Error;

/// One S3 error answer.
#[derive(Debug, Clone)]
pub(crate) struct S3Error {
    pub(crate) status: StatusCode,
    /// S3's error code (`NoSuchKey`, `SignatureDoesNotMatch`, …).
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// The bucket or object the error is about, when there is one.
    pub(crate) resource: Option<String>,
}

impl S3Error {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        S3Error {
            status,
            code,
            message: message.into(),
            resource: None,
        }
    }

    /// The same error about `resource` (`/bucket/key`).
    pub(crate) fn on(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub(crate) fn no_such_bucket(bucket: &str) -> Self {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist; create it first (CreateBucket, `aws s3 mb`)",
        )
        .on(format!("/{bucket}"))
    }

    pub(crate) fn no_such_key(bucket: &str, key: &str) -> Self {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist (or this cache evicted it)",
        )
        .on(format!("/{bucket}/{key}"))
    }

    pub(crate) fn no_such_upload(upload: &str) -> Self {
        S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified multipart upload does not exist: it was completed, aborted or expired",
        )
        .on(upload.to_string())
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        S3Error::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    pub(crate) fn malformed_xml(message: impl Into<String>) -> Self {
        S3Error::new(StatusCode::BAD_REQUEST, "MalformedXML", message)
    }

    pub(crate) fn access_denied(message: impl Into<String>) -> Self {
        S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    pub(crate) fn signature_mismatch() -> Self {
        S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        )
    }

    pub(crate) fn precondition_failed() -> Self {
        S3Error::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the preconditions you specified did not hold",
        )
    }

    pub(crate) fn not_implemented(what: &str) -> Self {
        S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not implemented by logcache's S3 door (see docs/S3.md)"),
        )
    }

    pub(crate) fn too_large(max: u64) -> Self {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            format!(
                "Your proposed upload exceeds this server's limit of {max} bytes (--max-object-size)"
            ),
        )
    }

    /// The answer to a failed store call.
    pub(crate) fn from_store(e: &Error) -> Self {
        match e {
            Error::PreconditionFailed { .. } => S3Error::precondition_failed(),
            Error::Full => S3Error::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                "The cache is full and evicts nothing (--when-full fail); delete objects first",
            ),
            Error::InvalidArgument(m) => S3Error::invalid_argument(m.clone()),
            Error::TooLarge { what: "key", .. } => {
                S3Error::new(StatusCode::BAD_REQUEST, "KeyTooLongError", format!("{e}"))
            }
            Error::Remote { .. } => S3Error::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("{e}; retry"),
            ),
            _ => S3Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("{e}"),
            ),
        }
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let mut xml = Xml::without_namespace();
        xml.open("Error");
        xml.elem("Code", self.code);
        xml.elem("Message", &self.message);
        if let Some(r) = &self.resource {
            xml.elem("Resource", r);
        }
        xml.elem("RequestId", "0");
        xml.close("Error");
        let mut r = xml.into_response();
        *r.status_mut() = self.status;
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// What a handler returns: a response, or an S3 error.
pub(crate) type S3Result<T = Response> = Result<T, S3Error>;

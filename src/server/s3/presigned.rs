//! Presigned URLs: Signature Version 4 carried in the query (`X-Amz-Signature` and
//! friends) instead of the `Authorization` header, with the payload unsigned.

use super::sigv4::{ALGORITHM, Authorization, Request, SigError, uri_decode, verify};

/// A presigned URL's authentication, from its query: the same fields as the header, plus
/// when it was signed and for how long it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Presigned {
    pub(crate) auth: Authorization,
    /// `X-Amz-Date`, `YYYYMMDDTHHMMSSZ`.
    pub(crate) amz_date: String,
    /// `X-Amz-Expires`, seconds (at most 7 days, as S3).
    pub(crate) expires: u64,
}

impl Presigned {
    /// The query's `X-Amz-*` parameters, when it has `X-Amz-Signature` (else `None`: not a
    /// presigned request).
    pub(crate) fn parse(query: &str) -> Option<Result<Presigned, SigError>> {
        let params: Vec<(String, String)> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(&uri_decode(v)).into_owned(),
                )
            })
            .collect();
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let signature = get("X-Amz-Signature")?;
        Some((|| {
            if get("X-Amz-Algorithm") != Some(ALGORITHM) {
                return Err(SigError::Malformed(
                    "X-Amz-Algorithm is not AWS4-HMAC-SHA256",
                ));
            }
            let header = format!(
                "{ALGORITHM} Credential={}, SignedHeaders={}, Signature={signature}",
                get("X-Amz-Credential").ok_or(SigError::Malformed("no X-Amz-Credential"))?,
                get("X-Amz-SignedHeaders").ok_or(SigError::Malformed("no X-Amz-SignedHeaders"))?,
            );
            let auth = Authorization::parse(&header)?;
            let amz_date = get("X-Amz-Date")
                .filter(|d| d.len() == 16 && d.starts_with(&auth.date))
                .ok_or(SigError::Malformed("X-Amz-Date is not the scope's day"))?
                .to_string();
            let expires = get("X-Amz-Expires")
                .and_then(|e| e.parse::<u64>().ok())
                .filter(|&e| (1..=7 * 24 * 3600).contains(&e))
                .ok_or(SigError::Malformed(
                    "X-Amz-Expires is not 1 to 604800 seconds",
                ))?;
            Ok(Presigned {
                auth,
                amz_date,
                expires,
            })
        })())
    }

    /// Checks the signature over `req` (whose query is the URL's), against `secret`. Whether
    /// the URL has expired is the caller's to check, against its clock.
    pub(crate) fn verify(&self, req: &Request<'_>, secret: &str) -> Result<(), SigError> {
        // The signature signs the query without itself, and an unsigned payload.
        let query: Vec<&str> = req
            .query
            .split('&')
            .filter(|p| !p.starts_with("X-Amz-Signature="))
            .collect();
        let query = query.join("&");
        let unsigned = Request {
            query: &query,
            payload_hash: "UNSIGNED-PAYLOAD",
            ..*req
        };
        verify(&unsigned, &self.auth, &self.amz_date, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The S3 API reference's presigned URL example: GET `test.txt` from `examplebucket`,
    /// valid for 86,400 s from 2013-05-24.
    #[test]
    fn the_s3_reference_presigned_url_verifies() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
                     &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
                     &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
                     &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let headers = [("Host", "examplebucket.s3.amazonaws.com")];
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query,
            headers: &headers,
            payload_hash: "",
        };
        let p = Presigned::parse(query).unwrap().unwrap();
        assert_eq!(
            (p.expires, p.amz_date.as_str()),
            (86400, "20130524T000000Z")
        );
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(p.verify(&req, secret), Ok(()));
        assert_eq!(p.verify(&req, "wrong"), Err(SigError::Mismatch));
        let other = Request {
            path: "/other.txt",
            ..req
        };
        assert_eq!(p.verify(&other, secret), Err(SigError::Mismatch));
        assert!(Presigned::parse("prefix=a").is_none(), "not presigned");
        let no_expiry = query.replace("X-Amz-Expires=86400&", "");
        assert!(matches!(
            Presigned::parse(&no_expiry),
            Some(Err(SigError::Malformed(_)))
        ));
    }
}

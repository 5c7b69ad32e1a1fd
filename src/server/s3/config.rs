//! [`S3Config`]: the S3 door's settings, and the credentials file.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// How the S3 door listens and whom it lets in (`logcache serve --s3`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// The address to listen on; default `127.0.0.1:9000`.
    pub listen: SocketAddr,
    /// Access key and secret pairs. Empty: no authentication, and then only a loopback
    /// address is accepted. With any, every request must be signed (AWS Signature Version 4,
    /// header or presigned URL) by one of them.
    pub credentials: Vec<(String, String)>,
    /// The region the door reports (`GetBucketLocation`); default `us-east-1`. Signatures are
    /// checked with the region the client signed for.
    pub region: String,
    /// With a domain (`s3.example.test`), a request to `bucket.s3.example.test` addresses
    /// `bucket` (virtual-host style); path style (`/bucket/key`) always works.
    pub domain: Option<String>,
    /// How long an unfinished multipart upload and its parts are kept; default 24 h.
    pub multipart_expiry: Duration,
    /// The furthest a request's signing time may be from this server's clock; default 15
    /// minutes, as S3.
    pub max_clock_skew: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            credentials: Vec::new(),
            region: "us-east-1".into(),
            domain: None,
            multipart_expiry: Duration::from_secs(24 * 3600),
            max_clock_skew: Duration::from_secs(15 * 60),
        }
    }
}

impl S3Config {
    /// Checks the settings: a non-loopback address needs credentials; keys, secrets, the
    /// region and the domain must be printable ASCII without spaces.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument(msg));
        if self.credentials.is_empty() && !self.listen.ip().is_loopback() {
            return bad(format!(
                "refusing to serve S3 on {} without credentials: anyone who can reach it could \
                 read and write every object; give --s3-credentials FILE or listen on 127.0.0.1",
                self.listen
            ));
        }
        let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        for (key, secret) in &self.credentials {
            if !word(key) || !word(secret) || key.contains('/') {
                return bad(format!(
                    "the S3 access key {key:?} or its secret is not printable ASCII without \
                     spaces (and a key has no `/`)"
                ));
            }
        }
        if !word(&self.region) {
            return bad("the S3 region must be printable ASCII without spaces".into());
        }
        if self.domain.as_deref().is_some_and(|d| !word(d)) {
            return bad("the S3 domain must be printable ASCII without spaces".into());
        }
        if self.multipart_expiry.is_zero() || self.max_clock_skew.is_zero() {
            return bad("the multipart expiry and the clock skew must be greater than zero".into());
        }
        Ok(())
    }

    /// Reads a credentials file: one `ACCESS_KEY SECRET` pair per line, separated by
    /// whitespace; blank lines and lines starting with `#` are skipped.
    pub fn read_credentials(path: &Path) -> Result<Vec<(String, String)>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("reading the S3 credentials", path, e))?;
        parse_credentials(&text).map_err(|line| {
            Error::InvalidArgument(format!(
                "{} line {line}: expected `ACCESS_KEY SECRET`",
                path.display()
            ))
        })
    }

    /// The secret of `access_key`, when it is one of the credentials.
    pub(crate) fn secret_of(&self, access_key: &str) -> Option<&str> {
        self.credentials
            .iter()
            .find(|(k, _)| k == access_key)
            .map(|(_, s)| s.as_str())
    }
}

/// The pairs in a credentials file's text, or the number of the first bad line.
fn parse_credentials(text: &str) -> std::result::Result<Vec<(String, String)>, usize> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(key), Some(secret), None) => out.push((key.to_string(), secret.to_string())),
            _ => return Err(i + 1),
        }
    }
    if out.is_empty() {
        return Err(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_and_checks() {
        let pairs = parse_credentials("# keys\n\nAKID1 secret/one+x\n  AKID2\tsecret2 \n").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("AKID1".to_string(), "secret/one+x".to_string()),
                ("AKID2".to_string(), "secret2".to_string())
            ]
        );
        assert_eq!(parse_credentials("AKID1 a b\n"), Err(1));
        assert_eq!(parse_credentials("ok ok\nAKID1\n"), Err(2));
        assert_eq!(parse_credentials("# nothing\n"), Err(0));
        let mut c = S3Config::default();
        assert!(c.validate().is_ok());
        c.listen = SocketAddr::from(([0, 0, 0, 0], 9000));
        assert!(c.validate().is_err(), "public without credentials");
        c.credentials = pairs;
        assert!(c.validate().is_ok());
        assert_eq!(c.secret_of("AKID2"), Some("secret2"));
        assert_eq!(c.secret_of("nobody"), None);
        c.credentials.push(("a/b".into(), "s".into()));
        assert!(c.validate().is_err(), "a key with a slash");
    }
}

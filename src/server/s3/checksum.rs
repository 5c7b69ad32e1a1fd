//! The integrity checksums S3 clients send with a body, in a header or an `aws-chunked`
//! trailer (`x-amz-checksum-crc32`, `x-amz-checksum-sha256`): computed over the object's bytes
//! as they pass, then compared with the value sent (base64 of the big-endian digest). AWS CLI
//! ≥ 2.23 and botocore ≥ 1.36 send CRC32 by default; CRC32C and SHA-256 are checked too. Other
//! algorithms (CRC64NVME, SHA-1) are accepted unchecked (docs/S3.md).

use sha2::{Digest, Sha256};

use crate::protocol::memcache::base64;

/// A checksum algorithm a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Crc32,
    Crc32c,
    Sha256,
}

impl Algorithm {
    /// The algorithm a header or trailer name carries (`x-amz-checksum-crc32`, any case), if
    /// it is one this server computes.
    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        let name = name.to_ascii_lowercase();
        match name.strip_prefix("x-amz-checksum-")? {
            "crc32" => Some(Algorithm::Crc32),
            "crc32c" => Some(Algorithm::Crc32c),
            "sha256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }
}

/// A checksum being computed over a body.
#[derive(Debug)]
pub(crate) enum Running {
    Crc32(crc32fast::Hasher),
    /// CRC32C (Castagnoli), hardware-accelerated by the `crc32c` crate.
    Crc32c(u32),
    Sha256(Sha256),
}

impl Running {
    pub(crate) fn new(algorithm: Algorithm) -> Running {
        match algorithm {
            Algorithm::Crc32 => Running::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Running::Crc32c(0),
            Algorithm::Sha256 => Running::Sha256(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Running::Crc32(h) => h.update(data),
            Running::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            Running::Sha256(h) => h.update(data),
        }
    }

    /// The value as S3 writes it: base64 of the digest (a CRC32 big-endian).
    pub(crate) fn finish(self) -> String {
        match self {
            Running::Crc32(h) => base64(&h.finalize().to_be_bytes()),
            Running::Crc32c(crc) => base64(&crc.to_be_bytes()),
            Running::Sha256(h) => base64(&h.finalize()),
        }
    }

    /// Whether the body matched the value the client sent.
    pub(crate) fn matches(self, sent: &str) -> bool {
        self.finish() == sent.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_written_as_s3_writes_them() {
        let mut crc = Running::new(Algorithm::Crc32);
        crc.update(b"hello ");
        crc.update(b"world");
        assert_eq!(crc.finish(), "DUoRhQ==");
        let mut sha = Running::new(Algorithm::Sha256);
        sha.update(b"");
        // SHA-256 of nothing, base64 (as `x-amz-checksum-sha256` of an empty object).
        assert_eq!(sha.finish(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        let mut crc = Running::new(Algorithm::Crc32);
        crc.update(b"hello world");
        assert!(!crc.matches("AAAAAA=="));
        assert_eq!(
            Algorithm::from_name("X-Amz-Checksum-CRC32"),
            Some(Algorithm::Crc32)
        );
        // CRC32C of "hello world" is 0xc99465aa.
        let mut c = Running::new(Algorithm::Crc32c);
        c.update(b"hello ");
        c.update(b"world");
        assert_eq!(c.finish(), base64(&0xc994_65aa_u32.to_be_bytes()));
        assert_eq!(Algorithm::from_name("x-amz-checksum-crc64nvme"), None);
        assert_eq!(Algorithm::from_name("content-md5"), None);
    }
}

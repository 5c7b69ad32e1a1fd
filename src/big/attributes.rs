//! An object's attributes: its content type and user metadata, kept in its manifest, and,
//! when the writer gives them, its MD5 digest and time of writing (manifest version 5).
//!
//! ```text
//! attributes (inside a version-3 manifest, after block_count):
//! attrs_len u16 | content_type_len u8 | content_type | (name_len u8 | name | value_len u16 | value)*
//! ```
//!
//! Names and values are checked when set, so that any attributes read back can be sent as
//! HTTP headers as they are: a content type and values of printable ASCII, names of lowercase
//! letters, digits, `-`, `_` and `.`, everything together at most [`MAX_ATTRIBUTES`] encoded
//! bytes.

use crate::error::{Error, Result};

/// The most bytes an object's attributes may take encoded (content type, names and values
/// plus 1 to 4 bytes of lengths each).
pub const MAX_ATTRIBUTES: usize = 8 << 10;

/// What an object says about itself besides its bytes: a content type and user metadata,
/// stored with the object (in its manifest) and replaced with it.
///
/// ```
/// use logcache::Attributes;
///
/// let mut attrs = Attributes::default();
/// attrs.content_type = Some("video/mp4".into());
/// attrs.metadata.push(("camera".into(), "front door".into()));
/// assert!(attrs.check().is_ok());
/// attrs.metadata.push(("Not A Name".into(), "x".into()));
/// assert!(attrs.check().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attributes {
    /// The media type (`Content-Type`) of the object, if one was given.
    pub content_type: Option<String>,
    /// Name–value pairs, in the order given. Names: 1–255 bytes of `a-z 0-9 - _ .`; values:
    /// printable ASCII (space included).
    pub metadata: Vec<(String, String)>,
    /// The MD5 of the object's bytes (or of its parts' MD5s), when the writer computed one:
    /// what S3 clients compare with the `ETag`. Stored in a version-5 manifest.
    pub digest: Option<Digest>,
    /// When the object was written, in Unix milliseconds (`Last-Modified`), when the writer
    /// gave it. Stored in a version-5 manifest.
    pub modified: Option<u64>,
}

/// An object's MD5 digest as S3 writes its `ETag`: of the bytes for a single-part object,
/// of the concatenated part digests for an object assembled from `parts` parts.
///
/// ```
/// use logcache::Digest;
///
/// let whole = Digest { md5: [0xab; 16], parts: 0 };
/// assert_eq!(whole.etag(), format!("\"{}\"", "ab".repeat(16)));
/// let multipart = Digest { md5: [0xab; 16], parts: 3 };
/// assert!(multipart.etag().ends_with("-3\""));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    /// The 16 bytes of the MD5.
    pub md5: [u8; 16],
    /// How many parts the object was assembled from; 0 for an object written whole.
    pub parts: u32,
}

impl Digest {
    /// The quoted entity tag: `"<hex md5>"`, or `"<hex md5>-<parts>"` for a multipart object.
    pub fn etag(&self) -> String {
        let mut out = String::with_capacity(2 + 32 + 12);
        out.push('"');
        for b in self.md5 {
            out.push_str(&format!("{b:02x}"));
        }
        if self.parts > 0 {
            out.push_str(&format!("-{}", self.parts));
        }
        out.push('"');
        out
    }
}

impl Attributes {
    /// Whether there is no content type and no metadata (a digest and a time of writing
    /// aside).
    pub fn is_empty(&self) -> bool {
        self.content_type.is_none() && self.metadata.is_empty()
    }

    /// Bytes these attributes take encoded (without the 2-byte total length).
    pub fn encoded_len(&self) -> usize {
        1 + self.content_type.as_ref().map_or(0, String::len)
            + self
                .metadata
                .iter()
                .map(|(n, v)| 1 + n.len() + 2 + v.len())
                .sum::<usize>()
    }

    /// Checks every name and value, and the total size; the error says which part is wrong.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidArgument(msg));
        if let Some(ct) = &self.content_type
            && (ct.is_empty() || ct.len() > 255 || !printable(ct))
        {
            return bad(format!(
                "content type {ct:?}: it must be 1-255 bytes of printable ASCII"
            ));
        }
        for (name, value) in &self.metadata {
            let name_ok = !name.is_empty()
                && name.len() <= 255
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
            if !name_ok {
                return bad(format!(
                    "metadata name {name:?}: it must be 1-255 bytes of a-z, 0-9, '-', '_' or '.'"
                ));
            }
            if !printable(value) {
                return bad(format!(
                    "metadata value of {name:?}: it must be printable ASCII"
                ));
            }
        }
        let len = self.encoded_len();
        if len > MAX_ATTRIBUTES {
            return bad(format!(
                "the object's content type and metadata take {len} bytes; at most \
                 {MAX_ATTRIBUTES} are stored"
            ));
        }
        Ok(())
    }

    /// Appends the encoding (with its 2-byte length) to `out`. Only checked attributes are
    /// encoded, so every length fits its field.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.encoded_len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        let ct = self.content_type.as_deref().unwrap_or_default();
        out.push(ct.len() as u8);
        out.extend_from_slice(ct.as_bytes());
        for (name, value) in &self.metadata {
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(value.len() as u16).to_le_bytes());
            out.extend_from_slice(value.as_bytes());
        }
    }

    /// Decodes attributes with their 2-byte length from the front of `bytes`; returns them
    /// and the rest. `None` for anything that is not an intact encoding of checked
    /// attributes.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(Attributes, &[u8])> {
        let (len, rest) = bytes.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len));
        let (mut body, rest) = (rest.get(..len)?, rest.get(len..)?);
        let (ct, after) = take(body, 1)?;
        body = after;
        let mut attrs = Attributes {
            content_type: (!ct.is_empty()).then(|| ct.to_owned()),
            ..Attributes::default()
        };
        while !body.is_empty() {
            let (name, after) = take(body, 1)?;
            let (value, after) = take(after, 2)?;
            attrs.metadata.push((name.to_owned(), value.to_owned()));
            body = after;
        }
        attrs.check().ok()?;
        Some((attrs, rest))
    }
}

/// A string of `width` length bytes (1 or 2, little-endian) from the front of `bytes`, and the
/// rest.
fn take(bytes: &[u8], width: usize) -> Option<(&str, &[u8])> {
    let (len, rest) = match width {
        1 => {
            let (&n, rest) = bytes.split_first()?;
            (usize::from(n), rest)
        }
        _ => {
            let (n, rest) = bytes.split_first_chunk::<2>()?;
            (usize::from(u16::from_le_bytes(*n)), rest)
        }
    };
    let s = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((s, rest.get(len..)?))
}

/// Printable ASCII, space included: safe as an HTTP header value as it is.
fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Attributes {
        Attributes {
            content_type: Some("text/plain; charset=utf-8".into()),
            metadata: vec![
                ("camera".into(), "front door".into()),
                ("x.y_z-1".into(), String::new()),
            ],
            ..Attributes::default()
        }
    }

    #[test]
    fn round_trip() {
        for attrs in [Attributes::default(), sample()] {
            attrs.check().unwrap();
            let mut out = Vec::new();
            attrs.encode_into(&mut out);
            assert_eq!(out.len(), 2 + attrs.encoded_len());
            out.extend_from_slice(b"rest");
            let (back, rest) = Attributes::decode(&out).unwrap();
            assert_eq!(back, attrs);
            assert_eq!(rest, b"rest");
        }
    }

    #[test]
    fn bad_names_values_and_sizes_are_refused() {
        let with = |name: &str, value: &str| Attributes {
            content_type: None,
            metadata: vec![(name.into(), value.into())],
            ..Attributes::default()
        };
        for bad in [
            with("", "x"),
            with("Upper", "x"),
            with("sp ace", "x"),
            with(&"n".repeat(256), "x"),
            with("ok", "new\nline"),
            with("ok", "caf\u{e9}"),
            with("ok", &"v".repeat(MAX_ATTRIBUTES)),
            Attributes {
                content_type: Some(String::new()),
                metadata: vec![],
                ..Attributes::default()
            },
            Attributes {
                content_type: Some("a\r\nb".into()),
                metadata: vec![],
                ..Attributes::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(
            with(&"n".repeat(255), &"v".repeat(MAX_ATTRIBUTES - 259))
                .check()
                .is_ok()
        );
    }

    #[test]
    fn every_cut_and_flip_is_rejected_or_reads_as_checked() {
        let mut good = Vec::new();
        sample().encode_into(&mut good);
        for cut in 0..good.len() {
            assert!(Attributes::decode(&good[..cut]).is_none(), "cut at {cut}");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                // A flipped byte may still spell valid attributes; never unchecked ones.
                if let Some((attrs, _)) = Attributes::decode(&bad) {
                    attrs.check().unwrap();
                }
            }
        }
    }
}

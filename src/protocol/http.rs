//! The HTTP API's formats, shared by the server and [`HttpStore`](crate::HttpStore) so the two
//! cannot drift apart: header names, the listing and stats documents (JSON through serde, in
//! both directions), and object keys in URLs.
//!
//! Keys are percent-encoded bytes, never paths: the key is everything after `/v1/objects/` in
//! the raw request path, percent-decoded. No segment is interpreted: `a/b/c`, `..` and
//! `%2e%2e%2f` are keys like any other, and keys need not be UTF-8.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::{Deserialize, Serialize as DeriveSerialize};

/// The header that gives a PUT object its time to live, in whole seconds.
pub const TTL_HEADER: &str = "x-logcache-ttl";
/// The header with which GET and HEAD report when an object expires, in Unix milliseconds.
pub const EXPIRES_AT_HEADER: &str = "x-logcache-expires-at";
/// The prefix of the headers that carry an object's user metadata: `x-logcache-meta-<name>`.
#[cfg_attr(not(feature = "server"), allow(dead_code))] // the client does not send metadata yet
pub const META_PREFIX: &str = "x-logcache-meta-";

/// One page of `GET /v1/objects`: keys in byte order with their sizes; `truncated` when more
/// follow (ask again with `after` set to the last key).
#[derive(Debug, PartialEq, Eq, DeriveSerialize, Deserialize)]
pub(crate) struct Listing {
    pub(crate) objects: Vec<Listed>,
    pub(crate) truncated: bool,
}

/// One object of a [`Listing`].
#[derive(Debug, PartialEq, Eq, DeriveSerialize, Deserialize)]
pub(crate) struct Listed {
    /// The key, percent-encoded (so any byte is safe in JSON).
    pub(crate) key: String,
    pub(crate) size: u64,
}

impl Listing {
    /// A page of `(key, size)` pairs.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn new(items: &[(Vec<u8>, u64)], truncated: bool) -> Self {
        Listing {
            objects: items
                .iter()
                .map(|(key, size)| Listed {
                    key: percent_encode(key),
                    size: *size,
                })
                .collect(),
            truncated,
        }
    }

    /// The keys, decoded; `None` when one is not valid percent-encoding.
    #[cfg_attr(not(feature = "http-store"), allow(dead_code))]
    pub(crate) fn keys(&self) -> Option<Vec<Vec<u8>>> {
        self.objects
            .iter()
            .map(|o| percent_decode(o.key.as_bytes()))
            .collect()
    }
}

/// Named counters, serialized as one JSON object in their order.
#[derive(Debug)]
pub(crate) struct Rows(pub(crate) Vec<(&'static str, u64)>);

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// `GET /v1/stats`: the server's own counters, requests by method, responses by class, the
/// objects' counters and the store's.
#[derive(Debug, DeriveSerialize)]
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) struct StatsDoc {
    pub(crate) server: Rows,
    pub(crate) requests: Rows,
    pub(crate) responses: Rows,
    pub(crate) objects: Rows,
    pub(crate) store: Rows,
}

/// What a client reads of `GET /v1/stats`.
#[cfg(feature = "http-store")]
#[derive(Debug, Deserialize)]
pub(crate) struct StatsHead {
    pub(crate) server: ServerHead,
}

/// The part of the server's own counters a client needs.
#[cfg(feature = "http-store")]
#[derive(Debug, Deserialize)]
pub(crate) struct ServerHead {
    pub(crate) max_object_size: u64,
}

/// Decodes `%XX` escapes into bytes; every other byte stands for itself. `None` for a `%` not
/// followed by two hex digits.
pub(crate) fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            let hi = hex_value(*raw.get(i + 1)?)?;
            let lo = hex_value(*raw.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Encodes `key` for a URL path or query: unreserved bytes (`A-Z a-z 0-9 - . _ ~`) and `/`
/// as they are, everything else as `%XX`.
pub(crate) fn percent_encode(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The value of query parameter `name`, percent-decoded (`+` is a space there).
#[cfg(feature = "server")]
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<Option<Vec<u8>>> {
    let query = query?;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            let v = v.replace('+', " ");
            return Some(percent_decode(v.as_bytes()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_keeps_path_like_keys_as_bytes() {
        assert_eq!(
            percent_decode(b"..%2F..%2Fetc%2Fpasswd").unwrap(),
            b"../../etc/passwd"
        );
        assert_eq!(percent_decode(b"%2e%2e%2f").unwrap(), b"../");
        assert_eq!(percent_decode(b"a/b/c").unwrap(), b"a/b/c");
        assert_eq!(percent_decode(b"%00%ff%0A").unwrap(), b"\0\xff\n");
        assert_eq!(percent_decode(b"a+b").unwrap(), b"a+b");
        assert_eq!(percent_decode(b"%"), None);
        assert_eq!(percent_decode(b"%4"), None);
        assert_eq!(percent_decode(b"%zz"), None);
    }

    #[test]
    fn any_bytes_decode_or_are_refused_and_encodings_round_trip() {
        fn check(raw: Vec<u8>) -> bool {
            let _ = percent_decode(&raw);
            percent_decode(percent_encode(&raw).as_bytes()) == Some(raw)
        }
        quickcheck::QuickCheck::new()
            .tests(2000)
            .quickcheck(check as fn(Vec<u8>) -> bool);
    }

    #[test]
    fn listings_round_trip_any_key_and_garbage_never_panics() {
        let items = vec![(b"a/b".to_vec(), 1), (b"\0\xff\"\n".to_vec(), 2)];
        let json = serde_json::to_string(&Listing::new(&items, true)).unwrap();
        assert!(
            json.starts_with(r#"{"objects":[{"key":"a/b","size":1}"#),
            "{json}"
        );
        let back: Listing = serde_json::from_str(&json).unwrap();
        assert!(back.truncated);
        assert_eq!(
            back.keys().unwrap(),
            items.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
        );
        fn check(text: String) -> bool {
            let _ = serde_json::from_str::<Listing>(&text).map(|l| l.keys());
            true
        }
        quickcheck::QuickCheck::new()
            .tests(2000)
            .quickcheck(check as fn(String) -> bool);
    }

    #[test]
    fn rows_keep_their_order() {
        let rows = Rows(vec![("b", 2), ("a", 1)]);
        assert_eq!(serde_json::to_string(&rows).unwrap(), r#"{"b":2,"a":1}"#);
    }

    #[test]
    fn encoding_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = percent_encode(&all);
        assert!(enc.is_ascii());
        assert_eq!(percent_decode(enc.as_bytes()).unwrap(), all);
        assert_eq!(percent_encode(b"a b/c%"), "a%20b/c%25");
    }

    #[test]
    #[cfg(feature = "server")]
    fn query_parameters() {
        assert_eq!(
            query_param(Some("limit=3&prefix=a%2Fb+c"), "prefix"),
            Some(Some(b"a/b c".to_vec()))
        );
        assert_eq!(query_param(Some("prefix"), "prefix"), Some(Some(vec![])));
        assert_eq!(query_param(Some("x=1"), "prefix"), None);
        assert_eq!(query_param(None, "prefix"), None);
        assert_eq!(query_param(Some("prefix=%"), "prefix"), Some(None));
    }
}

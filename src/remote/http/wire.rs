//! Object keys in URLs (the HTTP server and [`HttpStore`](crate::HttpStore)):
//! percent-encoded bytes, never paths.
//!
//! The key is everything after `/v1/objects/` in the raw request path, percent-decoded to
//! bytes. No segment is interpreted: `a/b/c`, `..` and `%2e%2e%2f` are keys like any other,
//! and keys need not be UTF-8.

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

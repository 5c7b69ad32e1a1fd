//! `Range` and `If-Range` on a GET (RFC 9110 §14): one byte range of the object, or all of
//! it. Several ranges in one request are answered with the whole object (allowed: a server
//! may ignore `Range`), and so is a range that does not parse.

use axum::http::{HeaderMap, header};

/// What a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The whole object (`200`).
    Whole,
    /// Bytes `start..=end` (`206`).
    Part { start: u64, end: u64 },
    /// A range that starts past the end (`416`).
    Unsatisfiable,
}

/// The part of an object of `size` bytes, with entity tag `etag`, that `headers` ask for.
pub(crate) fn wanted(headers: &HeaderMap, size: u64, etag: &str) -> Wanted {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Wanted::Whole;
    };
    // If-Range: the range only if the object is still the one the client has (a strong
    // comparison with the entity tag; a date never matches: no Last-Modified is sent).
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range.to_str().ok().map(str::trim) != Some(etag)
    {
        return Wanted::Whole;
    }
    let Some(spec) = range
        .trim()
        .strip_prefix("bytes=")
        .filter(|s| !s.contains(','))
    else {
        return Wanted::Whole;
    };
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first, last) {
        ("", n) => match number(n) {
            // The last n bytes.
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part {
                start: size - n.min(size),
                end: size - 1,
            },
            None => Wanted::Whole,
        },
        (a, "") => match number(a) {
            Some(a) if a < size => Wanted::Part {
                start: a,
                end: size - 1,
            },
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::Whole,
        },
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) if a > b => Wanted::Whole,
            (Some(a), Some(_)) if a >= size => Wanted::Unsatisfiable,
            (Some(a), Some(b)) => Wanted::Part {
                start: a,
                end: b.min(size - 1),
            },
            _ => Wanted::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ask(range: &str, if_range: Option<&str>) -> Wanted {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(range).unwrap());
        if let Some(v) = if_range {
            h.insert(header::IF_RANGE, HeaderValue::from_str(v).unwrap());
        }
        wanted(&h, 1000, "\"tag\"")
    }

    #[test]
    fn every_range_form() {
        let part = |start, end| Wanted::Part { start, end };
        assert_eq!(ask("bytes=0-99", None), part(0, 99));
        assert_eq!(ask("bytes=900-5000", None), part(900, 999));
        assert_eq!(ask("bytes=990-", None), part(990, 999));
        assert_eq!(ask("bytes=-10", None), part(990, 999));
        assert_eq!(ask("bytes=-5000", None), part(0, 999));
        assert_eq!(ask("bytes=999-999", None), part(999, 999));
        assert_eq!(ask("bytes=1000-", None), Wanted::Unsatisfiable);
        assert_eq!(ask("bytes=1000-2000", None), Wanted::Unsatisfiable);
        assert_eq!(ask("bytes=-0", None), Wanted::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-9",
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(ask(ignored, None), Wanted::Whole, "{ignored}");
        }
        assert_eq!(ask("bytes=0-9", Some("\"tag\"")), part(0, 9));
        assert_eq!(ask("bytes=0-9", Some("\"other\"")), Wanted::Whole);
        assert_eq!(
            ask("bytes=0-9", Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Wanted::Whole
        );
        assert_eq!(wanted(&HeaderMap::new(), 10, "\"t\""), Wanted::Whole);
    }

    #[test]
    fn an_empty_object_has_no_range() {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_static("bytes=-1"));
        assert_eq!(wanted(&h, 0, "\"t\""), Wanted::Unsatisfiable);
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-"));
        assert_eq!(wanted(&h, 0, "\"t\""), Wanted::Unsatisfiable);
    }
}

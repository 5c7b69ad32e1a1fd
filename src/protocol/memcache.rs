//! memcached's text protocol, as both the client (`remote::memcached`) and the front end
//! (`server::memcache`) speak it: key limits, the exptime rule, numbers read as memcached 1.6
//! reads them (`safe_strtol` and friends in its `util.c`), strict base64 for `b` keys, and
//! request lines.
//!
//! Everything here takes bytes from the network: no function panics or allocates more than
//! the bytes it is given.

/// The longest key memcached accepts, in bytes.
pub(crate) const MAX_KEY: usize = 250;

/// An exptime up to this many seconds is relative to now; above it, a Unix time.
pub(crate) const RELATIVE_MAX_SECS: i64 = 30 * 24 * 3600;

/// The longest opaque (`O`) token memcached takes, its letter included.
pub(crate) const MAX_OPAQUE_TOKEN: usize = 32;

/// A key memcached accepts: 1 to [`MAX_KEY`] bytes (it splits lines on spaces only, so other
/// control bytes pass, as they do in memcached).
pub(crate) fn key_ok(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY
}

/// The space-separated tokens of a request line (runs of spaces count as one).
pub(crate) fn tokens(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect()
}

/// Where a request line ends in `buf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// The line is `buf[..text]`; the next request starts at `next` (past `\n`).
    Found { text: usize, next: usize },
    /// No newline yet, and fewer than `max` bytes: read more.
    Need,
    /// No newline in the first `max` bytes.
    TooLong,
}

/// Finds the first request line of `buf`: up to `\n`, without it and a `\r` before it, and
/// cut at a NUL byte (memcached reads the line as a C string, so nothing after a NUL counts).
pub(crate) fn line_end(buf: &[u8], max: usize) -> LineEnd {
    let Some(nl) = buf
        .iter()
        .take(max.saturating_add(1))
        .position(|&b| b == b'\n')
    else {
        return if buf.len() > max {
            LineEnd::TooLong
        } else {
            LineEnd::Need
        };
    };
    let mut text = nl;
    if text > 0 && buf.get(text - 1) == Some(&b'\r') {
        text -= 1;
    }
    if let Some(nul) = buf.get(..text).and_then(|l| l.iter().position(|&b| b == 0)) {
        text = nul;
    }
    LineEnd::Found { text, next: nl + 1 }
}

/// `strtoll` over a whole token: optional sign, at least one digit, nothing after; `None` on
/// overflow.
fn strtoll(token: &[u8]) -> Option<i64> {
    let (negative, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, token),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

/// `strtoull` over digits: `None` on overflow or a non-digit.
fn digits_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// memcached's `safe_strtol`: a 64-bit number (out of range: `None`), kept as its low 32
/// bits — so 2^31 reads as −2^31, as memcached reads it. Exptimes and `flush_all` delays.
pub(crate) fn strtol32(token: &[u8]) -> Option<i32> {
    strtoll(token).map(|n| n as i32)
}

/// memcached's `safe_strtoul` for client flags: an unsigned number, kept as its low 32 bits;
/// a negative one is refused.
pub(crate) fn strtoul32(token: &[u8]) -> Option<u32> {
    let digits = token.strip_prefix(b"+").unwrap_or(token);
    digits_u64(digits).map(|n| n as u32)
}

/// memcached's `safe_strtoull` over a whole token: deltas, CAS values. A leading `-` is
/// refused.
pub(crate) fn strtoull(token: &[u8]) -> Option<u64> {
    digits_u64(token.strip_prefix(b"+").unwrap_or(token))
}

/// A storage command's byte count: at most `i32::MAX - 2`, as memcached 1.6 takes it; larger
/// or malformed counts are refused (`CLIENT_ERROR bad command line format`) before any data
/// is read, so no length can make the server wait for, or swallow, more than it may hold.
pub(crate) fn data_len(token: &[u8]) -> Option<usize> {
    let n = digits_u64(token)?;
    if n > (i32::MAX - 2) as u64 {
        return None;
    }
    usize::try_from(n).ok()
}

/// A counter as `incr`/`decr` reads an item's data (memcached's `safe_strtoull` on it):
/// leading white space skipped, a decimal number that fits in 64 bits, then the end or white
/// space. A negative number is not a counter.
pub(crate) fn counter(data: &[u8]) -> Option<u64> {
    let start = data.iter().position(|b| !is_space(*b))?;
    let rest = data.get(start..)?;
    let (negative, rest) = match rest.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, rest),
    };
    let len = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(len);
    if tail.first().is_some_and(|b| !is_space(*b)) {
        return None;
    }
    let n = digits_u64(digits)?;
    if negative {
        // strtoull negates; memcached refuses what then reads as negative.
        let n = n.wrapping_neg();
        return ((n as i64) >= 0).then_some(n);
    }
    Some(n)
}

/// C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends standard base64 (with padding) of `data` to `out`.
pub(crate) fn base64_encode(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// Standard base64 of `data`, padded.
pub(crate) fn base64(data: &[u8]) -> String {
    let mut out = Vec::new();
    base64_encode(data, &mut out);
    // Only ASCII was pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes standard base64 as memcached does: whole groups of four, `=` padding only at the
/// end; `None` for anything else.
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let body = text
        .strip_suffix(b"==")
        .or(text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding.
    (acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_memcached_reads_them() {
        assert_eq!(strtol32(b"10"), Some(10));
        assert_eq!(strtol32(b"-1"), Some(-1));
        assert_eq!(
            strtol32(b"2147483648"),
            Some(i32::MIN),
            "wraps as memcached's cast"
        );
        assert_eq!(strtol32(b"4294967297"), Some(1));
        assert_eq!(strtol32(b"-9223372036854775808"), Some(0));
        assert_eq!(strtol32(b"-9223372036854775809"), None, "out of range");
        assert_eq!(strtol32(b"1a"), None);
        assert_eq!(strtol32(b""), None);
        assert_eq!(strtoul32(b"4294967296"), Some(0));
        assert_eq!(strtoul32(b"-1"), None);
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(data_len(b"2147483645"), Some(2147483645));
        assert_eq!(data_len(b"2147483646"), None);
        assert_eq!(data_len(b"18446744073709551614"), None);
        assert_eq!(data_len(b"-1"), None);
    }

    #[test]
    fn counters_parse_like_memcached() {
        assert_eq!(counter(b"42"), Some(42));
        assert_eq!(counter(b" 12"), Some(12));
        assert_eq!(counter(b"9 "), Some(9), "a shorter decr result");
        assert_eq!(counter(b"000000000000000000012"), Some(12));
        assert_eq!(counter(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(counter(b"18446744073709551616"), None);
        assert_eq!(counter(b""), None);
        assert_eq!(counter(b"   "), None);
        assert_eq!(counter(b"-1"), None);
        assert_eq!(counter(b"1a"), None);
    }

    #[test]
    fn lines_end_at_newline_or_nul() {
        assert_eq!(
            line_end(b"get a\r\nx", 100),
            LineEnd::Found { text: 5, next: 7 }
        );
        assert_eq!(
            line_end(b"get a\nx", 100),
            LineEnd::Found { text: 5, next: 6 }
        );
        assert_eq!(
            line_end(b"set a\0b 0\r\n", 100),
            LineEnd::Found { text: 5, next: 11 }
        );
        assert_eq!(line_end(b"get a", 100), LineEnd::Need);
        assert_eq!(line_end(&[b'a'; 101], 100), LineEnd::TooLong);
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode(b"aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode(b"aGVsbG8"), None, "padding is required");
        assert_eq!(base64_decode(b"aGVsbG8==="), None);
        assert_eq!(base64_decode(b"a*b="), None);
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\r\n \xff"] {
            let text = base64(data);
            if !data.is_empty() {
                assert_eq!(base64_decode(text.as_bytes()).as_deref(), Some(data));
            }
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
        for n in 1..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(base64(&data).as_bytes()), Some(data));
        }
    }
}

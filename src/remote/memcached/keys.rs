//! How keys and TTLs go on memcached's wire: plain, base64 (the `b` flag) or a digest slot for
//! keys memcached cannot take as they are; TTLs as exptimes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{MAX_BINARY_KEY, MEMCACHED_MAX_KEY, RELATIVE_TTL_MAX};

/// How a key goes on the wire.
pub(super) struct WireKey {
    /// The key token of the command line (the key itself, or its base64).
    pub(super) token: Vec<u8>,
    /// The token is base64 (`b` flag).
    pub(super) base64: bool,
    /// Length of the raw key memcached stores.
    pub(super) raw_len: usize,
    /// The key is stored under a digest, its item flagged and carrying the key.
    pub(super) hashed: bool,
}

/// How `key` goes on the wire: as itself, in base64 (meta protocol only), or under a
/// digest. Over the text protocol (`text`), a key that is not printable goes under a digest
/// too, written as printable base64.
pub(super) fn wire_key(key: &[u8], text: bool) -> WireKey {
    let plain = (1..=MEMCACHED_MAX_KEY).contains(&key.len())
        && key.iter().all(|b| (0x21..=0x7e).contains(b));
    if plain {
        return WireKey {
            token: key.to_vec(),
            base64: false,
            raw_len: key.len(),
            hashed: false,
        };
    }
    if text {
        let mut digest = b"~lc:".to_vec();
        digest
            .extend_from_slice(base64(&xxhash_rust::xxh3::xxh3_128(key).to_le_bytes()).as_bytes());
        return WireKey {
            raw_len: digest.len(),
            token: digest,
            base64: false,
            hashed: true,
        };
    }
    if (1..=MAX_BINARY_KEY).contains(&key.len()) {
        return WireKey {
            token: base64(key).into_bytes(),
            base64: true,
            raw_len: key.len(),
            hashed: false,
        };
    }
    let mut digest = vec![0xff, 0x00];
    digest.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(key).to_le_bytes());
    WireKey {
        token: base64(&digest).into_bytes(),
        base64: true,
        raw_len: digest.len(),
        hashed: true,
    }
}

/// Standard base64 with padding.
pub(super) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` for anything else. (The memcached
/// front end reads `b` keys with it.)
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = text
        .strip_suffix(b"==")
        .or(text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
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
    // Leftover bits must be zero padding, and a lone 6-bit group is no byte at all.
    (acc == 0 && bits < 6).then_some(out)
}

/// memcached's expiry for a TTL: whole seconds, at least 1; over 30 days as a Unix time.
pub(super) fn exptime(ttl: Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let secs = secs.max(1);
    if secs <= RELATIVE_TTL_MAX {
        secs
    } else {
        unix_now().as_secs() + secs
    }
}

pub(super) fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64_decode(base64(&data).as_bytes()), Some(data));
        }
        assert_eq!(base64_decode(b"Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(
            base64_decode(b"Zm8"),
            Some(b"fo".to_vec()),
            "padding optional"
        );
        assert_eq!(base64_decode(b"Zm9"), None, "non-zero leftover bits");
        assert_eq!(base64_decode(b"Z"), None);
        assert_eq!(base64_decode(b"Zm9v!"), None);
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn keys_go_plain_base64_or_hashed() {
        let w = wire_key(b"user:1", false);
        assert!(!w.base64 && !w.hashed && w.token == b"user:1");
        let w = wire_key(&[b'k'; 250], false);
        assert!(!w.base64 && !w.hashed);
        let w = wire_key(&[b'k'; 251], false);
        assert!(w.hashed && w.token.len() <= 250);
        let w = wire_key(b"a b", false);
        assert!(w.base64 && !w.hashed && w.token == b"YSBi");
        let w = wire_key(&[0u8; 186], false);
        assert!(w.base64 && !w.hashed && w.token.len() <= 250);
        let w = wire_key(&[0u8; 187], false);
        assert!(w.hashed);
        assert!(wire_key(b"", false).hashed);
        // Over the text protocol a key that is not printable goes under a printable digest.
        let w = wire_key(b"a b", true);
        assert!(w.hashed && !w.base64);
        assert!(w.token.iter().all(|b| (0x21..=0x7e).contains(b)));
        assert_eq!(wire_key(b"user:1", true).token, b"user:1");
        assert_ne!(
            wire_key(&[1u8; 300], false).token,
            wire_key(&[2u8; 300], false).token
        );
    }

    #[test]
    fn ttls_become_memcached_exptimes() {
        assert_eq!(exptime(Duration::from_millis(1)), 1);
        assert_eq!(exptime(Duration::from_millis(1500)), 2);
        assert_eq!(
            exptime(Duration::from_secs(RELATIVE_TTL_MAX)),
            RELATIVE_TTL_MAX
        );
        let far = exptime(Duration::from_secs(RELATIVE_TTL_MAX + 1));
        assert!(far > unix_now().as_secs());
    }
}

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

pub(super) use crate::protocol::memcache::base64;

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

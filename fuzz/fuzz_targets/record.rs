//! The record decoder alone: no input makes it panic, and whatever it accepts re-encodes to
//! exactly the bytes it consumed (the checksum and every field round-trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use logcache::sim::{decode_record, encode_record};

fuzz_target!(|data: &[u8]| {
    for max in [0, 16, 1 << 20, u64::MAX] {
        if let Some(r) = decode_record(data, max) {
            assert!(r.len <= data.len());
            assert!(r.value.len() as u64 <= max);
            let again = encode_record(r.seq, r.put, r.expiry, &r.key, &r.value);
            assert_eq!(
                again,
                &data[..r.len],
                "accepted bytes are not the canonical encoding"
            );
        }
    }
});

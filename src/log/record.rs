//! The record codec: one tab-separated, CRC32-checked, binary-safe record per line.
//!
//! ```text
//! CRC \t SEQ \t OP \t EXPIRY \t KEYLEN \t VALUELEN \t KEY \t VALUE \n
//! ```
//!
//! `CRC` is 8 lowercase hex digits of the CRC32 (IEEE, as `crc32fast`) of every byte of the
//! record after it, from the first `\t` to the final `\n` inclusive. The other numbers are
//! decimal without leading zeros. The lengths make any byte legal inside key and value.
//! docs/FORMAT.md is the byte-exact specification; keep the two in step.

/// First bytes of every log file: the magic word and the format version.
pub(crate) const FILE_HEADER: &[u8] = b"logcache\t1\n";

/// Longest header possible: 8 hex + 4 numbers of at most 20 digits + op + 6 tabs.
pub(crate) const MAX_HEADER_LEN: usize = 8 + 20 * 4 + 1 + 6;

/// Largest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 64 * 1024;

/// Largest value the format can carry: record lengths are kept in a `u32` in the index.
pub const MAX_VALUE_LEN_LIMIT: u64 = u32::MAX as u64 - MAX_KEY_LEN as u64 - 1024;

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Sets the key to the value.
    Put,
    /// Removes the key (a tombstone: empty value, no expiry).
    Delete,
}

impl Op {
    fn byte(self) -> u8 {
        match self {
            Op::Put => b'P',
            Op::Delete => b'D',
        }
    }
}

/// A parsed record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) crc: u32,
    pub(crate) seq: u64,
    pub(crate) op: Op,
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub(crate) expiry: u64,
    pub(crate) key_len: u64,
    pub(crate) value_len: u64,
    /// Bytes of header, up to and including the tab after VALUELEN.
    pub(crate) header_len: usize,
}

impl Header {
    /// Total bytes of the record. Cannot overflow: the lengths were bounded while parsing.
    pub(crate) fn record_len(&self) -> u64 {
        self.header_len as u64 + self.key_len + 1 + self.value_len + 1
    }
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The bytes so far are a valid beginning, but the record needs more.
    Incomplete,
    /// The bytes cannot begin a record.
    Invalid(&'static str),
    /// The record is complete but its checksum does not hold.
    Checksum { expected: u32, actual: u32 },
}

/// Parses a header from the start of `buf`, refusing key lengths over [`MAX_KEY_LEN`] and
/// value lengths over `max_value_len`. Never reads past `buf`.
pub(crate) fn parse_header(buf: &[u8], max_value_len: u64) -> Result<Header, DecodeError> {
    let mut pos = 0usize;
    let crc = parse_hex8(buf, &mut pos)?;
    let seq = parse_decimal(buf, &mut pos)?;
    let op = match (buf.get(pos), buf.get(pos + 1)) {
        (None, _) => return Err(DecodeError::Incomplete),
        (Some(b'P'), Some(b'\t')) => Op::Put,
        (Some(b'D'), Some(b'\t')) => Op::Delete,
        (Some(b'P' | b'D'), None) => return Err(DecodeError::Incomplete),
        _ => return Err(DecodeError::Invalid("operation is neither P nor D")),
    };
    pos += 2;
    let expiry = parse_decimal(buf, &mut pos)?;
    let key_len = parse_decimal(buf, &mut pos)?;
    if key_len > MAX_KEY_LEN as u64 {
        return Err(DecodeError::Invalid("key length over the maximum"));
    }
    let value_len = parse_decimal(buf, &mut pos)?;
    if value_len > max_value_len.min(MAX_VALUE_LEN_LIMIT) {
        return Err(DecodeError::Invalid("value length over the maximum"));
    }
    if op == Op::Delete && (value_len != 0 || expiry != 0) {
        return Err(DecodeError::Invalid(
            "delete record with a value or an expiry",
        ));
    }
    Ok(Header {
        crc,
        seq,
        op,
        expiry,
        key_len,
        value_len,
        header_len: pos,
    })
}

fn parse_hex8(buf: &[u8], pos: &mut usize) -> Result<u32, DecodeError> {
    let mut value = 0u32;
    for i in 0..8 {
        let Some(&b) = buf.get(i) else {
            return Err(DecodeError::Incomplete);
        };
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => {
                return Err(DecodeError::Invalid(
                    "checksum is not 8 lowercase hex digits",
                ));
            }
        };
        value = value << 4 | u32::from(digit);
    }
    match buf.get(8) {
        None => Err(DecodeError::Incomplete),
        Some(b'\t') => {
            *pos = 9;
            Ok(value)
        }
        Some(_) => Err(DecodeError::Invalid(
            "checksum is not 8 lowercase hex digits",
        )),
    }
}

/// Parses `DIGITS \t` at `*pos`: 1 to 20 digits, no leading zero, no overflow.
///
/// The hot path of every decode (four numbers per record): the first 19 digits cannot
/// overflow a `u64` and are added unchecked, and a leading zero shows as a value of 0 before
/// a second digit (a number without one is 0 only when it is the single digit `0`).
fn parse_decimal(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    const UNCHECKED_DIGITS: usize = 19;
    let start = *pos;
    let mut value = 0u64;
    let mut i = start;
    loop {
        let Some(&b) = buf.get(i) else {
            return Err(DecodeError::Incomplete);
        };
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            let digits = i - start;
            if digits > 0 && value == 0 {
                return Err(DecodeError::Invalid("number with a leading zero"));
            }
            value = if digits < UNCHECKED_DIGITS {
                value * 10 + u64::from(digit)
            } else {
                value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit)))
                    .ok_or(DecodeError::Invalid("number over u64"))?
            };
        } else if b == b'\t' && i > start {
            *pos = i + 1;
            return Ok(value);
        } else {
            return Err(DecodeError::Invalid("malformed number"));
        }
        i += 1;
    }
}

/// Appends the decimal digits of `n` (also the memcached door's numbers).
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn hex8(crc: u32) -> [u8; 8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 8];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = HEX[(crc >> (28 - 4 * i) & 0xf) as usize];
    }
    out
}

/// Payloads at least this long have their CRC computed up front (outside the writer's lock)
/// and combined with the header's; shorter ones are hashed with the header in one pass, since
/// `Hasher::combine` costs more than hashing a few hundred bytes (266 ns against about 50 ns
/// to encode a 116-byte record, measured with `benches/hot_paths.rs`).
const COMBINE_FROM: usize = 4096;

/// The part of a record after the header (`KEY \t VALUE \n`); for a large one, with its CRC
/// computed once, so that the checksum work happens outside the writer's lock.
pub(crate) struct Payload<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
    crc: Option<crc32fast::Hasher>,
}

impl<'a> Payload<'a> {
    pub(crate) fn new(key: &'a [u8], value: &'a [u8]) -> Self {
        let crc = (key.len() + value.len() >= COMBINE_FROM).then(|| {
            let mut crc = crc32fast::Hasher::new();
            crc.update(key);
            crc.update(b"\t");
            crc.update(value);
            crc.update(b"\n");
            crc
        });
        Payload { key, value, crc }
    }

    /// Bytes the whole record will take with this `seq` and `expiry`.
    pub(crate) fn record_len(&self, seq: u64, expiry: u64) -> usize {
        let digits = |n: u64| n.checked_ilog10().unwrap_or(0) as usize + 1;
        9 + digits(seq)
            + 3
            + digits(expiry)
            + 1
            + digits(self.key.len() as u64)
            + 1
            + digits(self.value.len() as u64)
            + 1
            + self.key.len()
            + 1
            + self.value.len()
            + 1
    }

    /// Replaces `out` with the encoded record.
    pub(crate) fn encode(&self, seq: u64, op: Op, expiry: u64, out: &mut Vec<u8>) {
        out.clear();
        self.encode_onto(seq, op, expiry, out);
    }

    /// Appends the encoded record to `out` (a batch of records in one buffer); returns its
    /// length.
    pub(crate) fn encode_onto(&self, seq: u64, op: Op, expiry: u64, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(b"00000000\t");
        push_decimal(out, seq);
        out.push(b'\t');
        out.push(op.byte());
        out.push(b'\t');
        push_decimal(out, expiry);
        out.push(b'\t');
        push_decimal(out, self.key.len() as u64);
        out.push(b'\t');
        push_decimal(out, self.value.len() as u64);
        out.push(b'\t');
        let header_end = out.len();
        out.reserve(self.key.len() + self.value.len() + 2);
        out.extend_from_slice(self.key);
        out.push(b'\t');
        out.extend_from_slice(self.value);
        out.push(b'\n');
        let crc = match &self.crc {
            Some(payload) => {
                let mut crc = crc32fast::Hasher::new();
                crc.update(&out[start + 8..header_end]);
                crc.combine(payload);
                crc.finalize()
            }
            None => crc32fast::hash(&out[start + 8..]),
        };
        out[start..start + 8].copy_from_slice(&hex8(crc));
        out.len() - start
    }
}

/// A whole record decoded from a buffer, borrowing key and value from it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) header: Header,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
}

/// Decodes and verifies one record at the start of `buf` (which may hold more after it).
pub(crate) fn decode(buf: &[u8], max_value_len: u64) -> Result<Record<'_>, DecodeError> {
    let header = parse_header(buf, max_value_len)?;
    let len = usize::try_from(header.record_len()).map_err(|_| DecodeError::Incomplete)?;
    let record = buf.get(..len).ok_or(DecodeError::Incomplete)?;
    let key_end = header.header_len + header.key_len as usize;
    let (Some(b'\t'), Some(b'\n')) = (record.get(key_end), record.last()) else {
        return Err(DecodeError::Invalid("missing separator after key or value"));
    };
    let actual = crc32fast::hash(&record[8..]);
    if actual != header.crc {
        return Err(DecodeError::Checksum {
            expected: header.crc,
            actual,
        });
    }
    Ok(Record {
        header,
        key: &record[header.header_len..key_end],
        value: &record[key_end + 1..len - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 1 << 30;

    fn encode(seq: u64, op: Op, expiry: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let payload = Payload::new(key, value);
        payload.encode(seq, op, expiry, &mut out);
        assert_eq!(out.len(), payload.record_len(seq, expiry));
        out
    }

    #[test]
    fn text_record_is_readable_and_exact() {
        let rec = encode(1, Op::Put, 0, b"config:theme", b"dark");
        let text = std::str::from_utf8(&rec).unwrap();
        assert!(
            text.ends_with("\t1\tP\t0\t12\t4\tconfig:theme\tdark\n"),
            "{text}"
        );
        let crc = crc32fast::hash(&rec[8..]);
        assert_eq!(&rec[..8], format!("{crc:08x}").as_bytes());
    }

    #[test]
    fn round_trip_binary_and_extremes() {
        type Case = (u64, Op, u64, Vec<u8>, Vec<u8>);
        let cases: Vec<Case> = vec![
            (0, Op::Put, 0, vec![], vec![]),
            (
                u64::MAX,
                Op::Put,
                u64::MAX,
                b"\t\n\r\0".to_vec(),
                b"\n\t\0\xff\xfe".to_vec(),
            ),
            (9, Op::Put, 10, vec![0xff; MAX_KEY_LEN], vec![b'\n'; 1000]),
            (10, Op::Delete, 0, b"gone".to_vec(), vec![]),
        ];
        for (seq, op, expiry, key, value) in cases {
            let mut buf = encode(seq, op, expiry, &key, &value);
            let len = buf.len();
            buf.extend_from_slice(b"trailing bytes are not read");
            let rec = decode(&buf, MAX).unwrap();
            assert_eq!(rec.header.seq, seq);
            assert_eq!(rec.header.op, op);
            assert_eq!(rec.header.expiry, expiry);
            assert_eq!(rec.key, &key[..]);
            assert_eq!(rec.value, &value[..]);
            assert_eq!(rec.header.record_len(), len as u64);
        }
    }

    #[test]
    fn every_prefix_is_incomplete_never_invalid() {
        let rec = encode(123, Op::Put, 456, b"k\tey", b"va\nlue");
        for cut in 0..rec.len() {
            assert_eq!(
                decode(&rec[..cut], MAX),
                Err(DecodeError::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let rec = encode(77, Op::Put, 5, b"key", b"value with\ttab");
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[i] ^= 1 << bit;
                match decode(&bad, MAX) {
                    Ok(r) => panic!("flip of bit {bit} in byte {i} accepted: {r:?}"),
                    Err(DecodeError::Incomplete) => {
                        // A larger length field: the record now claims more bytes.
                    }
                    Err(_) => {}
                }
            }
        }
    }

    #[test]
    fn header_field_boundaries() {
        let ok = |s: &str| parse_header(s.as_bytes(), MAX);
        // Checksum field: exactly 8 lowercase hex digits.
        assert!(ok("0000000a\t1\tP\t0\t1\t1\t").is_ok());
        assert!(matches!(
            ok("0000000A\t1\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            ok("0000000\t1\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            ok("000000000\t1\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        // Numbers: u64::MAX is fine, one more is not; no leading zeros; never empty.
        assert_eq!(
            ok("00000000\t18446744073709551615\tP\t0\t1\t1\t")
                .unwrap()
                .seq,
            u64::MAX
        );
        assert!(matches!(
            ok("00000000\t18446744073709551616\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            ok("00000000\t01\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        // Zeros after the first digit, a single 0, 19 nines (unchecked), 21 digits.
        assert_eq!(ok("00000000\t100\tP\t0\t1\t1\t").unwrap().seq, 100);
        assert_eq!(ok("00000000\t0\tP\t0\t1\t1\t").unwrap().seq, 0);
        assert_eq!(
            ok("00000000\t9999999999999999999\tP\t0\t1\t1\t")
                .unwrap()
                .seq,
            9_999_999_999_999_999_999
        );
        assert!(matches!(
            ok("00000000\t100000000000000000000\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid("number over u64"))
        ));
        assert!(matches!(
            ok("00000000\t00\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid("number with a leading zero"))
        ));
        assert!(matches!(
            ok("00000000\t\tP\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            ok("00000000\t1\tX\t0\t1\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        // Key length bound.
        let at = format!("00000000\t1\tP\t0\t{MAX_KEY_LEN}\t1\t");
        let over = format!("00000000\t1\tP\t0\t{}\t1\t", MAX_KEY_LEN + 1);
        assert!(ok(&at).is_ok());
        assert!(matches!(ok(&over), Err(DecodeError::Invalid(_))));
        // Value length bound is the caller's maximum.
        assert!(parse_header(b"00000000\t1\tP\t0\t1\t100\t", 100).is_ok());
        assert!(matches!(
            parse_header(b"00000000\t1\tP\t0\t1\t101\t", 100),
            Err(DecodeError::Invalid(_))
        ));
        // A huge claimed length is refused by the bound, not trusted.
        assert!(matches!(
            ok("00000000\t1\tP\t0\t1\t18446744073709551615\t"),
            Err(DecodeError::Invalid(_))
        ));
        // Deletes carry no value and no expiry.
        assert!(ok("00000000\t1\tD\t0\t3\t0\t").is_ok());
        assert!(matches!(
            ok("00000000\t1\tD\t0\t3\t1\t"),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            ok("00000000\t1\tD\t5\t3\t0\t"),
            Err(DecodeError::Invalid(_))
        ));
        // Longest header fits the constant.
        let longest = format!(
            "00000000\t{m}\tP\t{m}\t{k}\t{m}\t",
            m = u64::MAX,
            k = MAX_KEY_LEN
        );
        assert!(longest.len() <= MAX_HEADER_LEN);
    }

    #[test]
    fn zeros_and_garbage_are_invalid_at_once() {
        assert!(matches!(
            decode(&[0u8; 64], MAX),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode(b"hello world\n", MAX),
            Err(DecodeError::Invalid(_))
        ));
        assert_eq!(decode(b"", MAX), Err(DecodeError::Incomplete));
    }

    #[test]
    fn both_crc_paths_agree_around_the_combine_threshold() {
        for total in [
            0,
            1,
            COMBINE_FROM - 2,
            COMBINE_FROM - 1,
            COMBINE_FROM,
            COMBINE_FROM + 1,
            3 * COMBINE_FROM,
        ] {
            let key = vec![b'k'; total.min(10)];
            let value = vec![b'v'; total - key.len()];
            let rec = encode(42, Op::Put, 7, &key, &value);
            let crc = crc32fast::hash(&rec[8..]);
            assert_eq!(
                &rec[..8],
                format!("{crc:08x}").as_bytes(),
                "payload of {total} bytes"
            );
        }
    }

    #[test]
    fn decimal_writer_matches_std() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}

//! The record codec as the engine uses it, exposed for the fuzz targets and the benchmarks
//! (hidden from the docs: not an API to build on).

#[doc(hidden)]
/// A record decoded by [`decode_record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Sequence number.
    pub seq: u64,
    /// `true` for a put, `false` for a delete.
    pub put: bool,
    /// Expiry in Unix milliseconds, 0 = never.
    pub expiry: u64,
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Bytes the record takes at the start of the input.
    pub len: usize,
}

#[doc(hidden)]
/// Decodes and verifies the record at the start of `bytes` (the codec the engine uses), with
/// values up to `max_value_len`. For the `record` fuzz target.
pub fn decode_record(bytes: &[u8], max_value_len: u64) -> Option<DecodedRecord> {
    let r = crate::log::record::decode(bytes, max_value_len).ok()?;
    Some(DecodedRecord {
        seq: r.header.seq,
        put: r.header.op == crate::log::record::Op::Put,
        expiry: r.header.expiry,
        key: r.key.to_vec(),
        value: r.value.to_vec(),
        len: usize::try_from(r.header.record_len()).ok()?,
    })
}

#[doc(hidden)]
/// Encodes a record as the engine writes it. For the `record` fuzz target.
pub fn encode_record(seq: u64, put: bool, expiry: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    use crate::log::record::{Op, Payload};
    let mut out = Vec::new();
    let op = if put { Op::Put } else { Op::Delete };
    Payload::new(key, value).encode(seq, op, expiry, &mut out);
    out
}

#[doc(hidden)]
/// Encodes a record into `out` (replacing its contents) without allocating when `out` has room:
/// the engine's write path. For benchmarks.
pub fn encode_record_into(out: &mut Vec<u8>, seq: u64, expiry: u64, key: &[u8], value: &[u8]) {
    use crate::log::record::{Op, Payload};
    Payload::new(key, value).encode(seq, Op::Put, expiry, out);
}

#[doc(hidden)]
/// Verifies the record at the start of `bytes` (header, separators, CRC) without allocating;
/// returns its length. The engine's read path. For benchmarks.
pub fn verify_record(bytes: &[u8], max_value_len: u64) -> Option<usize> {
    let r = crate::log::record::decode(bytes, max_value_len).ok()?;
    usize::try_from(r.header.record_len()).ok()
}

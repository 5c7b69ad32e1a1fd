//! Reading one value from the log, checked: small records in one read, large ones straight
//! into the value's own buffer.
//!
//! A small record is read whole, checked, and its value moved to the front of the buffer. For
//! a large value that move is a second pass over every byte (and the dominant cost of a
//! 1 MiB `get` after the read itself), so a record of [`DIRECT_MIN`] bytes or more is read in
//! two parts: its header and key (a few bytes) into a small buffer, its value and final
//! newline straight into the buffer that is returned. The CRC is computed over the two parts
//! in order — the same bytes, the same check — so damage anywhere is still an error, never a
//! wrong value.

use std::sync::Arc;

use super::Inner;
use super::index::Entry;
use crate::error::{Error, Result};
use crate::fs::FileHandle;
use crate::log::record::{DecodeError, MAX_HEADER_LEN, Op, parse_header};

/// Records at least this long are read straight into the value's buffer.
pub(super) const DIRECT_MIN: usize = 64 << 10;

/// A large value is read in pieces of this size, each checksummed right after its read while
/// it is still in the CPU's cache: one pass over memory for the copy and the CRC together
/// instead of a second pass over the whole value.
const PIECE: usize = 128 << 10;

/// Makes `out` exactly `len` bytes long for a read to overwrite, without zeroing the bytes it
/// already has (a reused buffer costs no `memset`; a new one is allocated zeroed, which the
/// allocator gets from fresh pages).
pub(super) fn sized(out: &mut Vec<u8>, len: usize) {
    if out.capacity() == 0 {
        *out = vec![0u8; len];
    } else if out.len() >= len {
        out.truncate(len);
    } else {
        out.resize(len, 0);
    }
}

impl Inner {
    /// Checks the whole record of `key` read into `out` (from the file or its mapping) and
    /// leaves its value alone in `out`.
    pub(super) fn value_of_record(&self, out: &mut Vec<u8>, key: &[u8], offset: u64) -> Result<()> {
        let (start, value_len) = self.check_record(out, key, offset)?;
        out.copy_within(start..start + value_len, 0);
        out.truncate(value_len);
        Ok(())
    }

    /// [`read_value_into`](Self::read_value_into) through the read cache (read_cache.rs) for
    /// a large record of the file `file_id` names: a copy from memory when it is there;
    /// otherwise read and checked from the log, then kept.
    pub(super) fn read_value_cached(
        &self,
        file: &Arc<dyn FileHandle>,
        file_id: u64,
        entry: &Entry,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let cache = match &self.read_cache {
            Some(cache) if entry.len as usize >= DIRECT_MIN => cache,
            _ => return self.read_value_into(file, entry, key, out),
        };
        if let Some(value) = cache.get(file_id, entry.offset) {
            out.clear();
            out.extend_from_slice(&value);
            crate::counters::bump(&self.counters.read_cache_hits);
            return Ok(());
        }
        crate::counters::bump(&self.counters.read_cache_misses);
        self.read_value_into(file, entry, key, out)?;
        cache.insert(file_id, entry.offset, out);
        Ok(())
    }

    /// The value of the record `entry` points at, which must be a put of `key`, into `out`
    /// (whose capacity is reused; its contents are replaced).
    pub(super) fn read_value_into(
        &self,
        file: &Arc<dyn FileHandle>,
        entry: &Entry,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let len = entry.len as usize;
        if len < DIRECT_MIN {
            sized(out, len);
            file.read_exact_at(out, entry.offset)
                .map_err(|e| Error::io("read", &self.paths.log, e))?;
            return self.value_of_record(out, key, entry.offset);
        }
        let corrupt = |reason: &str| Error::Corrupt {
            path: self.paths.log.clone(),
            offset: entry.offset,
            reason: format!("{reason}; the value is lost: delete the key"),
        };
        // Header, key and the tab after it: at most this many bytes.
        let mut head = vec![0u8; (MAX_HEADER_LEN + key.len() + 1).min(len)];
        file.read_exact_at(&mut head, entry.offset)
            .map_err(|e| Error::io("read", &self.paths.log, e))?;
        let header = parse_header(&head, self.opts.max_value_len).map_err(|e| match e {
            DecodeError::Invalid(why) => corrupt(why),
            _ => corrupt("record header cut short"),
        })?;
        if header.record_len() != entry.len as u64 || header.key_len != key.len() as u64 {
            return Err(corrupt("record length differs from the index"));
        }
        let key_end = header.header_len + key.len();
        if head.get(header.header_len..key_end) != Some(key)
            || head.get(key_end) != Some(&b'\t')
            || header.op != Op::Put
        {
            return Err(corrupt(
                "the index points at a record of another key; reopen the cache",
            ));
        }
        // The value and the final newline, into the buffer the caller gets, piece by piece,
        // each piece checksummed while it is in cache.
        let value_len = usize::try_from(header.value_len).map_err(|_| corrupt("value too long"))?;
        sized(out, value_len + 1);
        let mut crc = crc32fast::Hasher::new();
        crc.update(head.get(8..=key_end).unwrap_or_default());
        let value_at = entry.offset + key_end as u64 + 1;
        let mut done = 0usize;
        for piece in out.chunks_mut(PIECE) {
            file.read_exact_at(piece, value_at + done as u64)
                .map_err(|e| Error::io("read", &self.paths.log, e))?;
            crc.update(piece);
            done += piece.len();
        }
        if out.last() != Some(&b'\n') {
            return Err(corrupt("missing separator after key or value"));
        }
        let actual = crc.finalize();
        if actual != header.crc {
            return Err(Error::ChecksumMismatch {
                path: self.paths.log.clone(),
                offset: entry.offset,
                expected: header.crc,
                actual,
            });
        }
        out.truncate(value_len);
        Ok(())
    }
}

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

impl Inner {
    /// The value of the record `entry` points at, which must be a put of `key`.
    pub(super) fn read_value(
        &self,
        file: &Arc<dyn FileHandle>,
        entry: &Entry,
        key: &[u8],
    ) -> Result<Vec<u8>> {
        let len = entry.len as usize;
        if len < DIRECT_MIN {
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, entry.offset)
                .map_err(|e| Error::io("read", &self.path, e))?;
            let (start, value_len) = self.check_record(&buf, key, entry.offset)?;
            buf.copy_within(start..start + value_len, 0);
            buf.truncate(value_len);
            return Ok(buf);
        }
        let corrupt = |reason: &str| Error::Corrupt {
            path: self.path.clone(),
            offset: entry.offset,
            reason: format!("{reason}; the value is lost: delete the key"),
        };
        // Header, key and the tab after it: at most this many bytes.
        let mut head = vec![0u8; (MAX_HEADER_LEN + key.len() + 1).min(len)];
        file.read_exact_at(&mut head, entry.offset)
            .map_err(|e| Error::io("read", &self.path, e))?;
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
        // The value and the final newline, into the buffer that will be returned.
        let value_len = usize::try_from(header.value_len).map_err(|_| corrupt("value too long"))?;
        let mut value = vec![0u8; value_len + 1];
        file.read_exact_at(&mut value, entry.offset + key_end as u64 + 1)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if value.last() != Some(&b'\n') {
            return Err(corrupt("missing separator after key or value"));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(head.get(8..=key_end).unwrap_or_default());
        crc.update(&value);
        let actual = crc.finalize();
        if actual != header.crc {
            return Err(Error::ChecksumMismatch {
                path: self.path.clone(),
                offset: entry.offset,
                expected: header.crc,
                actual,
            });
        }
        value.truncate(value_len);
        Ok(value)
    }
}

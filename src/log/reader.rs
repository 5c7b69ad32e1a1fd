//! A read-only walk over a log file, for tools (`logcache dump`, `logcache check`): every
//! intact record with its bytes, every damaged region, the torn tail. Never writes, never
//! takes the lock, never truncates.

use std::path::Path;

use super::file::{check_file_header, check_log_path};
use super::record::{FILE_HEADER, Op, decode};
use super::replay::{Event, replay};
use crate::error::{Error, Result};
use crate::fs::{FileSystem, StdFileSystem};
use crate::options::RecoveryMode;

/// One intact record, as [`read_log`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Byte offset of the record in the file.
    pub offset: u64,
    /// Sequence number.
    pub seq: u64,
    /// `true` for a put, `false` for a delete (tombstone).
    pub put: bool,
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub expiry: u64,
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty for a delete).
    pub value: Vec<u8>,
}

/// What [`read_log`] reports, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    /// An intact record.
    Record(LogRecord),
    /// Damaged bytes with intact records after them (media corruption).
    Damaged {
        /// Offset of the first damaged byte.
        offset: u64,
        /// Bytes up to the next intact record.
        len: u64,
    },
}

/// Totals of a [`read_log`] walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogSummary {
    /// Intact records.
    pub records: u64,
    /// Damaged regions with intact records after them.
    pub damaged_regions: u64,
    /// Bytes in them.
    pub damaged_bytes: u64,
    /// Non-zero bytes after the last intact record (a torn write; the next open cuts them).
    pub torn_tail_bytes: u64,
    /// End of the last intact record.
    pub data_end: u64,
}

/// Walks the log at `path` read-only, calling `each` for every record and damaged region, with
/// values up to `max_value_len` bytes. Fails with [`Error::NotALog`] or
/// [`Error::UnsupportedVersion`] for a file that is not a log this build reads, and with
/// [`Error::BadPath`] for a path that names no regular file.
pub fn read_log(
    path: impl AsRef<Path>,
    max_value_len: u64,
    mut each: impl FnMut(LogItem),
) -> Result<LogSummary> {
    let path = path.as_ref();
    let fs = StdFileSystem;
    let (path, exists) = check_log_path(&fs, path, false)?;
    let path = path.as_path();
    if !exists {
        return Err(Error::io("open", path, std::io::ErrorKind::NotFound.into()));
    }
    let file = fs
        .open(path, false)
        .map_err(|e| Error::io("open", path, e))?;
    let len = file.size().map_err(|e| Error::io("stat", path, e))?;
    check_file_header(path, &*file, len)?;
    let mut buf = Vec::new();
    let mut failure = None;
    let sum = replay(
        path,
        &*file,
        FILE_HEADER.len() as u64..len,
        max_value_len,
        RecoveryMode::Salvage,
        |event| match event {
            Event::Record { offset, header, .. } => {
                // Bounded by the file's size: replay checked it.
                buf.resize(usize::try_from(header.record_len()).unwrap_or(0), 0);
                let read = file.read_exact_at(&mut buf, offset);
                match read.map(|()| decode(&buf, max_value_len)) {
                    Ok(Ok(r)) => each(LogItem::Record(LogRecord {
                        offset,
                        seq: r.header.seq,
                        put: r.header.op == Op::Put,
                        expiry: r.header.expiry,
                        key: r.key.to_vec(),
                        value: r.value.to_vec(),
                    })),
                    Ok(Err(_)) => each(LogItem::Damaged {
                        offset,
                        len: header.record_len(),
                    }),
                    Err(e) => failure = failure.take().or(Some(Error::io("read", path, e))),
                }
            }
            Event::Damaged { offset, len } => each(LogItem::Damaged { offset, len }),
        },
    )?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(LogSummary {
        records: sum.records,
        damaged_regions: sum.damaged_regions,
        damaged_bytes: sum.damaged_bytes,
        torn_tail_bytes: sum.torn_tail_bytes,
        data_end: sum.data_end,
    })
}

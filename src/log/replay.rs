//! Replay: one sequential pass over a log, reporting every intact record and every damaged
//! region, and finding where the good data ends.
//!
//! Memory stays bounded by a fixed window (at most [`WINDOW`] bytes, less for a smaller file)
//! plus one key: a length field is bounded by the configured maximum and by the bytes left in
//! the file before anything is read for it, and checksums are computed while streaming.

use std::io;
use std::ops::Range;
use std::path::Path;

use super::record::{DecodeError, Header, MAX_HEADER_LEN, parse_header};
use crate::error::{Error, Result};
use crate::fs::FileHandle;
use crate::options::RecoveryMode;

/// Read-ahead window for the scan.
const WINDOW: usize = 1 << 20;

/// One thing replay found, in file order.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// An intact record at `offset`.
    Record {
        offset: u64,
        header: Header,
        key: &'a [u8],
    },
    /// Damaged bytes followed by an intact record (salvage only). The key a damaged record
    /// names is not trusted or acted on: after a crash, damage is usually an unacknowledged
    /// write torn by out-of-order writeback, and dropping its key would lose the key's older,
    /// acknowledged value.
    Damaged { offset: u64, len: u64 },
}

/// What a replay found about the file as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// End of the last intact record: where the next append goes.
    pub(crate) data_end: u64,
    /// Highest sequence number seen.
    pub(crate) last_seq: u64,
    /// Where the last intact record starts (`None` when there is none).
    pub(crate) last_at: Option<u64>,
    /// Intact records seen.
    pub(crate) records: u64,
    /// Damaged regions skipped (salvage).
    pub(crate) damaged_regions: u64,
    /// Bytes in the damaged regions.
    pub(crate) damaged_bytes: u64,
    /// Non-zero bytes after the last intact record (a torn write or garbage); zeros there are
    /// preallocated space and do not count.
    pub(crate) torn_tail_bytes: u64,
}

/// Reads a file through a window of at least [`WINDOW`] bytes: the scan below, and
/// compaction's reads of the live records (coalesced instead of one `pread` per record).
pub(crate) struct Window<'a> {
    file: &'a dyn FileHandle,
    file_len: u64,
    buf: Vec<u8>,
    start: u64,
}

impl<'a> Window<'a> {
    /// A window over the first `file_len` bytes of `file` (nothing past them is read).
    pub(crate) fn new(file: &'a dyn FileHandle, file_len: u64) -> Self {
        Window {
            file,
            file_len,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// Up to `want` bytes at `off`; fewer only at the end of the file. When they are not in
    /// the window, it moves to `off` and reads `WINDOW` bytes there, or `want` if more (the
    /// scan never asks for more than `WINDOW`).
    pub(crate) fn bytes(&mut self, off: u64, want: usize) -> io::Result<&[u8]> {
        let left = usize::try_from(self.file_len.saturating_sub(off)).unwrap_or(usize::MAX);
        let want = want.min(left);
        let end = off + want as u64;
        if off < self.start || end > self.start + self.buf.len() as u64 {
            self.buf.resize(WINDOW.max(want).min(left), 0);
            self.file.read_exact_at(&mut self.buf, off)?;
            self.start = off;
        }
        let from = usize::try_from(off - self.start).unwrap_or(usize::MAX);
        self.buf
            .get(from..from.saturating_add(want))
            .ok_or_else(|| io::Error::other("read window out of step"))
    }
}

struct Scanner<'a> {
    win: Window<'a>,
    max_value_len: u64,
}

impl Scanner<'_> {
    fn file_len(&self) -> u64 {
        self.win.file_len
    }

    /// Whether a whole intact record starts at `off`.
    fn check(&mut self, off: u64) -> io::Result<Result<Header, DecodeError>> {
        let head = self.win.bytes(off, MAX_HEADER_LEN)?;
        let header = match parse_header(head, self.max_value_len) {
            Ok(h) => h,
            // A full-length window that still does not hold a header cannot be one.
            Err(DecodeError::Incomplete) if head.len() == MAX_HEADER_LEN => {
                return Ok(Err(DecodeError::Invalid("header too long")));
            }
            Err(e) => return Ok(Err(e)),
        };
        let len = header.record_len();
        if len > self.file_len() - off {
            return Ok(Err(DecodeError::Incomplete));
        }
        let end = off + len;
        let key_start = off + header.header_len as u64;
        let key_len = header.key_len as usize; // ≤ MAX_KEY_LEN < WINDOW
        if self.win.bytes(key_start + key_len as u64, 1)? != b"\t" {
            return Ok(Err(DecodeError::Invalid("missing separator after key")));
        }
        let mut crc = crc32fast::Hasher::new();
        let mut pos = off + 8;
        while pos < end {
            let chunk = self.win.bytes(pos, WINDOW.min((end - pos) as usize))?;
            crc.update(chunk);
            pos += chunk.len() as u64;
        }
        if self.win.bytes(end - 1, 1)? != b"\n" {
            return Ok(Err(DecodeError::Invalid(
                "missing newline at end of record",
            )));
        }
        let actual = crc.finalize();
        if actual != header.crc {
            return Ok(Err(DecodeError::Checksum {
                expected: header.crc,
                actual,
            }));
        }
        Ok(Ok(header))
    }

    /// The key of the intact record at `off` (≤ MAX_KEY_LEN bytes, so within one window).
    fn key(&mut self, off: u64, header: &Header) -> io::Result<&[u8]> {
        self.win
            .bytes(off + header.header_len as u64, header.key_len as usize)
    }

    /// The next offset after `from` where an intact record with a sequence number above
    /// `last_seq` starts. Candidates are 8 lowercase hex digits followed by a tab.
    fn resync(&mut self, from: u64, last_seq: u64) -> io::Result<Option<u64>> {
        let mut q = from;
        while q + 9 <= self.file_len() {
            let chunk = self.win.bytes(q, WINDOW)?;
            let hit = chunk.windows(9).position(|w| {
                w[8] == b'\t'
                    && w[..8]
                        .iter()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
            match hit {
                Some(i) => {
                    let cand = q + i as u64;
                    if let Ok(header) = self.check(cand)?
                        && header.seq > last_seq
                    {
                        return Ok(Some(cand));
                    }
                    q = cand + 1;
                }
                None if chunk.len() > 8 => q += (chunk.len() - 8) as u64,
                None => break,
            }
        }
        Ok(None)
    }

    /// Bytes from `from` to the last non-zero byte of the file.
    fn nonzero_tail(&mut self, from: u64) -> io::Result<u64> {
        let mut last_nonzero = None;
        let mut pos = from;
        while pos < self.file_len() {
            let chunk = self.win.bytes(pos, WINDOW)?;
            if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
                last_nonzero = Some(pos + i as u64);
            }
            pos += chunk.len() as u64;
        }
        Ok(last_nonzero.map_or(0, |last| last + 1 - from))
    }
}

/// Scans the records in `range` of `file` (for a whole log: from the end of its
/// [`FILE_HEADER`](super::record::FILE_HEADER) to the file's size) and calls `on_event` for each
/// record and each damaged region, in file order.
///
/// A damaged record with no intact record after it is a torn tail: it ends the scan, and
/// [`Summary::data_end`] says where to truncate. A damaged record with an intact one after it
/// is corruption: [`RecoveryMode::Strict`] fails with [`Error::Corrupt`] naming the offset,
/// [`RecoveryMode::Salvage`] reports a [`Event::Damaged`] and goes on.
pub(crate) fn replay(
    path: &Path,
    file: &dyn FileHandle,
    range: Range<u64>,
    max_value_len: u64,
    mode: RecoveryMode,
    on_event: impl FnMut(Event<'_>),
) -> Result<Summary> {
    replay_after(path, file, range, max_value_len, mode, None, on_event)
}

/// [`replay`] of a log's tail whose records before `range.start` end at sequence number
/// `after` (known from a hint file): the tail's records must continue it.
pub(crate) fn replay_after(
    path: &Path,
    file: &dyn FileHandle,
    range: Range<u64>,
    max_value_len: u64,
    mode: RecoveryMode,
    after: Option<u64>,
    mut on_event: impl FnMut(Event<'_>),
) -> Result<Summary> {
    let io_err = |e| Error::io("read", path, e);
    let file_len = range.end;
    let mut scan = Scanner {
        win: Window::new(file, file_len),
        max_value_len,
    };
    let mut sum = Summary {
        last_seq: after.unwrap_or(0),
        ..Summary::default()
    };
    let mut pos = range.start;
    while pos < file_len {
        let problem = match scan.check(pos).map_err(io_err)? {
            Ok(header) if header.seq > sum.last_seq || (sum.records == 0 && after.is_none()) => {
                on_event(Event::Record {
                    offset: pos,
                    header,
                    key: scan.key(pos, &header).map_err(io_err)?,
                });
                sum.records += 1;
                sum.last_seq = header.seq;
                sum.last_at = Some(pos);
                pos += header.record_len();
                continue;
            }
            Ok(_) => "sequence number does not increase".to_string(),
            Err(e) => describe(&e),
        };
        let Some(next) = scan.resync(pos + 1, sum.last_seq).map_err(io_err)? else {
            break; // Torn tail: nothing intact follows.
        };
        if mode == RecoveryMode::Strict {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                offset: pos,
                reason: format!(
                    "{problem}, with intact records from byte {next} on; open it in \
                     RecoveryMode::Salvage (the default) to skip the damaged bytes, or restore \
                     the file from a backup"
                ),
            });
        }
        on_event(Event::Damaged {
            offset: pos,
            len: next - pos,
        });
        sum.damaged_regions += 1;
        sum.damaged_bytes += next - pos;
        // The loop takes the intact record at `next` from here (checking it once more).
        pos = next;
    }
    sum.data_end = pos.min(file_len);
    sum.torn_tail_bytes = scan.nonzero_tail(sum.data_end).map_err(io_err)?;
    Ok(sum)
}

fn describe(e: &DecodeError) -> String {
    match e {
        DecodeError::Incomplete => "record runs past the end of the file".into(),
        DecodeError::Invalid(why) => (*why).into(),
        DecodeError::Checksum { expected, actual } => {
            format!("checksum mismatch (stored {expected:08x}, computed {actual:08x})")
        }
    }
}

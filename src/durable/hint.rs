//! The hint file (Bitcask's idea): the index a replay would rebuild, written beside the log
//! (`<path>.hint`) at a clean close and by compaction, so that open reads a few bytes per key
//! instead of every record.
//!
//! A hint describes a *prefix* of one log file: every record before `covered.end`, the last of
//! which starts at `covered.last_at` with sequence number `covered.last_seq` and CRC
//! `covered.last_crc`. Appends after that prefix leave the hint valid; open scans them as the
//! log's tail. It is trusted only when
//!
//! - it decodes completely: magic, header CRC, every block's CRC (chained from the header's,
//!   so blocks of another hint never fit), exact entry counts, an end block exactly at the
//!   end of the file; every entry's record inside the covered prefix, no key twice;
//! - the log matches it: at `last_at` lies an intact record (full CRC check) with that
//!   sequence number and CRC, ending exactly at `end`.
//!
//! Otherwise it is ignored and the log is replayed from its start (and the next clean close
//! writes a fresh hint). So a stale, torn or damaged hint costs an open's speed, never a value.
//!
//! Which file a hint describes is kept by the order of renames: a hint is renamed into place
//! only after the log it describes is at the log's path (durably), and compaction removes the
//! hint (durably) before it renames a new log over the old one. A hint is never fsynced: after
//! a crash it is whole or detected as torn.
//!
//! Entries are listed in the index's bucket order, with its hasher seed: a load into a table
//! of the same size and seed then fills it front to back (see `Index::map`).
//!
//! Layout (little-endian): an 88-byte header — magic `logcache-hint\t1\n`, `end` u64,
//! `last_at` u64, `last_seq` u64, `last_crc` u32, `stale_records` u64, `entries` u64, of
//! which keys of at most 16 bytes u64 and of 17 to 24 bytes u64, hasher `seed` u64, CRC u32 of
//! the preceding 84 bytes — then blocks of `payload_len` u32, `entries` u32, CRC u32 of
//! (previous CRC, the two lengths, payload), payload: entries of `key_len` u32, `offset` u64,
//! `len` u32, `expiry` u64, read count u8, key bytes. A block with no payload ends the file.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::builder::Options;
use super::index::{Entry, Index, MAX_COUNT, Sizes};
use crate::fs::{FileHandle, FileSystem};
use crate::log::record::{FILE_HEADER, MAX_HEADER_LEN, MAX_KEY_LEN};
use crate::log::replay::{Event, replay};
use crate::options::RecoveryMode;

/// The file's first bytes.
pub(super) const MAGIC: &[u8; 16] = b"logcache-hint\t1\n";
const HEADER_LEN: usize = 88;
const BLOCK_HEADER: usize = 12;
const ENTRY_FIXED: usize = 25;
/// Entries are gathered into blocks of about this many bytes.
const BLOCK_TARGET: usize = 1 << 20;
/// No block is longer: the target plus one entry with the longest key.
const BLOCK_LIMIT: usize = BLOCK_TARGET + ENTRY_FIXED + MAX_KEY_LEN;

/// The prefix of a log a hint describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Covered {
    /// End of the last covered record.
    pub(super) end: u64,
    /// Where the last covered record starts.
    pub(super) last_at: u64,
    /// Its sequence number (the highest in the prefix).
    pub(super) last_seq: u64,
    /// Its CRC, as stored in its header.
    pub(super) last_crc: u32,
}

/// A hint that decoded and matched its log.
pub(super) struct Loaded {
    pub(super) index: Index,
    pub(super) covered: Covered,
    /// Entries loaded (unexpired).
    pub(super) entries: u64,
    /// Entries dropped because they had expired.
    pub(super) expired: u64,
}

/// The header and CRC and sequence number of the intact record at `at` if it ends exactly at
/// `end`: how a hint's last covered record is checked against the log, at open and before a
/// hint is written.
pub(super) fn record_ending_at(
    path: &Path,
    log: &dyn FileHandle,
    at: u64,
    end: u64,
    max_value_len: u64,
) -> Option<Covered> {
    if at < FILE_HEADER.len() as u64 || at >= end || log.size().ok()? < end {
        return None;
    }
    let mut found = None;
    let summary = replay(
        path,
        log,
        at..end,
        max_value_len,
        RecoveryMode::Strict,
        |e| {
            if let Event::Record { offset, header, .. } = e
                && offset == at
            {
                found = Some((header.seq, header.crc));
            }
        },
    )
    .ok()?;
    let (last_seq, last_crc) = found?;
    (summary.records == 1 && summary.data_end == end).then_some(Covered {
        end,
        last_at: at,
        last_seq,
        last_crc,
    })
}

/// Writes the hint of `index` (which must describe exactly the records before
/// `covered.end`) into `temp`; the caller renames it into place once the log it describes
/// is at the log's path. On failure `temp` is removed.
pub(super) fn write(
    fs: &dyn FileSystem,
    temp: &Path,
    covered: Covered,
    index: &Index,
) -> io::Result<()> {
    let file = fs.open(temp, true)?;
    let written = write_into(&*file, covered, index);
    drop(file);
    if written.is_err() {
        let _ = fs.remove(temp);
    }
    written
}

/// Renames the hint written by [`write`] into place (removing it on failure).
pub(super) fn publish(fs: &dyn FileSystem, temp: &Path, dest: &Path) -> io::Result<()> {
    let renamed = fs.rename(temp, dest);
    if renamed.is_err() {
        let _ = fs.remove(temp);
    }
    renamed
}

fn write_into(file: &dyn FileHandle, covered: Covered, index: &Index) -> io::Result<()> {
    file.truncate(0)?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&covered.end.to_le_bytes());
    header.extend_from_slice(&covered.last_at.to_le_bytes());
    header.extend_from_slice(&covered.last_seq.to_le_bytes());
    header.extend_from_slice(&covered.last_crc.to_le_bytes());
    header.extend_from_slice(&index.stale_records.to_le_bytes());
    header.extend_from_slice(&(index.len() as u64).to_le_bytes());
    let sizes = index.sizes();
    header.extend_from_slice(&(sizes.k16 as u64).to_le_bytes());
    header.extend_from_slice(&(sizes.k24 as u64).to_le_bytes());
    header.extend_from_slice(&index.seed().to_le_bytes());
    let mut prev = crc32fast::hash(&header);
    header.extend_from_slice(&prev.to_le_bytes());
    file.write_at(&header, 0)?;
    let mut pos = HEADER_LEN as u64;

    let mut block = Vec::with_capacity(BLOCK_LIMIT + BLOCK_HEADER);
    let mut count = 0u32;
    let mut flush = |block: &mut Vec<u8>, count: &mut u32, pos: &mut u64| -> io::Result<()> {
        let payload = u32::try_from(block.len() - BLOCK_HEADER).unwrap_or(u32::MAX);
        block[..4].copy_from_slice(&payload.to_le_bytes());
        block[4..8].copy_from_slice(&count.to_le_bytes());
        prev = chain(prev, &block[..8], &block[BLOCK_HEADER..]);
        block[8..12].copy_from_slice(&prev.to_le_bytes());
        file.write_at(block, *pos)?;
        *pos += block.len() as u64;
        block.clear();
        *count = 0;
        Ok(())
    };
    block.resize(BLOCK_HEADER, 0);
    for (key, entry, reads) in index.iter_counted() {
        let key_len = u32::try_from(key.len()).unwrap_or(u32::MAX);
        block.extend_from_slice(&key_len.to_le_bytes());
        block.extend_from_slice(&entry.offset.to_le_bytes());
        block.extend_from_slice(&entry.len.to_le_bytes());
        block.extend_from_slice(&entry.expiry.to_le_bytes());
        block.push(reads);
        block.extend_from_slice(key);
        count += 1;
        if block.len() >= BLOCK_TARGET {
            flush(&mut block, &mut count, &mut pos)?;
            block.resize(BLOCK_HEADER, 0);
        }
    }
    if count > 0 {
        flush(&mut block, &mut count, &mut pos)?;
        block.resize(BLOCK_HEADER, 0);
    }
    // The end block: no payload.
    flush(&mut block, &mut count, &mut pos)
}

/// The CRC of a block: over the previous block's (or the header's) CRC, its two lengths and
/// its payload.
fn chain(prev: u32, lengths: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&prev.to_le_bytes());
    h.update(lengths);
    h.update(payload);
    h.finalize()
}

/// Why a hint was not used (for the debug log).
type Refused = &'static str;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the hint at `hint_path` into an index over `log` (of `log_len` bytes), if it decodes
/// and matches the log; `Err` says why not.
pub(super) fn load(
    path: &Path,
    hint_path: &Path,
    log: &Arc<dyn FileHandle>,
    log_len: u64,
    opts: &Options,
) -> Result<Loaded, Refused> {
    let fs = &*opts.fs;
    if !fs.exists(hint_path).map_err(|_| "cannot stat")? {
        return Err("none");
    }
    let hint = fs.open(hint_path, false).map_err(|_| "cannot open")?;
    let size = hint.size().map_err(|_| "cannot stat")?;
    if size < (HEADER_LEN + BLOCK_HEADER) as u64 {
        return Err("shorter than a header");
    }
    let mut header = [0u8; HEADER_LEN];
    hint.read_exact_at(&mut header, 0)
        .map_err(|_| "cannot read")?;
    let field = |at| u64_at(&header, at).ok_or("header");
    if &header[..16] != MAGIC {
        return Err("not a hint file of this version");
    }
    let mut prev = crc32fast::hash(&header[..84]);
    if u32_at(&header, 84) != Some(prev) {
        return Err("header checksum");
    }
    let covered = Covered {
        end: field(16)?,
        last_at: field(24)?,
        last_seq: field(32)?,
        last_crc: u32_at(&header, 40).ok_or("header")?,
    };
    let stale = field(44)?;
    let total = field(52)?;
    let (k16, k24) = (field(60)?, field(68)?);
    let seed = field(76)?;
    if covered.end > log_len {
        return Err("the log is shorter than the hint says");
    }
    if record_ending_at(
        path,
        &**log,
        covered.last_at,
        covered.end,
        opts.max_value_len,
    ) != Some(covered)
    {
        return Err("the log does not match");
    }
    // Never more entries than the file has bytes for.
    let long = total
        .checked_sub(k16)
        .and_then(|rest| rest.checked_sub(k24))
        .ok_or("entry count")?;
    if total > (size - HEADER_LEN as u64) / ENTRY_FIXED as u64 {
        return Err("entry count");
    }
    let max_record = (MAX_HEADER_LEN + MAX_KEY_LEN + 2) as u64 + opts.max_value_len;
    let now = opts.clock.now_millis();
    let mut index = Index::with_seed(Arc::clone(log), seed);
    let count = |n: u64| usize::try_from(n).map_err(|_| "entry count");
    index.reserve(Sizes {
        k16: count(k16)?,
        k24: count(k24)?,
        long: count(long)?,
    });
    let (mut seen, mut expired) = (0u64, 0u64);
    let mut pos = HEADER_LEN as u64;
    let mut block = Vec::new();
    loop {
        let mut head = [0u8; BLOCK_HEADER];
        if size - pos < BLOCK_HEADER as u64 {
            return Err("no end block");
        }
        hint.read_exact_at(&mut head, pos)
            .map_err(|_| "cannot read")?;
        pos += BLOCK_HEADER as u64;
        let payload = u32_at(&head, 0).ok_or("block")? as usize;
        let entries = u32_at(&head, 4).ok_or("block")?;
        if payload > BLOCK_LIMIT || payload as u64 > size - pos {
            return Err("block length");
        }
        block.resize(payload, 0);
        hint.read_exact_at(&mut block, pos)
            .map_err(|_| "cannot read")?;
        pos += payload as u64;
        prev = chain(prev, &head[..8], &block);
        if u32_at(&head, 8) != Some(prev) {
            return Err("block checksum");
        }
        if payload == 0 {
            if entries != 0 || pos != size {
                return Err("end block");
            }
            break;
        }
        let mut at = 0usize;
        for _ in 0..entries {
            let key_len = u32_at(&block, at).ok_or("entry")? as usize;
            let entry = Entry {
                offset: u64_at(&block, at + 4).ok_or("entry")?,
                len: u32_at(&block, at + 12).ok_or("entry")?,
                expiry: u64_at(&block, at + 16).ok_or("entry")?,
            };
            let reads = *block.get(at + 24).ok_or("entry")?;
            at += ENTRY_FIXED;
            if key_len > MAX_KEY_LEN {
                return Err("key length");
            }
            let key = block.get(at..at + key_len).ok_or("entry")?;
            at += key_len;
            let record_end = entry.offset.checked_add(u64::from(entry.len));
            if entry.offset < FILE_HEADER.len() as u64
                || record_end.is_none_or(|e| e > covered.end)
                || u64::from(entry.len) > max_record
                || (entry.len as usize) < key_len
                || reads > MAX_COUNT
            {
                return Err("entry outside the log");
            }
            seen += 1;
            if entry.is_expired(now) {
                expired += 1;
                continue;
            }
            if !index.insert_new(key, entry, reads) {
                return Err("a key twice");
            }
        }
        if at != block.len() {
            return Err("block length");
        }
    }
    if seen != total {
        return Err("entry count");
    }
    // Expired entries are stale records now, as a replay would count them.
    index.stale_records = stale.saturating_add(expired);
    Ok(Loaded {
        index,
        covered,
        entries: seen - expired,
        expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/FORMAT.md's hint layout names the header's length and the magic: they must be the
    /// code's.
    #[test]
    fn format_md_describes_this_header() {
        let format = include_str!("../../docs/FORMAT.md");
        let crc_line = format!("CRC-32 of the {} bytes above", HEADER_LEN - 4);
        assert!(format.contains(&crc_line), "FORMAT.md lacks {crc_line:?}");
        let magic = String::from_utf8_lossy(MAGIC)
            .replace('\t', "\\t")
            .replace('\n', "\\n");
        assert!(
            format.contains(&format!("magic `{magic}`")),
            "FORMAT.md lacks {magic:?}"
        );
    }
}

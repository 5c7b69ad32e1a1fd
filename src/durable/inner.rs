//! [`Inner`]: what a handle shares with its flusher and compactor threads, made of parts that
//! own their state (paths.rs, write.rs, compact/, evict.rs), and the checks every path
//! uses.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::builder::Options;
use super::compact::Compaction;
use super::evict::Evictions;
use super::hint;
use super::index::{Entry, Index};
use super::paths::Paths;
use super::stats::Counters;
use super::stats::RecoveryStats;
use super::write::{GroupCommit, Poison, Writer};
use crate::sync::lock;

use crate::error::{Error, Result};
use crate::fs::LockGuard;
use crate::log::record::{DecodeError, FILE_HEADER, MAX_KEY_LEN, Op, decode};

/// What the handle and its threads share: each part owns its state, with its methods in its
/// file (paths.rs, write.rs, compact/, evict.rs).
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) paths: Paths,
    pub(super) opts: Options,
    pub(super) index: RwLock<Index>,
    /// Appends and fsyncs: the writer, the commit state and their condition variables.
    pub(super) group: GroupCommit,
    pub(super) poison: Poison,
    pub(super) counters: Counters,
    /// One compaction at a time, the background compactor's requests, the last one's duration.
    pub(super) compaction: Compaction,
    /// Evictions noted during a compaction and those a layer above watches.
    pub(super) evictions: Evictions,
    pub(super) recovery: RecoveryStats,
    /// Checked large values in memory; `None` when turned off.
    pub(super) read_cache: Option<super::read_cache::ReadCache>,
    /// Set when the handle closes: stops the flusher and the compactor.
    pub(super) shutdown: AtomicBool,
    /// The page published for followers in other processes, when there is one (shared.rs).
    pub(super) shared: Option<super::shared::SharedWriter>,
    pub(super) _lock: LockGuard,
}

/// Bytes of a log whose data ends at `end` that do not hold `live_bytes` of live records or
/// the file header.
pub(super) fn dead_bytes(end: u64, live_bytes: u64) -> u64 {
    end.saturating_sub(live_bytes + FILE_HEADER.len() as u64)
}

pub(super) fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::TooLarge {
            what: "key",
            len: key.len() as u64,
            max: MAX_KEY_LEN as u64,
        });
    }
    Ok(())
}

impl Inner {
    pub(super) fn read_index(&self) -> RwLockReadGuard<'_, Index> {
        // The index is updated by single inserts and removes, each leaving it consistent.
        crate::sync::read(&self.index)
    }

    pub(super) fn write_index(&self) -> RwLockWriteGuard<'_, Index> {
        crate::sync::write(&self.index)
    }

    /// Drops an entry found expired, unless a newer write replaced it meanwhile.
    pub(super) fn expire(&self, key: &[u8], entry: Entry) {
        if self.write_index().remove_if_same(key, entry) {
            crate::counters::bump(&self.counters.expirations);
        }
    }

    /// Verifies a record read for `key` at `offset`; returns where its value is in `buf`.
    pub(super) fn check_record(
        &self,
        buf: &[u8],
        key: &[u8],
        offset: u64,
    ) -> Result<(usize, usize)> {
        check_record(&self.paths.log, self.opts.max_value_len, buf, key, offset)
    }
}

/// Verifies a record of the log at `log` read for `key` at `offset` (CRC, key, a put);
/// returns where its value is in `buf`. The engine's reads and a follower's.
pub(super) fn check_record(
    log: &Path,
    max_value_len: u64,
    buf: &[u8],
    key: &[u8],
    offset: u64,
) -> Result<(usize, usize)> {
    let corrupt = |reason: String| Error::Corrupt {
        path: log.to_path_buf(),
        offset,
        reason,
    };
    let record = decode(buf, max_value_len).map_err(|e| match e {
        DecodeError::Checksum { expected, actual } => Error::ChecksumMismatch {
            path: log.to_path_buf(),
            offset,
            expected,
            actual,
        },
        DecodeError::Incomplete => {
            corrupt("record shorter than the index says; the value is lost: delete the key".into())
        }
        DecodeError::Invalid(why) => corrupt(format!("{why}; the value is lost: delete the key")),
    })?;
    if record.key != key || record.header.op != Op::Put {
        return Err(corrupt(
            "the index points at a record of another key; reopen the cache".into(),
        ));
    }
    let start = record.header.header_len + key.len() + 1;
    Ok((start, record.value.len()))
}

pub(super) fn spawn_flusher(inner: Arc<Inner>, every: Duration) -> Result<JoinHandle<()>> {
    let path = inner.paths.log.clone();
    std::thread::Builder::new()
        .name("logcache-flush".into())
        .spawn(move || {
            let mut c = lock(&inner.group.commit);
            while !inner.shutdown.load(Ordering::Acquire) {
                c = crate::sync::wait_timeout(&inner.group.commit_cv, c, every);
                if c.written_seq > c.synced_seq && !c.syncing && !inner.poison.is_set() {
                    let target = c.written_seq;
                    drop(c);
                    // A failure poisons the handle; the next write reports it.
                    let _ = inner.sync_to(target);
                    c = lock(&inner.group.commit);
                }
            }
        })
        .map_err(|e| Error::io("spawn flusher thread", path, e))
}

impl Inner {
    /// Writes the hint file for the log as it is now (everything synced and published, no
    /// writer running). Best effort: without a hint the next open replays the whole log.
    pub(super) fn write_hint(&self, w: &Writer) {
        let Some(covered) = w.last_at.and_then(|at| {
            hint::record_ending_at(
                &self.paths.log,
                &*w.file,
                at,
                w.end,
                self.opts.max_value_len,
            )
        }) else {
            return; // an empty log, or the last record is not known (after a recovery)
        };
        if covered.last_seq != w.seq {
            return;
        }
        let index = self.read_index();
        let fs = &*self.opts.fs;
        let written = hint::write(fs, &self.paths.hint_temp, covered, &index)
            .and_then(|()| hint::publish(fs, &self.paths.hint_temp, &self.paths.hint));
        if let Err(e) = written {
            tracing::info!("{}: hint file not written: {e}", self.paths.hint.display());
        }
    }
}

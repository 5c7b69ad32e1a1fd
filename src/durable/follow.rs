//! [`Follower`]: reads of a log that another process writes, without asking it.
//!
//! A follower keeps an index of its own and brings it up to date before each read from what
//! the writer publishes in the shared page (shared.rs): while nothing was written, two loads
//! from shared memory; after writes, a scan of the records appended since (the published
//! end only ever grows within an epoch); after a compaction, a recovery or a new writer (a
//! new epoch), the index loaded again — from the hint file and the tail after it, as an open
//! does. Records are read with `pread` and checked (CRC, key) as the writer's own reads are.
//!
//! What a follower does not see: the writer's evictions (they write nothing: an evicted key
//! stays readable here until the compaction that drops its record; a delete writes a
//! tombstone even for an evicted key, so a deleted key is never read back). And reads here do
//! not count for the writer's eviction policy.

use std::path::Path;
use std::sync::{Arc, RwLock};

use super::builder::{DurableKVCacheBuilder, Options};
use super::hint;
use super::index::{Entry, Index};
use super::inner::check_record;
use super::paths::Paths;
use super::read::sized;
use super::shared::{Published, SharedReader};
use crate::error::{Error, Result};
use crate::fs::FileHandle;
use crate::log::file::{check_file_header, check_log_path};
use crate::log::record::{FILE_HEADER, MAX_VALUE_LEN_LIMIT};
use crate::log::replay::{Summary, replay, replay_after};
use crate::options::RecoveryMode;

/// A key's live entry, the file it points into and the epoch it was found in.
type Found = (Entry, Arc<dyn FileHandle>, u64);

/// Loads in a row that may find the epoch changed under them before one is kept anyway (the
/// next read loads again).
const LOAD_ATTEMPTS: usize = 4;

/// A read-only view of a log that a [`DurableKVCache`](crate::DurableKVCache) in another
/// process (or this one) writes, opened with
/// [`followers(true)`](crate::DurableKVCacheBuilder::followers): gets without the writer's
/// lock and without a round trip to its process — for worker processes sharing one cache.
///
/// Every read first brings the follower up to date with what the writer has published, so a
/// read sees every write that returned before it began (with
/// [`Durability::Sync`](crate::Durability::Sync): every durable write). Values are checked
/// (CRC, key) like the writer's reads. The follower's index costs what the writer's does.
///
/// What it does not see: the writer's evictions under a budget (an evicted key stays readable
/// until a compaction drops its record; deletes always write a tombstone, so a deleted key is
/// never read back), and its reads do not count for the writer's eviction policy.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cache.log");
/// let writer = logcache::DurableKVCache::builder(&path).followers(true).open()?;
/// let follower = logcache::Follower::open(&path)?;
/// writer.put("k", "v")?;
/// assert_eq!(follower.get("k")?.as_deref(), Some(&b"v"[..]));
/// writer.delete("k")?;
/// assert_eq!(follower.get("k")?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Follower {
    paths: Paths,
    opts: Options,
    page: SharedReader,
    view: RwLock<View>,
}

/// The follower's picture of the log: its file, index, and how far it has read.
#[derive(Debug)]
struct View {
    epoch: u64,
    file: Arc<dyn FileHandle>,
    index: Index,
    /// Where the records not yet in the index start.
    pos: u64,
    last_seq: u64,
}

impl Follower {
    /// Follows the log at `path`: loads its index (from the hint file and the tail after it,
    /// or by replay) up to what its writer published. [`Error::NotShared`] when no writer
    /// opened it with [`followers(true)`](crate::DurableKVCacheBuilder::followers).
    pub fn open(path: impl AsRef<Path>) -> Result<Follower> {
        let mut opts = DurableKVCacheBuilder::new(path.as_ref()).opts;
        opts.read_only = true;
        // The writer's limit is not known here: any record the format allows is read.
        opts.max_value_len = MAX_VALUE_LEN_LIMIT;
        let (log, _) = check_log_path(&*opts.fs, path.as_ref(), false)?;
        let paths = Paths::new(&log);
        let page = SharedReader::open(&paths.shared)
            .map_err(|e| Error::io("map", &paths.shared, e))?
            .ok_or_else(|| Error::NotShared {
                path: paths.shared.clone(),
            })?;
        let view = load(&paths, &opts, &page)?;
        Ok(Follower {
            paths,
            opts,
            page,
            view: RwLock::new(view),
        })
    }

    /// The log's path, as resolved at open.
    pub fn path(&self) -> &Path {
        &self.paths.log
    }

    /// The process id of the writer that last opened the log.
    pub fn writer_pid(&self) -> u32 {
        self.page.holder()
    }

    /// The value of `key`, or `None` when absent or expired (up to date first; see above).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.get_with_expiry(key)?.map(|(v, _)| v))
    }

    /// The value of `key` with its absolute expiry in Unix milliseconds (0 = none).
    pub fn get_with_expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<(Vec<u8>, u64)>> {
        let mut value = Vec::new();
        Ok(self
            .get_into_with_expiry(key, &mut value)?
            .map(|expiry| (value, expiry)))
    }

    /// Reads the value of `key` into `buf` (its contents replaced, its capacity reused);
    /// `Some(expiry)` when there was one, `None` (and `buf` empty) when not.
    pub fn get_into_with_expiry(
        &self,
        key: impl AsRef<[u8]>,
        buf: &mut Vec<u8>,
    ) -> Result<Option<u64>> {
        let key = key.as_ref();
        let mut reloaded = false;
        loop {
            let Some((entry, file, epoch)) = self.lookup(key)? else {
                buf.clear();
                return Ok(None);
            };
            match self.read(&file, &entry, key, buf) {
                Ok(()) => return Ok(Some(entry.expiry)),
                // The bytes changed under the index: a recovery cut and rewrote them, and the
                // page says so (a new epoch). Load again, once.
                Err(e) if !reloaded && self.page.load().epoch != epoch => {
                    drop(e);
                    reloaded = true;
                }
                Err(e) => {
                    buf.clear();
                    return Err(e);
                }
            }
        }
    }

    /// Whether `key` has a live, unexpired value (up to date first; no read of the value).
    pub fn contains(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Ok(self.lookup(key.as_ref())?.is_some())
    }

    /// The key's live entry, its file and the epoch it was found in, the view brought up to
    /// date first.
    fn lookup(&self, key: &[u8]) -> Result<Option<Found>> {
        let published = self.page.load();
        let now = self.opts.clock.now_millis();
        let found = |view: &View| {
            view.index
                .get(key)
                .filter(|e| !e.is_expired(now))
                .map(|e| (e, Arc::clone(&view.file), view.epoch))
        };
        {
            let view = crate::sync::read(&self.view);
            if view.epoch == published.epoch && view.pos >= published.end {
                return Ok(found(&view));
            }
        }
        let mut view = crate::sync::write(&self.view);
        // Another thread may have brought the view up to date while this one waited.
        let published = self.page.load();
        if view.epoch != published.epoch {
            *view = load(&self.paths, &self.opts, &self.page)?;
        } else if view.pos < published.end {
            catch_up(&self.paths, &self.opts, &mut view, published.end)?;
        }
        Ok(found(&view))
    }

    /// The value of the record `entry` points at, which must be a put of `key`, into `out`.
    fn read(
        &self,
        file: &Arc<dyn FileHandle>,
        entry: &Entry,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let log = &self.paths.log;
        sized(out, entry.len as usize);
        file.read_exact_at(out, entry.offset)
            .map_err(|e| Error::io("read", log, e))?;
        let (start, value_len) =
            check_record(log, self.opts.max_value_len, out, key, entry.offset)?;
        out.copy_within(start..start + value_len, 0);
        out.truncate(value_len);
        Ok(())
    }
}

/// The view of the log as published now: the file at the log's path, its index from the hint
/// and the tail after it (or from a replay), up to the published end. Loads again when the
/// epoch changed meanwhile (a compaction renamed another file into place), a few times.
fn load(paths: &Paths, opts: &Options, page: &SharedReader) -> Result<View> {
    let mut attempt = 0;
    loop {
        let published = page.load();
        let view = load_at(paths, opts, published)?;
        attempt += 1;
        if page.load().epoch == published.epoch || attempt == LOAD_ATTEMPTS {
            return Ok(view);
        }
    }
}

fn load_at(paths: &Paths, opts: &Options, published: Published) -> Result<View> {
    let log = &paths.log;
    let io_err = |op| move |e| Error::io(op, log, e);
    let file = opts.fs.open(log, false).map_err(io_err("open"))?;
    // Never past the published end, nor past the file (a newer file than the epoch says).
    let end = published.end.min(file.size().map_err(io_err("stat"))?);
    check_file_header(log, &*file, end)?;
    let now = opts.clock.now_millis();
    let (index, summary) = match hint::load(log, &paths.hint, &file, end, opts) {
        Ok(hint::Loaded {
            mut index, covered, ..
        }) => {
            let summary = replay_after(
                log,
                &*file,
                covered.end..end,
                opts.max_value_len,
                RecoveryMode::Salvage,
                Some(covered.last_seq),
                |event| {
                    index.apply_replayed(event, now, 0, 0);
                },
            )?;
            let summary = Summary {
                last_seq: summary.last_seq.max(covered.last_seq),
                ..summary
            };
            (index, summary)
        }
        Err(_) => {
            let mut index = Index::new(Arc::clone(&file));
            let summary = replay(
                log,
                &*file,
                FILE_HEADER.len() as u64..end,
                opts.max_value_len,
                RecoveryMode::Salvage,
                |event| {
                    index.apply_replayed(event, now, 0, 0);
                },
            )?;
            (index, summary)
        }
    };
    Ok(View {
        epoch: published.epoch,
        pos: summary.data_end.max(FILE_HEADER.len() as u64),
        last_seq: summary.last_seq,
        file,
        index,
    })
}

/// Adds the records between the view's position and `end` (all published: complete) to its
/// index.
fn catch_up(paths: &Paths, opts: &Options, view: &mut View, end: u64) -> Result<()> {
    let now = opts.clock.now_millis();
    let index = &mut view.index;
    let summary = replay_after(
        &paths.log,
        &*view.file,
        view.pos..end,
        opts.max_value_len,
        RecoveryMode::Salvage,
        Some(view.last_seq),
        |event| {
            index.apply_replayed(event, now, 0, 0);
        },
    )?;
    view.pos = summary.data_end.max(view.pos);
    view.last_seq = summary.last_seq;
    Ok(())
}

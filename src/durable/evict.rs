//! The byte budget: which entries leave when a put would pass
//! [`max_bytes`](super::DurableKVCacheBuilder::max_bytes).
//!
//! A hand walks the log in order (the one order the store already keeps: no per-entry list in
//! memory). At each record it asks the index whether the record is still its key's live value;
//! a live one is evicted, or, with [`Eviction::Clock`], first has its read count (0–3) lowered
//! if reads raised it. The count is two bits of the entry's index slot, raised by `get` with a
//! relaxed atomic store under the index's read lock (no writer lock, no second lookup), carried
//! over when the key is put again and through compaction, and gone with the entry. With
//! [`Eviction::S3Fifo`] (the default) a second hand evicts or promotes the probationary
//! entries and the first passes only main ones (index/ghost.rs). A compaction moves the hands
//! with the records ([`Hands::follow`]): a log's hand wraps only at the log's end, so
//! restarting it at the front would revisit the oldest entries out of turn.
//!
//! Eviction writes nothing: the evicted record stays in the log as dead bytes, which
//! compaction reclaims. After a crash before that compaction, replay can bring an evicted key
//! back — with its last acknowledged value, the newest record of the key, never an older one —
//! and open evicts down to the budget again before accepting writes. A delete of a key the
//! index does not hold still writes a tombstone while a budget is set, so a key evicted and
//! then deleted cannot come back.

use std::sync::Mutex;

use super::index::{MAX_COUNT, Move, NOT_COPIED, Small};
use super::write::Writer;
use super::{DurableKVCache, Inner};
use crate::fs::FileHandle;
use crate::log::record::{FILE_HEADER, MAX_HEADER_LEN, parse_header};
use crate::options::Eviction;

/// Evicted keys kept for a watcher between two takes; past this many the take reports an
/// overflow instead (memory stays bounded when nobody takes them).
pub(crate) const WATCH_MAX: usize = 100_000;

/// Evictions the engine keeps track of beyond the index.
#[derive(Debug, Default)]
pub(super) struct Evictions {
    /// Evictions while a compaction copies (key, offset in the old file): its switch keeps
    /// them evicted. `None` while no compaction runs.
    pub(super) meanwhile: Mutex<Option<Noted>>,
    /// Evicted keys a layer above asked to hear of ([`DurableKVCache::watch_evictions`]).
    pub(super) watch: Mutex<Option<Watch>>,
}

/// The evicted keys a watcher asked for ([`DurableKVCache::watch_evictions`]).
#[derive(Debug, Default)]
pub(super) struct Watch {
    prefix: Vec<u8>,
    keys: Vec<Vec<u8>>,
    overflowed: bool,
}

impl Watch {
    fn note(&mut self, key: &[u8]) {
        if !key.starts_with(&self.prefix) {
            return;
        }
        if self.keys.len() < WATCH_MAX {
            self.keys.push(key.to_vec());
        } else {
            self.overflowed = true;
        }
    }
}

/// Keys the byte budget evicted since the last take ([`DurableKVCache::take_evicted`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evicted {
    /// The keys, in the order they were evicted.
    pub keys: Vec<Vec<u8>>,
    /// More were evicted than could be kept (see [`DurableKVCache::watch_evictions`]): the
    /// list is incomplete.
    pub overflowed: bool,
}

impl DurableKVCache {
    /// Starts recording the keys starting with `prefix` that the byte budget evicts, for
    /// [`take_evicted`](Self::take_evicted): how a layer that keeps its own accounting over
    /// the store ([`BigCache`](crate::BigCache)) learns what left. One prefix per handle (a
    /// later call replaces it and forgets what was recorded). At most 100,000 keys are kept
    /// between two takes; past that the take says it overflowed. Returns whether the store
    /// evicts at all (it has a budget); without one nothing is recorded.
    pub fn watch_evictions(&self, prefix: &[u8]) -> bool {
        if self.inner.opts.max_bytes.is_none() {
            return false;
        }
        *crate::sync::lock(&self.inner.evictions.watch) = Some(Watch {
            prefix: prefix.to_vec(),
            ..Watch::default()
        });
        true
    }

    /// The keys evicted since the last take (or since [`watch_evictions`](Self::watch_evictions));
    /// `None` when nothing is watched.
    pub fn take_evicted(&self) -> Option<Evicted> {
        let mut watch = crate::sync::lock(&self.inner.evictions.watch);
        let watch = watch.as_mut()?;
        let taken = Evicted {
            keys: std::mem::take(&mut watch.keys),
            overflowed: std::mem::take(&mut watch.overflowed),
        };
        Some(taken)
    }
}

/// Bytes the hand reads ahead at a time: one read serves the records of a few hundred small
/// entries (two reads per record made evicting puts run at half speed).
const WINDOW: usize = 64 << 10;

/// The eviction hands: the main one (every policy), and the small queue's
/// ([`Eviction::S3Fifo`]).
#[derive(Debug, Default)]
pub(super) struct Hands {
    pub(super) main: Hand,
    pub(super) small: Hand,
}

impl Hands {
    /// Both back to the start of the log (a new or cut file).
    pub(super) fn reset(&mut self) {
        self.main.reset();
        self.small.reset();
    }

    /// After a compaction: each hand goes to the record it would have met next in the old
    /// log, at its new offset — the first record copied from at or after it (`from`: the
    /// copied records' old offsets, ascending; `moves`: the same records, each with its new
    /// offset or [`NOT_COPIED`]), or its place in the tail carried after `copied_end`.
    pub(super) fn follow(
        &mut self,
        from: &[u64],
        moves: &[Move],
        snapshot_end: u64,
        copied_end: u64,
    ) {
        for hand in [&mut self.main, &mut self.small] {
            let at = hand.at;
            hand.reset();
            hand.at = if at >= snapshot_end {
                at - snapshot_end + copied_end
            } else {
                let next = from.partition_point(|&o| o < at);
                moves
                    .get(next..)
                    .unwrap_or_default()
                    .iter()
                    .map(|m| m.offset)
                    .find(|&o| o != NOT_COPIED)
                    .unwrap_or(copied_end)
            };
        }
    }
}

/// An eviction hand: its place in the log and a window of the bytes ahead of it. Log bytes
/// before the writer's end never change in place, so the window stays valid until the file
/// is switched or cut, which [`reset`](Self::reset)s it.
#[derive(Debug, Default)]
pub(super) struct Hand {
    pub(super) at: u64,
    window: Vec<u8>,
    window_at: u64,
}

impl Hand {
    /// Back to the start of the log, forgetting the window (a new or cut file).
    pub(super) fn reset(&mut self) {
        self.at = 0;
        self.window.clear();
    }

    /// `len` bytes of `file` at `at`, all before `end`: from the window, or read into it.
    fn bytes(&mut self, file: &dyn FileHandle, at: u64, len: usize, end: u64) -> Option<&[u8]> {
        let window_end = self.window_at + self.window.len() as u64;
        if at < self.window_at || at + len as u64 > window_end {
            let n = usize::try_from(end.checked_sub(at)?)
                .ok()?
                .min(WINDOW.max(len));
            self.window.resize(n, 0);
            if file.read_exact_at(&mut self.window, at).is_err() {
                self.window.clear();
                return None;
            }
            self.window_at = at;
        }
        let start = usize::try_from(at - self.window_at).ok()?;
        self.window.get(start..start.checked_add(len)?)
    }
}

/// Evictions noted while a compaction copies: each key with its record's offset in the old
/// file.
pub(super) type Noted = Vec<(Box<[u8]>, u64)>;

impl Inner {
    /// Evicts entries until `incoming` more bytes fit in the budget (called with the writer
    /// lock held, before a put is appended; `incoming` 0 enforces the budget as it stands).
    /// Gives up after eight laps of the main hand (enough for every count to fall to zero
    /// twice) without making room (every entry is a write still waiting for its fsync): the
    /// budget is then passed by those writes until the next put.
    ///
    /// With [`Eviction::S3Fifo`], the small queue's hand takes over while the probationary
    /// entries hold a tenth of the budget or more (or all there is): it walks the log as the
    /// main hand does, and at each live probationary entry promotes it (read since written)
    /// or evicts it; the main hand then passes only main entries. One lap of the small hand
    /// meets every probationary entry, so it never needs more than two.
    pub(super) fn make_room(&self, w: &mut Writer, incoming: u64) {
        let Some(max) = self.opts.max_bytes else {
            return;
        };
        let policy = self.opts.eviction;
        let s3 = policy == Eviction::S3Fifo;
        let small_target = max / 10;
        let (mut main_laps, mut small_laps) = (0u32, 0u32);
        let mut key = Vec::new();
        // Counted down as entries go, rather than summed again per record (readers only ever
        // lower it meanwhile, by dropping expired entries: then one entry more goes).
        let mut used = self.budget_used();
        while used + incoming > max {
            let small = s3 && small_laps <= 2 && {
                let index = self.read_index();
                let bytes = index.small_bytes();
                bytes > 0 && (bytes >= small_target || bytes >= index.live_bytes)
            };
            let hand = if small {
                &mut w.hand.small
            } else {
                &mut w.hand.main
            };
            if hand.at < FILE_HEADER.len() as u64 || hand.at >= w.end {
                hand.at = FILE_HEADER.len() as u64;
                if small {
                    small_laps += 1;
                } else {
                    main_laps += 1;
                    if main_laps > 2 * (MAX_COUNT as u32 + 1) {
                        return;
                    }
                }
            }
            let at = hand.at;
            let Some(record_len) = self.record_at(hand, &*w.file, w.end, at, &mut key) else {
                // Unreadable here (a damaged region that open skipped): jump to the next live
                // record, so the damage cannot hide the entries behind it from the hand.
                hand.at = self.next_live_offset(at).unwrap_or(w.end);
                continue;
            };
            hand.at = at + record_len;
            let evicted = if small {
                match self.write_index().evict_small_at(&key, at) {
                    Small::Evicted(entry) => Some(entry),
                    Small::Passed | Small::Promoted => None,
                }
            } else {
                let counted = policy != Eviction::Fifo;
                self.write_index().evict_at(&key, at, counted, s3)
            };
            if let Some(entry) = evicted {
                used = used.saturating_sub(u64::from(entry.len));
                crate::counters::bump(&self.counters.evictions);
                crate::counters::add(&self.counters.evicted_bytes, u64::from(entry.len));
                if let Some(noted) = crate::sync::lock(&self.evictions.meanwhile).as_mut() {
                    noted.push((key.as_slice().into(), entry.offset));
                }
                if let Some(watch) = crate::sync::lock(&self.evictions.watch).as_mut() {
                    watch.note(&key);
                }
            }
        }
    }

    /// The length of the record at `at` (before `end` in `file`), its key left in `key`;
    /// `None` when no record can be read there.
    fn record_at(
        &self,
        hand: &mut Hand,
        file: &dyn FileHandle,
        end: u64,
        at: u64,
        key: &mut Vec<u8>,
    ) -> Option<u64> {
        let room = usize::try_from(end.saturating_sub(at)).ok()?;
        let head = hand.bytes(file, at, MAX_HEADER_LEN.min(room), end)?;
        let h = parse_header(head, self.opts.max_value_len).ok()?;
        let key_len = usize::try_from(h.key_len).ok()?;
        let bytes = hand.bytes(file, at + h.header_len as u64, key_len, end)?;
        key.clear();
        key.extend_from_slice(bytes);
        Some(h.record_len())
    }

    /// The offset of the first live record after `at` (a scan of the index: only when the hand
    /// meets bytes it cannot read).
    fn next_live_offset(&self, at: u64) -> Option<u64> {
        self.read_index()
            .iter()
            .map(|(_, e)| e.offset)
            .filter(|&o| o > at)
            .min()
    }

    /// Bytes the budget counts now: the live records, and the puts waiting for their fsync.
    fn budget_used(&self) -> u64 {
        let pending: u64 = crate::sync::lock(&self.group.commit)
            .pending
            .iter()
            .filter_map(|p| p.change.map(|e| u64::from(e.len)))
            .sum();
        self.read_index().live_bytes + pending
    }
}

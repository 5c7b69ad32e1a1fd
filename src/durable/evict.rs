//! The byte budget: which entries leave when a put would pass
//! [`max_bytes`](super::DurableKVCacheBuilder::max_bytes).
//!
//! A hand walks the log in order (the one order the store already keeps: no per-entry list in
//! memory). At each record it asks the index whether the record is still its key's live value;
//! a live one is evicted, or, with [`Eviction::Clock`], first has its read count (0–3) lowered
//! if reads raised it. The count is two bits of the entry's index slot, raised by `get` with a
//! relaxed atomic store under the index's read lock (no writer lock, no second lookup), carried
//! over when the key is put again and through compaction, and gone with the entry.
//!
//! Eviction writes nothing: the evicted record stays in the log as dead bytes, which
//! compaction reclaims. After a crash before that compaction, replay can bring an evicted key
//! back — with its last acknowledged value, the newest record of the key, never an older one —
//! and open evicts down to the budget again before accepting writes. A delete of a key the
//! index does not hold still writes a tombstone while a budget is set, so a key evicted and
//! then deleted cannot come back.

use super::Inner;
use super::index::{Entry, MAX_COUNT};
use super::write::Writer;
use crate::log::record::{FILE_HEADER, MAX_HEADER_LEN, parse_header};
use crate::options::Eviction;

/// Evictions noted while a compaction copies: each key with its record's offset in the old
/// file.
pub(super) type Noted = Vec<(Box<[u8]>, u64)>;

impl Inner {
    /// Evicts entries until `incoming` more bytes fit in the budget (called with the writer
    /// lock held, before a put is appended; `incoming` 0 enforces the budget as it stands).
    /// Gives up after eight laps of the hand (enough for every count to fall to zero twice)
    /// without making room (every entry is a write still waiting for its fsync): the budget
    /// is then passed by those writes until the next put.
    pub(super) fn make_room(&self, w: &mut Writer, incoming: u64) {
        let Some(max) = self.opts.max_bytes else {
            return;
        };
        let mut laps = 0;
        let mut header = vec![0u8; MAX_HEADER_LEN];
        let mut key = Vec::new();
        while self.budget_used() + incoming > max {
            if w.hand < FILE_HEADER.len() as u64 || w.hand >= w.end {
                w.hand = FILE_HEADER.len() as u64;
                laps += 1;
                if laps > 2 * (MAX_COUNT as u32 + 1) {
                    return;
                }
            }
            let at = w.hand;
            let Some((record_len, live)) = self.live_at(w, at, &mut header, &mut key) else {
                // Unreadable here (a damaged region that open skipped): jump to the next live
                // record, so the damage cannot hide the entries behind it from the hand.
                w.hand = self.next_live_offset(at).unwrap_or(w.end);
                continue;
            };
            w.hand = at + record_len;
            if let Some(entry) = live {
                let goes = match self.opts.eviction {
                    Eviction::Fifo => true,
                    Eviction::Clock => self.read_index().pass(&key),
                };
                if goes && self.write_index().remove_if_same(&key, entry) {
                    crate::counters::bump(&self.counters.evictions);
                    crate::counters::add(&self.counters.evicted_bytes, u64::from(entry.len));
                    if let Some(noted) = crate::sync::lock(&self.evicted_meanwhile).as_mut() {
                        noted.push((key.as_slice().into(), entry.offset));
                    }
                }
            }
        }
    }

    /// The record at `at`: its length, and its index entry when it is its key's live value
    /// (the key is left in `key`). `None` when no record can be read there.
    fn live_at(
        &self,
        w: &Writer,
        at: u64,
        header: &mut [u8],
        key: &mut Vec<u8>,
    ) -> Option<(u64, Option<Entry>)> {
        let room = usize::try_from(w.end.saturating_sub(at)).ok()?;
        let head = header.get_mut(..header.len().min(room))?;
        w.file.read_exact_at(head, at).ok()?;
        let h = parse_header(head, self.opts.max_value_len).ok()?;
        key.resize(usize::try_from(h.key_len).ok()?, 0);
        w.file.read_exact_at(key, at + h.header_len as u64).ok()?;
        let live = self.read_index().get(key).filter(|e| e.offset == at);
        Some((h.record_len(), live))
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
        let pending: u64 = crate::sync::lock(&self.commit)
            .pending
            .iter()
            .filter_map(|p| p.change.map(|e| u64::from(e.len)))
            .sum();
        self.read_index().live_bytes + pending
    }
}

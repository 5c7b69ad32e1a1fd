//! Many puts at once: [`DurableKVCache::set_many`].
//!
//! A put is one `pwrite` of one record, about a microsecond of system call for a small value:
//! a bulk load of small values is bound by that, where a store that buffers a transaction in
//! memory (redb, sled) is not. `set_many` encodes the records of up to [`CHUNK`] bytes into one
//! buffer under the writer lock and writes them with one `pwrite`, publishes them all, releases
//! the lock (so other writers and a compaction's switch get their turn between chunks), and
//! goes on; then it waits once for the durability mode — one fsync for the whole batch with
//! [`Durability::Sync`]. The records are the same records `set` writes, each with its own
//! sequence number and CRC: replay, compaction and the hint see nothing new.
//!
//! Not a transaction: after a crash before the batch is acknowledged, any of its records may
//! or may not be there (the ones a torn write cut are dropped by replay as a torn tail is), as
//! with the same puts made one by one. With a byte budget each put goes through `set` (the
//! budget evicts per record).

use super::DurableKVCache;
use super::index::{Entry, MAX_OFFSET};
use super::write::Ticket;
use crate::error::{Error, Result};
use crate::log::record::{Op, Payload};
use crate::options::Durability;

/// Bytes of records gathered before one write: large enough that the system call is a small
/// part of the cost, small enough that the writer lock is not held for long.
const CHUNK: usize = 1 << 20;

impl DurableKVCache {
    /// Sets every `(key, value)` pair, in order, as [`set`](Self::set) would, but writes them in
    /// large chunks (one `pwrite` per megabyte of records instead of one per pair) and waits
    /// for the [`Durability`] mode once at the end: with `Sync`, the call returns after one
    /// fsync covered every pair. Returns how many pairs were set. The fast way to load many
    /// small values.
    ///
    /// Not atomic: readers see each chunk as it is written, and after a crash before the call
    /// returns, any of the pairs may or may not be there. A pair whose key or value is too
    /// long stops the batch with [`Error::TooLarge`]: the pairs before it are set (and
    /// durable per the mode), none after it.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let cache = logcache::DurableKVCache::open(dir.path().join("cache.log"))?;
    /// let pairs = (0..1000).map(|i| (format!("key-{i}"), format!("value {i}")));
    /// assert_eq!(cache.set_many(pairs)?, 1000);
    /// assert_eq!(cache.get("key-7")?.as_deref(), Some(&b"value 7"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_many<K, V>(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<u64>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut pairs = pairs.into_iter();
        let mut set = 0u64;
        if self.inner.opts.max_bytes.is_some() {
            for (key, value) in pairs {
                self.set(key, value)?;
                set += 1;
            }
            return Ok(set);
        }
        let mut chunk: Vec<(K, V)> = Vec::new();
        let mut last: Option<Ticket> = None;
        let mut refused = None;
        loop {
            // Gathered (and checked) outside the writer lock.
            let mut bytes = 0usize;
            while bytes < CHUNK {
                let Some((key, value)) = pairs.next() else {
                    break;
                };
                if let Err(e) = self.check_set(key.as_ref(), value.as_ref()) {
                    refused = Some(e);
                    break;
                }
                bytes += key.as_ref().len() + value.as_ref().len() + 32;
                chunk.push((key, value));
            }
            if chunk.is_empty() {
                break;
            }
            let ticket = match self.write_chunk(&chunk) {
                Ok(ticket) => ticket,
                Err(e) => {
                    crate::counters::add(&self.inner.counters.sets, set);
                    return Err(e);
                }
            };
            set += chunk.len() as u64;
            chunk.clear();
            last = ticket.or(last);
            // A long batch of overwrites must not outrun compaction until it ends.
            self.inner.maybe_compact();
            if refused.is_some() {
                break;
            }
        }
        crate::counters::add(&self.inner.counters.sets, set);
        if let Some(Ticket { seq, generation }) = last {
            self.inner.sync_write(seq, generation)?;
        }
        refused.map_or(Ok(set), Err)
    }

    /// [`set_many`](Self::set_many)'s batch under the writer lock: encoded, written with one
    /// `pwrite`, published (or queued for the fsync with `Sync`).
    fn write_chunk<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        chunk: &[(K, V)],
    ) -> Result<Option<Ticket>> {
        let inner = &*self.inner;
        let sync = inner.opts.durability == Durability::Sync;
        let mut w = inner.writer()?;
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        let mut lens = Vec::with_capacity(chunk.len());
        let mut seq = w.seq;
        for (key, value) in chunk {
            seq += 1;
            let len =
                Payload::new(key.as_ref(), value.as_ref()).encode_onto(seq, Op::Put, 0, &mut buf);
            // Each record within the index's u32 (checked values are at most
            // MAX_VALUE_LEN_LIMIT), the log within 48-bit offsets.
            let len = u32::try_from(len).map_err(|_| Error::TooLarge {
                what: "record",
                len: len as u64,
                max: u64::from(u32::MAX),
            });
            match len {
                Ok(len) => lens.push(len),
                Err(e) => {
                    w.buf = buf;
                    return Err(e);
                }
            }
        }
        let end = w.end + buf.len() as u64;
        if end > MAX_OFFSET {
            w.buf = buf;
            return Err(Error::TooLarge {
                what: "log",
                len: end,
                max: MAX_OFFSET,
            });
        }
        let result = inner.append(&mut w, &buf);
        w.keep_buf(buf);
        let (first, end) = result?;
        let mut offset = first;
        let entries: Vec<Entry> = lens
            .iter()
            .map(|&len| {
                let entry = Entry {
                    offset,
                    len,
                    expiry: 0,
                };
                offset += u64::from(len);
                entry
            })
            .collect();
        w.seq = seq;
        w.last_at = entries.last().map(|e| e.offset);
        let first_seq = seq - chunk.len() as u64 + 1;
        let changes = (first_seq..)
            .zip(chunk)
            .zip(&entries)
            .map(|((seq, (key, _)), entry)| (seq, key.as_ref(), Some(*entry)));
        let (generation, file_id) = inner.publish(end, seq, changes);
        drop(w);
        for ((_, value), entry) in chunk.iter().zip(&entries) {
            inner.write_through(file_id, value.as_ref(), Some(*entry));
        }
        Ok(sync.then_some(Ticket { seq, generation }))
    }
}

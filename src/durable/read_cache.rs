//! Large values served from memory (when `read_cache_bytes` turns it on): checked once when
//! they are written or read from the log, then copied out of the handle's own memory by every
//! read that finds them.
//!
//! A read of a large value from the log is a `pread` per 128 KiB piece and a CRC over every
//! byte (read.rs); a store that keeps hot pages in its own memory (sled, redb) answers the
//! same read with one `memcpy`. This cache closes that gap for records of at least
//! [`DIRECT_MIN`](super::read::DIRECT_MIN) bytes: a value enters it after its write, or after
//! its record was read and its checksum verified, and a later read of the same record copies it out with no
//! syscall and no second checksum. Small records are left to the page cache: for them the
//! lookup and the copy would cost about what the `pread` does (and mapped.rs reads them
//! without a system call). Off by default: a process that streams objects through BigCache
//! keeps a flat footprint (tests/big_rss.rs), where a cache of written values would grow to
//! its capacity.
//!
//! It is a [`MemoryCache`] (S3-FIFO, so a scan of values read once does not flush the hot
//! ones) keyed by the record's place: the log file's identity and the record's offset. A
//! record never changes while its file lives, so nothing is invalidated when a key is
//! overwritten or deleted (the index no longer points at the old offset; its bytes leave by
//! eviction). The file's identity is [`Index::file_id`](super::index::Index): a fresh one for
//! every index (open, compaction, a rebuild) and for every cut of the file by
//! [`recover`](super::DurableKVCache::recover), which lets later records reuse offsets — a
//! reader that looked an entry up before the cut can only insert under the old identity,
//! which no lookup asks for again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::memory::MemoryCache;
use crate::memory::policy::PolicyKind;

/// Shards of the cache: few, because its entries are large (a value must fit in one shard's
/// share of the capacity) and a lookup holds the lock only to clone an `Arc`.
const SHARDS: usize = 4;

/// Identities of log files as the index sees them; never reused in a process.
static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

/// A new file identity (see the module's documentation).
pub(super) fn next_file_id() -> u64 {
    NEXT_FILE_ID.fetch_add(1, Ordering::Relaxed)
}

/// Checked large values by the place of their record.
#[derive(Debug)]
pub(super) struct ReadCache {
    values: MemoryCache,
}

fn place(file_id: u64, offset: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    let (id, at) = key.split_at_mut(8);
    id.copy_from_slice(&file_id.to_le_bytes());
    at.copy_from_slice(&offset.to_le_bytes());
    key
}

impl ReadCache {
    /// A cache of `capacity` bytes, or `None` for 0 (off).
    pub(super) fn new(capacity: u64) -> Option<ReadCache> {
        (capacity > 0).then(|| ReadCache {
            values: MemoryCache::builder(capacity)
                .shards(SHARDS)
                .policy(PolicyKind::S3Fifo)
                .build(),
        })
    }

    /// The checked value of the record at `offset` of file `file_id`, if it is here.
    pub(super) fn get(&self, file_id: u64, offset: u64) -> Option<Arc<[u8]>> {
        self.values.get_shared(place(file_id, offset))
    }

    /// Keeps `value`, whose record (at `offset` of file `file_id`) was just read and checked.
    /// A value larger than a shard's share of the capacity is not kept.
    pub(super) fn insert(&self, file_id: u64, offset: u64, value: &[u8]) {
        // TooLarge is the only refusal: such a value is simply read from the log each time.
        let _ = self.values.set(place(file_id, offset), value);
    }

    /// Bytes held, for [`Stats`](super::Stats).
    pub(super) fn bytes(&self) -> u64 {
        self.values.stats().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_its_file_and_offset() {
        let cache = ReadCache::new(64 << 20).expect("capacity above 0");
        cache.insert(1, 4096, b"one");
        assert_eq!(cache.get(1, 4096).as_deref(), Some(&b"one"[..]));
        assert!(cache.get(2, 4096).is_none(), "another file, same offset");
        assert!(cache.get(1, 4097).is_none());
        assert!(ReadCache::new(0).is_none());
        assert_ne!(next_file_id(), next_file_id());
    }

    #[test]
    fn a_value_larger_than_a_shard_is_not_kept() {
        let cache = ReadCache::new(4 << 20).expect("capacity above 0");
        cache.insert(1, 0, &vec![7u8; 2 << 20]);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 1, &vec![7u8; 512 << 10]);
        assert_eq!(cache.get(1, 1).map(|v| v.len()), Some(512 << 10));
    }
}

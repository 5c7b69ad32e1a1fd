//! Reading items: owned ([`Item`]) for commands that change what they read, borrowed
//! ([`ItemRef`]) from buffers each thread keeps for `get`, which copies the value once out of
//! the store and once into its answer.

use super::{HEADER, Items, NAMESPACE, WROTE};
use crate::error::Result;
use crate::store::KvStore;

/// One item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::server::memcache) struct Item {
    pub(in crate::server::memcache) flags: u32,
    pub(in crate::server::memcache) cas: u64,
    /// [`STALE`] and [`WON`] bits.
    pub(in crate::server::memcache) state: u8,
    pub(in crate::server::memcache) data: Vec<u8>,
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub(in crate::server::memcache) expiry: u64,
}

impl Item {
    /// The item with its value borrowed.
    pub(in crate::server::memcache) fn as_ref(&self) -> ItemRef<'_> {
        ItemRef {
            flags: self.flags,
            cas: self.cas,
            state: self.state,
            data: &self.data,
            expiry: self.expiry,
        }
    }
}

/// An item whose value is borrowed from the buffer it was read into
/// ([`Items::read_with`]).
#[derive(Debug, Clone, Copy)]
pub(in crate::server::memcache) struct ItemRef<'a> {
    pub(in crate::server::memcache) flags: u32,
    pub(in crate::server::memcache) cas: u64,
    /// [`STALE`] and [`WON`] bits.
    pub(in crate::server::memcache) state: u8,
    pub(in crate::server::memcache) data: &'a [u8],
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub(in crate::server::memcache) expiry: u64,
}

impl<'a> ItemRef<'a> {
    /// The item stored as `bytes`; `None` when shorter than the header (damaged: absent).
    fn decode(bytes: &'a [u8], expiry: u64) -> Option<Self> {
        let (head, data) = bytes.split_first_chunk::<HEADER>()?;
        let (flags, rest) = head.split_first_chunk::<4>()?;
        let (cas, state) = rest.split_first_chunk::<8>()?;
        Some(ItemRef {
            flags: u32::from_le_bytes(*flags),
            cas: u64::from_le_bytes(*cas),
            state: state.first().copied().unwrap_or(0),
            data,
            expiry,
        })
    }

    /// An owned copy.
    pub(in crate::server::memcache) fn to_item(self) -> Item {
        Item {
            flags: self.flags,
            cas: self.cas,
            state: self.state,
            data: self.data.to_vec(),
            expiry: self.expiry,
        }
    }
}

std::thread_local! {
    /// A store key and a value buffer per thread, reused by every read ([`Items::read_with`]).
    static SCRATCH: std::cell::Cell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}
/// The largest value buffer a thread keeps between reads.
const SCRATCH_KEEP: usize = 256 * 1024;

impl<S: KvStore> Items<S> {
    /// The item under `key`, if any and not expired: what is durable (a write still waiting
    /// for its fsync is not shown, as it is not acknowledged yet).
    pub(in crate::server::memcache) fn get(&self, key: &[u8]) -> Result<Option<Item>> {
        self.read_with(key, |item| item.to_item())
    }

    /// [`get`](Self::get) without a copy of the value: `answer` is given the item as read
    /// into a buffer the thread keeps (its value borrowed from there), and what it returns is
    /// returned. `get` answers its values this way: a read costs the store's one copy into
    /// the buffer and the answer's one copy out of it, with no allocation per read.
    pub(in crate::server::memcache) fn read_with<R>(
        &self,
        key: &[u8],
        answer: impl FnOnce(ItemRef<'_>) -> R,
    ) -> Result<Option<R>> {
        SCRATCH.with(|scratch| {
            // Taken out while in use, so a nested read (none today) gets buffers of its own
            // rather than a panic on a second borrow.
            let (mut skey, mut value) = scratch.take();
            skey.clear();
            skey.extend_from_slice(NAMESPACE);
            skey.extend_from_slice(key);
            let found = self.store.get_into_with_expiry(&skey, &mut value);
            let answered = match found {
                Ok(Some(expiry)) => Ok(ItemRef::decode(&value, expiry).map(answer)),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            // A buffer grown by a large value is not kept: each thread holds at most
            // SCRATCH_KEEP bytes between reads.
            if value.capacity() > SCRATCH_KEEP {
                value = Vec::new();
            }
            scratch.replace((skey, value));
            answered
        })
    }

    /// The item under `key` counting writes still waiting for their fsync: what a
    /// read-modify-write under the key's lock builds on. Its answer then waits for them (the
    /// thread is marked as having written).
    pub(in crate::server::memcache) fn latest(&self, key: &[u8]) -> Result<Option<Item>> {
        let Some(log) = self.log() else {
            return self.get(key);
        };
        WROTE.with(|w| w.set(true));
        let found = log.get_latest(Self::store_key(key))?;
        Ok(found.and_then(|(bytes, expiry)| Self::decode(&bytes, expiry)))
    }

    fn decode(bytes: &[u8], expiry: u64) -> Option<Item> {
        ItemRef::decode(bytes, expiry).map(ItemRef::to_item)
    }

    /// `get`, `gets`: [`read_with`](Self::read_with), the fetch recorded (`mg … h`).
    pub(in crate::server::memcache) fn fetch_with<R>(
        &self,
        key: &[u8],
        answer: impl FnOnce(ItemRef<'_>) -> R,
    ) -> Result<Option<R>> {
        let found = self.read_with(key, answer)?;
        if found.is_some() {
            self.access.fetched(key, self.now());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::server::memcache::items::{Cond, Mode, Outcome};

    /// Reads through the thread's buffers: a value larger than the buffer kept between reads,
    /// then small ones, a miss and a damaged item, each answered with its own bytes (no
    /// leftover of an earlier, longer read), and `get`'s owned copy the same.
    #[test]
    fn borrowed_reads_answer_each_items_own_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::DurableKVCache::open(dir.path().join("items.log")).unwrap();
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(crate::clock::SystemClock);
        let items = Items::new(log, 4 << 20, clock).unwrap();
        let big = vec![7u8; SCRATCH_KEEP * 2];
        let set = |key: &[u8], flags, data: &[u8]| {
            let r = items.store(Mode::Set, Cond::default(), key, flags, 0, data);
            assert!(matches!(r, Ok(Outcome::Stored(_))), "{r:?}");
        };
        set(b"big", 1, &big);
        set(b"small", 2, b"abc");
        set(b"empty", 3, b"");
        // The log is in Sync mode: its writes wait for their fsync before reads show them.
        items.store.sync().unwrap();
        let read = |key: &[u8]| {
            items
                .read_with(key, |item| (item.flags, item.data.to_vec()))
                .unwrap()
        };
        for _ in 0..2 {
            assert_eq!(read(b"big"), Some((1, big.clone())));
            assert_eq!(read(b"small"), Some((2, b"abc".to_vec())));
            assert_eq!(read(b"empty"), Some((3, Vec::new())));
            assert_eq!(read(b"missing"), None);
        }
        let owned = items.get(b"small").unwrap().unwrap();
        assert_eq!((owned.flags, owned.data.as_slice()), (2, &b"abc"[..]));
        // Shorter than the item header: damaged, read as absent.
        items
            .store
            .put(Items::<crate::DurableKVCache>::store_key(b"cut"), b"xy")
            .unwrap();
        assert_eq!(read(b"cut"), None);
        assert!(ItemRef::decode(&[0u8; HEADER - 1], 0).is_none());
    }
}

//! [`Items`]: memcached's items kept in a [`KvStore`](crate::KvStore): flags, CAS, exptime, the per-key stripes and deferred writes.

use super::{Access, Item};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Clock;
use crate::counters::{bump, stats};
use crate::error::{Error, Result};
use crate::store::KvStore;
use crate::sync::lock;

/// Every item's key in the store starts with these bytes, so items never meet BigCache's
/// keys in a store both use.
pub(in crate::server::memcache) const NAMESPACE: &[u8] = b"\xffmc:";
/// Where the CAS high-water mark is kept (a control byte: no memcached key can name it).
pub(super) const CAS_MARK: &[u8] = b"\xffmc\x00cas";
/// CAS values handed out between two writes of the high-water mark.
pub(super) const CAS_BLOCK: u64 = 1 << 20;
/// Bytes before the data: flags, CAS, state.
pub(in crate::server::memcache) const HEADER: usize = 4 + 8 + 1;
/// State bit: the item is stale (`md … I`): served with `X`, the first fetch wins a recache.
pub(in crate::server::memcache) const STALE: u8 = 1;
/// State bit: a fetch has been told it won (`W`); later ones are told `Z`.
pub(in crate::server::memcache) const WON: u8 = 2;
/// State bit: the key was given in base64 (meta `b`): returned in base64 (`k`), as
/// memcached returns it.
pub(in crate::server::memcache) const BINARY: u8 = 4;
/// memcached reads an exptime above 30 days as an absolute Unix time.
pub(super) const RELATIVE_MAX: i64 = crate::protocol::memcache::RELATIVE_MAX_SECS;
pub(super) const STRIPES: usize = 256;

/// When an item expires, from a memcached exptime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::server::memcache) enum Exp {
    Never,
    /// Unix milliseconds.
    At(u64),
    /// In the past: stored as already expired (invisible).
    Gone,
}

impl Exp {
    /// memcached's rule: 0 never; up to 30 days, seconds from now; beyond, a Unix time;
    /// negative, already expired.
    pub(in crate::server::memcache) fn from_exptime(exptime: i64, now_ms: u64) -> Exp {
        let at = match exptime {
            0 => return Exp::Never,
            t if t < 0 => return Exp::Gone,
            t if t <= RELATIVE_MAX => now_ms.saturating_add(t as u64 * 1000),
            t => (t as u64).saturating_mul(1000),
        };
        if at <= now_ms { Exp::Gone } else { Exp::At(at) }
    }

    pub(super) fn from_expiry(expiry: u64) -> Exp {
        if expiry == 0 {
            Exp::Never
        } else {
            Exp::At(expiry)
        }
    }
}

/// How a storage command treats what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::server::memcache) enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
}

/// What a storage command requires and sets besides its mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::server::memcache) struct Cond {
    /// Store only if the item's CAS is this (`cas`, meta `C`).
    pub(in crate::server::memcache) compare: Option<u64>,
    /// The new item's CAS (meta `E`); a new one otherwise.
    pub(in crate::server::memcache) explicit: Option<u64>,
    /// Meta `I`: when `compare` is older than the item's CAS, store anyway, marked stale.
    pub(in crate::server::memcache) invalidate: bool,
    /// The key came in base64 (meta `b`): the item is marked [`BINARY`].
    pub(in crate::server::memcache) binary: bool,
    /// Meta `N` with append or prepend: on a miss, create the item from the data with this
    /// exptime.
    pub(in crate::server::memcache) vivify: Option<i64>,
}

/// A storage command's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::server::memcache) enum Outcome {
    /// With the item's new CAS.
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
    /// Append or prepend would pass the item size limit.
    TooLarge,
}

/// What `incr`/`decr` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::server::memcache) enum Delta {
    /// The new value and CAS.
    Value(u64, u64),
    NotFound,
    NonNumeric,
    /// The CAS to compare did not match.
    Exists,
}

/// What `touch` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::server::memcache) enum Touch {
    /// The item, with its new expiry.
    Done(Item),
    /// It was there, and the new expiry is in the past: gone now.
    Expired,
    NotFound,
}

impl Touch {
    /// The item, for `gat`.
    pub(in crate::server::memcache) fn item(self) -> Option<Item> {
        match self {
            Touch::Done(item) => Some(item),
            _ => None,
        }
    }
}

stats! {
    /// What a [`MemcacheServer`](crate::server::memcache::MemcacheServer) counts, by memcached's names (its
    /// `stats` command reports them).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct MemcacheStats, counted by pub(in crate::server::memcache) Counts {
        gauges {}
        counters {
            /// Keys asked for by `get`, `gets`, `gat`, `gats`.
            cmd_get,
            /// Storage commands.
            cmd_set,
            /// `flush_all`s.
            cmd_flush,
            /// `touch`es, `gat`s and `gats`.
            cmd_touch,
            /// Keys found.
            get_hits,
            /// Keys not found.
            get_misses,
            /// Deletes that found the key.
            delete_hits,
            /// Deletes that did not.
            delete_misses,
            /// `incr`s that found the key.
            incr_hits,
            /// `incr`s that did not.
            incr_misses,
            /// `decr`s that found the key.
            decr_hits,
            /// `decr`s that did not.
            decr_misses,
            /// `cas` that stored.
            cas_hits,
            /// `cas` on an absent key.
            cas_misses,
            /// `cas` with a stale value.
            cas_badval,
            /// `touch`es that found the key.
            touch_hits,
            /// `touch`es that did not.
            touch_misses,
        }
    }
}

/// The items of one store.
pub(in crate::server::memcache) struct Items<S: KvStore> {
    pub(in crate::server::memcache) store: S,
    pub(in crate::server::memcache) max_item_size: usize,
    pub(in crate::server::memcache) counts: Counts,
    pub(super) clock: std::sync::Arc<dyn Clock>,
    pub(super) stripes: Vec<Mutex<()>>,
    pub(super) hasher: foldhash::fast::FixedState,
    /// The next CAS value, and the high-water mark stored (values below it may be used).
    pub(super) cas: Mutex<(u64, u64)>,
    /// When a delayed `flush_all` takes effect, in Unix milliseconds (0: none pending).
    pub(super) flush_at: std::sync::atomic::AtomicU64,
    /// When items were last fetched or stored (`mg … h l`, `me`).
    pub(in crate::server::memcache) access: Access,
    /// Writes go to the embedded log deferred: appended at once, their fsync awaited by the
    /// connection before it answers (see [`take_wrote`]).
    pub(super) deferred: bool,
}

thread_local! {
    /// Whether this thread wrote (or read a write still waiting) since [`take_wrote`].
    pub(super) static WROTE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread wrote to the store (or read a write still waiting for its
/// fsync) since the last call: the connection then waits for the log's newest write to be
/// durable before answering. Commands run on the event loop thread from start to end, so
/// the flag is exactly theirs.
pub(in crate::server::memcache) fn take_wrote() -> bool {
    WROTE.with(|w| w.replace(false))
}

impl<S: KvStore> Items<S> {
    /// Items over `store`; reads the CAS high-water mark so that CAS values keep increasing
    /// across restarts.
    pub(in crate::server::memcache) fn new(
        store: S,
        max_item_size: usize,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self> {
        let mark = match store.get(CAS_MARK)? {
            Some(v) => v
                .as_slice()
                .try_into()
                .map(u64::from_le_bytes)
                .map_err(|_| Error::Damaged {
                    what: "the stored CAS mark".into(),
                    reason: format!("{} bytes where 8 belong", v.len()),
                })?,
            None => 1,
        };
        let deferred = store
            .embedded()
            .is_some_and(|log| log.durability() == crate::Durability::Sync);
        let items = Items {
            store,
            max_item_size,
            counts: Counts::default(),
            clock: clock.clone(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x6d63),
            cas: Mutex::new((mark, mark)),
            flush_at: std::sync::atomic::AtomicU64::new(0),
            access: Access::new(clock.now_millis()),
            deferred,
        };
        Ok(items)
    }

    pub(super) fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// A CAS value no item has had, here or before a restart.
    pub(super) fn next_cas(&self) -> Result<u64> {
        let mut c = lock(&self.cas);
        if c.0 >= c.1 {
            let mark = c.1 + CAS_BLOCK;
            // Deferred, the mark needs no fsync of its own: an item with a CAS past the old mark
            // is written after it in the log, so it is durable only once the mark is.
            self.write(CAS_MARK, &mark.to_le_bytes(), None)?;
            if !self.deferred {
                self.store.sync()?;
            }
            c.1 = mark;
        }
        c.0 += 1;
        Ok(c.0 - 1)
    }

    pub(super) fn stripe(&self, key: &[u8]) -> std::sync::MutexGuard<'_, ()> {
        let i = (self.hasher.hash_one(key) as usize) % self.stripes.len();
        lock(&self.stripes[i])
    }

    pub(super) fn store_key(key: &[u8]) -> Vec<u8> {
        [NAMESPACE, key].concat()
    }

    /// The embedded log, when writes are deferred.
    pub(in crate::server::memcache) fn log(&self) -> Option<&crate::durable::DurableKVCache> {
        self.store.embedded().filter(|_| self.deferred)
    }

    /// Sets a store key: deferred (appended, its fsync awaited by the connection) when the
    /// log's writes wait, at once otherwise.
    pub(super) fn write(&self, skey: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        if let Some(log) = self.log() {
            WROTE.with(|w| w.set(true));
            log.set_deferred(skey, value, ttl)?;
            return Ok(());
        }
        match ttl {
            Some(ttl) => self.store.set_with_ttl(skey, value, ttl),
            None => self.store.set(skey, value),
        }
    }

    /// Deletes a store key, deferred as [`write`](Self::write); whether it was there.
    pub(super) fn remove(&self, skey: &[u8]) -> Result<bool> {
        if let Some(log) = self.log() {
            WROTE.with(|w| w.set(true));
            return Ok(log.delete_deferred(skey)?.0);
        }
        self.store.delete(skey)
    }

    /// Writes an item with `cas` (a new one when `None`) and `state`.
    pub(super) fn put_as(
        &self,
        key: &[u8],
        flags: u32,
        cas: Option<u64>,
        state: u8,
        exp: Exp,
        data: &[u8],
    ) -> Result<Option<u64>> {
        let skey = Self::store_key(key);
        let ttl = match exp {
            Exp::Gone => None,
            Exp::Never => Some(None),
            Exp::At(at) => at
                .checked_sub(self.now())
                .filter(|&ms| ms > 0)
                .map(|ms| Some(Duration::from_millis(ms))),
        };
        let Some(ttl) = ttl else {
            self.remove(&skey)?;
            return Ok(None);
        };
        let cas = match cas {
            Some(c) => c,
            None => self.next_cas()?,
        };
        let mut value = Vec::with_capacity(HEADER + data.len());
        value.extend_from_slice(&flags.to_le_bytes());
        value.extend_from_slice(&cas.to_le_bytes());
        value.push(state);
        value.extend_from_slice(data);
        self.write(&skey, &value, ttl)?;
        Ok(Some(cas))
    }

    /// A storage command: `mode`, under the conditions of `cond`.
    pub(in crate::server::memcache) fn store(
        &self,
        mode: Mode,
        cond: Cond,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
    ) -> Result<Outcome> {
        bump(&self.counts.cmd_set);
        let exp = Exp::from_exptime(exptime, self.now());
        let _stripe = self.stripe(key);
        let Cond {
            compare,
            explicit,
            invalidate,
            binary,
            vivify,
        } = cond;
        let mut state = if binary { BINARY } else { 0 };
        let current = match (mode, compare) {
            (Mode::Set, None) => None,
            _ => self.latest(key)?,
        };
        if let Some(want) = compare {
            match &current {
                None => {
                    bump(&self.counts.cas_misses);
                    return Ok(Outcome::NotFound);
                }
                // A late write of an older version: stored, but stale, keeping the item's
                // TTL and its win mark (a client already recaching it keeps its token), as
                // memcached does.
                Some(item) if invalidate && want < item.cas => {
                    state |= STALE | (item.state & WON);
                }
                Some(item) if item.cas != want => {
                    bump(&self.counts.cas_badval);
                    return Ok(Outcome::Exists);
                }
                Some(_) => bump(&self.counts.cas_hits),
            }
        }
        let exp = match &current {
            Some(item) if state & STALE != 0 => Exp::from_expiry(item.expiry),
            _ => exp,
        };
        let cas = match (mode, &current) {
            (Mode::Set, _) | (Mode::Add, None) | (Mode::Replace, Some(_)) => {
                self.put_as(key, flags, explicit, state, exp, data)?
            }
            (Mode::Append | Mode::Prepend, None) => match vivify {
                Some(exptime) => {
                    let exp = Exp::from_exptime(exptime, self.now());
                    self.put_as(key, flags, explicit, state, exp, data)?
                }
                None => return Ok(Outcome::NotStored),
            },
            (Mode::Add, Some(_)) | (Mode::Replace, None) => return Ok(Outcome::NotStored),
            (Mode::Append | Mode::Prepend, Some(item)) => {
                if item.data.len() + data.len() > self.max_item_size {
                    return Ok(Outcome::TooLarge);
                }
                let joined = match mode {
                    Mode::Append => [&item.data[..], data].concat(),
                    _ => [data, &item.data[..]].concat(),
                };
                // The item keeps its flags and expiry; append and prepend ignore theirs.
                let exp = Exp::from_expiry(item.expiry);
                self.put_as(key, item.flags, explicit, state, exp, &joined)?
            }
        };
        self.access.stored(key, self.now());
        Ok(Outcome::Stored(cas.unwrap_or(0)))
    }

    /// `delete`, only if the item's CAS is `compare` when given: whether there was an item
    /// (`Exists` on a CAS mismatch).
    pub(in crate::server::memcache) fn delete(
        &self,
        key: &[u8],
        compare: Option<u64>,
    ) -> Result<Outcome> {
        let _stripe = self.stripe(key);
        if let Some(want) = compare {
            match self.latest(key)? {
                None => return Ok(Outcome::NotFound),
                Some(item) if item.cas != want => return Ok(Outcome::Exists),
                Some(_) => {}
            }
        }
        let found = self.remove(&Self::store_key(key))?;
        self.access.forget(key);
        bump(if found {
            &self.counts.delete_hits
        } else {
            &self.counts.delete_misses
        });
        Ok(if found {
            Outcome::Stored(0)
        } else {
            Outcome::NotFound
        })
    }

    /// `incr` / `decr`: 64-bit, `incr` wrapping, `decr` stopping at 0. A shorter result keeps
    /// the item's length, padded with spaces, as memcached does. The meta protocol's `ma` may
    /// create a missing counter (`vivify`: its exptime and initial value), compare a CAS and
    /// give the item a new exptime (`touch`, meta `T`).
    pub(in crate::server::memcache) fn delta(
        &self,
        key: &[u8],
        incr: bool,
        by: u64,
        vivify: Option<(i64, u64)>,
        touch: Option<i64>,
        cond: Cond,
    ) -> Result<Delta> {
        let Cond {
            compare,
            explicit,
            binary,
            ..
        } = cond;
        let _stripe = self.stripe(key);
        let (hits, misses) = if incr {
            (&self.counts.incr_hits, &self.counts.incr_misses)
        } else {
            (&self.counts.decr_hits, &self.counts.decr_misses)
        };
        let Some(item) = self.latest(key)? else {
            bump(misses);
            if let Some((exptime, initial)) = vivify {
                // `T` applies to the created counter too.
                let exp = Exp::from_exptime(touch.unwrap_or(exptime), self.now());
                let state = if binary { BINARY } else { 0 };
                let text = initial.to_string();
                let cas = self.put_as(key, 0, explicit, state, exp, text.as_bytes())?;
                self.access.stored(key, self.now());
                return Ok(Delta::Value(initial, cas.unwrap_or(0)));
            }
            return Ok(Delta::NotFound);
        };
        if compare.is_some_and(|want| want != item.cas) {
            return Ok(Delta::Exists);
        }
        let Some(n) = crate::protocol::memcache::counter(&item.data) else {
            return Ok(Delta::NonNumeric);
        };
        bump(hits);
        let new = if incr {
            n.wrapping_add(by)
        } else {
            n.saturating_sub(by)
        };
        let mut text = new.to_string().into_bytes();
        if text.len() < item.data.len() {
            text.resize(item.data.len(), b' ');
        }
        let exp = match touch {
            Some(t) => Exp::from_exptime(t, self.now()),
            None => Exp::from_expiry(item.expiry),
        };
        let cas = self.put_as(key, item.flags, explicit, item.state & BINARY, exp, &text)?;
        Ok(Delta::Value(new, cas.unwrap_or(0)))
    }

    /// `touch` and `gat`: a new expiry for the item; it is returned (with a new CAS).
    pub(in crate::server::memcache) fn touch(&self, key: &[u8], exptime: i64) -> Result<Touch> {
        bump(&self.counts.cmd_touch);
        let _stripe = self.stripe(key);
        let Some(item) = self.latest(key)? else {
            bump(&self.counts.touch_misses);
            return Ok(Touch::NotFound);
        };
        bump(&self.counts.touch_hits);
        self.access.fetched(key, self.now());
        let exp = Exp::from_exptime(exptime, self.now());
        self.put_as(key, item.flags, None, item.state & BINARY, exp, &item.data)?;
        if exp == Exp::Gone {
            return Ok(Touch::Expired);
        }
        Ok(Touch::Done(self.latest(key)?.unwrap_or(item)))
    }

    /// Removes `key` without counting it (a `set` refused as too large drops the old value,
    /// as memcached does, so that no stale value outlives a failed write).
    pub(in crate::server::memcache) fn discard(&self, key: &[u8]) -> Result<()> {
        let _stripe = self.stripe(key);
        self.remove(&Self::store_key(key))?;
        self.access.forget(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryCache;
    use crate::clock::SystemClock;

    /// A store that cannot list its keys, as a memcached ring cannot.
    #[derive(Debug)]
    struct Unlisted(MemoryCache);

    impl KvStore for Unlisted {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
            Ok(self.0.get(key))
        }
        fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
            self.0.set(key, value)
        }
        fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
            self.0.set_with_ttl(key, value, ttl)
        }
        fn delete(&self, key: &[u8]) -> Result<bool> {
            Ok(self.0.delete(key))
        }
        fn max_value_len(&self) -> u64 {
            1 << 20
        }
    }

    #[test]
    fn flush_all_over_a_store_that_cannot_list_is_unsupported_and_says_what_to_do() {
        let store = Unlisted(MemoryCache::new(1 << 20));
        let items = Items::new(store, 1 << 20, std::sync::Arc::new(SystemClock)).unwrap();
        let err = items.flush().unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("flush_all"), "{err}");
        assert!(err.to_string().contains("list its keys"), "{err}");
    }

    #[test]
    fn a_damaged_cas_mark_is_damaged_data_not_a_bad_argument() {
        let store = MemoryCache::new(1 << 20);
        store.set(CAS_MARK, b"xyz").unwrap();
        let err = Items::new(store, 1 << 20, std::sync::Arc::new(SystemClock))
            .err()
            .expect("a 3-byte CAS mark is refused");
        assert!(matches!(err, Error::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("3 bytes where 8 belong"), "{err}");
    }

    #[test]
    fn exptimes_read_as_memcached_reads_them() {
        let now = 1_800_000_000_000;
        assert_eq!(Exp::from_exptime(0, now), Exp::Never);
        assert_eq!(Exp::from_exptime(-1, now), Exp::Gone);
        assert_eq!(Exp::from_exptime(10, now), Exp::At(now + 10_000));
        assert_eq!(
            Exp::from_exptime(RELATIVE_MAX, now),
            Exp::At(now + RELATIVE_MAX as u64 * 1000)
        );
        // Beyond 30 days: an absolute time, here in the past.
        assert_eq!(Exp::from_exptime(RELATIVE_MAX + 1, now), Exp::Gone);
        assert_eq!(
            Exp::from_exptime(1_900_000_000, now),
            Exp::At(1_900_000_000_000)
        );
    }
}

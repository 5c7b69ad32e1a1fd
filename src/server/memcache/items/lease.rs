//! The meta protocol's stale items and recache wins: `mg` with `N`/`T`/`R`/`E`, and `md`
//! keeping an item (`I`, `x`) instead of deleting it.

use super::{BINARY, Exp, Item, Items, Outcome, STALE, WON};
use crate::error::Result;
use crate::store::KvStore;

/// What an `mg` may change: its `T`, `N`, `R` and `E` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lease {
    /// A new exptime for the item (`T`).
    pub(crate) touch: Option<i64>,
    /// Create an empty item with this exptime on a miss, and win its recache (`N`).
    pub(crate) vivify: Option<i64>,
    /// Win the recache when less TTL than this, in seconds, is left (`R`).
    pub(crate) recache: Option<i64>,
    /// The CAS an item changed by this fetch gets (`E`).
    pub(crate) explicit: Option<u64>,
    /// The key came in base64 (`b`): an item created is marked [`BINARY`].
    pub(crate) binary: bool,
}

/// How `md` keeps an item instead of deleting it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Invalidate {
    /// A new exptime (`T`, with `I` only).
    pub(crate) touch: Option<i64>,
    /// The new CAS (`E`).
    pub(crate) explicit: Option<u64>,
    /// Only if the item's CAS is this (`C`).
    pub(crate) compare: Option<u64>,
    /// Empty the value (`x`).
    pub(crate) empty: bool,
    /// Mark it stale (`I`).
    pub(crate) stale: bool,
}

impl<S: KvStore> Items<S> {
    /// `mg` with the stale/win marks: the item (or, with `lease.vivify` = an exptime, an
    /// empty one created on a miss), and what this fetch is told: `(item, won_before, wins)`.
    /// A fetch wins when it creates the item, finds it stale with no win handed out yet, or
    /// finds less TTL left than `lease.recache` (seconds); winning is recorded, so later
    /// fetches are told `Z`. A plain fetch of an item that is not stale takes no lock and
    /// writes nothing.
    pub(crate) fn lease_get(&self, key: &[u8], lease: Lease) -> Result<Option<(Item, bool, bool)>> {
        let plain = lease.vivify.is_none() && lease.touch.is_none() && lease.recache.is_none();
        if plain {
            match self.get(key)? {
                None => return Ok(None),
                Some(item) if item.state & STALE == 0 => {
                    let won_before = item.state & WON != 0;
                    return Ok(Some((item, won_before, false)));
                }
                Some(_) => {} // stale: may win, under the key's lock
            }
        }
        let _stripe = self.stripe(key);
        let now = self.now();
        let Some(mut item) = self.latest(key)? else {
            let Some(exptime) = lease.vivify else {
                return Ok(None);
            };
            let exp = Exp::from_exptime(exptime, now);
            let state = WON | if lease.binary { BINARY } else { 0 };
            let Some(cas) = self.put_as(key, 0, lease.explicit, state, exp, b"")? else {
                return Ok(None);
            };
            self.access.stored(key, now);
            let item = self.latest(key)?.unwrap_or(Item {
                flags: 0,
                cas,
                state,
                data: Vec::new(),
                expiry: 0,
            });
            return Ok(Some((item, false, true)));
        };
        let won_before = item.state & WON != 0;
        let short_ttl = lease.recache.is_some_and(|r| {
            item.expiry != 0 && item.expiry.saturating_sub(now) < (r.max(0) as u64) * 1000
        });
        let wins = !won_before && (item.state & STALE != 0 || short_ttl);
        let exp = match lease.touch {
            Some(t) => Some(Exp::from_exptime(t, now)),
            None if wins => Some(Exp::from_expiry(item.expiry)),
            None => None,
        };
        if let Some(exp) = exp {
            let state = if wins { item.state | WON } else { item.state };
            let cas = lease.explicit.or(Some(item.cas));
            self.put_as(key, item.flags, cas, state, exp, &item.data)?;
            item = self.latest(key)?.unwrap_or(item);
        }
        Ok(Some((item, won_before, wins)))
    }

    /// `md … I` / `md … x`: the item stays — marked stale with `stale` (its win mark
    /// cleared), emptied with `empty` — with a new CAS (or `explicit`), and a new expiry if
    /// `touch` is given. Only if its CAS is `compare`, when given.
    pub(crate) fn invalidate(&self, key: &[u8], how: Invalidate) -> Result<Outcome> {
        let _stripe = self.stripe(key);
        let Some(item) = self.latest(key)? else {
            return Ok(Outcome::NotFound);
        };
        if how.compare.is_some_and(|c| c != item.cas) {
            return Ok(Outcome::Exists);
        }
        let exp = match how.touch {
            Some(t) if how.stale => Exp::from_exptime(t, self.now()),
            _ => Exp::from_expiry(item.expiry),
        };
        let (flags, data) = match how.empty {
            true => (0, &[][..]),
            false => (item.flags, &item.data[..]),
        };
        let state = (item.state & BINARY) | if how.stale { STALE } else { 0 };
        let cas = self.put_as(key, flags, how.explicit, state, exp, data)?;
        Ok(Outcome::Stored(cas.unwrap_or(0)))
    }
}

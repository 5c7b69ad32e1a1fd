//! memcached's meta protocol: `mg`, `ms`, `md`, `ma`, `mn`, with the flags clients use
//! (docs/MEMCACHED.md lists them), one function each. Return flags come back in the order
//! they were asked for, as memcached sends them; a key asked back (`k`) of a base64 request
//! (`b`) comes back in base64 followed by `b`, so no key can forge or split a reply line.
//! Errors are always answered: `q` silences only the nominal answers, as in memcached.

use super::Shared;
use super::items::{
    BINARY, Cond, Delta, HEADER as ITEM_HEADER, Invalidate, Item, Lease, Mode, Outcome, STALE, Seen,
};
use super::text::{BAD_CHUNK, BAD_FORMAT, Reply, data_block, push_num, server_error};
use crate::protocol::memcache::{
    MAX_OPAQUE_TOKEN, base64_decode, base64_encode, key_ok, strtol32, strtoul32, strtoull,
};
use crate::store::KvStore;

const INVALID_FLAG: &[u8] = b"CLIENT_ERROR invalid flag\r\n";

/// The flags of a meta command, checked against the letters it supports: each at most once,
/// an opaque no longer than memcached's.
struct Flags<'a> {
    list: Vec<(u8, &'a [u8])>,
}

impl<'a> Flags<'a> {
    fn parse(tokens: &[&'a [u8]], allowed: &[u8]) -> Result<Flags<'a>, &'static [u8]> {
        let mut list: Vec<(u8, &[u8])> = Vec::with_capacity(tokens.len());
        for t in tokens {
            let Some((&letter, token)) = t.split_first() else {
                continue;
            };
            if !allowed.contains(&letter) {
                return Err(INVALID_FLAG);
            }
            if list.iter().any(|(l, _)| *l == letter) {
                return Err(b"CLIENT_ERROR duplicate flag\r\n");
            }
            if letter == b'O' && t.len() > MAX_OPAQUE_TOKEN {
                return Err(b"CLIENT_ERROR opaque token too long\r\n");
            }
            list.push((letter, token));
        }
        Ok(Flags { list })
    }

    fn has(&self, letter: u8) -> bool {
        self.list.iter().any(|(l, _)| *l == letter)
    }

    fn token(&self, letter: u8) -> Option<&'a [u8]> {
        self.list
            .iter()
            .find(|(l, _)| *l == letter)
            .map(|(_, t)| *t)
    }

    /// The numeric token of `letter`: `Ok(None)` when absent, `Err` when malformed.
    fn num<T>(&self, letter: u8, parse: fn(&[u8]) -> Option<T>) -> Result<Option<T>, ()> {
        match self.token(letter) {
            None => Ok(None),
            Some(t) => parse(t).map(Some).ok_or(()),
        }
    }

    /// The return flags asked for among `letters`, in the order asked: ` c12 f0 kfoo O9`.
    fn returned(
        &self,
        letters: &[u8],
        key: &Key,
        item: Option<&Item>,
        now_ms: u64,
        seen: Option<Seen>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for &(letter, token) in self.list.iter().filter(|(l, _)| letters.contains(l)) {
            match (letter, item) {
                (b'k', _) => {
                    out.extend_from_slice(b" k");
                    // As memcached: in base64 when the item's key was given so (or, for a
                    // miss, the request's) — never raw bytes that could split the line.
                    let binary = item.map_or(key.base64, |i| i.state & BINARY != 0);
                    if binary || !printable(&key.bytes) {
                        base64_encode(&key.bytes, &mut out);
                        out.extend_from_slice(b" b");
                    } else {
                        out.extend_from_slice(&key.bytes);
                    }
                }
                (b'O', _) => {
                    out.extend_from_slice(b" O");
                    out.extend_from_slice(token);
                }
                (b'c', Some(i)) => push_flag(&mut out, b'c', i.cas),
                (b'f', Some(i)) => push_flag(&mut out, b'f', u64::from(i.flags)),
                (b'h', Some(_)) => {
                    let fetched = seen.is_some_and(|s| s.fetched);
                    out.extend_from_slice(if fetched { b" h1" } else { b" h0" });
                }
                (b'l', Some(_)) => push_flag(&mut out, b'l', seen.map_or(0, |s| s.idle_secs)),
                (b's', Some(i)) => push_flag(&mut out, b's', i.data.len() as u64),
                (b't', Some(i)) => match i.expiry {
                    0 => out.extend_from_slice(b" t-1"),
                    // Whole seconds, rounded: the expiry was set a moment after `now_ms`.
                    at => push_flag(&mut out, b't', (at.saturating_sub(now_ms) + 500) / 1000),
                },
                _ => {}
            }
        }
        out
    }
}

/// Whether a key can go back raw on a reply line: no space or control byte.
fn printable(key: &[u8]) -> bool {
    key.iter().all(|&b| b > b' ' && b != 0x7f)
}

fn push_flag(out: &mut Vec<u8>, letter: u8, n: u64) {
    out.push(b' ');
    push_num(out, letter, n);
}

/// A meta command's key: decoded from base64 with `b`.
struct Key {
    bytes: Vec<u8>,
    base64: bool,
}

/// The key token, decoded and checked; the error line otherwise.
fn meta_key(raw: &[u8], base64: bool) -> Result<Key, &'static [u8]> {
    let bytes = if base64 {
        base64_decode(raw).ok_or(&b"CLIENT_ERROR error decoding key\r\n"[..])?
    } else {
        raw.to_vec()
    };
    if !key_ok(&bytes) {
        return Err(BAD_FORMAT);
    }
    Ok(Key { bytes, base64 })
}

/// Runs a meta command; the answer goes to `out`.
pub(super) fn command<S: KvStore>(
    shared: &Shared<S>,
    name: &[u8],
    args: &[&[u8]],
    data: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    if name == b"mn" {
        return out.extend_from_slice(b"MN\r\n");
    }
    let Some((&raw_key, rest)) = args.split_first() else {
        return out.extend_from_slice(b"ERROR\r\n");
    };
    let result = match name {
        b"mg" => mg(shared, raw_key, rest, out),
        b"ms" => ms(shared, raw_key, rest, data, out),
        b"md" => md(shared, raw_key, rest, out),
        b"ma" => ma(shared, raw_key, rest, out),
        b"me" => me(shared, raw_key, rest, out),
        _ => Err(&b"ERROR\r\n"[..]),
    };
    if let Err(line) = result {
        out.extend_from_slice(line);
    }
}

type Answer = Result<(), &'static [u8]>;

/// Writes `code`, the return flags and, for a value, the data block.
fn answer(out: &mut Vec<u8>, code: &[u8], ret: &[u8], value: Option<&[u8]>) {
    out.extend_from_slice(code);
    if let Some(v) = value {
        push_num(out, b' ', v.len() as u64);
    }
    out.extend_from_slice(ret);
    out.extend_from_slice(b"\r\n");
    if let Some(v) = value {
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
}

/// `mg <key> <flags>*`.
fn mg<S: KvStore>(shared: &Shared<S>, raw: &[u8], rest: &[&[u8]], out: &mut Vec<u8>) -> Answer {
    let flags = Flags::parse(rest, b"bcEfhklNOqRstTuv")?;
    let key = meta_key(raw, flags.has(b'b'))?;
    let lease = (|| {
        Ok::<_, ()>(Lease {
            touch: flags.num(b'T', strtol32)?.map(i64::from),
            vivify: flags.num(b'N', strtol32)?.map(i64::from),
            recache: flags.num(b'R', strtol32)?.map(i64::from),
            explicit: flags.num(b'E', strtoull)?,
            binary: key.base64,
        })
    })()
    .map_err(|()| BAD_FORMAT)?;
    let items = &shared.items;
    let now = shared.clock.now_millis();
    crate::counters::bump(&items.counts.cmd_get);
    // What `h` and `l` report is the state before this fetch, as in memcached.
    let seen = (flags.has(b'h') || flags.has(b'l')).then(|| items.access.seen(&key.bytes, now));
    match items.lease_get(&key.bytes, lease) {
        Ok(Some((item, won_before, wins))) => {
            crate::counters::bump(&items.counts.get_hits);
            // `u`: no access recorded.
            if !flags.has(b'u') {
                items.access.fetched(&key.bytes, now);
            }
            let mut ret = flags.returned(b"cfhklOst", &key, Some(&item), now, seen);
            // The recache marks, in memcached's order.
            if won_before {
                ret.extend_from_slice(b" Z");
            }
            if item.state & STALE != 0 {
                ret.extend_from_slice(b" X");
            }
            if wins {
                ret.extend_from_slice(b" W");
            }
            // `q` hides only a miss.
            let value = flags.has(b'v').then_some(&item.data[..]);
            answer(
                out,
                if value.is_some() { b"VA" } else { b"HD" },
                &ret,
                value,
            );
        }
        Ok(None) => {
            crate::counters::bump(&items.counts.get_misses);
            if !flags.has(b'q') {
                answer(
                    out,
                    b"EN",
                    &flags.returned(b"kO", &key, None, now, None),
                    None,
                );
            }
        }
        Err(e) => server_error(&mut Reply { out, quiet: false }, &e),
    }
    Ok(())
}

/// `me <key> [b]`: memcached's debug line for an item, `ME <key> exp=… la=… cas=… fetch=…
/// cls=1 size=…` (`cls`: the door has no slab classes; `size`: the item's bytes as stored,
/// without the log record's header). It records no access.
fn me<S: KvStore>(shared: &Shared<S>, raw: &[u8], rest: &[&[u8]], out: &mut Vec<u8>) -> Answer {
    // As memcached reads it: a first flag `b` means base64; anything else is ignored.
    let key = meta_key(raw, rest.first() == Some(&&b"b"[..]))?;
    let items = &shared.items;
    let now = shared.clock.now_millis();
    let item = match items.get(&key.bytes) {
        Ok(Some(item)) => item,
        Ok(None) => {
            out.extend_from_slice(b"EN\r\n");
            return Ok(());
        }
        Err(e) => {
            server_error(&mut Reply { out, quiet: false }, &e);
            return Ok(());
        }
    };
    let seen = items.access.seen(&key.bytes, now);
    out.extend_from_slice(b"ME ");
    if item.state & BINARY != 0 || !printable(&key.bytes) {
        base64_encode(&key.bytes, out);
    } else {
        out.extend_from_slice(&key.bytes);
    }
    match item.expiry {
        0 => out.extend_from_slice(b" exp=-1"),
        at => {
            out.extend_from_slice(b" exp=");
            crate::log::record::push_decimal(out, at.saturating_sub(now).div_ceil(1000));
        }
    }
    out.extend_from_slice(b" la=");
    crate::log::record::push_decimal(out, seen.idle_secs);
    out.extend_from_slice(b" cas=");
    crate::log::record::push_decimal(out, item.cas);
    out.extend_from_slice(if seen.fetched {
        b" fetch=yes cls=1 size="
    } else {
        b" fetch=no cls=1 size="
    });
    let size = super::items::NAMESPACE.len() + key.bytes.len() + ITEM_HEADER + item.data.len();
    crate::log::record::push_decimal(out, size as u64);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// `ms <key> <datalen> <flags>*` and its data block (already read, whatever the flags say,
/// as memcached reads it).
fn ms<S: KvStore>(
    shared: &Shared<S>,
    raw: &[u8],
    rest: &[&[u8]],
    data: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Answer {
    let Some((_, rest)) = rest.split_first() else {
        return Err(BAD_FORMAT);
    };
    // No block was read: the length was refused.
    let Some(data) = data else {
        return Err(BAD_FORMAT);
    };
    let flags = Flags::parse(rest, b"bcCEFIkMNOqT")?;
    let value = data_block(Some(data)).ok_or(BAD_CHUNK)?;
    let mode = match flags.token(b'M') {
        None | Some(b"S" | b"s") => Mode::Set,
        Some(b"E" | b"e") => Mode::Add,
        Some(b"R" | b"r") => Mode::Replace,
        Some(b"A" | b"a") => Mode::Append,
        Some(b"P" | b"p") => Mode::Prepend,
        Some(_) => return Err(b"CLIENT_ERROR invalid mode for ms M token\r\n"),
    };
    let key = meta_key(raw, flags.has(b'b'))?;
    let parsed = (|| {
        Ok::<_, ()>((
            flags.num(b'F', strtoul32)?.unwrap_or(0),
            flags.num(b'T', strtol32)?.map_or(0, i64::from),
            flags.num(b'C', strtoull)?,
            flags.num(b'E', strtoull)?,
            flags.num(b'N', strtol32)?.map(i64::from),
        ))
    })();
    let (f, t, compare, explicit, vivify) = parsed.map_err(|()| BAD_FORMAT)?;
    let cond = Cond {
        compare,
        explicit,
        invalidate: flags.has(b'I'),
        binary: key.base64,
        // Only append and prepend create on a miss; `N` means nothing to the other modes.
        vivify: vivify.filter(|_| matches!(mode, Mode::Append | Mode::Prepend)),
    };
    let (code, cas): (&[u8], u64) = match shared.items.store(mode, cond, &key.bytes, f, t, value) {
        Ok(Outcome::Stored(cas)) => (b"HD", cas),
        Ok(Outcome::NotStored) => (b"NS", 0),
        Ok(Outcome::Exists) => (b"EX", 0),
        Ok(Outcome::NotFound) => (b"NF", 0),
        Ok(Outcome::TooLarge) => return Err(b"SERVER_ERROR out of memory storing object\r\n"),
        Err(e) => {
            server_error(&mut Reply { out, quiet: false }, &e);
            return Ok(());
        }
    };
    if code == b"HD" && flags.has(b'q') {
        return Ok(());
    }
    let stored = Item {
        flags: f,
        cas,
        state: if key.base64 { BINARY } else { 0 },
        data: Vec::new(),
        expiry: 0,
    };
    let now = shared.clock.now_millis();
    answer(
        out,
        code,
        &flags.returned(b"ckO", &key, Some(&stored), now, None),
        None,
    );
    Ok(())
}

/// `md <key> <flags>*`.
fn md<S: KvStore>(shared: &Shared<S>, raw: &[u8], rest: &[&[u8]], out: &mut Vec<u8>) -> Answer {
    let flags = Flags::parse(rest, b"bCEIkOqTx")?;
    let key = meta_key(raw, flags.has(b'b'))?;
    let parsed = (|| {
        Ok::<_, ()>((
            flags.num(b'C', strtoull)?,
            flags.num(b'T', strtol32)?.map(i64::from),
            flags.num(b'E', strtoull)?,
        ))
    })();
    let (compare, touch, explicit) = parsed.map_err(|()| BAD_FORMAT)?;
    let items = &shared.items;
    let result = if flags.has(b'I') || flags.has(b'x') {
        // Invalidate: the item stays, stale, until a fetch wins the recache; `x` empties
        // its value as well.
        let how = Invalidate {
            touch,
            explicit,
            compare,
            empty: flags.has(b'x'),
            stale: flags.has(b'I'),
        };
        items.invalidate(&key.bytes, how)
    } else {
        items.delete(&key.bytes, compare)
    };
    let code: &[u8] = match result {
        Ok(Outcome::Stored(_)) => b"HD",
        Ok(Outcome::Exists) => b"EX",
        Ok(_) => b"NF",
        Err(e) => {
            server_error(&mut Reply { out, quiet: false }, &e);
            return Ok(());
        }
    };
    if code == b"HD" && flags.has(b'q') {
        return Ok(());
    }
    let now = shared.clock.now_millis();
    answer(
        out,
        code,
        &flags.returned(b"kO", &key, None, now, None),
        None,
    );
    Ok(())
}

/// `ma <key> <flags>*`: increment or decrement, creating the counter with `N`.
fn ma<S: KvStore>(shared: &Shared<S>, raw: &[u8], rest: &[&[u8]], out: &mut Vec<u8>) -> Answer {
    let flags = Flags::parse(rest, b"bcCDEJkMNOqtTv")?;
    let incr = match flags.token(b'M') {
        None | Some(b"I" | b"i" | b"+") => true,
        Some(b"D" | b"d" | b"-") => false,
        Some(_) => return Err(b"CLIENT_ERROR invalid mode for ma M token\r\n"),
    };
    let key = meta_key(raw, flags.has(b'b'))?;
    let parsed = (|| {
        Ok::<_, ()>((
            flags.num(b'D', strtoull)?,
            flags.num(b'N', strtol32)?.map(i64::from),
            flags.num(b'J', strtoull)?,
            flags.num(b'C', strtoull)?,
            flags.num(b'E', strtoull)?,
            flags.num(b'T', strtol32)?.map(i64::from),
        ))
    })();
    let (delta, vivify, initial, compare, explicit, touch) = match parsed {
        Ok(p) => p,
        Err(()) if flags.token(b'D').is_some_and(|d| strtoull(d).is_none()) => {
            return Err(b"CLIENT_ERROR invalid numeric delta argument\r\n");
        }
        Err(()) => return Err(BAD_FORMAT),
    };
    let vivify = vivify.map(|exptime| (exptime, initial.unwrap_or(0)));
    let cond = Cond {
        compare,
        explicit,
        invalidate: false,
        binary: key.base64,
        vivify: None,
    };
    let items = &shared.items;
    let now = shared.clock.now_millis();
    match items.delta(&key.bytes, incr, delta.unwrap_or(1), vivify, touch, cond) {
        Ok(Delta::Value(value, cas)) => {
            let item = items.latest(&key.bytes).ok().flatten().unwrap_or(Item {
                flags: 0,
                cas,
                state: 0,
                data: Vec::new(),
                expiry: 0,
            });
            let ret = flags.returned(b"ctkO", &key, Some(&item), now, None);
            if flags.has(b'v') {
                let mut text = Vec::with_capacity(20);
                crate::log::record::push_decimal(&mut text, value);
                answer(out, b"VA", &ret, Some(&text));
            } else if !flags.has(b'q') {
                answer(out, b"HD", &ret, None);
            }
        }
        Ok(Delta::NotFound) => answer(
            out,
            b"NF",
            &flags.returned(b"kO", &key, None, now, None),
            None,
        ),
        Ok(Delta::Exists) => answer(
            out,
            b"EX",
            &flags.returned(b"kO", &key, None, now, None),
            None,
        ),
        Ok(Delta::NonNumeric) => {
            return Err(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        }
        Err(e) => server_error(&mut Reply { out, quiet: false }, &e),
    }
    Ok(())
}

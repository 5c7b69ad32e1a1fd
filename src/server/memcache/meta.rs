//! memcached's meta protocol: `mg`, `ms`, `md`, `ma`, `mn`, with the flags clients use
//! (docs/MEMCACHED.md lists them). Return flags come back in the order they were asked for,
//! as memcached sends them.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use super::Shared;
use super::conn::{Data, key_ok, read_data, server_error};
use super::items::{Cond, Delta, Item, Mode, Outcome, STALE};
use crate::remote::memcached::base64_decode;
use crate::store::KvStore;

/// One flag token: its letter and the rest of the token.
struct Flag<'a> {
    letter: u8,
    token: &'a [u8],
}

/// The flags of a meta command, checked against the letters it supports.
struct Flags<'a>(Vec<Flag<'a>>);

impl<'a> Flags<'a> {
    fn parse(tokens: &[&'a [u8]], allowed: &[u8]) -> Option<Flags<'a>> {
        let mut flags = Vec::with_capacity(tokens.len());
        for t in tokens {
            let (&letter, token) = t.split_first()?;
            if !allowed.contains(&letter) {
                return None;
            }
            flags.push(Flag { letter, token });
        }
        Some(Flags(flags))
    }

    fn has(&self, letter: u8) -> bool {
        self.0.iter().any(|f| f.letter == letter)
    }

    /// The token of `letter`, parsed.
    fn value<T: std::str::FromStr>(&self, letter: u8) -> Option<Option<T>> {
        match self.0.iter().find(|f| f.letter == letter) {
            None => Some(None),
            Some(f) => std::str::from_utf8(f.token).ok()?.parse().ok().map(Some),
        }
    }

    /// The return flags asked for among `letters`, in the order asked: ` c12 f0 kfoo O9`.
    fn returned(&self, letters: &[u8], key: &[u8], item: Option<&Item>, now_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.0.iter().filter(|f| letters.contains(&f.letter)) {
            out.push(b' ');
            match (f.letter, item) {
                (b'k', _) => {
                    out.push(b'k');
                    out.extend_from_slice(key);
                }
                (b'O', _) => {
                    out.push(b'O');
                    out.extend_from_slice(f.token);
                }
                (b'c', Some(i)) => out.extend_from_slice(format!("c{}", i.cas).as_bytes()),
                (b'f', Some(i)) => out.extend_from_slice(format!("f{}", i.flags).as_bytes()),
                (b's', Some(i)) => out.extend_from_slice(format!("s{}", i.data.len()).as_bytes()),
                (b't', Some(i)) => {
                    let ttl = match i.expiry {
                        0 => -1,
                        at => (at.saturating_sub(now_ms).div_ceil(1000)) as i64,
                    };
                    out.extend_from_slice(format!("t{ttl}").as_bytes());
                }
                _ => {
                    out.pop();
                }
            }
        }
        out
    }
}

const INVALID_FLAG: &[u8] = b"CLIENT_ERROR invalid flag\r\n";
const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";

/// The key of a meta command: base64-decoded with the `b` flag.
fn meta_key(raw: &[u8], flags: &Flags<'_>) -> Option<Vec<u8>> {
    let key = if flags.has(b'b') {
        base64_decode(raw)?
    } else {
        raw.to_vec()
    };
    key_ok(&key).then_some(key)
}

/// Runs `mg`, `ms`, `md`, `ma` or `mn`; `false` to close the connection.
pub(super) fn command<S: KvStore + 'static>(
    name: &[u8],
    args: &[&[u8]],
    reader: &mut impl BufRead,
    out: &mut impl Write,
    shared: &Arc<Shared<S>>,
) -> io::Result<bool> {
    if name == b"mn" {
        out.write_all(b"MN\r\n")?;
        return Ok(true);
    }
    let Some((&raw_key, rest)) = args.split_first() else {
        out.write_all(b"ERROR\r\n")?;
        return Ok(true);
    };
    let items = &shared.items;
    let now = shared.clock.now_millis();
    match name {
        b"mg" => {
            let Some(flags) = Flags::parse(rest, b"bcfkNOqstTuv") else {
                out.write_all(INVALID_FLAG)?;
                return Ok(true);
            };
            let parsed = (
                meta_key(raw_key, &flags),
                flags.value::<i64>(b'T'),
                flags.value::<i64>(b'N'),
            );
            let (Some(key), Some(touch), Some(vivify)) = parsed else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            crate::counters::bump(&items.counts.cmd_get);
            match items.lease_get(&key, vivify, touch) {
                Ok(Some((item, won_before, wins))) => {
                    crate::counters::bump(&items.counts.get_hits);
                    let mut ret = flags.returned(b"cfkOst", &key, Some(&item), now);
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
                    if flags.has(b'v') {
                        write!(out, "VA {}", item.data.len())?;
                        out.write_all(&ret)?;
                        out.write_all(b"\r\n")?;
                        out.write_all(&item.data)?;
                        out.write_all(b"\r\n")?;
                    } else {
                        out.write_all(b"HD")?;
                        out.write_all(&ret)?;
                        out.write_all(b"\r\n")?;
                    }
                }
                Ok(None) => {
                    crate::counters::bump(&items.counts.get_misses);
                    if !flags.has(b'q') {
                        out.write_all(b"EN")?;
                        out.write_all(&flags.returned(b"kO", &key, None, now))?;
                        out.write_all(b"\r\n")?;
                    }
                }
                Err(e) => return server_error(out, &e),
            }
        }
        b"ms" => {
            let Some((&len, rest)) = rest.split_first() else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            let Some(len) = std::str::from_utf8(len)
                .ok()
                .and_then(|l| l.parse::<u64>().ok())
            else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            // The data block is read (or read past) whatever the flags say, as memcached does.
            let data = match read_data(reader, out, len, items.max_item_size)? {
                Data::Value(d) => d,
                Data::Refused => return Ok(true),
                Data::Gone => return Ok(false),
            };
            let Some(flags) = Flags::parse(rest, b"bcCEFIkMOqT") else {
                out.write_all(INVALID_FLAG)?;
                return Ok(true);
            };
            let mode = match flags.0.iter().find(|f| f.letter == b'M').map(|f| f.token) {
                None | Some(b"S" | b"s") => Some(Mode::Set),
                Some(b"E" | b"e") => Some(Mode::Add),
                Some(b"R" | b"r") => Some(Mode::Replace),
                Some(b"A" | b"a") => Some(Mode::Append),
                Some(b"P" | b"p") => Some(Mode::Prepend),
                Some(_) => None,
            };
            let Some(mode) = mode else {
                out.write_all(b"CLIENT_ERROR invalid mode for ms M token\r\n")?;
                return Ok(true);
            };
            let parsed = (
                meta_key(raw_key, &flags),
                flags.value::<u64>(b'F'),
                flags.value::<i64>(b'T'),
                flags.value::<u64>(b'C'),
                flags.value::<u64>(b'E'),
            );
            let (Some(key), Some(f), Some(t), Some(compare), Some(explicit)) = parsed else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            let (f, t) = (f.unwrap_or(0) as u32, t.unwrap_or(0));
            let cond = Cond {
                compare,
                explicit,
                invalidate: flags.has(b'I'),
            };
            let result = items.store(mode, cond, &key, f, t, &data);
            let (code, cas): (&[u8], u64) = match result {
                Ok(Outcome::Stored(cas)) => (b"HD", cas),
                Ok(Outcome::NotStored) => (b"NS", 0),
                Ok(Outcome::Exists) => (b"EX", 0),
                Ok(Outcome::NotFound) => (b"NF", 0),
                Ok(Outcome::TooLarge) => {
                    out.write_all(b"SERVER_ERROR out of memory storing object\r\n")?;
                    return Ok(true);
                }
                Err(e) => return server_error(out, &e),
            };
            if code == b"HD" && flags.has(b'q') {
                return Ok(true);
            }
            let stored = Item {
                flags: 0,
                cas,
                state: 0,
                data: Vec::new(),
                expiry: 0,
            };
            out.write_all(code)?;
            out.write_all(&flags.returned(b"ckO", &key, Some(&stored), now))?;
            out.write_all(b"\r\n")?;
        }
        b"md" => {
            let Some(flags) = Flags::parse(rest, b"bCEIkOqT") else {
                out.write_all(INVALID_FLAG)?;
                return Ok(true);
            };
            let parsed = (
                meta_key(raw_key, &flags),
                flags.value::<u64>(b'C'),
                flags.value::<i64>(b'T'),
                flags.value::<u64>(b'E'),
            );
            let (Some(key), Some(compare), Some(touch), Some(explicit)) = parsed else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            let result = if flags.has(b'I') {
                // Invalidate: the item stays, stale, until a fetch wins the recache.
                items.invalidate(&key, touch, explicit).map(|found| {
                    if found {
                        Outcome::Stored(0)
                    } else {
                        Outcome::NotFound
                    }
                })
            } else {
                items.delete(&key, compare)
            };
            let code: &[u8] = match result {
                Ok(Outcome::Stored(_)) => b"HD",
                Ok(Outcome::Exists) => b"EX",
                Ok(_) => b"NF",
                Err(e) => return server_error(out, &e),
            };
            if code == b"HD" && flags.has(b'q') {
                return Ok(true);
            }
            out.write_all(code)?;
            out.write_all(&flags.returned(b"kO", &key, None, now))?;
            out.write_all(b"\r\n")?;
        }
        b"ma" => {
            let Some(flags) = Flags::parse(rest, b"bcCDEJkMNOqtTv") else {
                out.write_all(INVALID_FLAG)?;
                return Ok(true);
            };
            let incr = match flags.0.iter().find(|f| f.letter == b'M').map(|f| f.token) {
                None | Some(b"I" | b"i" | b"+") => Some(true),
                Some(b"D" | b"d" | b"-") => Some(false),
                Some(_) => None,
            };
            let Some(incr) = incr else {
                out.write_all(b"CLIENT_ERROR invalid mode for ma M token\r\n")?;
                return Ok(true);
            };
            let parsed = (
                meta_key(raw_key, &flags),
                flags.value::<u64>(b'D'),
                flags.value::<i64>(b'N'),
                flags.value::<u64>(b'J'),
                flags.value::<u64>(b'C'),
                flags.value::<u64>(b'E'),
            );
            let (
                Some(key),
                Some(delta),
                Some(vivify),
                Some(initial),
                Some(compare),
                Some(explicit),
            ) = parsed
            else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            let vivify = vivify.map(|exptime| (exptime, initial.unwrap_or(0)));
            let cond = Cond {
                compare,
                explicit,
                invalidate: false,
            };
            match items.delta(&key, incr, delta.unwrap_or(1), vivify, cond) {
                Ok(Delta::Value(value, cas)) => {
                    let item = items.get(&key).ok().flatten().unwrap_or(Item {
                        flags: 0,
                        cas,
                        state: 0,
                        data: Vec::new(),
                        expiry: 0,
                    });
                    let ret = flags.returned(b"ctkO", &key, Some(&item), now);
                    if flags.has(b'v') {
                        let text = value.to_string();
                        write!(out, "VA {}", text.len())?;
                        out.write_all(&ret)?;
                        write!(out, "\r\n{text}\r\n")?;
                    } else if !flags.has(b'q') {
                        out.write_all(b"HD")?;
                        out.write_all(&ret)?;
                        out.write_all(b"\r\n")?;
                    }
                }
                Ok(Delta::NotFound) => {
                    out.write_all(b"NF")?;
                    out.write_all(&flags.returned(b"kO", &key, None, now))?;
                    out.write_all(b"\r\n")?;
                }
                Ok(Delta::Exists) => out.write_all(b"EX\r\n")?,
                Ok(Delta::NonNumeric) => out.write_all(
                    b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                )?,
                Err(e) => return server_error(out, &e),
            }
        }
        _ => out.write_all(b"ERROR\r\n")?,
    }
    Ok(true)
}

//! memcached's classic text commands, one function each, answered as memcached 1.6 answers
//! them — `noreply` silencing every answer, errors included — and the dispatch of a request
//! line to them or to the meta commands ([`meta`](super::meta)).
//!
//! Commands write their answer into the connection's output buffer; the connection
//! ([`conn`](super::conn)) frames requests (a line, and the data block of a storage command)
//! and decides where each runs.

use super::Shared;
use super::items::{Cond, Delta, ItemRef, Mode, Outcome, Touch};
use crate::protocol::memcache::{
    self as proto, data_len, key_ok, strtol32, strtoul32, strtoull, tokens,
};
use crate::store::KvStore;

pub(super) const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";
pub(super) const BAD_CHUNK: &[u8] = b"CLIENT_ERROR bad data chunk\r\n";
pub(super) const TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
pub(super) const BAD_EXPTIME: &[u8] = b"CLIENT_ERROR invalid exptime argument\r\n";
const ERROR: &[u8] = b"ERROR\r\n";

/// Whether the connection goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Go,
    Close,
}

/// What follows a request line on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Block {
    /// Nothing: the line is the whole request.
    None,
    /// A data block of this many bytes, then `\r\n`.
    Data(usize),
    /// A data block this long that is not kept: the answer is `reply` (unless silenced), and
    /// for a `set` the key's old value is dropped (`discard`), as memcached drops it.
    Refused {
        len: usize,
        reply: &'static [u8],
        quiet: bool,
        discard: Option<Vec<u8>>,
    },
}

/// The answer buffer of one command: with `noreply`, nothing is written, errors included.
pub(super) struct Reply<'a> {
    pub(super) out: &'a mut Vec<u8>,
    pub(super) quiet: bool,
}

impl Reply<'_> {
    pub(super) fn put(&mut self, text: &[u8]) {
        if !self.quiet {
            self.out.extend_from_slice(text);
        }
    }
}

fn noreply(args: &[&[u8]]) -> bool {
    args.last() == Some(&&b"noreply"[..])
}

/// The storage commands and their argument counts (without `noreply`).
fn storage_args(name: &[u8]) -> Option<usize> {
    match name {
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => Some(4),
        b"cas" => Some(5),
        _ => None,
    }
}

/// What follows `line`: decided before any byte of a data block is read, so that a bad or
/// oversized length is refused at once and never makes the server wait for, hold or swallow
/// bytes it should not. (A bad classic storage line is refused without reading its block, as
/// memcached does: the client's data then reads as a command line.)
pub(super) fn block<S: KvStore>(line: &[u8], shared: &Shared<S>) -> Block {
    let toks = tokens(line);
    let Some((&name, args)) = toks.split_first() else {
        return Block::None;
    };
    let max = shared.items.max_item_size;
    if let Some(want) = storage_args(name) {
        if args.len() != want && args.len() != want + 1 {
            return Block::None; // answered ERROR
        }
        let valid = key_ok(args[0])
            && strtoul32(args[1]).is_some()
            && strtol32(args[2]).is_some()
            && (name != b"cas" || args.get(4).and_then(|c| strtoull(c)).is_some());
        return match (valid, data_len(args[3])) {
            (true, Some(len)) if len <= max => Block::Data(len),
            (true, Some(len)) => Block::Refused {
                len,
                reply: TOO_LARGE,
                quiet: noreply(args),
                discard: (name == b"set").then(|| args[0].to_vec()),
            },
            _ => Block::None, // answered CLIENT_ERROR bad command line format
        };
    }
    if name == b"ms" {
        return match args.get(1).and_then(|l| data_len(l)) {
            Some(len) if len <= max => Block::Data(len),
            // The meta protocol always answers errors.
            Some(len) => Block::Refused {
                len,
                reply: TOO_LARGE,
                quiet: false,
                discard: None,
            },
            None => Block::None,
        };
    }
    Block::None
}

/// Whether a request changes the store (so may wait for an fsync): the connection runs these
/// off the event loop when the store's writes wait.
pub(super) fn writes(line: &[u8]) -> bool {
    let name = line.split(|&b| b == b' ').find(|t| !t.is_empty());
    match name {
        Some(
            b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" | b"delete" | b"incr"
            | b"decr" | b"touch" | b"gat" | b"gats" | b"flush_all" | b"ms" | b"md" | b"ma",
        ) => true,
        // A fetch that creates, touches or wins a recache writes; a plain one does not.
        Some(b"mg") => line
            .split(|&b| b == b' ')
            .skip(2)
            .any(|f| matches!(f.first(), Some(b'N' | b'T' | b'R'))),
        _ => false,
    }
}

/// The item keys a request names, as far as the connection needs to know them: the keys
/// of its pending writes that a later read must wait for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Keys<'a> {
    /// No item (`version`, `stats`, `mn`, …).
    None,
    /// These keys, as written on the line.
    Some(Vec<&'a [u8]>),
    /// Any item (`flush_all`, or a base64 key named another way elsewhere).
    All,
}

/// The keys `line` reads or writes.
pub(super) fn keys(line: &[u8]) -> Keys<'_> {
    let toks = tokens(line);
    let Some((&name, args)) = toks.split_first() else {
        return Keys::None;
    };
    match name {
        b"get" | b"gets" => Keys::Some(args.to_vec()),
        b"gat" | b"gats" => Keys::Some(args.get(1..).unwrap_or_default().to_vec()),
        b"flush_all" => Keys::All,
        b"mg" | b"ms" | b"md" | b"ma" | b"me" => match args.split_first() {
            // A base64 key may be named plainly elsewhere: be safe.
            Some((_, flags)) if flags.iter().any(|f| f.first() == Some(&b'b')) => Keys::All,
            Some((key, _)) => Keys::Some(vec![key]),
            None => Keys::None,
        },
        _ if storage_args(name).is_some() => {
            Keys::Some(args.first().copied().into_iter().collect())
        }
        b"delete" | b"incr" | b"decr" | b"touch" => {
            Keys::Some(args.first().copied().into_iter().collect())
        }
        _ => Keys::None,
    }
}

/// Runs one request — its line, and its data block with the trailing `\r\n` for a storage
/// command — writing the answer to `out`.
pub(super) fn execute<S: KvStore + 'static>(
    shared: &Shared<S>,
    line: &[u8],
    data: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Flow {
    let toks = tokens(line);
    let Some((&name, args)) = toks.split_first() else {
        out.extend_from_slice(ERROR);
        return Flow::Go;
    };
    let mut r = Reply {
        out,
        quiet: noreply(args),
    };
    match name {
        b"get" | b"gets" | b"gat" | b"gats" => get(shared, name, args, r.out),
        _ if storage_args(name).is_some() => store(shared, name, args, data, &mut r),
        b"delete" => delete(shared, args, &mut r),
        b"incr" | b"decr" => arith(shared, name == b"incr", args, &mut r),
        b"touch" => touch(shared, args, &mut r),
        b"flush_all" => flush_all(shared, args, &mut r),
        b"stats" => super::stats::command(shared, args, r.out),
        b"version" => {
            r.out.extend_from_slice(b"VERSION ");
            r.out.extend_from_slice(super::VERSION.as_bytes());
            r.out.extend_from_slice(b"\r\n");
        }
        b"verbosity" => verbosity(args, &mut r),
        b"shutdown" => r.out.extend_from_slice(b"ERROR: shutdown not enabled\r\n"),
        b"quit" => return Flow::Close,
        b"mg" | b"ms" | b"md" | b"ma" | b"mn" | b"me" => {
            super::meta::command(shared, name, args, data, r.out)
        }
        _ => r.out.extend_from_slice(ERROR),
    }
    Flow::Go
}

/// The store failed: memcached's `SERVER_ERROR`, with what the client can do (no file paths;
/// the server's log has the details). Logged once per kind of failure per second at most.
pub(super) fn server_error(r: &mut Reply<'_>, e: &crate::error::Error) {
    use crate::error::Error;
    super::log_store_error(e);
    let text: &[u8] = match e {
        Error::Full => b"SERVER_ERROR out of memory storing object\r\n",
        e if e.is_storage_full() => b"SERVER_ERROR no space left on the server's disk\r\n",
        Error::Poisoned { .. } => {
            b"SERVER_ERROR the store refuses writes after a failure; retry later\r\n"
        }
        Error::TooLarge { .. } => TOO_LARGE,
        _ => b"SERVER_ERROR the store failed; the server's log has the details\r\n",
    };
    r.put(text);
}

/// `get`, `gets`, `gat`, `gats`.
fn get<S: KvStore>(shared: &Shared<S>, name: &[u8], args: &[&[u8]], out: &mut Vec<u8>) {
    let touch = name.starts_with(b"gat");
    let with_cas = name.ends_with(b"s");
    let (exptime, keys) = match (touch, args.split_first()) {
        (false, _) if args.is_empty() => return out.extend_from_slice(ERROR),
        (false, _) => (0, args),
        (true, None) => return out.extend_from_slice(ERROR),
        (true, Some((e, keys))) => match strtol32(e) {
            Some(e) => (i64::from(e), keys),
            None => return out.extend_from_slice(BAD_EXPTIME),
        },
    };
    if !keys.iter().all(|k| key_ok(k)) {
        return out.extend_from_slice(BAD_FORMAT);
    }
    let items = &shared.items;
    let mark = out.len();
    for key in keys {
        crate::counters::bump(&items.counts.cmd_get);
        let mut value = |item: ItemRef<'_>| {
            out.extend_from_slice(b"VALUE ");
            out.extend_from_slice(key);
            push_num(out, b' ', u64::from(item.flags));
            push_num(out, b' ', item.data.len() as u64);
            if with_cas {
                push_num(out, b' ', item.cas);
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(item.data);
            out.extend_from_slice(b"\r\n");
        };
        let found = if touch {
            items
                .touch(key, exptime)
                .map(|t| t.item().map(|item| value(item.as_ref())))
        } else {
            items.fetch_with(key, value)
        };
        match found {
            Ok(Some(())) => crate::counters::bump(&items.counts.get_hits),
            Ok(None) => crate::counters::bump(&items.counts.get_misses),
            Err(e) => {
                // The values already written are dropped: one error answers the command.
                out.truncate(mark);
                return server_error(&mut Reply { out, quiet: false }, &e);
            }
        }
    }
    out.extend_from_slice(b"END\r\n");
}

/// Appends `sep` and `n` in decimal.
pub(super) fn push_num(out: &mut Vec<u8>, sep: u8, n: u64) {
    out.push(sep);
    crate::log::record::push_decimal(out, n);
}

/// The data block without its `\r\n`, or the answer to a bad one.
pub(super) fn data_block(data: Option<&[u8]>) -> Option<&[u8]> {
    data?.strip_suffix(b"\r\n")
}

/// `set`, `add`, `replace`, `append`, `prepend`, `cas`.
fn store<S: KvStore>(
    shared: &Shared<S>,
    name: &[u8],
    args: &[&[u8]],
    data: Option<&[u8]>,
    r: &mut Reply<'_>,
) {
    let want = storage_args(name).unwrap_or(4);
    if args.len() != want && args.len() != want + 1 {
        return r.out.extend_from_slice(ERROR);
    }
    let parsed = (
        args.first().filter(|k| key_ok(k)),
        args.get(1).and_then(|f| strtoul32(f)),
        args.get(2).and_then(|e| strtol32(e)),
        if name == b"cas" {
            args.get(4).and_then(|c| strtoull(c))
        } else {
            Some(0)
        },
    );
    let (Some(key), Some(flags), Some(exptime), Some(cas)) = parsed else {
        return r.put(BAD_FORMAT);
    };
    let Some(data) = data else {
        // block() refused the length: no data block was read.
        return r.put(BAD_FORMAT);
    };
    let Some(value) = data_block(Some(data)) else {
        return r.put(BAD_CHUNK);
    };
    let (mode, compare) = match name {
        b"add" => (Mode::Add, None),
        b"replace" => (Mode::Replace, None),
        b"append" => (Mode::Append, None),
        b"prepend" => (Mode::Prepend, None),
        b"cas" => (Mode::Set, Some(cas)),
        _ => (Mode::Set, None),
    };
    let cond = Cond {
        compare,
        ..Cond::default()
    };
    match shared
        .items
        .store(mode, cond, key, flags, i64::from(exptime), value)
    {
        Ok(Outcome::Stored(_)) => r.put(b"STORED\r\n"),
        Ok(Outcome::NotStored) => r.put(b"NOT_STORED\r\n"),
        Ok(Outcome::Exists) => r.put(b"EXISTS\r\n"),
        Ok(Outcome::NotFound) => r.put(b"NOT_FOUND\r\n"),
        Ok(Outcome::TooLarge) => r.put(b"SERVER_ERROR out of memory storing object\r\n"),
        Err(e) => server_error(r, &e),
    }
}

/// `delete <key> [0] [noreply]`: the old hold time is accepted only as 0.
fn delete<S: KvStore>(shared: &Shared<S>, args: &[&[u8]], r: &mut Reply<'_>) {
    if args.is_empty() || args.len() > 3 {
        return r.out.extend_from_slice(ERROR);
    }
    if args.len() > 1 {
        let zero = args[1] == b"0";
        let valid = (args.len() == 2 && (zero || r.quiet)) || (args.len() == 3 && zero && r.quiet);
        if !valid {
            return r
                .put(b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
        }
    }
    if !key_ok(args[0]) {
        return r.put(BAD_FORMAT);
    }
    match shared.items.delete(args[0], None) {
        Ok(Outcome::Stored(_)) => r.put(b"DELETED\r\n"),
        Ok(_) => r.put(b"NOT_FOUND\r\n"),
        Err(e) => server_error(r, &e),
    }
}

/// `incr` / `decr <key> <delta> [noreply]`.
fn arith<S: KvStore>(shared: &Shared<S>, incr: bool, args: &[&[u8]], r: &mut Reply<'_>) {
    if args.len() != 2 + usize::from(r.quiet) {
        return r.out.extend_from_slice(ERROR);
    }
    if !key_ok(args[0]) {
        return r.put(BAD_FORMAT);
    }
    let Some(by) = strtoull(args[1]) else {
        return r.put(b"CLIENT_ERROR invalid numeric delta argument\r\n");
    };
    match shared
        .items
        .delta(args[0], incr, by, None, None, Cond::default())
    {
        Ok(Delta::Value(v, _)) => {
            let mut line = Vec::with_capacity(22);
            crate::log::record::push_decimal(&mut line, v);
            line.extend_from_slice(b"\r\n");
            r.put(&line);
        }
        Ok(Delta::NotFound | Delta::Exists) => r.put(b"NOT_FOUND\r\n"),
        Ok(Delta::NonNumeric) => {
            r.put(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        }
        Err(e) => server_error(r, &e),
    }
}

/// `touch <key> <exptime> [noreply]`.
fn touch<S: KvStore>(shared: &Shared<S>, args: &[&[u8]], r: &mut Reply<'_>) {
    if args.len() != 2 + usize::from(r.quiet) {
        return r.out.extend_from_slice(ERROR);
    }
    if !key_ok(args[0]) {
        return r.put(BAD_FORMAT);
    }
    let Some(exptime) = strtol32(args[1]) else {
        return r.put(BAD_EXPTIME);
    };
    match shared.items.touch(args[0], i64::from(exptime)) {
        Ok(Touch::Done(_) | Touch::Expired) => r.put(b"TOUCHED\r\n"),
        Ok(Touch::NotFound) => r.put(b"NOT_FOUND\r\n"),
        Err(e) => server_error(r, &e),
    }
}

/// `flush_all [delay] [noreply]`: now, or at a moment memcached's exptime rule names (a
/// delay up to 30 days, a Unix time beyond; zero or negative: now). One pending moment is
/// kept, as memcached keeps one; the first command after it runs the flush.
fn flush_all<S: KvStore>(shared: &Shared<S>, args: &[&[u8]], r: &mut Reply<'_>) {
    let given = &args[..args.len() - usize::from(r.quiet)];
    if given.len() > 1 {
        return r.out.extend_from_slice(ERROR);
    }
    let delay = match given.first() {
        None => 0,
        Some(d) => match strtol32(d) {
            Some(d) => i64::from(d),
            None => return r.put(BAD_EXPTIME),
        },
    };
    let items = &shared.items;
    let now = shared.clock.now_millis();
    let at = match delay {
        d if d <= 0 => None,
        d if d <= proto::RELATIVE_MAX_SECS => Some(now.saturating_add(d as u64 * 1000)),
        d => Some((d as u64).saturating_mul(1000)).filter(|&at| at > now),
    };
    let result = match at {
        None => items.flush(),
        Some(at) => {
            crate::counters::bump(&items.counts.cmd_flush);
            items.flush_at(at);
            Ok(())
        }
    };
    match result {
        Ok(()) => r.put(b"OK\r\n"),
        Err(e) => server_error(r, &e),
    }
}

/// `verbosity <level> [noreply]`: accepted (the server logs through `LOGCACHE_LOG`), its
/// level checked as memcached checks it.
fn verbosity(args: &[&[u8]], r: &mut Reply<'_>) {
    match args.first() {
        None => r.out.extend_from_slice(ERROR),
        Some(level) if strtoul32(level).is_some() => r.put(b"OK\r\n"),
        Some(_) => r.put(BAD_FORMAT),
    }
}

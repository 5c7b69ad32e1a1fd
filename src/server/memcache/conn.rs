//! One client connection: memcached's text protocol read line by line (bounded), each
//! command answered as memcached answers it, replies flushed when no pipelined request waits.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use super::Shared;
use super::items::{Cond, Delta, Mode, Outcome, Touch};
use crate::store::KvStore;

/// The longest request line read (a `get` of many keys included); longer is refused and the
/// connection closed, so a client cannot make the server hold an endless line.
const MAX_LINE: usize = 64 << 10;
/// memcached's key limit.
const MAX_KEY: usize = 250;

const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad command line format\r\n";

/// What reading a line found.
enum Line {
    Text(Vec<u8>),
    End,
    TooLong,
}

/// Reads up to `\n` (at most [`MAX_LINE`] bytes), without it and a `\r` before it.
fn read_line(r: &mut impl BufRead) -> io::Result<Line> {
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(Line::End);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_LINE {
            return Ok(Line::TooLong);
        }
        line.extend_from_slice(chunk);
        match done {
            Some(n) => {
                r.consume(n);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Text(line));
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// A key memcached accepts: 1 to 250 bytes (it splits on spaces only, so other control bytes
/// pass, as they do in memcached).
pub(super) fn key_ok(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY
}

fn num<T: std::str::FromStr>(token: Option<&&[u8]>) -> Option<T> {
    std::str::from_utf8(token?).ok()?.parse().ok()
}

/// Serves one connection until the client quits, errs, idles out or the server stops.
pub(super) fn serve<S: KvStore + 'static>(
    stream: TcpStream,
    shared: &Arc<Shared<S>>,
) -> io::Result<()> {
    stream.set_read_timeout(Some(shared.config.idle_timeout))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(16 << 10, stream.try_clone()?);
    let mut out = BufWriter::with_capacity(64 << 10, stream);
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let line = match read_line(&mut reader) {
            Ok(Line::Text(l)) => l,
            Ok(Line::End) => return Ok(()),
            Ok(Line::TooLong) => {
                out.write_all(b"CLIENT_ERROR line too long\r\n")?;
                return out.flush();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(()); // idle
            }
            Err(e) => return Err(e),
        };
        if line.first() == Some(&0x80) {
            // A binary-protocol request: not spoken here.
            out.write_all(b"CLIENT_ERROR the binary protocol is not supported\r\n")?;
            return out.flush();
        }
        let keep = command(&line, &mut reader, &mut out, shared)?;
        if !keep {
            return out.flush();
        }
        if reader.buffer().is_empty() {
            out.flush()?;
        }
    }
}

/// Runs one command; `false` to close the connection.
fn command<S: KvStore + 'static>(
    line: &[u8],
    reader: &mut impl BufRead,
    out: &mut impl Write,
    shared: &Arc<Shared<S>>,
) -> io::Result<bool> {
    let tokens: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect();
    let Some((&name, args)) = tokens.split_first() else {
        out.write_all(b"ERROR\r\n")?;
        return Ok(true);
    };
    let noreply = args.last() == Some(&&b"noreply"[..]);
    // Too few arguments, or more than one beyond them, is not a command memcached knows.
    let shape = |needed: usize| args.len() >= needed && args.len() <= needed + 1;
    let items = &shared.items;
    let reply = |out: &mut dyn Write, text: &[u8]| -> io::Result<()> {
        if noreply { Ok(()) } else { out.write_all(text) }
    };
    match name {
        b"get" | b"gets" | b"gat" | b"gats" => {
            let touch = name.starts_with(b"gat");
            let with_cas = name.ends_with(b"s");
            let (exptime, keys) = if touch {
                match (num::<i64>(args.first()), args.get(1..)) {
                    (Some(e), Some(k)) if !k.is_empty() => (e, k),
                    _ => {
                        out.write_all(BAD_FORMAT)?;
                        return Ok(true);
                    }
                }
            } else {
                (0, args)
            };
            if keys.is_empty() {
                out.write_all(b"ERROR\r\n")?;
                return Ok(true);
            }
            if !keys.iter().all(|k| key_ok(k)) {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            }
            for key in keys {
                items
                    .counts
                    .cmd_get
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let found = if touch {
                    items.touch(key, exptime).map(Touch::item)
                } else {
                    items.get(key)
                };
                match found {
                    Ok(Some(item)) => {
                        items
                            .counts
                            .get_hits
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        out.write_all(b"VALUE ")?;
                        out.write_all(key)?;
                        write!(out, " {} {}", item.flags, item.data.len())?;
                        if with_cas {
                            write!(out, " {}", item.cas)?;
                        }
                        out.write_all(b"\r\n")?;
                        out.write_all(&item.data)?;
                        out.write_all(b"\r\n")?;
                    }
                    Ok(None) => {
                        items
                            .counts
                            .get_misses
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => return server_error(out, &e),
                }
            }
            out.write_all(b"END\r\n")?;
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
            let is_cas = name == b"cas";
            let want = if is_cas { 5 } else { 4 };
            if !shape(want) {
                out.write_all(b"ERROR\r\n")?;
                return Ok(true);
            }
            let parsed = (
                args.first().filter(|k| key_ok(k)),
                // As memcached: read as 64 bits, kept as the low 32.
                num::<u64>(args.get(1)).map(|f| f as u32),
                num::<i64>(args.get(2)),
                num::<i64>(args.get(3)),
                if is_cas {
                    num::<u64>(args.get(4))
                } else {
                    Some(0)
                },
            );
            let (Some(key), Some(flags), Some(exptime), Some(len), Some(cas)) = parsed else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            if len < 0 {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            }
            let data = match read_data(reader, out, len as u64, items.max_item_size)? {
                Data::Value(d) => d,
                Data::Refused => return Ok(true),
                Data::Gone => return Ok(false),
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
            match items.store(mode, cond, key, flags, exptime, &data) {
                Ok(Outcome::Stored(_)) => reply(out, b"STORED\r\n")?,
                Ok(Outcome::NotStored) => reply(out, b"NOT_STORED\r\n")?,
                Ok(Outcome::Exists) => reply(out, b"EXISTS\r\n")?,
                Ok(Outcome::NotFound) => reply(out, b"NOT_FOUND\r\n")?,
                Ok(Outcome::TooLarge) => {
                    out.write_all(b"SERVER_ERROR out of memory storing object\r\n")?;
                }
                Err(e) => return server_error(out, &e),
            }
        }
        b"delete" if args.is_empty() => out.write_all(b"ERROR\r\n")?,
        b"delete" => {
            // `delete <key> [0] [noreply]`: the old time argument is accepted only as 0.
            let rest = &args[1.min(args.len())..args.len() - usize::from(noreply)];
            let key = args.first().filter(|k| key_ok(k));
            let (Some(key), true) = (key, rest.is_empty() || rest == [&b"0"[..]]) else {
                out.write_all(
                    b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
                )?;
                return Ok(true);
            };
            match items.delete(key, None) {
                Ok(Outcome::Stored(_)) => reply(out, b"DELETED\r\n")?,
                Ok(_) => reply(out, b"NOT_FOUND\r\n")?,
                Err(e) => return server_error(out, &e),
            }
        }
        b"incr" | b"decr" | b"touch" if !shape(2) => out.write_all(b"ERROR\r\n")?,
        b"incr" | b"decr" => {
            let key = args.first().filter(|k| key_ok(k));
            let Some(key) = key.filter(|_| args.len() == 2 + usize::from(noreply)) else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            let Some(by) = num::<u64>(args.get(1)) else {
                out.write_all(b"CLIENT_ERROR invalid numeric delta argument\r\n")?;
                return Ok(true);
            };
            match items.delta(key, name == b"incr", by, None, Cond::default()) {
                Ok(Delta::Value(v, _)) => reply(out, format!("{v}\r\n").as_bytes())?,
                Ok(Delta::NotFound | Delta::Exists) => reply(out, b"NOT_FOUND\r\n")?,
                Ok(Delta::NonNumeric) => out.write_all(
                    b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                )?,
                Err(e) => return server_error(out, &e),
            }
        }
        b"touch" => {
            let key = args.first().filter(|k| key_ok(k));
            let exptime = num::<i64>(args.get(1));
            let (Some(key), Some(exptime), true) =
                (key, exptime, args.len() == 2 + usize::from(noreply))
            else {
                out.write_all(BAD_FORMAT)?;
                return Ok(true);
            };
            match items.touch(key, exptime) {
                Ok(Touch::Done(_) | Touch::Expired) => reply(out, b"TOUCHED\r\n")?,
                Ok(Touch::NotFound) => reply(out, b"NOT_FOUND\r\n")?,
                Err(e) => return server_error(out, &e),
            }
        }
        b"flush_all" => {
            let delay = match args.first().filter(|a| **a != b"noreply") {
                None => Some(0),
                Some(d) => std::str::from_utf8(d)
                    .ok()
                    .and_then(|d| d.parse::<u64>().ok()),
            };
            let Some(delay) = delay else {
                out.write_all(b"CLIENT_ERROR invalid exptime argument\r\n")?;
                return Ok(true);
            };
            let result = if delay == 0 {
                items.flush()
            } else {
                shared.flush_later(std::time::Duration::from_secs(delay));
                Ok(())
            };
            match result {
                Ok(()) => reply(out, b"OK\r\n")?,
                Err(e) => return server_error(out, &e),
            }
        }
        b"stats" => match args.first().map(|a| &a[..]) {
            None => {
                for (k, v) in shared.stats() {
                    write!(out, "STAT {k} {v}\r\n")?;
                }
                out.write_all(b"END\r\n")?;
            }
            Some(b"settings") => {
                for (k, v) in shared.settings() {
                    write!(out, "STAT {k} {v}\r\n")?;
                }
                out.write_all(b"END\r\n")?;
            }
            Some(_) => out.write_all(b"ERROR\r\n")?,
        },
        b"version" => write!(out, "VERSION {}\r\n", super::VERSION)?,
        b"verbosity" => {
            if args.is_empty() {
                out.write_all(b"ERROR\r\n")?;
            } else {
                reply(out, b"OK\r\n")?;
            }
        }
        b"mg" | b"ms" | b"md" | b"ma" | b"mn" => {
            return super::meta::command(name, args, reader, out, shared);
        }
        b"quit" => return Ok(false),
        _ => out.write_all(b"ERROR\r\n")?,
    }
    Ok(true)
}

/// What [`read_data`] found.
pub(super) enum Data {
    Value(Vec<u8>),
    /// Too large or malformed: answered, the connection goes on.
    Refused,
    /// The client went away in the middle.
    Gone,
}

/// The data block of a storage command: `len` bytes and `\r\n`. Too large a block is read
/// past without being held and refused; memory grows only with the bytes that arrive.
pub(super) fn read_data(
    reader: &mut impl BufRead,
    out: &mut impl Write,
    len: u64,
    max: usize,
) -> io::Result<Data> {
    if len > max as u64 {
        io::copy(&mut reader.take(len + 2), &mut io::sink())?;
        out.write_all(b"SERVER_ERROR object too large for cache\r\n")?;
        return Ok(Data::Refused);
    }
    let mut data = Vec::new();
    reader.take(len + 2).read_to_end(&mut data)?;
    if data.len() as u64 != len + 2 {
        return Ok(Data::Gone);
    }
    if !data.ends_with(b"\r\n") {
        out.write_all(b"CLIENT_ERROR bad data chunk\r\n")?;
        return Ok(Data::Refused);
    }
    data.truncate(data.len() - 2);
    Ok(Data::Value(data))
}

/// The store failed: memcached's `SERVER_ERROR`, with what the client can do (no file paths;
/// the server's log has the details).
pub(super) fn server_error(out: &mut impl Write, e: &crate::error::Error) -> io::Result<bool> {
    use crate::error::Error;
    log::error!("memcached front end: {e}");
    let text: &[u8] = match e {
        Error::Full => b"SERVER_ERROR out of memory storing object\r\n",
        e if e.is_storage_full() => b"SERVER_ERROR no space left on the server's disk\r\n",
        Error::Poisoned { .. } => {
            b"SERVER_ERROR the store refuses writes after a failure; retry later\r\n"
        }
        Error::TooLarge { .. } => b"SERVER_ERROR object too large for cache\r\n",
        _ => b"SERVER_ERROR the store failed; the server's log has the details\r\n",
    };
    out.write_all(text)?;
    Ok(true)
}

//! The classic text protocol for [`MemcachedProtocol::Text`](super::MemcachedProtocol::Text): `get` and the
//! `set` command line (`delete` is one line, in `mod.rs`).

use super::pool::{Conn, ConnResult, Failure, unexpected};

/// `get <token>`: data, client flags and TTL (always `-1`: the text protocol does not report
/// it), or `None` on `END`. A value longer than `max` is refused before it is read.
pub(super) fn get(c: &mut Conn, token: &[u8], max: u64) -> ConnResult<Option<(Vec<u8>, u32, i64)>> {
    c.send(&[b"get ", token, b"\r\n"])?;
    let line = c.line()?;
    if line == b"END" {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line).into_owned();
    let fields: Vec<&str> = text.split(' ').collect();
    let (flags, len) = match fields.as_slice() {
        ["VALUE", key, flags, len, ..] if key.as_bytes() == token => (flags, len),
        _ => return Err(unexpected(&line)),
    };
    let flags: u32 = flags.parse().map_err(|_| unexpected(&line))?;
    let len: u64 = len
        .parse()
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| Failure::Protocol(format!("bad value length in {text:?}")))?;
    let data = c.data(len)?;
    match c.line()?.as_slice() {
        b"END" => Ok(Some((data, flags, -1))),
        other => Err(unexpected(other)),
    }
}

/// `set <token> <flags> <exptime> <len>` (without its `\r\n`).
pub(super) fn set_line(token: &[u8], flags: u32, exptime: Option<u64>, len: usize) -> Vec<u8> {
    let mut line = b"set ".to_vec();
    line.extend_from_slice(token);
    line.extend_from_slice(format!(" {flags} {} {len}", exptime.unwrap_or(0)).as_bytes());
    line
}

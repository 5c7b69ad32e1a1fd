//! The operations of the binding, one enum for both paths: run on the engine by the process
//! that holds the cache (`execute`), or sent to it by the others (`encode`/`decode`).

use std::io;
use std::time::Duration;

use logcache::{Change, DurableKVCache, Error};

use crate::engines::Engines;

use crate::wire::{Fields, Frame};

/// An operation on the cache.
#[derive(Debug)]
pub enum Request<'a> {
    Get {
        key: &'a [u8],
    },
    Set {
        key: &'a [u8],
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    Add {
        key: &'a [u8],
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    Delete {
        key: &'a [u8],
    },
    Take {
        key: &'a [u8],
    },
    Incr {
        key: &'a [u8],
        delta: i64,
        default: Option<i64>,
    },
    Touch {
        key: &'a [u8],
        ttl: Option<Duration>,
    },
    Contains {
        key: &'a [u8],
    },
    Len,
    Keys,
    Clear,
    Expire,
    Stats,
    Sync,
    Pid,
    /// The objects' log (BigCache's blocks): get, set, delete.
    ObjectGet {
        key: &'a [u8],
    },
    ObjectSet {
        key: &'a [u8],
        value: &'a [u8],
        ttl: Option<Duration>,
    },
    ObjectDelete {
        key: &'a [u8],
    },
}

impl Request<'_> {
    /// Whether sending it again after a lost answer is harmless: reads and writes whose second
    /// run leaves what the first left. `incr`, `add` and `take` are not.
    pub fn idempotent(&self) -> bool {
        !matches!(
            self,
            Request::Add { .. } | Request::Take { .. } | Request::Incr { .. } | Request::Clear
        )
    }
}

/// An operation's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// A value with its expiry (Unix ms, 0 = never), or none.
    Value(Option<(Vec<u8>, u64)>),
    Bool(bool),
    Int(u64),
    /// `incr`: the new number, or `None` when the key was absent and no default given.
    Counter(Option<i64>),
    Keys(Vec<Vec<u8>>),
    Stats(Vec<u64>),
    Unit,
}

/// A failure, by kind (so the other process raises the same Python exception) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

/// What kind of failure: each becomes its own Python exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Other = 0,
    Locked = 1,
    TooLarge = 2,
    Poisoned = 3,
    Corrupt = 4,
    InvalidArgument = 5,
    Io = 6,
    ReadOnly = 7,
    NotInteger = 8,
    Overflow = 9,
    HolderLost = 10,
}

impl Kind {
    fn from_u8(n: u8) -> Kind {
        [
            Kind::Other,
            Kind::Locked,
            Kind::TooLarge,
            Kind::Poisoned,
            Kind::Corrupt,
            Kind::InvalidArgument,
            Kind::Io,
            Kind::ReadOnly,
            Kind::NotInteger,
            Kind::Overflow,
            Kind::HolderLost,
        ]
        .get(usize::from(n))
        .copied()
        .unwrap_or(Kind::Other)
    }
}

impl Failure {
    /// An answer of the wrong kind (a holder of another version?).
    pub fn unexpected() -> Failure {
        Failure {
            kind: Kind::Other,
            message: "unexpected answer from the cache's holder; are both processes running \
                      the same logcache?"
                .into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let kind = match &e {
            Error::Locked { .. } => Kind::Locked,
            Error::TooLarge { .. } => Kind::TooLarge,
            Error::Poisoned { .. } => Kind::Poisoned,
            Error::Corrupt { .. } | Error::ChecksumMismatch { .. } | Error::Damaged { .. } => {
                Kind::Corrupt
            }
            Error::InvalidArgument(_) => Kind::InvalidArgument,
            Error::Io { .. } | Error::NoSpace { .. } => Kind::Io,
            Error::ReadOnly { .. } => Kind::ReadOnly,
            _ => Kind::Other,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure {
            kind: Kind::HolderLost,
            message: format!(
                "the connection to the process holding the cache failed: {e}; the operation may \
                 or may not have happened"
            ),
        }
    }
}

/// The byte the binding's values start with when they are an integer (Python `int` in the
/// `i64` range): decimal ASCII follows. `incr` reads and writes this form.
pub const INT: u8 = b'i';
/// A value that carries a diskcache tag starts with this byte, the tag's length (4 bytes,
/// little-endian), the tag, then the value in its own form.
pub const TAGGED: u8 = b'T';

/// Splits a tagged value into the tag part (kept as it is) and the value.
fn split_tag(value: &[u8]) -> (&[u8], &[u8]) {
    if value.first() == Some(&TAGGED) && value.len() >= 5 {
        let mut n = [0u8; 4];
        n.copy_from_slice(&value[1..5]);
        let end = 5usize.saturating_add(u32::from_le_bytes(n) as usize);
        if end <= value.len() {
            return value.split_at(end);
        }
    }
    (&[], value)
}

/// `incr` on the binding's integer form, keeping a tag and the expiry.
fn incr(
    cache: &DurableKVCache,
    key: &[u8],
    delta: i64,
    default: Option<i64>,
) -> Result<Response, Failure> {
    let result = cache.update(key, |cur| {
        let (head, start, expiry) = match cur {
            None => match default {
                None => return (Change::Keep, Ok(None)),
                Some(start) => (Vec::new(), start, 0),
            },
            Some(cur) => {
                let (head, body) = split_tag(cur.value);
                let parsed = match body.split_first() {
                    Some((&INT, digits)) => std::str::from_utf8(digits)
                        .ok()
                        .and_then(|s| s.parse().ok()),
                    _ => None,
                };
                let Some(n) = parsed else {
                    return (
                        Change::Keep,
                        Err(Failure {
                            kind: Kind::NotInteger,
                            message:
                                "incr and decr need an integer value; this key holds another type"
                                    .into(),
                        }),
                    );
                };
                (head.to_vec(), n, cur.expiry)
            }
        };
        let Some(n) = i64::checked_add(start, delta) else {
            return (
                Change::Keep,
                Err(Failure {
                    kind: Kind::Overflow,
                    message: format!("{start} + {delta} does not fit a 64-bit signed integer"),
                }),
            );
        };
        let mut value = head;
        value.push(INT);
        value.extend_from_slice(n.to_string().as_bytes());
        (Change::Set { value, expiry }, Ok(Some(n)))
    })?;
    result.map(Response::Counter)
}

/// The answer a stopping holder sends instead of running a request: nothing sent on the
/// connection after the last answer was run; send it to the next holder.
pub const GOODBYE: u8 = b'x';

/// The stats `Stats` answers, in this order.
pub const STATS: [&str; 6] = [
    "hits",
    "misses",
    "live_keys",
    "live_bytes",
    "file_bytes",
    "sets",
];

/// Runs `req` on the engines.
pub fn execute(engines: &Engines, req: &Request<'_>) -> Result<Response, Failure> {
    let cache = &engines.cache;
    Ok(match *req {
        Request::ObjectGet { key } => Response::Value(engines.objects()?.get_with_expiry(key)?),
        Request::ObjectSet { key, value, ttl } => {
            let objects = engines.objects()?;
            match ttl {
                None => objects.set(key, value)?,
                Some(ttl) => objects.set_with_ttl(key, value, ttl)?,
            }
            Response::Unit
        }
        Request::ObjectDelete { key } => Response::Bool(engines.objects()?.delete(key)?),
        Request::Get { key } => Response::Value(cache.get_with_expiry(key)?),
        Request::Set { key, value, ttl } => {
            match ttl {
                None => cache.set(key, value)?,
                Some(ttl) => cache.set_with_ttl(key, value, ttl)?,
            }
            Response::Unit
        }
        Request::Add { key, value, ttl } => Response::Bool(cache.add(key, value, ttl)?),
        Request::Delete { key } => Response::Bool(cache.delete(key)?),
        Request::Take { key } => Response::Value(cache.update(key, |cur| match cur {
            None => (Change::Keep, None),
            Some(cur) => (Change::Delete, Some((cur.value.to_vec(), cur.expiry))),
        })?),
        Request::Incr {
            key,
            delta,
            default,
        } => return incr(cache, key, delta, default),
        Request::Touch { key, ttl } => Response::Bool(cache.touch(key, ttl)?),
        Request::Contains { key } => Response::Bool(cache.contains(key)),
        Request::Len => Response::Int(cache.len() as u64),
        Request::Keys => Response::Keys(cache.keys_by_write()),
        Request::Clear => {
            // Deferred deletes and one wait for the last: one fsync for the whole clear, not
            // one per key (the log is ordered, so the last ticket covers the others).
            let (mut n, mut last) = (0, None);
            for key in cache.keys() {
                let (removed, ticket) = cache.delete_deferred(&key)?;
                n += u64::from(removed);
                last = ticket.or(last);
            }
            if let Some(ticket) = last {
                cache.wait_durable(ticket)?;
            }
            Response::Int(n)
        }
        Request::Expire => Response::Int(cache.purge_expired() as u64),
        Request::Stats => {
            let s = cache.stats();
            Response::Stats(vec![
                s.hits,
                s.misses,
                s.live_keys,
                s.live_bytes,
                s.file_bytes,
                s.sets,
            ])
        }
        Request::Sync => {
            cache.sync()?;
            Response::Unit
        }
        Request::Pid => Response::Int(u64::from(std::process::id())),
    })
}

fn ttl_ms(ttl: Option<Duration>) -> u64 {
    // 0 = none; a real TTL of 0 ms is sent as 1 ms past the minimum (already expired either way).
    ttl.map_or(0, |t| {
        u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

fn ttl_from(ms: u64) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms))
}

/// The frame that carries `req`.
pub fn encode(req: &Request<'_>) -> Frame {
    match *req {
        Request::Get { key } => Frame::new(1).bytes(key),
        Request::Set { key, value, ttl } => Frame::new(2).bytes(key).bytes(value).u64(ttl_ms(ttl)),
        Request::Add { key, value, ttl } => Frame::new(3).bytes(key).bytes(value).u64(ttl_ms(ttl)),
        Request::Delete { key } => Frame::new(4).bytes(key),
        Request::Take { key } => Frame::new(5).bytes(key),
        Request::Incr {
            key,
            delta,
            default,
        } => Frame::new(6)
            .bytes(key)
            .i64(delta)
            .u64(u64::from(default.is_some()))
            .i64(default.unwrap_or(0)),
        Request::Touch { key, ttl } => Frame::new(7).bytes(key).u64(ttl_ms(ttl)),
        Request::Contains { key } => Frame::new(8).bytes(key),
        Request::Len => Frame::new(9),
        Request::Keys => Frame::new(10),
        Request::Clear => Frame::new(11),
        Request::Expire => Frame::new(12),
        Request::Stats => Frame::new(13),
        Request::Sync => Frame::new(14),
        Request::Pid => Frame::new(15),
        Request::ObjectGet { key } => Frame::new(16).bytes(key),
        Request::ObjectSet { key, value, ttl } => {
            Frame::new(17).bytes(key).bytes(value).u64(ttl_ms(ttl))
        }
        Request::ObjectDelete { key } => Frame::new(18).bytes(key),
    }
}

/// Decodes a request frame and runs it with `run` (the fields stay borrowed by the request).
pub fn decode_and_run<T>(f: &mut Fields, run: impl FnOnce(&Request<'_>) -> T) -> io::Result<T> {
    let op = f.tag()?;
    let key = if matches!(op, 1..=8 | 16..=18) {
        f.bytes()?
    } else {
        Vec::new()
    };
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown operation {op}"),
        )
    };
    Ok(match op {
        1 => run(&Request::Get { key: &key }),
        2 | 3 | 17 => {
            let value = f.bytes()?;
            let ttl = ttl_from(f.u64()?);
            let (key, value) = (&key[..], &value[..]);
            run(&match op {
                2 => Request::Set { key, value, ttl },
                3 => Request::Add { key, value, ttl },
                _ => Request::ObjectSet { key, value, ttl },
            })
        }
        4 => run(&Request::Delete { key: &key }),
        5 => run(&Request::Take { key: &key }),
        6 => {
            let delta = f.i64()?;
            let has = f.u64()? != 0;
            let default = f.i64()?;
            run(&Request::Incr {
                key: &key,
                delta,
                default: has.then_some(default),
            })
        }
        7 => {
            let ttl = ttl_from(f.u64()?);
            run(&Request::Touch { key: &key, ttl })
        }
        8 => run(&Request::Contains { key: &key }),
        9 => run(&Request::Len),
        10 => run(&Request::Keys),
        11 => run(&Request::Clear),
        12 => run(&Request::Expire),
        13 => run(&Request::Stats),
        14 => run(&Request::Sync),
        15 => run(&Request::Pid),
        16 => run(&Request::ObjectGet { key: &key }),
        18 => run(&Request::ObjectDelete { key: &key }),
        _ => return Err(bad()),
    })
}

/// The frame that carries an answer.
pub fn encode_response(r: &Result<Response, Failure>) -> Frame {
    match r {
        Err(f) => Frame::new(b'e')
            .u64(f.kind as u64)
            .bytes(f.message.as_bytes()),
        Ok(Response::Value(None)) => Frame::new(b'v').u64(0),
        Ok(Response::Value(Some((v, exp)))) => Frame::new(b'v').u64(1).bytes(v).u64(*exp),
        Ok(Response::Bool(b)) => Frame::new(b'b').u64(u64::from(*b)),
        Ok(Response::Int(n)) => Frame::new(b'i').u64(*n),
        Ok(Response::Counter(c)) => Frame::new(b'c')
            .u64(u64::from(c.is_some()))
            .i64(c.unwrap_or(0)),
        Ok(Response::Keys(keys)) => {
            let mut frame = Frame::new(b'k').u64(keys.len() as u64);
            for k in keys {
                frame = frame.bytes(k);
            }
            frame
        }
        Ok(Response::Stats(s)) => {
            let mut frame = Frame::new(b's').u64(s.len() as u64);
            for n in s {
                frame = frame.u64(*n);
            }
            frame
        }
        Ok(Response::Unit) => Frame::new(b'u'),
    }
}

/// Decodes an answer frame; `None` for a goodbye (the request was not run).
pub fn decode_response(f: &mut Fields) -> io::Result<Option<Result<Response, Failure>>> {
    let tag = f.tag()?;
    Ok(Some(Ok(match tag {
        GOODBYE => return Ok(None),
        b'e' => {
            let kind = Kind::from_u8(u8::try_from(f.u64()?).unwrap_or(0));
            let message = String::from_utf8_lossy(&f.bytes()?).into_owned();
            return Ok(Some(Err(Failure { kind, message })));
        }
        b'v' => Response::Value(if f.u64()? == 0 {
            None
        } else {
            let v = f.bytes()?;
            Some((v, f.u64()?))
        }),
        b'b' => Response::Bool(f.u64()? != 0),
        b'i' => Response::Int(f.u64()?),
        b'c' => {
            let has = f.u64()? != 0;
            let n = f.i64()?;
            Response::Counter(has.then_some(n))
        }
        b'k' => {
            let n = f.u64()?;
            // Each key takes at least its 8-byte length: no count larger than the frame holds.
            let mut keys = Vec::new();
            for _ in 0..n {
                keys.push(f.bytes()?);
            }
            Response::Keys(keys)
        }
        b's' => {
            let n = f.u64()?;
            let mut s = Vec::new();
            for _ in 0..n {
                s.push(f.u64()?);
            }
            Response::Stats(s)
        }
        b'u' => Response::Unit,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown answer {tag}"),
            ));
        }
    })))
}

//! [`MemcachedStore`]: a [`KvStore`](crate::KvStore) on one memcached server, and its builder.

use super::text;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use super::keys::{WireKey, exptime, unix_now, wire_key};
use super::pool::{Conn, Failure, unexpected};
use crate::counters::bump;
use crate::counters::stats;
use crate::error::{Error, Result};
use crate::store::KvStore;

/// The longest key memcached takes as text.
pub const MEMCACHED_MAX_KEY: usize = crate::protocol::memcache::MAX_KEY;
/// The longest binary key that fits in 250 characters of base64.
pub(super) const MAX_BINARY_KEY: usize = 186;
/// memcached's `struct item` on 64-bit builds, plus the key's NUL and the data's `\r\n`.
pub(super) const ITEM_HEADER: u64 = 48 + 1 + 2;
/// memcached reads an expiry over 30 days as an absolute Unix time.
pub(super) const RELATIVE_TTL_MAX: u64 = crate::protocol::memcache::RELATIVE_MAX_SECS as u64;
/// The longest response line accepted.
pub(super) const MAX_LINE: usize = 8192;
/// Client flag of an item stored under a digest of a long key.
pub(super) const FLAG_HASHED: u32 = 1;

/// Which of memcached's protocols a [`MemcachedStore`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MemcachedProtocol {
    /// The meta protocol (`mg`, `ms`, `md`; memcached 1.6+): binary keys in base64, TTLs read
    /// back with values. The default.
    #[default]
    Meta,
    /// The classic text protocol (`get`, `set`, `delete`), for proxies that do not speak the
    /// meta protocol (twemproxy) and older servers. Keys that are not printable go under a
    /// digest (as long ones do), and `get_with_expiry` cannot report an expiry (0). A proxy
    /// does not forward `stats`: declare [`item_size_max`](MemcachedStoreBuilder::item_size_max).
    Text,
}

/// Configures a [`MemcachedStore`]; start from [`MemcachedStore::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .connect() is called"]
pub struct MemcachedStoreBuilder {
    pub(super) addr: String,
    pub(super) connect_timeout: Duration,
    pub(super) io_timeout: Duration,
    pub(super) max_idle: usize,
    pub(super) item_size_max: Option<u64>,
    pub(super) protocol: MemcachedProtocol,
}

impl MemcachedStoreBuilder {
    /// Declares the server's `item_size_max` (`-I`) instead of asking it: `connect` then does
    /// not need the server to be up (it is contacted on first use), so a ring can start while
    /// one of its servers is down. The limit assumes CAS is enabled (8 bytes more per item:
    /// safe either way). Declare the server's real value: with a larger one, values near the
    /// limit are refused by the server (still a `TooLarge`).
    pub fn item_size_max(mut self, bytes: u64) -> Self {
        self.item_size_max = Some(bytes);
        self
    }

    /// The protocol spoken (default [`MemcachedProtocol::Meta`]).
    pub fn protocol(mut self, p: MemcachedProtocol) -> Self {
        self.protocol = p;
        self
    }

    /// Time allowed to open a TCP connection (default 1 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time allowed for each read or write on a connection (default 2 s).
    pub fn io_timeout(mut self, t: Duration) -> Self {
        self.io_timeout = t;
        self
    }

    /// Idle connections kept for reuse (default 8).
    pub fn max_idle(mut self, n: usize) -> Self {
        self.max_idle = n;
        self
    }

    /// Resolves the address, connects, and reads the server's item size limit (unless it was
    /// declared with [`item_size_max`](Self::item_size_max)).
    pub fn connect(self) -> Result<MemcachedStore> {
        if self.connect_timeout.is_zero() || self.io_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "memcached timeouts must be greater than zero".into(),
            ));
        }
        let addrs: Vec<SocketAddr> = self
            .addr
            .to_socket_addrs()
            .map_err(|e| Error::remote_from(&self.addr, "cannot resolve its name", e))?
            .collect();
        if addrs.is_empty() {
            return Err(Error::remote(&self.addr, "the name resolves to no address"));
        }
        let mut store = MemcachedStore {
            node: self.addr,
            addrs,
            pool: Mutex::new(Vec::new()),
            max_idle: self.max_idle,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            item_size_max: 0,
            item_overhead: ITEM_HEADER,
            counters: Counters::default(),
            text: self.protocol == MemcachedProtocol::Text,
        };
        let floor = ITEM_HEADER + 8 + 4 + MEMCACHED_MAX_KEY as u64;
        if let Some(declared) = self.item_size_max {
            if declared <= floor {
                return Err(Error::InvalidArgument(format!(
                    "item_size_max {declared} leaves no room for a value"
                )));
            }
            store.item_size_max = declared;
            store.item_overhead += 8;
            return Ok(store);
        }
        let mut conn = store.open()?;
        let settings = conn.stats("settings").map_err(|e| match store.text {
            // A proxy (twemproxy) does not forward `stats`.
            true => Error::remote(
                &store.node,
                format_args!(
                    "it does not answer `stats settings` ({}); behind a proxy, declare the \
                     servers' item size with .item_size_max()",
                    store.failed(e)
                ),
            ),
            false => store.failed(e),
        })?;
        let get = |name: &str| {
            settings
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        store.item_size_max = get("item_size_max")
            .and_then(|v| v.parse().ok())
            .filter(|&v: &u64| v > floor)
            .ok_or_else(|| Error::remote(&store.node, "stats settings lack item_size_max"))?;
        if get("cas_enabled") != Some("no") {
            store.item_overhead += 8;
        }
        store.put_back(conn);
        Ok(store)
    }
}

stats! {
    /// What one memcached client counts.
    #[derive(Debug, Default)]
    pub(crate) struct Counted, counted by pub(super) Counters {
        gauges {}
        counters {
            /// Commands sent.
            requests,
            /// Commands that failed (the connection was dropped).
            errors,
            /// Gets that found the item.
            hits,
            /// Gets that found none.
            misses,
            /// Connections opened.
            connects,
        }
    }
}

/// A [`KvStore`] on one real memcached server, over the meta text
/// protocol (memcached 1.6+): `mg`, `ms`, `md`.
///
/// **Keys.** memcached takes keys of 1 to 250 printable bytes without spaces, or, in base64
/// (the meta protocol's `b` flag), binary keys of up to 186 bytes; both name the same raw bytes
/// on the server, so every key that fits is stored as exactly itself. A longer (or empty) key
/// is stored under a digest (two marker bytes and its 128-bit XXH3) with client flag 1, and the
/// value carries the whole key, which `get` compares: two keys can share a digest slot (one
/// overwrites the other, a miss for it) but a `get` never returns another key's value.
///
/// **Sizes.** The largest item is read from the server at connect (`stats settings`:
/// `item_size_max`, `cas_enabled`); a value's limit is that minus memcached's per-item header
/// (48 bytes, 8 more with CAS, 4 more with client flags, the key, its NUL and the data's
/// `\r\n`). A value over the limit is refused with [`Error::TooLarge`] before anything is
/// sent. [`KvStore::max_value_len`] is the limit for the longest key stored as itself (250
/// bytes), so a [`BigCache`](crate::BigCache) block always fits: 1,048,267 bytes on a default
/// `-I 1m` server.
///
/// **Connections.** A pool of idle connections (default at most 8) is reused; an operation
/// takes one, or connects a new one (connect timeout 1 s), and every read and write has a
/// timeout (2 s). A connection that fails is dropped; an operation that failed on a reused
/// connection (the server restarted, say) is retried once on a new one. Failures are
/// [`Error::Remote`].
#[derive(Debug)]
pub struct MemcachedStore {
    pub(super) node: String,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) pool: Mutex<Vec<Conn>>,
    pub(super) max_idle: usize,
    pub(super) connect_timeout: Duration,
    pub(super) io_timeout: Duration,
    pub(super) item_size_max: u64,
    /// Bytes of an item besides its key and data (flags not included).
    pub(super) item_overhead: u64,
    pub(super) counters: Counters,
    /// Speaks the text protocol ([`MemcachedProtocol::Text`]).
    pub(super) text: bool,
}

/// The answer to an `ms` or a `set`.
pub(super) enum Stored {
    Yes,
    TooLarge,
    OutOfMemory,
}

impl MemcachedStore {
    /// A store on the memcached server at `addr` (`host:port`) with default options.
    pub fn connect(addr: impl Into<String>) -> Result<Self> {
        Self::builder(addr).connect()
    }

    /// A builder for the server at `addr` (`host:port`).
    pub fn builder(addr: impl Into<String>) -> MemcachedStoreBuilder {
        MemcachedStoreBuilder {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(1),
            io_timeout: crate::remote::DEFAULT_NODE_TIMEOUT,
            max_idle: 8,
            item_size_max: None,
            protocol: MemcachedProtocol::Meta,
        }
    }

    /// The server's address as given.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The server's `item_size_max`.
    pub fn item_size_max(&self) -> u64 {
        self.item_size_max
    }

    /// The largest value `set` accepts under `key` (longer keys leave less room).
    pub fn max_value_len_for(&self, key: &[u8]) -> u64 {
        let w = wire_key(key, self.text);
        let flags = if w.hashed {
            4 + 4 + key.len() as u64
        } else {
            0
        };
        self.item_size_max
            .saturating_sub(self.item_overhead + w.raw_len as u64 + flags)
    }

    /// Empties the server (`flush_all`): every item on it, not only this store's.
    pub fn flush_all(&self) -> Result<()> {
        self.with_conn(|c| {
            c.send(&[b"flush_all\r\n"])?;
            match c.line()?.as_slice() {
                b"OK" => Ok(()),
                other => Err(unexpected(other)),
            }
        })
    }

    /// `mg`: the item's data, client flags and remaining TTL (`-1`: none).
    pub(super) fn meta_get(&self, w: &WireKey) -> Result<Option<(Vec<u8>, u32, i64)>> {
        let found = self.with_conn(|c| {
            if self.text {
                return text::get(c, &w.token, self.item_size_max);
            }
            let b: &[u8] = if w.base64 { b" b" } else { b"" };
            c.send(&[b"mg ", &w.token, b, b" v f t\r\n"])?;
            let line = c.line()?;
            if line == b"EN" {
                return Ok(None);
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            let mut fields = text.split(' ');
            if fields.next() != Some("VA") {
                return Err(unexpected(&line));
            }
            let len: u64 = fields
                .next()
                .and_then(|n| n.parse().ok())
                .filter(|&n| n <= self.item_size_max)
                .ok_or_else(|| Failure::Protocol(format!("bad value length in {text:?}")))?;
            let (mut flags, mut ttl) = (0u32, -1i64);
            for field in fields {
                if let Some(v) = field.strip_prefix('f') {
                    flags = v.parse().map_err(|_| unexpected(&line))?;
                } else if let Some(v) = field.strip_prefix('t') {
                    ttl = v.parse().map_err(|_| unexpected(&line))?;
                }
            }
            Ok(Some((c.data(len)?, flags, ttl)))
        })?;
        match &found {
            Some(_) => bump(&self.counters.hits),
            None => bump(&self.counters.misses),
        }
        Ok(found)
    }

    pub(super) fn get_item(&self, key: &[u8]) -> Result<Option<(Vec<u8>, i64)>> {
        let w = wire_key(key, self.text);
        let Some((data, flags, ttl)) = self.meta_get(&w)? else {
            return Ok(None);
        };
        if !w.hashed {
            // An item stored under a long key's digest that happens to equal this key.
            return Ok((flags == 0).then_some((data, ttl)));
        }
        if flags != FLAG_HASHED {
            return Ok(None);
        }
        let (len, rest) = data.split_at_checked(4).unwrap_or((&[], &[]));
        let stored_len = <[u8; 4]>::try_from(len).map(u32::from_le_bytes).ok();
        match stored_len.and_then(|n| rest.split_at_checked(n as usize)) {
            Some((stored_key, value)) if stored_key == key => Ok(Some((value.to_vec(), ttl))),
            _ => Ok(None), // another key sharing the digest slot
        }
    }

    pub(super) fn store(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let max = self.max_value_len_for(key);
        if value.len() as u64 > max {
            return Err(Error::TooLarge {
                what: "value",
                len: value.len() as u64,
                max,
            });
        }
        let w = wire_key(key, self.text);
        let prefix: Vec<u8> = if w.hashed {
            let mut p = (key.len() as u32).to_le_bytes().to_vec();
            p.extend_from_slice(key);
            p
        } else {
            Vec::new()
        };
        let flags = if w.hashed { FLAG_HASHED } else { 0 };
        let exptime = ttl.map(exptime);
        let mut line = if self.text {
            text::set_line(&w.token, flags, exptime, prefix.len() + value.len())
        } else {
            self.meta_set_line(&w, exptime, prefix.len() + value.len())
        };
        line.extend_from_slice(b"\r\n");
        let stored = self.with_conn(|c| {
            c.send(&[&line, &prefix, value, b"\r\n"])?;
            let answer = c.line()?;
            match answer.as_slice() {
                b"HD" | b"STORED" => Ok(Stored::Yes),
                a if a.starts_with(b"SERVER_ERROR object too large") => Ok(Stored::TooLarge),
                a if a.starts_with(b"SERVER_ERROR out of memory") => Ok(Stored::OutOfMemory),
                other => Err(unexpected(other)),
            }
        })?;
        match stored {
            Stored::Yes => Ok(()),
            Stored::TooLarge => Err(Error::TooLarge {
                what: "value",
                len: value.len() as u64,
                max,
            }),
            Stored::OutOfMemory => Err(Error::Full),
        }
    }

    /// The `ms` command line (without its `\r\n`).
    pub(super) fn meta_set_line(&self, w: &WireKey, exptime: Option<u64>, len: usize) -> Vec<u8> {
        let mut line = b"ms ".to_vec();
        line.extend_from_slice(&w.token);
        line.extend_from_slice(format!(" {len}").as_bytes());
        if w.base64 {
            line.extend_from_slice(b" b");
        }
        if let Some(t) = exptime {
            line.extend_from_slice(format!(" T{t}").as_bytes());
        }
        if w.hashed {
            line.extend_from_slice(format!(" F{FLAG_HASHED}").as_bytes());
        }
        line
    }
}

impl KvStore for MemcachedStore {
    /// One read of a probe key: an error when the node does not answer.
    fn probe(&self) -> Result<()> {
        self.get(crate::store::PROBE_KEY).map(drop)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.get_item(key)?.map(|(v, _)| v))
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.store(key, value, None)
    }

    fn set_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<()> {
        self.store(key, value, Some(ttl))
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        let w = wire_key(key, self.text);
        self.with_conn(|c| {
            if self.text {
                c.send(&[b"delete ", &w.token, b"\r\n"])?;
            } else {
                let b: &[u8] = if w.base64 { b" b" } else { b"" };
                c.send(&[b"md ", &w.token, b, b"\r\n"])?;
            }
            match c.line()?.as_slice() {
                b"HD" | b"DELETED" => Ok(true),
                b"NF" | b"NOT_FOUND" => Ok(false),
                other => Err(unexpected(other)),
            }
        })
    }

    fn get_with_expiry(&self, key: &[u8]) -> Result<Option<(Vec<u8>, u64)>> {
        Ok(self.get_item(key)?.map(|(v, ttl)| {
            let expiry = u64::try_from(ttl)
                .map(|secs| unix_now().as_millis() as u64 + secs * 1000)
                .unwrap_or(0);
            (v, expiry)
        }))
    }

    fn max_value_len(&self) -> u64 {
        self.item_size_max
            .saturating_sub(self.item_overhead + MEMCACHED_MAX_KEY as u64)
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.counters.rows()
    }
}

//! What the object commands (`put`, `get`, `del`, `ls`, `stats`) work on: BigCache over the
//! store `--store` names (the embedded log, memcached, a ring), or, for one `http://` node,
//! that server's own objects through its HTTP API (what curl sees, while it holds its log).

use std::io::Read;
use std::time::Duration;

use anyhow::Context;
use logcache::{AnyStore, BigCache, Durability, Error, HttpStore, KvStore, StoreOptions};

use crate::Cli;

/// An opened store of objects.
pub enum Target {
    /// BigCache over the store (boxed: it is large, and there is one per command).
    Cache(Box<BigCache<AnyStore>>),
    /// One `logcache serve` node.
    Server(HttpStore),
}

/// The hint for a log another process holds: most often `logcache serve`.
const LOCKED_HINT: &str = "if that is `logcache serve`, reach its objects through it with \
                           --store http://ADDRESS (its --listen address)";

impl Target {
    /// Opens what `cli` names. The embedded log runs without a sync per block: commands sync
    /// once before they report success.
    pub fn open(cli: &Cli) -> anyhow::Result<Target> {
        let spec = cli.spec()?;
        let options = StoreOptions::default()
            .durability(Durability::None)
            .token(cli.token()?);
        match spec.open_with(&options) {
            Err(e @ Error::Locked { .. }) => Err(anyhow::anyhow!("{e}; {LOCKED_HINT}")),
            // One node: that server's own objects, not BigCache blocks stored in it.
            Ok(AnyStore::Http(node)) => Ok(Target::Server(node)),
            store => Ok(Target::Cache(Box::new(BigCache::new(store?)?))),
        }
    }

    /// Stores what `input` yields as `key`; returns its size once it is durable (synced, or
    /// stored on every replica).
    pub fn put(
        &self,
        key: &str,
        input: &mut dyn Read,
        ttl: Option<Duration>,
    ) -> anyhow::Result<u64> {
        let mut counted = Counted { inner: input, n: 0 };
        match self {
            Target::Server(node) => {
                node.put_object(key.as_bytes(), &mut counted, ttl)?;
                Ok(counted.n)
            }
            Target::Cache(cache) => {
                let mut w = match ttl {
                    Some(ttl) => cache.writer_with_ttl(key, ttl)?,
                    None => cache.writer(key)?,
                };
                std::io::copy(&mut counted, &mut w).context("storing the object")?;
                let size = w.written();
                w.commit()?;
                cache.store().sync()?;
                Ok(size)
            }
        }
    }

    /// The object `key` as a reader with its size, or `None`.
    pub fn get(&self, key: &str) -> anyhow::Result<Option<Found<'_>>> {
        Ok(match self {
            Target::Server(node) => node.get_object(key.as_bytes())?.map(|r| {
                let len = r.len();
                (Box::new(r) as Box<dyn Read>, len)
            }),
            Target::Cache(cache) => cache.reader(key)?.map(|r| {
                let len = Some(r.len());
                (Box::new(r) as Box<dyn Read>, len)
            }),
        })
    }

    /// Deletes `key`; whether there was an object.
    pub fn delete(&self, key: &str) -> anyhow::Result<bool> {
        match self {
            Target::Server(node) => Ok(node.delete(key.as_bytes())?),
            Target::Cache(cache) => {
                let found = cache.delete(key)?;
                cache.store().sync()?;
                Ok(found)
            }
        }
    }

    /// The objects under `prefix` with their sizes, in key order.
    pub fn list(&self, prefix: &str) -> anyhow::Result<Vec<(Vec<u8>, u64)>> {
        let listed = match self {
            Target::Server(node) => node.list_objects(prefix.as_bytes())?,
            Target::Cache(cache) => match cache.keys(prefix)? {
                None => None,
                Some(keys) => {
                    let mut out = Vec::with_capacity(keys.len());
                    for key in keys {
                        // Gone meanwhile (expired, deleted, evicted): not listed.
                        if let Some(size) = cache.size_of(&key)? {
                            out.push((key, size));
                        }
                    }
                    Some(out)
                }
            },
        };
        listed.ok_or_else(|| {
            anyhow::anyhow!(
                "this store cannot list its keys (memcached has no listing); get an object by \
                 its key instead"
            )
        })
    }
}

/// An object found by [`Target::get`]: its bytes, and its size when known.
pub type Found<'a> = (Box<dyn Read + 'a>, Option<u64>);

/// Counts the bytes read through it.
struct Counted<'a> {
    inner: &'a mut dyn Read,
    n: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

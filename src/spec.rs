//! [`StoreSpec`]: which store to work on, written as one string — a path, `memcached://…` or
//! `http://…` — shared by the CLI (`--store`) and the server (`logcache serve --store`).
//!
//! ```text
//! cache.log                                   the embedded DurableKVCache at this path
//! memcached://127.0.0.1:11211                 one memcached server
//! memcached://10.0.0.1:11211,10.0.0.2:11211?replicas=2
//!                                             a ring of memcached servers, 2 copies of each key
//! http://127.0.0.1:8080                       one `logcache serve` node
//! http://10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080?replicas=2
//!                                             a ring of `logcache serve` nodes
//! ```
//!
//! Hosts are names or addresses (`[::1]` for IPv6) with a port; a ring places keys on its nodes
//! by consistent hashing ([`ShardedStore`](crate::ShardedStore)). `replicas` is the only
//! option, from 1 (the default) to the number of nodes.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A store, as the CLI's `--store` and `logcache serve --store` name it. Parse it with
/// [`str::parse`]; [`Display`](fmt::Display) writes it back in the same form.
///
/// ```
/// use logcache::StoreSpec;
///
/// let spec: StoreSpec = "memcached://10.0.0.1:11211,10.0.0.2:11211?replicas=2".parse()?;
/// assert_eq!(
///     spec,
///     StoreSpec::Memcached {
///         nodes: vec!["10.0.0.1:11211".into(), "10.0.0.2:11211".into()],
///         replicas: 2
///     }
/// );
/// assert!(matches!("cache.log".parse()?, StoreSpec::Path(_)));
/// let err = "memcached://10.0.0.1:99999".parse::<StoreSpec>().unwrap_err();
/// assert!(err.to_string().contains("port `99999`"));
/// # Ok::<(), logcache::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreSpec {
    /// The embedded [`DurableKVCache`](crate::DurableKVCache) log at this path.
    Path(PathBuf),
    /// memcached servers (`host:port` each): one is a
    /// [`MemcachedStore`](crate::MemcachedStore), several a ring of them.
    Memcached {
        /// The servers, `host:port`.
        nodes: Vec<String>,
        /// Copies of each key (1 ≤ replicas ≤ nodes).
        replicas: usize,
    },
    /// `logcache serve` nodes (`host:port` each): one is that server, several a ring of
    /// [`HttpStore`](crate::HttpStore)s.
    Http {
        /// The servers, `host:port`.
        nodes: Vec<String>,
        /// Copies of each key (1 ≤ replicas ≤ nodes).
        replicas: usize,
    },
}

impl StoreSpec {
    /// Whether this is the embedded store.
    pub fn is_embedded(&self) -> bool {
        matches!(self, StoreSpec::Path(_))
    }
}

/// A malformed specification: one sentence naming the bad part.
fn bad(spec: &str, what: impl fmt::Display) -> Error {
    Error::InvalidArgument(format!("store `{spec}`: {what}"))
}

impl FromStr for StoreSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<StoreSpec> {
        if spec.is_empty() {
            return Err(Error::InvalidArgument(
                "an empty store: give a path, memcached://HOST:PORT or http://HOST:PORT".into(),
            ));
        }
        let Some((scheme, rest)) = spec.split_once("://") else {
            return Ok(StoreSpec::Path(PathBuf::from(spec)));
        };
        let http = match scheme {
            "memcached" => false,
            "http" => true,
            "https" => {
                return Err(bad(
                    spec,
                    "https is not spoken; put TLS in a proxy in front and use http://",
                ));
            }
            other => {
                return Err(bad(
                    spec,
                    format_args!("unknown scheme `{other}` (use a path, memcached:// or http://)"),
                ));
            }
        };
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        // A trailing slash is harmless; anything after it is not part of a store.
        let hosts = match hosts.split_once('/') {
            Some((hosts, "")) => hosts,
            Some((_, path)) => {
                return Err(bad(
                    spec,
                    format_args!("`/{path}`: a store is hosts and options, without a path"),
                ));
            }
            None => hosts,
        };
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            let node = parse_host(spec, host)?;
            if nodes.contains(&node) {
                return Err(bad(spec, format_args!("`{node}` is named twice")));
            }
            nodes.push(node);
        }
        let replicas = parse_options(spec, query, nodes.len())?;
        Ok(if http {
            StoreSpec::Http { nodes, replicas }
        } else {
            StoreSpec::Memcached { nodes, replicas }
        })
    }
}

/// `host:port`, checked: a host (a name, an IPv4 address, or an IPv6 one in brackets) and a
/// port in 1..=65535.
fn parse_host(spec: &str, host: &str) -> Result<String> {
    if host.is_empty() {
        return Err(bad(
            spec,
            "a host is missing (an empty item between commas?)",
        ));
    }
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err(bad(spec, format_args!("`{host}`: `[` without `]`")));
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(
                spec,
                format_args!("`{host}`: `{addr}` is not an IPv6 address"),
            ));
        }
        (
            host.get(..addr.len() + 2).unwrap_or(host),
            after.strip_prefix(':'),
        )
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let Some(port) = port else {
        return Err(bad(
            spec,
            format_args!("`{host}` has no port (write HOST:PORT)"),
        ));
    };
    let name_ok = !name.is_empty()
        && (name.starts_with('[')
            || name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'));
    if !name_ok {
        return Err(bad(
            spec,
            format_args!("`{name}` is not a host name or address"),
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(format!("{name}:{p}")),
        _ => Err(bad(
            spec,
            format_args!("port `{port}` of `{host}` is not a number in 1..=65535"),
        )),
    }
}

/// The options after `?`: only `replicas=R`, 1 ≤ R ≤ nodes. Returns the replica count.
fn parse_options(spec: &str, query: &str, nodes: usize) -> Result<usize> {
    let mut replicas = None;
    for option in query.split('&').filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        match name {
            "replicas" => {
                if replicas.is_some() {
                    return Err(bad(spec, "`replicas` is given twice"));
                }
                match value.parse::<usize>() {
                    Ok(r) if (1..=nodes).contains(&r) => replicas = Some(r),
                    _ => {
                        return Err(bad(
                            spec,
                            format_args!(
                                "replicas `{value}` is not a number from 1 to the {nodes} \
                                 node(s) named"
                            ),
                        ));
                    }
                }
            }
            other => {
                return Err(bad(
                    spec,
                    format_args!("unknown option `{other}` (the one option is replicas=N)"),
                ));
            }
        }
    }
    Ok(replicas.unwrap_or(1))
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, nodes, replicas) = match self {
            StoreSpec::Path(p) => return write!(f, "{}", p.display()),
            StoreSpec::Memcached { nodes, replicas } => ("memcached", nodes, *replicas),
            StoreSpec::Http { nodes, replicas } => ("http", nodes, *replicas),
        };
        write!(f, "{scheme}://{}", nodes.join(","))?;
        if replicas > 1 {
            write!(f, "?replicas={replicas}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(spec: &str) -> String {
        match spec.parse::<StoreSpec>() {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("{spec}: {other:?}"),
        }
    }

    #[test]
    fn good_specifications_parse_and_print_back() {
        for (spec, want) in [
            ("cache.log", StoreSpec::Path("cache.log".into())),
            ("/var/lib/x.log", StoreSpec::Path("/var/lib/x.log".into())),
            (
                "memcached://127.0.0.1:11211",
                StoreSpec::Memcached {
                    nodes: vec!["127.0.0.1:11211".into()],
                    replicas: 1,
                },
            ),
            (
                "http://a.example:8080,b-2.example:8081?replicas=2",
                StoreSpec::Http {
                    nodes: vec!["a.example:8080".into(), "b-2.example:8081".into()],
                    replicas: 2,
                },
            ),
            (
                "memcached://[::1]:11211,localhost:11212",
                StoreSpec::Memcached {
                    nodes: vec!["[::1]:11211".into(), "localhost:11212".into()],
                    replicas: 1,
                },
            ),
        ] {
            let parsed: StoreSpec = spec.parse().unwrap();
            assert_eq!(parsed, want, "{spec}");
            assert_eq!(parsed.to_string().parse::<StoreSpec>().unwrap(), want);
        }
        assert_eq!(
            "http://h:1/".parse::<StoreSpec>().unwrap().to_string(),
            "http://h:1"
        );
    }

    #[test]
    fn every_malformed_part_is_named() {
        for (spec, says) in [
            ("", "empty store"),
            ("ftp://h:1", "unknown scheme `ftp`"),
            ("https://h:1", "https is not spoken"),
            ("memcached://", "a host is missing"),
            ("memcached://a:1,,b:2", "a host is missing"),
            ("memcached://host", "`host` has no port"),
            ("memcached://host:", "port `` of `host:`"),
            ("memcached://host:0", "port `0`"),
            ("memcached://host:65536", "port `65536`"),
            ("memcached://host:http", "port `http`"),
            ("memcached://:11211", "`` is not a host"),
            ("memcached://ho st:1", "`ho st` is not a host"),
            ("memcached://[::1:11211", "`[` without `]`"),
            ("memcached://[zz]:1", "`zz` is not an IPv6 address"),
            ("http://h:1/v1/objects", "without a path"),
            ("http://h:1,h:1", "`h:1` is named twice"),
            (
                "http://h:1?replicas=2",
                "replicas `2` is not a number from 1 to the 1",
            ),
            ("http://h:1?replicas=0", "replicas `0`"),
            ("http://h:1?replicas=x", "replicas `x`"),
            ("http://h:1?replicas=1&replicas=1", "given twice"),
            ("http://h:1?timeout=3", "unknown option `timeout`"),
        ] {
            let message = err(spec);
            assert!(message.contains(says), "{spec}: {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}

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
//! by consistent hashing ([`ShardedStore`](crate::ShardedStore)). Options: `replicas`, from 1
//! (the default) to the number of nodes, and `timeout`, each node's deadline (`2s`, `500ms`,
//! `1.5s`; default [`DEFAULT_NODE_TIMEOUT`](crate::DEFAULT_NODE_TIMEOUT), 2 s): the longest a
//! node may take to answer, or leave a transfer standing still, before the call fails and a
//! ring moves on to the next replica.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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
///         replicas: 2,
///         timeout: None,
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
        /// Each node's deadline (`None`: [`DEFAULT_NODE_TIMEOUT`](crate::DEFAULT_NODE_TIMEOUT)).
        timeout: Option<Duration>,
    },
    /// `logcache serve` nodes (`host:port` each): one is that server, several a ring of
    /// [`HttpStore`](crate::HttpStore)s.
    Http {
        /// The servers, `host:port`.
        nodes: Vec<String>,
        /// Copies of each key (1 ≤ replicas ≤ nodes).
        replicas: usize,
        /// Each node's deadline (`None`: [`DEFAULT_NODE_TIMEOUT`](crate::DEFAULT_NODE_TIMEOUT)).
        timeout: Option<Duration>,
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
            return parse_path(spec);
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
        let (replicas, timeout) = parse_options(spec, query, nodes.len())?;
        Ok(if http {
            StoreSpec::Http {
                nodes,
                replicas,
                timeout,
            }
        } else {
            StoreSpec::Memcached {
                nodes,
                replicas,
                timeout,
            }
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

/// A path, refused when it cannot be what the user meant: blank, with spaces around it (an
/// unquoted variable, a stray space) or with a control character (a newline pasted in), each
/// of which would silently create a log under an odd name.
fn parse_path(spec: &str) -> Result<StoreSpec> {
    if spec.trim().is_empty() {
        return Err(bad(
            spec,
            "a path of only spaces: give a path, memcached://HOST:PORT or http://HOST:PORT",
        ));
    }
    if spec.trim() != spec {
        return Err(bad(
            spec,
            "the path begins or ends with a space: remove it (quote the variable that holds it)",
        ));
    }
    if let Some(c) = spec.chars().find(|c| c.is_control()) {
        return Err(bad(
            &spec.escape_debug().to_string(),
            format_args!(
                "the path holds the control character {:?}: a store's path is one line",
                c
            ),
        ));
    }
    Ok(StoreSpec::Path(PathBuf::from(spec)))
}

/// `2s`, `500ms`, `1.5s` or a bare number of seconds: a positive duration.
fn parse_timeout(value: &str) -> Option<Duration> {
    let (number, unit) = match value.strip_suffix("ms") {
        Some(n) => (n, 1e-3),
        None => (value.strip_suffix('s').unwrap_or(value), 1.0),
    };
    let n: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(n * unit)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(86_400))
}

/// The options after `?`: `replicas=R` (1 ≤ R ≤ nodes) and `timeout=DURATION`.
fn parse_options(spec: &str, query: &str, nodes: usize) -> Result<(usize, Option<Duration>)> {
    let mut replicas = None;
    let mut timeout = None;
    for option in query.split('&').filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        match name {
            "timeout" => {
                if timeout.is_some() {
                    return Err(bad(spec, "`timeout` is given twice"));
                }
                match parse_timeout(value) {
                    Some(t) => timeout = Some(t),
                    None => {
                        return Err(bad(
                            spec,
                            format_args!(
                                "timeout `{value}` is not a duration from 1ms to 1 day (write \
                                 2s, 500ms or 1.5s)"
                            ),
                        ));
                    }
                }
            }
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
                    format_args!(
                        "unknown option `{other}` (the options are replicas=N and \
                         timeout=DURATION)"
                    ),
                ));
            }
        }
    }
    Ok((replicas.unwrap_or(1), timeout))
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, nodes, replicas, timeout) = match self {
            StoreSpec::Path(p) => return write!(f, "{}", p.display()),
            StoreSpec::Memcached {
                nodes,
                replicas,
                timeout,
            } => ("memcached", nodes, *replicas, *timeout),
            StoreSpec::Http {
                nodes,
                replicas,
                timeout,
            } => ("http", nodes, *replicas, *timeout),
        };
        write!(f, "{scheme}://{}", nodes.join(","))?;
        let mut sep = '?';
        if replicas > 1 {
            write!(f, "{sep}replicas={replicas}")?;
            sep = '&';
        }
        if let Some(t) = timeout {
            write!(f, "{sep}timeout={}ms", t.as_millis().max(1))?;
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
                    timeout: None,
                },
            ),
            (
                "http://a.example:8080,b-2.example:8081?replicas=2",
                StoreSpec::Http {
                    nodes: vec!["a.example:8080".into(), "b-2.example:8081".into()],
                    replicas: 2,
                    timeout: None,
                },
            ),
            (
                "http://a:1,b:2?timeout=1.5s&replicas=2",
                StoreSpec::Http {
                    nodes: vec!["a:1".into(), "b:2".into()],
                    replicas: 2,
                    timeout: Some(Duration::from_millis(1500)),
                },
            ),
            (
                "memcached://a:1?timeout=250ms",
                StoreSpec::Memcached {
                    nodes: vec!["a:1".into()],
                    replicas: 1,
                    timeout: Some(Duration::from_millis(250)),
                },
            ),
            (
                "memcached://[::1]:11211,localhost:11212",
                StoreSpec::Memcached {
                    nodes: vec!["[::1]:11211".into(), "localhost:11212".into()],
                    replicas: 1,
                    timeout: None,
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
            ("http://h:1?timeouts=3", "unknown option `timeouts`"),
            ("http://h:1?timeout=0", "timeout `0` is not a duration"),
            ("http://h:1?timeout=-1s", "timeout `-1s`"),
            ("http://h:1?timeout=2x", "timeout `2x`"),
            ("http://h:1?timeout=2d", "timeout `2d`"),
            (
                "http://h:1?timeout=1s&timeout=2s",
                "`timeout` is given twice",
            ),
            (" ", "a path of only spaces"),
            ("cache.log ", "begins or ends with a space"),
            (" cache.log", "begins or ends with a space"),
            ("cache\nlog", "control character '\\n'"),
        ] {
            let message = err(spec);
            assert!(message.contains(says), "{spec}: {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }
}

//! `stats` and its subcommands, in memcached's forms: every answer a client waits for ends in
//! `END` (or `RESET`/`OK`), so monitoring clients (prometheus' memcached_exporter,
//! memcached's own test library) never block on a bare `ERROR` for a subcommand they know.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::store::KvStore;

/// Runs `stats [subcommand]`.
pub(super) fn command<S: KvStore>(shared: &Shared<S>, args: &[&[u8]], out: &mut Vec<u8>) {
    let rows = match args {
        [] => general(shared),
        [b"settings"] => settings(shared),
        [b"items"] => items(shared),
        [b"slabs"] => vec![
            ("active_slabs".to_string(), "0".to_string()),
            ("total_malloced".to_string(), "0".to_string()),
        ],
        // Item sizes are not tracked (memcached's answer when its histogram is off).
        [b"sizes"] => vec![("sizes_status".to_string(), "disabled".to_string())],
        [b"conns"] => shared.conns.rows(shared.clock.now_millis()),
        [b"reset"] => {
            shared.items.counts.reset();
            shared.total_connections.store(0, Ordering::Relaxed);
            shared.rejected_connections.store(0, Ordering::Relaxed);
            return out.extend_from_slice(b"RESET\r\n");
        }
        // Per-prefix statistics are not kept: `on`/`off` are accepted, `dump` is empty.
        [b"detail", b"on" | b"off"] => return out.extend_from_slice(b"OK\r\n"),
        [b"detail", b"dump"] => Vec::new(),
        [b"detail", ..] => {
            return out.extend_from_slice(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n");
        }
        _ => return out.extend_from_slice(b"ERROR\r\n"),
    };
    for (k, v) in rows {
        let _ = write!(out, "STAT {k} {v}\r\n");
    }
    out.extend_from_slice(b"END\r\n");
}

fn rows<const N: usize>(rows: [(&str, String); N]) -> Vec<(String, String)> {
    rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `stats`, with memcached's names.
fn general<S: KvStore>(shared: &Shared<S>) -> Vec<(String, String)> {
    let items = &shared.items;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
    let store: HashMap<&str, u64> = items.store.counters().into_iter().collect();
    let counter = |name: &str| store.get(name).copied().unwrap_or(0).to_string();
    let mut out = rows([
        ("pid", std::process::id().to_string()),
        ("uptime", shared.started.elapsed().as_secs().to_string()),
        ("time", (shared.clock.now_millis() / 1000).to_string()),
        ("version", super::VERSION.to_string()),
        (
            "pointer_size",
            (8 * std::mem::size_of::<usize>()).to_string(),
        ),
        ("curr_connections", load(&shared.curr_connections)),
        ("total_connections", load(&shared.total_connections)),
        ("rejected_connections", load(&shared.rejected_connections)),
        ("max_connections", shared.config.max_connections.to_string()),
    ]);
    out.extend(
        items
            .counts
            .rows()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    out.extend(rows([
        ("limit_maxbytes", shared.config.limit_maxbytes.to_string()),
        ("threads", shared.config.threads.to_string()),
        ("bytes", counter("live_bytes")),
        ("curr_items", items.count().to_string()),
        ("evictions", counter("evictions")),
        // Not memcached's: the store's fsyncs (group commit shares them among writers), and
        // the bytes of values read and not yet stored (bounded by --memcached-inflight).
        ("logcache_syncs", counter("syncs")),
        (
            "logcache_inflight_bytes",
            shared.inflight_bytes().to_string(),
        ),
    ]));
    out
}

/// `stats settings`: what a client sizes itself by.
fn settings<S: KvStore>(shared: &Shared<S>) -> Vec<(String, String)> {
    let c = &shared.config;
    rows([
        ("maxbytes", c.limit_maxbytes.to_string()),
        ("maxconns", c.max_connections.to_string()),
        ("tcpport", c.listen.port().to_string()),
        ("num_threads", c.threads.to_string()),
        ("item_size_max", c.max_item_size.to_string()),
        ("cas_enabled", "yes".to_string()),
        ("idle_timeout", c.idle_timeout.as_secs().to_string()),
        ("binding_protocol", "ascii".to_string()),
        ("flush_enabled", "yes".to_string()),
    ])
}

/// `stats items`: the items as one class (the log has no slab classes).
fn items<S: KvStore>(shared: &Shared<S>) -> Vec<(String, String)> {
    let n = shared.items.count();
    if n == 0 {
        return Vec::new();
    }
    vec![("items:1:number".to_string(), n.to_string())]
}

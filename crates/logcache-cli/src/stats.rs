//! `logcache stats [--json]`: the objects' counters and the store's; on a ring, each node
//! (up or down, requests, errors, latency); on one `http://` node, that server's `/v1/stats`.

use logcache::{KvStore, NodeStats, StoreSpec};

use crate::target::Target;
use crate::{Cli, outln};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let spec = cli.spec()?;
    let target = Target::open(cli)?;
    let (rows, nodes) = match &target {
        Target::Server(node) => {
            // The server's sections, flattened: `objects` and `store` keep their names, the
            // server's own counters are prefixed with their section.
            let mut rows = Vec::new();
            for (section, values) in node.node_stats()? {
                for (k, v) in values {
                    let name = match section.as_str() {
                        "objects" => k,
                        "store" if rows.iter().any(|(r, _)| *r == k) => format!("log_{k}"),
                        "store" => k,
                        other => format!("{other}_{k}"),
                    };
                    rows.push((name, v));
                }
            }
            (rows, Vec::new())
        }
        Target::Cache(cache) => {
            // The objects' counters, then the store's (prefixed where a name would repeat).
            let mut rows: Vec<(String, u64)> = cache
                .stats()
                .counters()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            for (k, v) in KvStore::counters(cache.store()) {
                let name = if rows.iter().any(|(r, _)| r == k) {
                    format!("log_{k}")
                } else {
                    k.to_string()
                };
                rows.push((name, v));
            }
            let nodes = cache
                .store()
                .ring_stats()
                .map(|s| s.nodes)
                .unwrap_or_default();
            (rows, nodes)
        }
    };
    if a.json {
        // serde_json escapes what a path may hold (quotes, backslashes, control bytes).
        let mut doc = serde_json::Map::new();
        doc.insert("store".into(), spec.to_string().into());
        if let StoreSpec::Path(path) = &spec {
            doc.insert("data".into(), path.to_string_lossy().into_owned().into());
        }
        for (k, v) in rows.iter() {
            doc.insert(k.clone(), (*v).into());
        }
        if !nodes.is_empty() {
            let nodes: Vec<serde_json::Value> = nodes.iter().map(node_json).collect();
            doc.insert("nodes".into(), nodes.into());
        }
        outln!("{}", serde_json::Value::Object(doc))?;
        return Ok(());
    }
    match &spec {
        StoreSpec::Path(path) => outln!("{:<20} {}", "data", path.display())?,
        other => outln!("{:<20} {other}", "store")?,
    }
    for (k, v) in rows {
        outln!("{k:<20} {v}")?;
    }
    if !nodes.is_empty() {
        outln!()?;
        outln!(
            "{:<24} {:<5} {:>10} {:>8} {:>6} {:>16} {:>15}",
            "node",
            "state",
            "requests",
            "errors",
            "downs",
            "latency_us_mean",
            "latency_us_max"
        )?;
        for n in &nodes {
            outln!(
                "{:<24} {:<5} {:>10} {:>8} {:>6} {:>16} {:>15}",
                n.name,
                if n.up { "up" } else { "down" },
                n.requests,
                n.errors,
                n.downs,
                n.latency_us_mean,
                n.latency_us_max
            )?;
        }
    }
    Ok(())
}

fn node_json(n: &NodeStats) -> serde_json::Value {
    serde_json::json!({
        "name": n.name,
        "up": n.up,
        "requests": n.requests,
        "errors": n.errors,
        "downs": n.downs,
        "ups": n.ups,
        "latency_us_mean": n.latency_us_mean,
        "latency_us_max": n.latency_us_max,
    })
}

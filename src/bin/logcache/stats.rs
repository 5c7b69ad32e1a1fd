//! `logcache stats [--json]`

use crate::{Cli, open, outln};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    use logcache::KvStore;

    let cache = open(&cli.data)?;
    // The objects' counters, then the log's (prefixed where a name would repeat).
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
    if a.json {
        // serde_json escapes what a path may hold (quotes, backslashes, control bytes).
        let mut doc = serde_json::Map::new();
        doc.insert(
            "data".into(),
            cli.data.to_string_lossy().into_owned().into(),
        );
        for (k, v) in rows.iter() {
            doc.insert(k.clone(), (*v).into());
        }
        outln!("{}", serde_json::Value::Object(doc))?;
    } else {
        outln!("{:<20} {}", "data", cli.data.display())?;
        for (k, v) in rows {
            outln!("{k:<20} {v}")?;
        }
    }
    Ok(())
}

//! `logcache ls [PREFIX] [--json]`

use crate::target::Target;
use crate::{Cli, escape, outln};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only objects whose key starts with this.
    prefix: Option<String>,
    /// One JSON array of `{"key", "size"}` (keys as text, non-UTF-8 bytes replaced) instead of
    /// lines of size and escaped key.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let listed = Target::open(cli)?.list(a.prefix.as_deref().unwrap_or(""))?;
    if a.json {
        let doc: Vec<serde_json::Value> = listed
            .iter()
            .map(|(key, size)| {
                serde_json::json!({ "key": String::from_utf8_lossy(key), "size": size })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(doc))?;
        return Ok(());
    }
    for (key, size) in listed {
        outln!("{size}\t{}", escape(&key))?;
    }
    Ok(())
}

//! `logcache stats [--json]`

use crate::{Cli, open};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let cache = open(&cli.data)?;
    let d = cache.store().stats();
    let b = cache.stats();
    let rows: Vec<(&str, u64)> = vec![
        ("objects", b.objects),
        ("blocks", b.used_blocks),
        ("block_size", b.block_size),
        ("live_keys", d.live_keys),
        ("live_bytes", d.live_bytes),
        ("dead_bytes", d.dead_bytes),
        ("file_bytes", d.file_bytes),
        ("stale_records", d.stale_records),
        ("compactions", d.compactions),
        ("records_replayed", d.recovery.records_replayed),
        ("damaged_regions", d.recovery.damaged_regions),
        ("torn_tail_bytes", d.recovery.torn_tail_bytes),
        ("orphans_removed", b.orphans_removed),
    ];
    if a.json {
        let body: Vec<String> = rows.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        println!(
            "{{\"data\":\"{}\",{}}}",
            cli.data
                .display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\""),
            body.join(",")
        );
    } else {
        println!("{:<18} {}", "data", cli.data.display());
        for (k, v) in rows {
            println!("{k:<18} {v}");
        }
    }
    Ok(())
}

//! `logcache check`: exit 0 when everything is intact, 1 when anything is damaged, 2 when the
//! check could not run. Read-only from start to end: the log is opened read-only, so nothing
//! is repaired, truncated or removed, and a second run reports the same.

use std::process::ExitCode;

use logcache::{BigCache, DEFAULT_MAX_VALUE_LEN, DurableKVCache, LogItem, Verification, read_log};

use crate::{Cli, broken_pipe, escape, outln, progress};

pub fn run(cli: &Cli) -> ExitCode {
    match check(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logcache: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check(cli: &Cli) -> anyhow::Result<bool> {
    let path = cli.log_path("check")?;
    let spin = progress::spinner(cli.quiet, "checking records");
    let mut damaged = Vec::new();
    let sum = read_log(&path, DEFAULT_MAX_VALUE_LEN, |item| {
        if let LogItem::Damaged { offset, len } = item {
            damaged.push((offset, len));
        }
    })?;
    for (offset, len) in &damaged {
        outln!("damaged record: {len} bytes at offset {offset}")?;
    }
    if sum.torn_tail_bytes > 0 {
        // What a crash in the middle of a write leaves: never acknowledged, not damage.
        outln!(
            "torn tail: {} bytes after offset {} (an interrupted write, not damage; the next \
             open that writes cuts it)",
            sum.torn_tail_bytes,
            sum.data_end
        )?;
    }
    // Then the objects: every manifest, every block, every checksum, through a read-only
    // handle (no accounting rebuilt, no orphan removed).
    spin.set_message("checking objects");
    let store = DurableKVCache::builder(&path)
        .read_only(true)
        .hint_file(false)
        .open()?;
    let Verification {
        objects, problems, ..
    } = BigCache::builder(store).verify()?.unwrap_or_default();
    spin.finish_and_clear();
    for p in &problems {
        outln!("damaged object {}: {}", escape(&p.key), p.problem)?;
    }
    let ok = damaged.is_empty() && problems.is_empty();
    outln!(
        "{}: {} records, {} objects checked",
        if ok { "ok" } else { "DAMAGED" },
        sum.records,
        objects
    )?;
    Ok(ok)
}

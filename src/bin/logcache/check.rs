//! `logcache check`: exit 0 when everything is intact, 1 when anything is damaged, 2 when the
//! check could not run.

use std::process::ExitCode;

use logcache::{DEFAULT_MAX_VALUE_LEN, LogItem, read_log};

use crate::{Cli, escape, open, progress};

pub fn run(cli: &Cli) -> ExitCode {
    match check(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("logcache: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check(cli: &Cli) -> anyhow::Result<bool> {
    let spin = progress::spinner(cli.quiet, "checking records");
    // First read-only, so that nothing is repaired before it is reported.
    let mut damaged = Vec::new();
    let sum = read_log(&cli.data, DEFAULT_MAX_VALUE_LEN, |item| {
        if let LogItem::Damaged { offset, len } = item {
            damaged.push((offset, len));
        }
    })?;
    for (offset, len) in &damaged {
        println!("damaged record: {len} bytes at offset {offset}");
    }
    if sum.torn_tail_bytes > 0 {
        println!(
            "torn tail: {} bytes after offset {} (cut at the next open)",
            sum.torn_tail_bytes, sum.data_end
        );
    }
    // Then the objects: every manifest, every block, every checksum.
    spin.set_message("checking objects");
    let cache = open(&cli.data)?;
    let problems = cache.verify()?.unwrap_or_default();
    spin.finish_and_clear();
    for p in &problems {
        println!("damaged object {}: {}", escape(&p.key), p.problem);
    }
    let ok = damaged.is_empty() && sum.torn_tail_bytes == 0 && problems.is_empty();
    println!(
        "{}: {} records, {} objects checked",
        if ok { "ok" } else { "DAMAGED" },
        sum.records,
        cache.stats().objects
    );
    Ok(ok)
}

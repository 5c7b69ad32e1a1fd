//! `logcache compact`

use crate::{Cli, open, progress};

pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let cache = open(&cli.data)?;
    let before = cache.store().stats().file_bytes;
    let spin = progress::spinner(cli.quiet, "compacting");
    cache.store().compact()?;
    spin.finish_and_clear();
    let s = cache.store().stats();
    if !cli.quiet {
        eprintln!(
            "compacted in {:.2?}: {before} -> {} bytes ({} reclaimed)",
            s.last_compaction,
            s.file_bytes,
            before.saturating_sub(s.file_bytes)
        );
    }
    Ok(())
}

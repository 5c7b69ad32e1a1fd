//! `logcache compact`

use logcache::{BigCache, Durability, DurableKVCache};

use crate::{Cli, progress};

pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let path = cli.log_path("compact")?;
    let store = DurableKVCache::builder(&path)
        .durability(Durability::None)
        .open()?;
    let cache = BigCache::new(store)?;
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

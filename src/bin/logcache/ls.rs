//! `logcache ls [PREFIX]`

use crate::{Cli, escape, open, outln};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only objects whose key starts with this.
    prefix: Option<String>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let cache = open(&cli.data)?;
    let keys = cache
        .keys(a.prefix.as_deref().unwrap_or(""))?
        .unwrap_or_default();
    for key in keys {
        if let Some(size) = cache.size_of(&key)? {
            outln!("{size}\t{}", escape(&key))?;
        }
    }
    Ok(())
}

//! `logcache del KEY`

use anyhow::bail;

use crate::{Cli, open};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The object's key.
    key: String,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let cache = open(&cli.data)?;
    if !cache.delete(&a.key)? {
        bail!("no object {:?}", a.key);
    }
    cache.store().sync()?;
    Ok(())
}

//! `logcache del KEY`

use anyhow::bail;

use crate::Cli;
use crate::target::Target;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The object's key.
    key: String,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    if !Target::open(cli)?.delete(&a.key)? {
        bail!("no object {:?}", a.key);
    }
    Ok(())
}

//! `logcache put KEY [FILE|-]`

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;

use crate::target::Target;
use crate::{Cli, escape, progress};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The object's key.
    key: String,
    /// The file to store; `-` or nothing for standard input.
    file: Option<PathBuf>,
    /// Seconds until the object expires (reads as absent afterwards); at least 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    ttl: Option<u64>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let (input, total): (Box<dyn Read>, Option<u64>) = match &a.file {
        Some(p) if p.as_os_str() != "-" => {
            let f =
                std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
        _ => (Box::new(std::io::stdin().lock()), None),
    };
    let target = Target::open(cli)?;
    let bar = progress::bytes(cli.quiet, total, &format!("put {}", a.key));
    let mut input = bar.wrap_read(input);
    let ttl = a.ttl.map(std::time::Duration::from_secs);
    let size = target.put(&a.key, &mut input, ttl)?;
    bar.finish_and_clear();
    if !cli.quiet {
        eprintln!("stored {} ({size} bytes)", escape(a.key.as_bytes()));
    }
    Ok(())
}

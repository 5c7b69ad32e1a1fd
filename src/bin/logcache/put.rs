//! `logcache put KEY [FILE|-]`

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::{Cli, escape, open, progress};

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
    let (mut input, total): (Box<dyn Read>, Option<u64>) = match &a.file {
        Some(p) if p.as_os_str() != "-" => {
            let f =
                std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
        _ => (Box::new(std::io::stdin().lock()), None),
    };
    let cache = open(&cli.data)?;
    let bar = progress::bytes(cli.quiet, total, &format!("put {}", a.key));
    let mut w = match a.ttl {
        Some(secs) => cache.writer_with_ttl(&a.key, std::time::Duration::from_secs(secs))?,
        None => cache.writer(&a.key)?,
    };
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the input"),
        };
        w.write_all(&buf[..n]).context("storing a block")?;
        bar.inc(n as u64);
    }
    let size = w.written();
    w.commit()?;
    cache.store().sync()?;
    bar.finish_and_clear();
    if !cli.quiet {
        eprintln!("stored {} ({size} bytes)", escape(a.key.as_bytes()));
    }
    Ok(())
}

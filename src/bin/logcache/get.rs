//! `logcache get KEY [-o FILE]`

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::{Cli, open, progress};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The object's key.
    key: String,
    /// Write to this file instead of standard output (created or truncated).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let cache = open(&cli.data)?;
    let Some(mut r) = cache.reader(&a.key)? else {
        bail!("no object {:?}", a.key);
    };
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let bar = progress::bytes(cli.quiet, Some(r.len()), &format!("get {}", a.key));
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = r.read(&mut buf).context("reading the object")?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).context("writing the output")?;
        bar.inc(n as u64);
    }
    out.flush().context("writing the output")?;
    bar.finish_and_clear();
    Ok(())
}

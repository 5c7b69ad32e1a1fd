//! `logcache get KEY [-o FILE]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::target::Target;
use crate::{Cli, progress};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The object's key.
    key: String,
    /// Write to this file instead of standard output (created or truncated).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let target = Target::open(cli)?;
    let Some((reader, len)) = target.get(&a.key)? else {
        bail!("no object {:?}", a.key);
    };
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let bar = progress::bytes(cli.quiet, len, &format!("get {}", a.key));
    let mut reader = bar.wrap_read(reader);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match std::io::Read::read(&mut reader, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the object"),
        };
        out.write_all(&buf[..n]).context("writing the output")?;
    }
    out.flush().context("writing the output")?;
    bar.finish_and_clear();
    Ok(())
}

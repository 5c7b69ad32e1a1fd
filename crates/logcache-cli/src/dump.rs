//! `logcache dump`

use logcache::{DEFAULT_MAX_VALUE_LEN, LogItem, read_log};

use crate::{Cli, escape, outln};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Value bytes shown per record (the rest is summarised).
    #[arg(long, default_value_t = 64)]
    max_value: usize,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<()> {
    let path = cli.log_path("dump")?;
    // The first failed write to standard output (a closed pipe) ends the output.
    let mut failed: Option<std::io::Error> = None;
    let sum = read_log(&path, DEFAULT_MAX_VALUE_LEN, |item| {
        if failed.is_some() {
            return;
        }
        let written = match item {
            LogItem::Record(r) => {
                let shown = &r.value[..r.value.len().min(a.max_value)];
                let more = if r.value.len() > shown.len() {
                    format!(" ... ({} bytes)", r.value.len())
                } else {
                    String::new()
                };
                outln!(
                    "{}\t{}\t{}\t{}\t{}\t{}{more}",
                    r.offset,
                    r.seq,
                    if r.put { "P" } else { "D" },
                    r.expiry,
                    escape(&r.key),
                    escape(shown)
                )
            }
            LogItem::Damaged { offset, len } => outln!("{offset}\tDAMAGED\t{len} bytes"),
        };
        failed = written.err();
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !cli.quiet {
        eprintln!(
            "{} records, {} damaged regions ({} bytes), torn tail {} bytes",
            sum.records, sum.damaged_regions, sum.damaged_bytes, sum.torn_tail_bytes
        );
    }
    Ok(())
}

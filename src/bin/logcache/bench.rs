//! `logcache bench [--quick] [--repeat N] [--json FILE] [WORKLOAD...]`: the benchmark runner of
//! docs/BENCHMARKS.md (the same source as `cargo run --release --example bench`).

#[allow(dead_code, clippy::all)]
#[path = "../../../examples/bench/runner.rs"]
mod runner;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Runner arguments: `--quick`, `--repeat N`, `--json FILE`, workload names.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    runner::run(a.args.clone(), &["bench"]).map_err(|e| anyhow::anyhow!("{e}"))
}

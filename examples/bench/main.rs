//! The benchmark runner as an example: `cargo run --release --example bench -- [--quick] ...`.
//! The same runner is `logcache bench`; see `runner.rs` and docs/BENCHMARKS.md.

mod runner;

fn main() -> runner::Res<()> {
    runner::run(std::env::args().skip(1).collect(), &[])
}

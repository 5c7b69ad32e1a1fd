//! Throughput of 1 MiB blocks to memcached: `MemcachedStore` on one server and `ShardedStore`
//! over three, next to a plain loop of the memcached text protocol in the same run; then small
//! items over 16 connections to memcached and to `logcache serve --memcached` (nodes.rs).
//!
//! ```text
//! cargo run --release -p logcache-bench --bin memcached             # 512 blocks per round
//! cargo run --release -p logcache-bench --bin memcached -- --quick  # 64
//! ```
//!
//! Starts its own memcached servers (`-I 2m -m 1024`, so a 1 MiB value fits) on free
//! loopback ports and kills them at the end; needs `memcached` on the PATH. Every path sets
//! then gets the same keys from one client thread (the ring also with 4 threads); 3 rounds,
//! medians. The logcache-node rows need `target/release/logcache` (`cargo build --release -p
//! logcache-cli`); without it they are skipped with a note.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logcache::{KvStore, MemcachedStore, ShardedStore};

mod nodes;

const BLOCK: usize = 1 << 20;

pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_memcached() -> Result<Server, Box<dyn std::error::Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut cmd = Command::new("memcached");
    cmd.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
        .args(["-I", "2m", "-m", "1024", "-t", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if std::env::var("USER").as_deref() == Ok("root") || is_root() {
        cmd.args(["-u", "root"]);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start memcached (is it installed?): {e}"))?;
    let server = Server {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&server.addr).is_err() {
        if Instant::now() > deadline {
            return Err("memcached did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(server)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")))
        .unwrap_or(false)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let count = if quick { 64 } else { 512 };
    let single = start_memcached()?;
    let trio = [start_memcached()?, start_memcached()?, start_memcached()?];
    let block: Vec<u8> = (0..BLOCK).map(|i| (i * 31 % 251) as u8).collect();
    let keys: Vec<String> = (0..count).map(|i| format!("block:{i}")).collect();

    let one = MemcachedStore::connect(&single.addr)?;
    let ring = |r: usize| -> Result<ShardedStore<MemcachedStore>, logcache::Error> {
        ShardedStore::new(
            trio.iter()
                .map(|s| Ok((s.addr.clone(), MemcachedStore::connect(&s.addr)?)))
                .collect::<Result<Vec<_>, logcache::Error>>()?,
            r,
        )
    };
    let ring1 = Arc::new(ring(1)?);
    let ring2 = ring(2)?;

    let total = (count * BLOCK) as f64;
    let mbs = |d: Duration| total / d.as_secs_f64() / 1e6;
    // [set, get] per path, per round.
    let paths = [
        "text protocol loop, 1 server",
        "MemcachedStore, 1 server",
        "ShardedStore, 3 servers, R=1",
        "ShardedStore, 3 servers, R=2",
        "ShardedStore, 3 servers, R=1, 4 threads",
    ];
    let mut rows: Vec<[Vec<f64>; 2]> = paths.iter().map(|_| Default::default()).collect();
    for _round in 0..3 {
        let (s, g) = raw_loop(&single.addr, &keys, &block)?;
        rows[0][0].push(mbs(s));
        rows[0][1].push(mbs(g));
        for (i, store) in [&one as &dyn KvStore, &*ring1, &ring2]
            .into_iter()
            .enumerate()
        {
            let (s, g) = store_loop(store, &keys, &block)?;
            rows[i + 1][0].push(mbs(s));
            rows[i + 1][1].push(mbs(g));
        }
        let (s, g) = threaded(&ring1, &keys, &block, 4)?;
        rows[4][0].push(mbs(s));
        rows[4][1].push(mbs(g));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base: Vec<f64> = rows[0].iter_mut().map(med).collect();
    println!("{count} values of 1 MiB, one client thread unless said (median of 3 rounds):");
    println!("| path | set MB/s | get MB/s | set / loop | get / loop |");
    println!("|---|---|---|---|---|");
    for (name, row) in paths.iter().zip(rows.iter_mut()) {
        let (s, g) = (med(&mut row[0]), med(&mut row[1]));
        println!(
            "| {name} | {s:.0} | {g:.0} | {:.2} | {:.2} |",
            s / base[0],
            g / base[1]
        );
    }
    drop((single, trio));
    // target/release/memcached -> target/release/logcache
    let bin = std::env::current_exe()?
        .parent()
        .ok_or("cannot locate the target directory")?
        .join("logcache");
    nodes::run(&bin, quick)
}

/// `set` and `get` of every key over one raw text-protocol connection.
fn raw_loop(
    addr: &str,
    keys: &[String],
    block: &[u8],
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(64 << 10, stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    let t = Instant::now();
    for key in keys {
        out.write_all(format!("set {key} 0 0 {}\r\n", block.len()).as_bytes())?;
        out.write_all(block)?;
        out.write_all(b"\r\n")?;
        line.clear();
        reader.read_line(&mut line)?;
        if line != "STORED\r\n" {
            return Err(format!("set {key}: {line:?}").into());
        }
    }
    let set = t.elapsed();
    let t = Instant::now();
    let mut value = vec![0u8; block.len() + 2];
    for key in keys {
        out.write_all(format!("get {key}\r\n").as_bytes())?;
        line.clear();
        reader.read_line(&mut line)?;
        if !line.starts_with("VALUE") {
            return Err(format!("get {key}: {line:?}").into());
        }
        reader.read_exact(&mut value)?;
        line.clear();
        reader.read_line(&mut line)?; // END
    }
    Ok((set, t.elapsed()))
}

fn store_loop(
    store: &dyn KvStore,
    keys: &[String],
    block: &[u8],
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let t = Instant::now();
    for key in keys {
        store.set(key.as_bytes(), block)?;
    }
    let set = t.elapsed();
    let t = Instant::now();
    for key in keys {
        let v = store.get(key.as_bytes())?.ok_or("a block went missing")?;
        assert_eq!(v.len(), block.len());
    }
    Ok((set, t.elapsed()))
}

fn threaded(
    store: &Arc<ShardedStore<MemcachedStore>>,
    keys: &[String],
    block: &[u8],
    threads: usize,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let run = |get: bool| -> Duration {
        let t = Instant::now();
        std::thread::scope(|s| {
            for part in keys.chunks(keys.len().div_ceil(threads)) {
                s.spawn(move || {
                    for key in part {
                        if get {
                            let v = store.get(key.as_bytes()).ok().flatten();
                            assert_eq!(v.map(|v| v.len()), Some(block.len()));
                        } else if let Err(e) = store.set(key.as_bytes(), block) {
                            panic!("set {key}: {e}");
                        }
                    }
                });
            }
        });
        t.elapsed()
    };
    Ok((run(false), run(true)))
}

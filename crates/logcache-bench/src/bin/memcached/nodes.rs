//! Small items, many connections: real memcached next to `logcache serve --memcached` (with
//! `--durability none` and with `sync`), driven by the same load generator in the same run —
//! 16 client threads, one connection each, one request in flight per connection, values of
//! 100 bytes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::start_memcached;

const CONNECTIONS: usize = 16;
const VALUE: usize = 100;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A `logcache serve --memcached` process, killed when dropped.
struct Node {
    child: Child,
    addr: String,
    _dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn start_node(bin: &Path, durability: &str, tag: &str) -> Result<Node> {
    let dir = PathBuf::from(format!("target/memcached-bench-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut child = Command::new(bin)
        .arg("--quiet")
        .arg("--data")
        .arg(dir.join("items.log"))
        .args(["serve", "--no-http", "--memcached", "127.0.0.1:0"])
        .args(["--durability", durability])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("memcached protocol on ")
        .ok_or_else(|| format!("unexpected {line:?}"))?
        .to_string();
    Ok(Node {
        child,
        addr,
        _dir: dir,
    })
}

/// One request, its whole answer read (`END`-terminated for `get`, one line otherwise).
fn ask(c: &mut BufReader<TcpStream>, request: &[u8], get: bool) -> Result<()> {
    c.get_mut().write_all(request)?;
    let mut line = String::new();
    loop {
        line.clear();
        if c.read_line(&mut line)? == 0 {
            return Err("the server closed the connection".into());
        }
        if !get {
            if line != "STORED\r\n" {
                return Err(format!("set answered {line:?}").into());
            }
            return Ok(());
        }
        if line == "END\r\n" {
            return Ok(());
        }
        if line.starts_with("VALUE ") {
            let mut data = String::new();
            c.read_line(&mut data)?;
        }
    }
}

/// Sets then gets `per_conn` keys on each of [`CONNECTIONS`] connections; ops/s of each.
fn load(addr: &str, per_conn: usize) -> Result<(f64, f64)> {
    let value = vec![b'v'; VALUE];
    let phase = |get: bool| -> Result<f64> {
        let start = Instant::now();
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|t| {
                let addr = addr.to_string();
                let value = value.clone();
                std::thread::spawn(move || -> std::result::Result<(), String> {
                    let s = TcpStream::connect(&addr).map_err(|e| e.to_string())?;
                    s.set_nodelay(true).map_err(|e| e.to_string())?;
                    let mut c = BufReader::new(s);
                    for i in 0..per_conn {
                        let request = if get {
                            format!("get k{t}-{i}\r\n").into_bytes()
                        } else {
                            let mut r = format!("set k{t}-{i} 0 0 {VALUE}\r\n").into_bytes();
                            r.extend_from_slice(&value);
                            r.extend_from_slice(b"\r\n");
                            r
                        };
                        ask(&mut c, &request, get).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| "a client thread panicked")??;
        }
        Ok((CONNECTIONS * per_conn) as f64 / start.elapsed().as_secs_f64())
    };
    let set = phase(false)?;
    let get = phase(true)?;
    Ok((set, get))
}

/// A `stats` value of the server at `addr`.
fn stat(addr: &str, name: &str) -> Result<u64> {
    let mut c = BufReader::new(TcpStream::connect(addr)?);
    c.get_mut().write_all(b"stats\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if c.read_line(&mut line)? == 0 || line == "END\r\n" {
            return Err(format!("no stat {name}").into());
        }
        if let Some(v) = line.strip_prefix(&format!("STAT {name} ")) {
            return Ok(v.trim().parse()?);
        }
    }
}

/// The table: memcached and the logcache node (none, sync), median of 3 rounds each.
pub fn run(bin: &Path, quick: bool) -> Result<()> {
    if !bin.exists() {
        println!(
            "\n({} is missing: build it with `cargo build --release -p logcache-cli` for the \
             logcache-node rows)",
            bin.display()
        );
        return Ok(());
    }
    let per_conn = if quick { 500 } else { 5000 };
    let memcached = start_memcached()?;
    let none = start_node(bin, "none", "none")?;
    let sync = start_node(bin, "sync", "sync")?;
    let mut rows: [[Vec<f64>; 2]; 3] = Default::default();
    for _round in 0..3 {
        for (i, addr) in [&memcached.addr, &none.addr, &sync.addr]
            .into_iter()
            .enumerate()
        {
            let (s, g) = load(addr, per_conn)?;
            rows[i][0].push(s);
            rows[i][1].push(g);
        }
    }
    let syncs_per_set =
        stat(&sync.addr, "logcache_syncs")? as f64 / stat(&sync.addr, "cmd_set")?.max(1) as f64;
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let m: Vec<[f64; 2]> = rows.iter_mut().map(|[s, g]| [med(s), med(g)]).collect();
    println!();
    println!(
        "{CONNECTIONS} connections, one request in flight each, {VALUE}-byte values, \
         {per_conn} keys per connection (median of 3 rounds, ops/s):"
    );
    println!("| server | set ops/s | get ops/s | set / memcached | get / memcached |");
    println!("|---|---|---|---|---|");
    for (name, [s, g]) in [
        "memcached",
        "logcache --memcached, durability none",
        "logcache --memcached, durability sync",
    ]
    .iter()
    .zip(&m)
    {
        println!(
            "| {name} | {s:.0} | {g:.0} | {:.2} | {:.2} |",
            s / m[0][0],
            g / m[0][1]
        );
    }
    println!("(durability sync: {syncs_per_set:.3} fsyncs per set; group commit shares them)");
    Ok(())
}

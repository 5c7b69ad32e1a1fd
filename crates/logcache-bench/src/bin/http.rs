//! Object throughput through `logcache serve` over loopback, next to the same bytes put and got
//! with the `logcache` CLI on the embedded store and a plain-file baseline, and through
//! `logcache serve --store memcached://…` over three local memcached servers, in one run.
//!
//! ```text
//! cargo build --release -p logcache-cli
//! cargo run --release -p logcache-bench --bin http            # full size
//! cargo run --release -p logcache-bench --bin http -- --quick # 16 × 1 MiB, 1 × 64 MiB
//! ```
//!
//! For 1 MiB objects (128 of them) and 64 MiB objects (4), in 3 interleaved rounds (the
//! report takes the median):
//! - plain file: per object, create + write + `fdatasync`; read back whole;
//! - CLI: per object, `logcache put KEY FILE` and `logcache get KEY -o FILE` as processes
//!   (each opens the store, so a process start and a log replay are part of its cost);
//! - HTTP: one `logcache serve` process; a ureq client PUTs from memory and GETs into a
//!   buffer over one keep-alive connection;
//! - HTTP over memcached: the same, the server started with `--store memcached://A,B,C` (one
//!   copy of each block, then two), over three `memcached -m 1024 -I 1m` on loopback (skipped
//!   with a note when memcached is not installed).
//!
//! Then 1 MiB range GETs at scattered offsets of a 1 GiB object (64 MiB with `--quick`) next
//! to `pread`s of the same bytes from a plain file.
//!
//! The first three make each object durable before the next (fdatasync / the CLI's sync / the
//! server's sync before `200`); over memcached a `200` means every copy is stored in the
//! servers' memory. Works under `target/http-bench/`, removed at start and end.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut quick = false;
    let mut bin: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--bin" => bin = Some(args.next().ok_or("--bin needs a path")?.into()),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    // target/release/http -> target/release/logcache
    let bin = match bin {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .ok_or("cannot locate the target directory")?
            .join("logcache"),
    };
    if !bin.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p logcache-cli",
            bin.display()
        )
        .into());
    }
    let dir = Path::new("target/http-bench");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;

    let cases: [(usize, usize); 2] = if quick {
        [(1 << 20, 16), (64 << 20, 1)]
    } else {
        [(1 << 20, 128), (64 << 20, 4)]
    };
    println!(
        "loopback TCP, one connection, 1 GiB: {:.0} MB/s (the ceiling for any HTTP path)",
        loopback()? / 1e6
    );
    let memcached = Memcacheds::start(3);
    if memcached.is_none() {
        println!("(memcached is not installed: the rows over memcached are skipped)");
    }
    println!("| objects | path | PUT MB/s | GET MB/s | PUT / raw | GET / raw |");
    println!("|---|---|---|---|---|---|");
    for (size, count) in cases {
        let object: Vec<u8> = (0..size)
            .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes()[7])
            .collect();
        let source = dir.join("source.bin");
        std::fs::write(&source, &object)?;
        let total = (size * count) as f64;
        let mbs = |d: Duration| total / d.as_secs_f64() / 1e6;
        // [raw put, raw get, cli put, cli get, http put, http get, then over memcached with
        // one copy and with two]
        let mut rows: [Vec<f64>; 10] = Default::default();
        for round in 0..3 {
            let (put, get) = raw(dir, &object, count)?;
            rows[0].push(mbs(put));
            rows[1].push(mbs(get));
            let (put, get) = cli(&bin, dir, &source, count, round)?;
            rows[2].push(mbs(put));
            rows[3].push(mbs(get));
            let data = dir.join(format!("http-{round}.log"));
            let store = ["--data".to_string(), data.display().to_string()];
            let (put, get) = http(&bin, &object, count, &store)?;
            rows[4].push(mbs(put));
            rows[5].push(mbs(get));
            let _ = std::fs::remove_file(&data);
            if let Some(m) = &memcached {
                for (replicas, at) in [(1, 6), (2, 8)] {
                    let spec = format!("memcached://{}?replicas={replicas}", m.addrs.join(","));
                    let (put, get) = http(&bin, &object, count, &["--store".into(), spec])?;
                    rows[at].push(mbs(put));
                    rows[at + 1].push(mbs(get));
                }
            }
        }
        let m: Vec<f64> = rows.iter_mut().map(|r| median(r)).collect();
        let label = format!("{count} × {} MiB", size >> 20);
        let mut paths = vec![
            ("plain file", m[0], m[1]),
            ("CLI, embedded store", m[2], m[3]),
            ("HTTP, loopback", m[4], m[5]),
        ];
        if memcached.is_some() {
            paths.push(("HTTP, 3 memcached, 1 copy", m[6], m[7]));
            paths.push(("HTTP, 3 memcached, 2 copies", m[8], m[9]));
        }
        for (path, put, get) in paths {
            println!(
                "| {label} | {path} | {put:.0} | {get:.0} | {:.2} | {:.2} |",
                put / m[0],
                get / m[1]
            );
        }
    }
    ranges(&bin, dir, if quick { 64 << 20 } else { 1 << 30 })?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// 1 MiB range GETs at scattered offsets of one large object, next to `pread`s of the same
/// bytes from a plain file: what seeking in a video or a Parquet file costs.
fn ranges(bin: &Path, dir: &Path, size: u64) -> Result<(), Box<dyn std::error::Error>> {
    use std::os::unix::fs::FileExt;
    const PIECE: u64 = 1 << 20;
    let data = dir.join("ranges.log");
    let store = ["--data".to_string(), data.display().to_string()];
    let (mut server, url, agent) = serve(bin, &store)?;
    // The object and the plain file hold the same bytes, written in 1 MiB pieces.
    let plain = dir.join("ranges.bin");
    let mut f = std::fs::File::create(&plain)?;
    let piece: Vec<u8> = (0..PIECE).map(|i| (i * 31 % 251) as u8).collect();
    for _ in 0..size / PIECE {
        f.write_all(&piece)?;
    }
    f.sync_data()?;
    let file = std::fs::File::open(&plain)?;
    let body = ureq::SendBody::from_owned_reader(std::fs::File::open(&plain)?);
    agent.put(format!("{url}/v1/objects/big")).send(body)?;
    let count = 64u64;
    let offsets: Vec<u64> = (0..count)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (size - PIECE)) & !4095)
        .collect();
    let mut buf = vec![0u8; PIECE as usize];
    let (mut http, mut raw) = (Vec::new(), Vec::new());
    for &at in &offsets {
        let t = Instant::now();
        let mut r = agent
            .get(format!("{url}/v1/objects/big"))
            .header("Range", format!("bytes={at}-{}", at + PIECE - 1))
            .call()?;
        let got = r.body_mut().with_config().limit(2 * PIECE).read_to_vec()?;
        http.push(t.elapsed().as_secs_f64());
        assert_eq!(got.len() as u64, PIECE);
        let t = Instant::now();
        file.read_exact_at(&mut buf, at)?;
        raw.push(t.elapsed().as_secs_f64());
        assert!(got == buf, "range bytes differ from the file");
    }
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()?;
    server.wait()?;
    let (h, r) = (median(&mut http), median(&mut raw));
    println!();
    println!(
        "1 MiB range GETs of a {} MiB object, {count} scattered offsets (median):",
        size >> 20
    );
    println!("| path | ms per range | MB/s | / pread |");
    println!("|---|---|---|---|");
    println!(
        "| pread, plain file | {:.2} | {:.0} | 1.00 |",
        r * 1e3,
        PIECE as f64 / r / 1e6
    );
    println!(
        "| HTTP range GET | {:.2} | {:.0} | {:.2} |",
        h * 1e3,
        PIECE as f64 / h / 1e6,
        r / h
    );
    let _ = std::fs::remove_file(&data);
    let _ = std::fs::remove_file(&plain);
    Ok(())
}

/// Bytes per second through one loopback TCP connection (writer thread to reader), 1 GiB.
fn loopback() -> std::io::Result<f64> {
    const TOTAL: usize = 1 << 30;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut s = std::net::TcpStream::connect(addr)?;
        let buf = vec![7u8; 256 << 10];
        for _ in 0..TOTAL / buf.len() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let (mut s, _) = listener.accept()?;
    let t = Instant::now();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0;
    while n < TOTAL {
        match s.read(&mut buf)? {
            0 => break,
            k => n += k,
        }
    }
    let secs = t.elapsed().as_secs_f64();
    writer
        .join()
        .map_err(|_| std::io::Error::other("writer panicked"))??;
    Ok(n as f64 / secs)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Local memcached servers on free loopback ports, killed when dropped.
struct Memcacheds {
    children: Vec<std::process::Child>,
    addrs: Vec<String>,
}

impl Memcacheds {
    /// `n` servers, or `None` when memcached cannot be started here.
    fn start(n: usize) -> Option<Memcacheds> {
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()?
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        let mut m = Memcacheds {
            children: Vec::new(),
            addrs: Vec::new(),
        };
        for _ in 0..n {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let mut cmd = Command::new("memcached");
            cmd.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
                .args(["-m", "1024", "-I", "1m"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if root {
                cmd.args(["-u", "root"]);
            }
            m.children.push(cmd.spawn().ok()?);
            let addr = format!("127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(&addr).is_err() {
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            m.addrs.push(addr);
        }
        Some(m)
    }
}

impl Drop for Memcacheds {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Per object: create + write + fdatasync; then each read back whole.
fn raw(dir: &Path, object: &[u8], count: usize) -> std::io::Result<(Duration, Duration)> {
    let files = dir.join("raw");
    let _ = std::fs::remove_dir_all(&files);
    std::fs::create_dir_all(&files)?;
    let t = Instant::now();
    for i in 0..count {
        let mut f = std::fs::File::create(files.join(i.to_string()))?;
        f.write_all(object)?;
        f.sync_data()?;
    }
    let put = t.elapsed();
    let t = Instant::now();
    let mut buf = Vec::with_capacity(object.len());
    for i in 0..count {
        buf.clear();
        std::fs::File::open(files.join(i.to_string()))?.read_to_end(&mut buf)?;
        assert_eq!(buf.len(), object.len());
    }
    Ok((put, t.elapsed()))
}

fn run(cmd: &mut Command) -> Result<(), Box<dyn std::error::Error>> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// `logcache put` / `logcache get -o` per object, each a process.
fn cli(
    bin: &Path,
    dir: &Path,
    source: &Path,
    count: usize,
    round: usize,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let data = dir.join(format!("cli-{round}.log"));
    let out = dir.join("out.bin");
    // `logcache put object/I SOURCE` or `logcache get object/I -o OUT` per object, timed.
    let each = |verb: &str| -> Result<Duration, Box<dyn std::error::Error>> {
        let t = Instant::now();
        for i in 0..count {
            let mut cmd = Command::new(bin);
            cmd.arg("--quiet")
                .arg("--data")
                .arg(&data)
                .args([verb, &format!("object/{i}")]);
            match verb {
                "get" => cmd.arg("-o").arg(&out),
                _ => cmd.arg(source),
            };
            run(&mut cmd)?;
        }
        Ok(t.elapsed())
    };
    let put = each("put")?;
    let get = each("get")?;
    for f in [&data, &out] {
        let _ = std::fs::remove_file(f);
    }
    Ok((put, get))
}

/// `logcache serve` on `store` (its store arguments) on a free port: the process, its URL, and
/// an agent for it.
fn serve(
    bin: &Path,
    store: &[String],
) -> Result<(std::process::Child, String, ureq::Agent), Box<dyn std::error::Error>> {
    let mut server = Command::new(bin)
        .arg("--quiet")
        .args(store)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(server.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("unexpected {line:?}"))?
        .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    Ok((server, url, agent))
}

/// PUT then GET each object through one `logcache serve` on `store` (its store arguments).
fn http(
    bin: &Path,
    object: &[u8],
    count: usize,
    store: &[String],
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let (mut server, url, agent) = serve(bin, store)?;
    let t = Instant::now();
    for i in 0..count {
        agent
            .put(format!("{url}/v1/objects/object/{i}"))
            .send(object)?;
    }
    let put = t.elapsed();
    let t = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..count {
        let mut resp = agent.get(format!("{url}/v1/objects/object/{i}")).call()?;
        let mut reader = resp.body_mut().as_reader();
        let mut n = 0;
        loop {
            match reader.read(&mut buf)? {
                0 => break,
                k => n += k,
            }
        }
        assert_eq!(n, object.len());
    }
    let get = t.elapsed();
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()?;
    server.wait()?;
    Ok((put, get))
}

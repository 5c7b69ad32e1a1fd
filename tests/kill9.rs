//! Real-process crash tests, independent of the simulated file system:
//!
//! - kill -9: a child process writes with `Durability::Sync` (compaction on), printing each
//!   operation before it starts and after it is acknowledged; the parent SIGKILLs it after a
//!   random delay (some long enough to land inside a compaction), reopens the log, checks that
//!   every acknowledged operation is there and the one in flight is whole or absent, and goes
//!   on from the recovered state. `LOGCACHE_KILL_CYCLES` sets the number of cycles (100).
//! - disk full: a child with a small RLIMIT_FSIZE writes until the limit: it must get an error
//!   (not a crash), and a reopen without the limit has every acknowledged write.
//!
//! This binary is its own child (`LOGCACHE_TEST_CHILD` selects the role); `harness = false`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logcache::{Durability, DurableKVCache};

const ROLE: &str = "LOGCACHE_TEST_CHILD";

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("writer") => child_writer(),
        Ok("fill") => child_fill(),
        _ => {
            let started = Instant::now();
            let mut passed = 0;
            kill9_cycles();
            passed += 1;
            disk_full();
            passed += 1;
            println!(
                "kill9: {passed} passed, 0 failed ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

fn log_path(dir: &str) -> std::path::PathBuf {
    Path::new(dir).join("cache.log")
}

/// Deterministic value for operation `op` of cycle `cycle`: length varies, content checkable.
fn value_for(cycle: u64, op: u64) -> String {
    let pad = ((cycle * 7919 + op * 104_729) % 700) as usize;
    format!("c{cycle}o{op}-{}", "v".repeat(pad))
}

/// Child: writes forever (until killed), announcing each operation and its acknowledgement.
fn child_writer() {
    let dir = std::env::var("LOGCACHE_DIR").expect("LOGCACHE_DIR");
    let cycle: u64 = std::env::var("LOGCACHE_CYCLE")
        .expect("cycle")
        .parse()
        .expect("cycle");
    let cache = DurableKVCache::builder(log_path(&dir))
        .durability(Durability::Sync)
        .compaction_threshold(40)
        .open()
        .expect("child open");
    let mut out = std::io::stdout().lock();
    for op in 0.. {
        let key = format!("k{}", (cycle * 31 + op * 17) % 23);
        let delete = (cycle + op).is_multiple_of(9);
        if delete {
            writeln!(out, "begin {key} -").unwrap();
            out.flush().unwrap();
            cache.delete(&key).expect("delete");
        } else {
            let value = value_for(cycle, op);
            writeln!(out, "begin {key} {value}").unwrap();
            out.flush().unwrap();
            cache.put(&key, &value).expect("put");
        }
        writeln!(out, "ack").unwrap();
        out.flush().unwrap();
    }
}

/// What the parent knows a key may hold.
type Model = BTreeMap<String, Option<String>>;

fn kill9_cycles() {
    let cycles: u64 = std::env::var("LOGCACHE_KILL_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let dir_s = dir.path().to_str().unwrap().to_string();
    let exe = std::env::current_exe().unwrap();
    let mut model: Model = BTreeMap::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let (mut acked_total, mut in_flight_seen, mut mid_compaction) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for cycle in 0..cycles {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Mostly short lives; one in five long enough for compactions to run.
        let delay = if rng.is_multiple_of(5) {
            40 + rng % 160
        } else {
            rng % 25
        };
        let mut child = Command::new(&exe)
            .env(ROLE, "writer")
            .env("LOGCACHE_DIR", &dir_s)
            .env("LOGCACHE_CYCLE", cycle.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "cycle {cycle}: the writer exited on its own: {status}"
        );
        let lines = reader.join().unwrap();

        // Replay the child's transcript onto the model.
        let mut in_flight: Option<(String, Option<String>)> = None;
        for line in &lines {
            if let Some(rest) = line.strip_prefix("begin ") {
                let (key, value) = rest.split_once(' ').unwrap();
                in_flight = Some((key.to_string(), (value != "-").then(|| value.to_string())));
            } else if line == "ack" {
                let (key, value) = in_flight.take().unwrap();
                model.insert(key, value);
                acked_total += 1;
            }
            // A partial last line (killed mid-print) is neither.
        }

        // A compaction file left behind means the kill landed inside a compaction.
        mid_compaction += u64::from(Path::new(&dir_s).join("cache.log.compact").exists());
        // Recover and check: acknowledged operations are all there; the one in flight is
        // whole or absent.
        let cache = DurableKVCache::open(log_path(&dir_s))
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
        for (key, expected) in &model {
            let got = cache
                .get(key)
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap());
            let in_flight_here = in_flight.as_ref().filter(|(k, _)| k == key);
            let ok = got == *expected || in_flight_here.is_some_and(|(_, v)| got == *v);
            assert!(
                ok,
                "cycle {cycle}: {key} = {got:?}, acknowledged {expected:?}, in flight {in_flight_here:?}"
            );
        }
        if let Some((key, value)) = in_flight {
            let got = cache
                .get(&key)
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap());
            if got == value && model.get(&key) != Some(&value) {
                in_flight_seen += 1;
            }
            model.insert(key, got); // the recovered state is the base of the next cycle
        }
        for key in cache.keys() {
            let key = String::from_utf8(key).unwrap();
            assert!(
                model.contains_key(&key),
                "cycle {cycle}: {key} was never written"
            );
        }
    }
    println!(
        "kill -9: {cycles} cycles, {acked_total} acknowledged operations checked, {in_flight_seen} in-flight writes found whole after the kill, {mid_compaction} kills inside a compaction, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Child: writes with a small RLIMIT_FSIZE (set by the shell that starts it) until an error.
fn child_fill() {
    let dir = std::env::var("LOGCACHE_DIR").expect("LOGCACHE_DIR");
    let cache = DurableKVCache::builder(log_path(&dir))
        .durability(Durability::Sync)
        .compaction_threshold(0)
        .open()
        .expect("child open");
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let key = format!("k{i}");
        match cache.put(&key, value_for(0, i)) {
            Ok(()) => writeln!(out, "ack {i}").unwrap(),
            Err(e) => {
                let cause = std::error::Error::source(&e)
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                writeln!(out, "error {e}{cause}").unwrap();
                // Further writes are refused, not retried against a failed disk.
                let again = cache.put("after", "error");
                writeln!(out, "then {}", again.is_err()).unwrap();
                return;
            }
        }
    }
}

fn disk_full() {
    let dir = tempfile::tempdir().unwrap();
    let dir_s = dir.path().to_str().unwrap().to_string();
    let exe = std::env::current_exe().unwrap();
    // The limit comes from the shell; SIGXFSZ is ignored so that the write fails with EFBIG
    // instead of killing the process (an ignored signal stays ignored across exec).
    let output = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 256; exec \"$0\"")
        .arg(&exe)
        .env(ROLE, "fill")
        .env("LOGCACHE_DIR", &dir_s)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the filling child died: {:?}\n{text}",
        output.status
    );
    let acked: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ack ").map(|n| n.parse().unwrap()))
        .collect();
    let error = text
        .lines()
        .find(|l| l.starts_with("error "))
        .unwrap_or_else(|| panic!("no error reported:\n{text}"));
    assert!(
        text.contains("then true"),
        "a write was accepted after the failure:\n{text}"
    );
    assert!(!acked.is_empty(), "nothing was written before the limit");
    let cache = DurableKVCache::open(log_path(&dir_s)).unwrap();
    for &i in &acked {
        assert_eq!(
            cache
                .get(format!("k{i}"))
                .unwrap()
                .map(|v| String::from_utf8(v).unwrap()),
            Some(value_for(0, i)),
            "acknowledged k{i} lost"
        );
    }
    cache.put("after the limit", "works").unwrap();
    println!(
        "disk full: {} acknowledged puts before the limit, then `{}`; reopen without the limit has all of them",
        acked.len(),
        error.trim_start_matches("error ")
    );
}

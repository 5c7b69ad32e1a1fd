//! Guards: the lock holds against another process. Its own test binary: a child spawned while
//! other tests drop and reopen handles could briefly inherit their lock descriptors.

mod common;

use common::temp_log;
use logcache::DurableKVCache;

#[test]
fn another_process_is_refused_too() {
    // flock is per open file description; a child process gets its own and must be refused.
    let (_dir, path) = temp_log();
    let _held = DurableKVCache::open(&path).unwrap();
    let lock = path.with_file_name("cache_data.log.lock");
    let status = std::process::Command::new("flock")
        .args(["--nonblock", "--exclusive"])
        .arg(&lock)
        .arg("true")
        .status();
    match status {
        Ok(s) => assert!(
            !s.success(),
            "flock(1) got the lock while the cache holds it"
        ),
        Err(e) => eprintln!("flock(1) not available ({e}); same-process check above covers it"),
    }
}

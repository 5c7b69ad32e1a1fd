//! Guards the rules for log paths: a second name for a log (a symbolic or hard link) never
//! gives a second writable handle, and a path that is not a regular file is refused without
//! anything created or changed. (Both once lost acknowledged writes, and `--data /dev/null`
//! once replaced the system's `/dev/null`.)

mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use common::temp_log;
use logcache::{DurableKVCache, Error, read_log};

/// Held by the tests that reopen a log right after dropping it and by those that spawn
/// processes: a child forked by another thread holds a copy of every open descriptor, the
/// lock's included, until it execs, so a reopen in that instant would find the log locked.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Names beside `path` that logcache would create: `.lock`, `.compact`.
fn siblings(path: &Path) -> Vec<String> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&name) && *n != name)
        .collect()
}

#[test]
fn a_symbolic_link_leads_to_the_same_lock_and_keeps_being_a_link() {
    let _serial = serial();
    let (dir, real) = temp_log();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let cache = DurableKVCache::open(&real).unwrap();
    cache.put("seed", "1").unwrap();
    match DurableKVCache::open(&link) {
        Err(Error::Locked { path, .. }) => assert_eq!(path, real.with_extension("log.lock")),
        other => panic!("a second handle through a link: {other:?}"),
    }
    drop(cache);

    // Through the link alone: the data, the lock and compaction live beside the real file,
    // and compaction's rename leaves the link a link.
    let cache = DurableKVCache::open(&link).unwrap();
    assert_eq!(cache.path(), real.canonicalize().unwrap());
    for i in 0..100 {
        cache.put("k", format!("{i}")).unwrap();
    }
    cache.compact().unwrap();
    cache.put("after", "compaction").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!dir.path().join("link.log.lock").exists());
    drop(cache);
    let cache = DurableKVCache::open(&real).unwrap();
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"99"[..]));
    assert_eq!(
        cache.get("after").unwrap().as_deref(),
        Some(&b"compaction"[..])
    );
}

#[test]
fn a_link_to_a_missing_file_creates_the_target() {
    let _serial = serial();
    let (dir, real) = temp_log();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink("cache_data.log", &link).unwrap(); // relative target
    let cache = DurableKVCache::open(&link).unwrap();
    cache.put("k", "v").unwrap();
    drop(cache);
    assert!(std::fs::symlink_metadata(&real).unwrap().is_file());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let cache = DurableKVCache::open(&real).unwrap();
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_log_with_a_second_hard_link_is_refused_for_writing() {
    let _serial = serial();
    let (dir, real) = temp_log();
    DurableKVCache::open(&real).unwrap().put("k", "v").unwrap();
    let hard = dir.path().join("hard.log");
    std::fs::hard_link(&real, &hard).unwrap();
    let before = std::fs::read(&real).unwrap();
    for name in [&real, &hard] {
        match DurableKVCache::open(name) {
            Err(e @ Error::BadPath { .. }) => {
                assert!(e.to_string().contains("2 names (hard links)"), "{e}")
            }
            other => panic!("{}: {other:?}", name.display()),
        }
    }
    assert_eq!(std::fs::read(&real).unwrap(), before, "not changed");
    // Reading through either name is fine.
    let sum = read_log(&hard, 1 << 20, |_| {}).unwrap();
    assert_eq!(sum.records, 1);
    let ro = DurableKVCache::builder(&hard)
        .read_only(true)
        .open()
        .unwrap();
    assert_eq!(ro.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(ro);
    // One name again: writable again.
    std::fs::remove_file(&hard).unwrap();
    DurableKVCache::open(&real)
        .unwrap()
        .put("k2", "v2")
        .unwrap();
}

#[test]
fn paths_that_are_not_regular_files_are_refused_and_left_alone() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo");
    common::mkfifo(&fifo);
    let socket = d.join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let subdir = d.join("subdir");
    std::fs::create_dir(&subdir).unwrap();
    let mut cases = vec![
        (fifo.clone(), "a named pipe (FIFO)"),
        (socket.clone(), "a socket"),
        (subdir.clone(), "a directory"),
    ];
    // A character device of our own (like /dev/null, never the system's), where allowed.
    let dev = d.join("null");
    if Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        cases.push((dev.clone(), "a character device"));
    } else {
        eprintln!("mknod not permitted here: the character-device case is not run");
    }
    for (path, kind) in &cases {
        let err = DurableKVCache::open(path).unwrap_err();
        assert!(matches!(err, Error::BadPath { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(kind), "{msg}");
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        let err = read_log(path, 1 << 20, |_| {}).unwrap_err();
        assert!(matches!(err, Error::BadPath { .. }), "{err}");
        assert!(siblings(path).is_empty(), "{kind}: {:?}", siblings(path));
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket());
    assert!(std::fs::read_dir(&subdir).unwrap().next().is_none());
    if dev.exists() {
        assert!(
            std::fs::metadata(&dev)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}

#[test]
fn files_that_are_not_logs_are_refused_with_what_they_are() {
    let (_dir, path) = temp_log();
    std::fs::write(&path, "logcache\t7\nfuture format").unwrap();
    for err in [
        DurableKVCache::open(&path).unwrap_err(),
        read_log(&path, 1 << 20, |_| {}).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::UnsupportedVersion { version, .. } if version == "7"),
            "{err}"
        );
        assert!(!err.to_string().contains("RecoveryMode"), "{err}");
    }
    std::fs::write(&path, "just some text file\n").unwrap();
    for err in [
        DurableKVCache::open(&path).unwrap_err(),
        read_log(&path, 1 << 20, |_| {}).unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotALog { .. }), "{err}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"just some text file\n");
}

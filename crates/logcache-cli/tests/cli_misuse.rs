//! Guards the command line against a careless or hostile user: a closed output pipe (once a
//! panic), `check` after an ordinary crash (once "DAMAGED", and it repaired the log itself),
//! misleading messages (a library-only switch, a key printed raw, a key length off by the
//! namespace), `put --ttl 0` (once "stored" for an object already gone), and paths that are
//! not regular files.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::cli::{BIN, logcache, logcache_with_input, ok, setup};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn put(data: &Path, key: &str, value: &[u8]) -> Output {
    logcache_with_input(data, &["put", key, "-"], value)
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let (_dir, data) = setup();
    for i in 0..50 {
        ok(&put(&data, &format!("key-{i:03}"), b"value"));
    }
    for args in [
        &["ls"][..],
        &["dump"],
        &["stats"],
        &["stats", "--json"],
        &["check"],
    ] {
        // The read end is closed before the command writes a byte: every write fails.
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn check_reports_a_torn_tail_as_normal_and_changes_nothing() {
    let (_dir, data) = setup();
    ok(&put(&data, "a", &vec![1u8; 3 << 20]));
    ok(&put(&data, "b", b"small"));
    // A crash in the middle of an append: the first half of a record.
    let record = b"12345678\t99\tP\t0\t3\t10\tkey\t0123456789\n";
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&data)
        .unwrap();
    f.write_all(&record[..20]).unwrap();
    drop(f);
    let before = std::fs::read(&data).unwrap();
    for _ in 0..2 {
        let out = logcache(&data, &["check"]);
        let text = ok(&out);
        assert!(text.contains("torn tail: 20 bytes"), "{text}");
        assert!(text.contains("ok: "), "{text}");
        assert!(!text.contains("DAMAGED"), "{text}");
        assert_eq!(
            std::fs::read(&data).unwrap(),
            before,
            "check changed the log"
        );
    }
    // The next command that writes cuts it, as open always did.
    ok(&put(&data, "c", b"after"));
    let text = ok(&logcache(&data, &["check"]));
    assert!(!text.contains("torn tail"), "{text}");
}

#[test]
fn messages_say_what_the_command_line_user_can_do() {
    let (dir, data) = setup();
    // An unknown format version: one message, the same from every command.
    let future = dir.path().join("future.log");
    std::fs::write(&future, "logcache\t9\nfrom a later release").unwrap();
    let ls = logcache(&future, &["ls"]);
    let check = logcache(&future, &["check"]);
    assert_eq!(ls.status.code(), Some(1));
    assert_eq!(check.status.code(), Some(2));
    assert_eq!(stderr(&ls), stderr(&check));
    assert!(stderr(&ls).contains("format version 9"), "{}", stderr(&ls));
    assert!(!stderr(&ls).contains("RecoveryMode"), "{}", stderr(&ls));
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a log").unwrap();
    let err = stderr(&logcache(&text, &["ls"]));
    assert!(err.contains("not a logcache log"), "{err}");
    assert!(!err.contains("RecoveryMode"), "{err}");

    // A key with a newline is escaped, so "stored" stays on one line.
    let out = put(&data, "two\nlines", b"x");
    ok(&out);
    assert_eq!(stderr(&out), "stored two\\nlines (1 bytes)\n");

    // The key limit is the caller's: the store's limit less what BigCache adds.
    let long = "k".repeat(70_000);
    let err = stderr(&put(&data, &long, b"x"));
    assert!(
        err.contains("key of 70000 bytes is over the limit of 65532 bytes"),
        "{err}"
    );
    ok(&put(&data, &"k".repeat(65_532), b"fits"));

    // --ttl 0 would store an object already gone: refused, nothing stored.
    let out = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(["put", "ttl0", "/dev/null", "--ttl", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--ttl"), "{}", stderr(&out));
    assert!(!ok(&logcache(&data, &["ls"])).contains("ttl0"));
}

#[test]
fn paths_that_are_not_files_are_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    common::mkfifo(&fifo);
    for (path, kind) in [
        (fifo.as_path(), "a named pipe (FIFO)"),
        (dir.path(), "a directory"),
    ] {
        for args in [
            &["ls"][..],
            &["check"],
            &["dump"],
            &["put", "k", "/dev/null"],
        ] {
            let out = logcache(path, args);
            assert!(!out.status.success(), "{args:?}");
            let err = stderr(&out);
            assert!(err.contains(kind), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing created beside the FIFO: {names:?}");
}

/// Guards: `stats --json` was built by hand and broke on a data path with a control byte.
#[test]
fn stats_json_is_json_whatever_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("we\"ird\\\u{1}\n.log");
    ok(&put(&data, "k", b"value"));
    let out = ok(&logcache(&data, &["stats", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stats --json is JSON");
    assert_eq!(doc["data"], data.to_string_lossy().as_ref());
    assert_eq!(doc["objects"], 1);
    assert_eq!(
        doc["live_keys"], 1,
        "the manifest, holding the 5 bytes inline"
    );
}

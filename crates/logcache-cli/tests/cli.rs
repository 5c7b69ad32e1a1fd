//! The `logcache` binary, run for real: every subcommand, a 200 MiB round trip through files
//! and through pipes, `check` finding a damaged block, a locked store, one-line errors.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

mod common;

use common::cli::{BIN, logcache, ok, setup};
use common::data::fill;

#[test]
fn a_200_mib_object_round_trips_through_files_and_pipes() {
    const SIZE: u64 = 200 << 20;
    let (dir, data) = setup();
    let input = dir.path().join("in.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        let mut chunk = vec![0u8; 1 << 20];
        for i in 0..SIZE >> 20 {
            fill(&mut chunk, i << 20);
            f.write_all(&chunk).unwrap();
        }
    }
    // File in, file out.
    ok(&logcache(&data, &["put", "big", input.to_str().unwrap()]));
    let output = dir.path().join("out.bin");
    ok(&logcache(
        &data,
        &["get", "big", "-o", output.to_str().unwrap()],
    ));
    assert_eq!(std::fs::metadata(&output).unwrap().len(), SIZE);
    assert!(std::fs::read(&output).unwrap() == std::fs::read(&input).unwrap());
    std::fs::remove_file(&output).unwrap();

    // Pipe in (standard input), pipe out (standard output), streamed on both sides.
    let mut put = Command::new(BIN)
        .args(["--data", data.to_str().unwrap(), "put", "piped", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = put.stdin.take().unwrap();
        let mut chunk = vec![0u8; 1 << 20];
        for i in 0..SIZE >> 20 {
            fill(&mut chunk, i << 20);
            stdin.write_all(&chunk).unwrap();
        }
    }
    assert!(put.wait().unwrap().success());
    let mut get = Command::new(BIN)
        .args(["--data", data.to_str().unwrap(), "get", "piped"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = get.stdout.take().unwrap();
    let (mut pos, mut buf, mut expected) = (0u64, vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        fill(&mut expected[..n], pos);
        assert!(buf[..n] == expected[..n], "wrong bytes at {pos}");
        pos += n as u64;
    }
    assert!(get.wait().unwrap().success());
    assert_eq!(pos, SIZE);
    let ls = ok(&logcache(&data, &["ls"]));
    assert_eq!(ls, format!("{SIZE}\tbig\n{SIZE}\tpiped\n"));
}

#[test]
fn every_subcommand() {
    let (dir, data) = setup();
    let file = dir.path().join("a.txt");
    std::fs::write(&file, "tab\there\nnewline").unwrap();
    ok(&logcache(
        &data,
        &["put", "docs/a.txt", file.to_str().unwrap()],
    ));
    ok(&logcache(&data, &["put", "docs/b", file.to_str().unwrap()]));
    ok(&logcache(&data, &["put", "other", file.to_str().unwrap()]));
    assert_eq!(
        ok(&logcache(&data, &["get", "docs/a.txt"])),
        "tab\there\nnewline"
    );
    assert_eq!(
        ok(&logcache(&data, &["ls", "docs/"])),
        "16\tdocs/a.txt\n16\tdocs/b\n"
    );
    ok(&logcache(&data, &["del", "docs/b"]));
    assert_eq!(ok(&logcache(&data, &["ls"])), "16\tdocs/a.txt\n16\tother\n");

    let json = ok(&logcache(&data, &["stats", "--json"]));
    assert!(
        json.starts_with('{') && json.trim_end().ends_with('}'),
        "{json}"
    );
    assert!(json.contains("\"objects\":2"), "{json}");
    let table = ok(&logcache(&data, &["stats"]));
    assert!(
        table.contains("objects") && table.contains("live_bytes"),
        "{table}"
    );

    let out = logcache(&data, &["compact"]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("compacted"));
    assert_eq!(
        ok(&logcache(&data, &["get", "other"])),
        "tab\there\nnewline"
    );

    let check = ok(&logcache(&data, &["check"]));
    assert!(check.starts_with("ok: "), "{check}");

    let dump = ok(&logcache(&data, &["dump"]));
    assert!(
        dump.contains("tab\\there\\nnewline"),
        "control bytes escaped: {dump}"
    );
    assert!(
        dump.lines().all(|l| l.split('\t').count() >= 3),
        "one record per line"
    );
}

#[test]
fn check_finds_a_damaged_block_and_exits_1() {
    let (dir, data) = setup();
    let file = dir.path().join("obj.bin");
    std::fs::write(&file, vec![b'x'; 3 << 20]).unwrap();
    ok(&logcache(&data, &["put", "obj", file.to_str().unwrap()]));
    // Damage a byte in the middle of the second block's value.
    let mut bytes = std::fs::read(&data).unwrap();
    let at = (1 << 20) + (1 << 19);
    bytes[at] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let out = logcache(&data, &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("damaged") || text.contains("DAMAGED"),
        "{text}"
    );
    // A read of the damaged object is refused, never wrong bytes.
    assert!(!logcache(&data, &["get", "obj"]).status.success());
}

#[test]
fn errors_are_one_clear_line_and_a_locked_store_names_its_holder() {
    let (_dir, data) = setup();
    let out = logcache(&data, &["get", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no object"), "{err}");

    let held = logcache::DurableKVCache::open(&data).unwrap();
    let out = logcache(&data, &["ls"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("locked") && err.contains(&format!("process {}", std::process::id())),
        "{err}"
    );
    drop(held);
    ok(&logcache(&data, &["ls"]));

    let not_a_log = data.with_file_name("notes.txt");
    std::fs::write(&not_a_log, "my notes").unwrap();
    let out = logcache(&not_a_log, &["ls"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a logcache log"));
    assert_eq!(
        std::fs::read(&not_a_log).unwrap(),
        b"my notes",
        "never modified"
    );
}

#[test]
fn the_readme_examples_run() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("<!-- cli-example:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- cli-example:end -->").next())
        .expect("the README has a CLI example block");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello, logcache\n").unwrap();
    let mut ran = 0;
    for line in block.lines().filter(|l| l.contains("logcache ")) {
        // `cat FILE | logcache ...`: feed the file on standard input.
        let (stdin_file, command) = match line.split_once(" | ") {
            Some((cat, cmd)) => (cat.strip_prefix("cat ").map(str::trim), cmd),
            None => (None, line),
        };
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir.path()).args(&args);
        if let Some(f) = stdin_file {
            cmd.stdin(std::fs::File::open(dir.path().join(f)).unwrap());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert_eq!(ran, 10, "every example line ran");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("copy.txt")).unwrap(),
        "hello, logcache\n"
    );
}

#[test]
fn put_with_a_ttl_expires() {
    let (dir, data) = setup();
    let file = dir.path().join("f");
    std::fs::write(&file, "short-lived").unwrap();
    ok(&logcache(
        &data,
        &["put", "--ttl", "1", "temp", file.to_str().unwrap()],
    ));
    ok(&logcache(&data, &["put", "kept", file.to_str().unwrap()]));
    assert_eq!(ok(&logcache(&data, &["get", "temp"])), "short-lived");
    // Real time for a real process: wait past the second (a behaviour check, not a speed one).
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert!(
        !logcache(&data, &["get", "temp"]).status.success(),
        "expired"
    );
    assert_eq!(ok(&logcache(&data, &["ls"])), "11\tkept\n");
}

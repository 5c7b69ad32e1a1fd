//! awscli (`aws s3` and `aws s3api`): a 64 MiB file, multipart at the 8 MiB default, once with
//! the default integrity checksums (aws-chunked bodies with CRC32 trailers) and once with
//! `AWS_REQUEST_CHECKSUM_CALCULATION=when_required`.

use crate::common::missing;
use crate::{S3, file, run, same};

#[test]
fn aws_s3_commands_move_files_both_ways() {
    if missing(&["aws"]) {
        return;
    }
    let s3 = S3::start();
    let work = tempfile::tempdir().unwrap();
    let aws = |args: &[&str]| {
        let mut cmd = s3.client("aws");
        cmd.args(["--endpoint-url", &s3.endpoint]).args(args);
        run(&mut cmd)
    };
    aws(&["s3", "mb", "s3://cli"]);
    let big = file(work.path(), "big.bin", 64 << 20, 1);
    for (i, mode) in ["when_supported", "when_required"].into_iter().enumerate() {
        let key = format!("s3://cli/dir/big-{i}.bin");
        let mut cmd = s3.client("aws");
        cmd.env("AWS_REQUEST_CHECKSUM_CALCULATION", mode)
            .args([
                "--endpoint-url",
                &s3.endpoint,
                "s3",
                "cp",
                "--only-show-errors",
            ])
            .arg(&big)
            .arg(&key);
        run(&mut cmd);
        let back = work.path().join(format!("back-{i}.bin"));
        aws(&[
            "s3",
            "cp",
            "--only-show-errors",
            &key,
            back.to_str().unwrap(),
        ]);
        assert!(same(&big, &back), "{mode}: the object came back different");
    }
    // Multipart at 8 MiB: the ETag is the MD5 of 8 part MD5s, then -8.
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli",
        "--key",
        "dir/big-0.bin",
    ]);
    assert!(head.contains("-8\\\""), "{head}");
    assert!(head.contains("\"ContentLength\": 67108864"), "{head}");
    // A small object's ETag is its MD5.
    let small = file(work.path(), "tree/a.txt", 5, 2);
    std::fs::write(&small, "hello").unwrap();
    file(work.path(), "tree/sub/b.bin", 300_000, 3);
    aws(&[
        "s3",
        "sync",
        "--only-show-errors",
        work.path().join("tree").to_str().unwrap(),
        "s3://cli/dir/tree/",
    ]);
    let head = aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli",
        "--key",
        "dir/tree/a.txt",
    ]);
    assert!(head.contains("5d41402abc4b2a76b9719d911017c592"), "{head}");
    // A second sync has nothing to do.
    assert_eq!(
        aws(&[
            "s3",
            "sync",
            work.path().join("tree").to_str().unwrap(),
            "s3://cli/dir/tree/"
        ]),
        ""
    );
    let ls = aws(&["s3", "ls", "s3://cli/dir/"]);
    assert!(ls.contains("PRE tree/"), "{ls}");
    assert!(ls.contains("67108864 big-0.bin"), "{ls}");
    let listed = aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        "cli",
        "--delimiter",
        "/",
        "--prefix",
        "dir/",
    ]);
    assert!(listed.contains("\"Prefix\": \"dir/tree/\""), "{listed}");
    assert!(listed.contains("\"Key\": \"dir/big-1.bin\""), "{listed}");
    aws(&[
        "s3",
        "rm",
        "--only-show-errors",
        "--recursive",
        "s3://cli/dir/",
    ]);
    assert_eq!(aws(&["s3", "ls", "--recursive", "s3://cli/"]), "");
    aws(&["s3", "rb", "s3://cli"]);
    assert!(!aws(&["s3", "ls"]).contains("cli"));
}

//! s3cmd: put, get, sync, ls, del; it compares the MD5 of what it sent with the `ETag`.

use crate::common::missing;
use crate::{KEY, S3, SECRET, file, run, same};

#[test]
fn s3cmd_puts_gets_syncs_lists_and_deletes() {
    if missing(&["s3cmd"]) {
        return;
    }
    let s3 = S3::start();
    let work = tempfile::tempdir().unwrap();
    let host = s3.endpoint.trim_start_matches("http://");
    let cfg = work.path().join("s3cfg");
    std::fs::write(
        &cfg,
        format!(
            "[default]\naccess_key = {KEY}\nsecret_key = {SECRET}\nhost_base = {host}\n\
             host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n\
             bucket_location = us-east-1\nmultipart_chunk_size_mb = 5\n"
        ),
    )
    .unwrap();
    let s3cmd = |args: &[&str]| {
        let mut cmd = s3.client("s3cmd");
        cmd.arg("-c").arg(&cfg).args(args);
        run(&mut cmd)
    };
    s3cmd(&["mb", "s3://s3c"]);
    let big = file(work.path(), "big.bin", 13 << 20, 1);
    let small = file(work.path(), "small.txt", 1000, 2);
    s3cmd(&["put", big.to_str().unwrap(), "s3://s3c/big.bin"]);
    s3cmd(&["put", small.to_str().unwrap(), "s3://s3c/small.txt"]);
    let ls = s3cmd(&["ls", "s3://s3c/"]);
    assert!(
        ls.contains("s3://s3c/big.bin") && ls.contains("13631488"),
        "{ls}"
    );
    let back = work.path().join("back.bin");
    s3cmd(&["get", "--force", "s3://s3c/big.bin", back.to_str().unwrap()]);
    assert!(same(&big, &back));
    let tree = work.path().join("tree");
    for i in 0..20u64 {
        file(&tree, &format!("sub{}/f{i}", i % 3), (i * 7919) as usize, i);
    }
    let t = format!("{}/", tree.display());
    s3cmd(&["sync", &t, "s3://s3c/tree/"]);
    let again = s3cmd(&["sync", &t, "s3://s3c/tree/"]);
    assert!(
        !again.contains("upload:"),
        "a second sync uploaded again: {again}"
    );
    s3cmd(&["del", "s3://s3c/small.txt"]);
    let ls = s3cmd(&["ls", "-r", "s3://s3c/"]);
    assert!(!ls.contains("small.txt"), "{ls}");
    assert_eq!(ls.lines().count(), 21, "{ls}");
}

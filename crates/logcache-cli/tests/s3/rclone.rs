//! rclone (`provider = Other`): copy, sync and `check --checksum` of a tree of 200 files of
//! mixed sizes, multipart for the large ones.

use crate::common::missing;
use crate::{KEY, S3, SECRET, file, run};

#[test]
fn rclone_copies_syncs_and_checks_a_tree() {
    if missing(&["rclone"]) {
        return;
    }
    let s3 = S3::start();
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("rclone.conf");
    std::fs::write(
        &conf,
        format!(
            "[lc]\ntype = s3\nprovider = Other\naccess_key_id = {KEY}\nsecret_access_key = {SECRET}\n\
             endpoint = {}\nregion = us-east-1\n",
            s3.endpoint
        ),
    )
    .unwrap();
    let tree = work.path().join("tree");
    for i in 0..200u64 {
        let dir = match i % 7 {
            0 => "a/b/",
            1 | 2 => "a/",
            _ => "",
        };
        file(
            &tree,
            &format!("{dir}file{i}"),
            ((i * i * 37) % 300_000) as usize,
            i,
        );
    }
    file(&tree, "large/twelve-mib", 12 << 20, 999);
    let rclone = |args: &[&str]| {
        let mut cmd = s3.client("rclone");
        cmd.arg("--config")
            .arg(&conf)
            .args(["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"])
            .args(args);
        run(&mut cmd)
    };
    let t = tree.to_str().unwrap();
    rclone(&["mkdir", "lc:rcl"]);
    rclone(&["copy", t, "lc:rcl/tree"]);
    rclone(&["check", "--checksum", t, "lc:rcl/tree"]);
    std::fs::remove_file(tree.join("file3")).unwrap();
    file(&tree, "new", 1000, 7);
    rclone(&["sync", t, "lc:rcl/tree"]);
    rclone(&["check", "--checksum", t, "lc:rcl/tree"]);
    let back = work.path().join("back");
    rclone(&["copy", "lc:rcl/tree", back.to_str().unwrap()]);
    let diff = std::process::Command::new("diff")
        .arg("-r")
        .arg(&tree)
        .arg(&back)
        .status()
        .unwrap();
    assert!(diff.success(), "the tree came back different");
}

//! The README's S3 example, run as written (on free ports instead of 9000 and 8080).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::missing;
use crate::common::served::BIN;
use crate::{KEY, SECRET, run};

#[test]
fn the_readmes_s3_example_runs() {
    if missing(&["aws", "curl"]) {
        return;
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("<!-- s3-example:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- s3-example:end -->").next())
        .expect("the README has an s3-example block");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s3-keys"), format!("{KEY} {SECRET}\n")).unwrap();
    std::fs::write(
        dir.path().join("photo.jpg"),
        b"\xff\xd8\xff\xe0 not really a photo",
    )
    .unwrap();
    let mut lines = block
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("```"));
    let serve = lines
        .next()
        .and_then(|l| l.strip_prefix("logcache "))
        .and_then(|l| l.strip_suffix(" &"))
        .expect("the block starts the server");
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(
            serve
                .replace("127.0.0.1:9000", "127.0.0.1:0")
                .split_whitespace(),
        )
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut http, mut s3) = (String::new(), String::new());
    out.read_line(&mut http).unwrap();
    out.read_line(&mut s3).unwrap();
    let http = http
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_string();
    let s3 = s3.trim().strip_prefix("S3 on http://").unwrap().to_string();
    let mut ran = 0;
    for line in lines {
        let line = line
            .replace("127.0.0.1:9000", &s3)
            .replace("127.0.0.1:8080", &http);
        let mut cmd = Command::new("sh");
        cmd.current_dir(dir.path())
            .args(["-c", &line])
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env_remove("AWS_PROFILE");
        let printed = run(&mut cmd);
        if line.contains(" ls ") {
            assert!(printed.contains("cat.jpg"), "{printed}");
        }
        ran += 1;
    }
    assert_eq!(ran, 4);
    assert_eq!(
        std::fs::read(dir.path().join("copy.jpg")).unwrap(),
        std::fs::read(dir.path().join("photo.jpg")).unwrap()
    );
    let _ = child.kill();
    let _ = child.wait();
}

//! boto3: the suite in boto3_suite.py.

use crate::common::missing;
use crate::{KEY, S3, SECRET, run};

#[test]
fn boto3_transfers_paginators_presigned_urls_and_refusals() {
    if missing(&["python3", "curl"]) {
        return;
    }
    let has_boto3 = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_boto3 && missing(&["python3-boto3"]) {
        return;
    }
    let s3 = S3::start();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/s3/boto3_suite.py");
    let out = run(s3
        .client("python3")
        .arg(script)
        .args([&s3.endpoint, KEY, SECRET])
        .arg(work.path()));
    assert!(out.contains("boto3 ok"), "{out}");
}

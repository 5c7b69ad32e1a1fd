//! object_store's own integration tests, and ours, against a `logcache serve --s3` started on
//! a free loopback port (killed at the end).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::integration::*;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

const KEY: &str = "AKIDOBJECTSTORE";
const SECRET: &str = "object/store+secret";

struct Server {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let bin = std::env::var("LOGCACHE_BIN").expect("LOGCACHE_BIN: the logcache binary to test");
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(&creds, format!("{KEY} {SECRET}\n")).unwrap();
    let mut child = Command::new(bin)
        .arg("--store")
        .arg(dir.path().join("objects.log"))
        .args([
            "serve",
            "--no-http",
            "--s3",
            "127.0.0.1:0",
            "--s3-credentials",
        ])
        .arg(&creds)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("S3 on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Server {
        child,
        endpoint,
        _dir: dir,
    }
}

fn store(server: &Server, bucket: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id(KEY)
        .with_secret_access_key(SECRET)
        .build()
        .unwrap()
}

/// object_store creates no buckets: a presigned `PUT /bucket/` does (curl sends it).
async fn create_bucket(s3: &AmazonS3) {
    let url = s3
        .signed_url(
            object_store::signer::Method::PUT,
            &Path::from(""),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let status = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            url.as_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200", "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn object_stores_own_integration_tests_pass() {
    let server = start();
    let s3 = store(&server, "integration");
    create_bucket(&s3).await;
    let s3: Arc<AmazonS3> = Arc::new(s3);
    put_get_delete_list(s3.as_ref()).await;
    get_opts(s3.as_ref()).await;
    put_opts(s3.as_ref(), true).await;
    list_uses_directories_correctly(s3.as_ref()).await;
    list_with_delimiter(s3.as_ref()).await;
    rename_and_copy(s3.as_ref()).await;
    stream_get(s3.as_ref()).await;
    multipart(s3.as_ref(), s3.as_ref()).await;
    multipart_out_of_order(s3.as_ref()).await;
    multipart_race_condition(s3.as_ref(), true).await;
    get_nonexistent_object(s3.as_ref(), None).await.unwrap_err();
    list_with_offset_exclusivity(s3.as_ref()).await;
    // The rest, each in a bucket of its own (they list what they wrote).
    let s3 = store(&server, "attributes");
    create_bucket(&s3).await;
    put_get_attributes(&s3).await;
    let s3 = store(&server, "multipart-options");
    create_bucket(&s3).await;
    multipart_with_opts(&s3, &s3).await;
    multipart_put_part_out_of_order(&s3, &s3).await;
    let s3 = store(&server, "paginated");
    create_bucket(&s3).await;
    list_paginated(&s3, &s3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ranges_conditions_and_a_wrong_secret() {
    let server = start();
    let s3 = store(&server, "ours");
    create_bucket(&s3).await;
    let path = Path::from("dir/range.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let put = s3.put(&path, PutPayload::from(data.clone())).await.unwrap();
    let got = s3
        .get_opts(
            &path,
            GetOptions {
                range: Some(GetRange::Bounded(1_000_000..1_000_100)),
                ..GetOptions::default()
            },
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], &data[1_000_000..1_000_100]);
    let unchanged = s3
        .get_opts(
            &path,
            GetOptions {
                if_none_match: put.e_tag.clone(),
                ..GetOptions::default()
            },
        )
        .await;
    assert!(
        matches!(unchanged, Err(object_store::Error::NotModified { .. })),
        "{unchanged:?}"
    );
    let head = s3.head(&path).await.unwrap();
    assert_eq!(head.size, data.len() as u64);
    assert_eq!(head.e_tag, put.e_tag);
    let bad = AmazonS3Builder::new()
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_bucket_name("ours")
        .with_region("us-east-1")
        .with_access_key_id(KEY)
        .with_secret_access_key("wrong")
        .build()
        .unwrap();
    assert!(
        bad.get(&path).await.is_err(),
        "a wrong secret read an object"
    );
}

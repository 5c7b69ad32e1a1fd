//! Requests the door refuses, as S3 says it: unsigned, an unknown key, a clock too far off,
//! Signature Version 2 headers, an unknown bucket (curl, no client library in between).

use crate::common::missing;
use crate::{KEY, S3, run};

/// The S3 error code and the status of a curl request.
fn refusal(s3: &S3, args: &[&str]) -> (String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("{}/bucket", s3.endpoint));
    let out = run(&mut cmd);
    let (body, status) = out.rsplit_once('\n').unwrap();
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|c| c.split("</Code>").next())
        .unwrap_or("")
        .to_string();
    (code, status.to_string())
}

#[test]
fn unsigned_unknown_skewed_and_v2_requests_are_refused() {
    if missing(&["curl"]) {
        return;
    }
    let s3 = S3::start();
    let zeros = "0".repeat(64);
    let auth = |key: &str| {
        format!(
            "Authorization: AWS4-HMAC-SHA256 Credential={key}/20200101/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={zeros}"
        )
    };
    let cases = [
        (vec![], "AccessDenied", "403"),
        (
            vec![
                "-H".to_string(),
                auth("NOBODY"),
                "-H".into(),
                "x-amz-date: 20200101T000000Z".into(),
            ],
            "InvalidAccessKeyId",
            "403",
        ),
        (
            vec![
                "-H".to_string(),
                auth(KEY),
                "-H".into(),
                "x-amz-date: 20200101T000000Z".into(),
            ],
            "RequestTimeTooSkewed",
            "403",
        ),
        (
            vec![
                "-H".to_string(),
                "Authorization: AWS AKID:c2lnbmF0dXJl".into(),
            ],
            "InvalidRequest",
            "400",
        ),
        (
            vec![
                "-H".to_string(),
                "Authorization: AWS4-HMAC-SHA256 Credential=x".into(),
            ],
            "AuthorizationHeaderMalformed",
            "400",
        ),
    ];
    for (args, code, status) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(
            refusal(&s3, &args),
            (code.to_string(), status.to_string()),
            "{args:?}"
        );
    }
    // Without credentials (loopback only), nothing is checked, and an unknown bucket is a 404.
    let open = S3::start_in(tempfile::tempdir().unwrap(), false);
    assert_eq!(
        refusal(&open, &[]),
        ("NoSuchBucket".to_string(), "404".to_string())
    );
}

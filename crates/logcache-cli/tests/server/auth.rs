//! The token: `401` without it, and no listening beyond loopback without one.

use std::process::Command;

use crate::common::served::{BIN, Served};
use crate::{agent, curl};

#[test]
fn a_token_protected_server_answers_401_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token-for-tests\n").unwrap();
    let server = Served::start(&["--token-file", token_file.to_str().unwrap()]);
    let agent = agent();
    for path in [
        "/v1/objects/k",
        "/v1/stats",
        "/metrics",
        "/healthz",
        "/v1/objects",
    ] {
        let url = format!("{}{path}", server.url);
        let r = agent.get(&url).call().unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().get("www-authenticate").is_some());
        let r = agent
            .get(&url)
            .header("authorization", "Bearer s3cret-token-for-tesTS")
            .call()
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
    }
    let r = agent.put(server.object("k")).send("no token").unwrap();
    assert_eq!(r.status(), 401);
    let (code, _) = curl(&["-T", token_file.to_str().unwrap(), &server.object("k")]);
    assert_eq!(code, 401);
    // With the token.
    let auth = "Bearer s3cret-token-for-tests";
    let r = agent
        .put(server.object("k"))
        .header("authorization", auth)
        .send("with token")
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, body) = curl(&["-H", &format!("Authorization: {auth}"), &server.object("k")]);
    assert_eq!((code, body.as_str()), (200, "with token"));
    // Nothing was stored by the refused PUTs.
    let mut r = agent
        .get(format!("{}/v1/stats", server.url))
        .header("authorization", auth)
        .call()
        .unwrap();
    let stats = r.body_mut().read_to_string().unwrap();
    assert!(stats.contains("\"unauthorized\":12"), "{stats}");
    assert!(stats.contains("\"sets\":1"), "{stats}");
}

#[test]
fn a_non_loopback_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--data")
        .arg(dir.path().join("s.log"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The CLI against a node that refuses its token says how to give the CLI one — not the Rust
/// builder's `.token()`, and not "check that it is running" (it is) — issue 27.
#[test]
fn the_cli_refused_by_a_node_says_how_to_give_it_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "the-node-token\n").unwrap();
    let server = Served::start(&["--token-file", token_file.to_str().unwrap()]);
    for token in [None, Some("a-wrong-token")] {
        let mut cmd = std::process::Command::new(crate::common::cli::BIN);
        cmd.args(["--store", &server.url, "get", "k"]);
        cmd.env_remove("LOGCACHE_TOKEN");
        if let Some(t) = token {
            cmd.env("LOGCACHE_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("--token-file") && err.contains("LOGCACHE_TOKEN"),
            "{err}"
        );
        assert!(!err.contains(".token()"), "{err}");
        assert!(!err.contains("check that it is running"), "{err}");
    }
}

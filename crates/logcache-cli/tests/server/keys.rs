//! Keys are bytes, never paths.

use crate::common::served::Served;
use crate::{agent, curl};

#[test]
fn path_like_keys_are_stored_and_returned_as_keys() {
    let server = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 5] = [
        ("../../etc/passwd", b"../../etc/passwd"),
        ("%2e%2e%2f", b"../"),
        ("a/b/c", b"a/b/c"),
        ("..%2F..%2Fsecret", b"../../secret"),
        ("%00%FF%0A%09tab", b"\0\xff\n\ttab"),
    ];
    for (i, (raw, _)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("v{i}"));
        std::fs::write(&file, format!("value {i}")).unwrap();
        // --path-as-is: curl must not resolve the dots itself.
        let (code, body) = curl(&[
            "--path-as-is",
            "-T",
            file.to_str().unwrap(),
            &server.object(raw),
        ]);
        assert_eq!(code, 200, "PUT {raw}: {body}");
    }
    let agent = agent();
    for (i, (raw, _)) in cases.iter().enumerate() {
        let (code, body) = curl(&["--path-as-is", &server.object(raw)]);
        assert_eq!(
            (code, body.as_str()),
            (200, format!("value {i}").as_str()),
            "{raw}"
        );
    }
    // The same keys, spelled fully percent-encoded, through ureq.
    for (i, (_, key)) in cases.iter().enumerate() {
        let encoded: String = key.iter().map(|b| format!("%{b:02X}")).collect();
        let mut r = agent.get(server.object(&encoded)).call().unwrap();
        assert_eq!(r.status(), 200, "{encoded}");
        assert_eq!(r.body_mut().read_to_string().unwrap(), format!("value {i}"));
    }
    // The listing returns exactly these keys.
    let mut r = agent
        .get(format!("{}/v1/objects", server.url))
        .call()
        .unwrap();
    let listing = r.body_mut().read_to_string().unwrap();
    for key in [
        "\"../../etc/passwd\"",
        "\"../\"",
        "\"a/b/c\"",
        "\"../../secret\"",
        "\"%00%FF%0A%09tab\"",
    ] {
        assert!(
            listing.contains(&format!("\"key\":{key}")),
            "{key} in {listing}"
        );
    }
    // Nothing was written anywhere but the store's own files.
    let mut names: Vec<String> = std::fs::read_dir(server.data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["store.log", "store.log.lock"]);
    // Bad escapes and an empty key are refused.
    assert_eq!(
        agent.get(server.object("%zz")).call().unwrap().status(),
        400
    );
    assert_eq!(
        agent.put(server.object("")).send("x").unwrap().status(),
        404
    );
}

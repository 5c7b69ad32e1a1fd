//! kill -9 during a multipart upload and during its Complete: after a restart the object is
//! absent or whole, never partial, and an interrupted upload can still be completed. And an
//! upload left alone expires with its parts.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::S3;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

fn part(n: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    crate::common::data::fill(&mut buf, n << 32);
    buf
}

/// The text of `<tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {xml}"))
        + open.len();
    let end = start + xml[start..].find('<').unwrap();
    &xml[start..end]
}

/// Starts an upload of `key` and stores `parts` parts of `len` bytes; the upload id and the
/// parts' ETags.
fn upload(s3: &S3, key: &str, parts: u64, len: usize) -> (String, Vec<String>) {
    let a = agent();
    let mut r = a
        .post(format!("{}/crash/{key}?uploads", s3.endpoint))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = element(&r.body_mut().read_to_string().unwrap(), "UploadId").to_string();
    let etags = (1..=parts)
        .map(|n| {
            let r = a
                .put(format!(
                    "{}/crash/{key}?partNumber={n}&uploadId={id}",
                    s3.endpoint
                ))
                .send(&part(n, len)[..])
                .unwrap();
            assert_eq!(r.status(), 200);
            r.headers()["etag"].to_str().unwrap().to_string()
        })
        .collect();
    (id, etags)
}

fn complete_doc(etags: &[String]) -> String {
    let parts: String = etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

/// The object's bytes, or `None` when it is absent.
fn object(s3: &S3, key: &str) -> Option<Vec<u8>> {
    let mut r = agent()
        .get(format!("{}/crash/{key}", s3.endpoint))
        .call()
        .unwrap();
    match r.status().as_u16() {
        404 => None,
        200 => Some(
            r.body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_vec()
                .unwrap(),
        ),
        other => panic!("GET answered {other}"),
    }
}

#[test]
fn kill_9_mid_part_leaves_nothing_visible_and_the_upload_completes_after_restart() {
    let s3 = S3::start_in(tempfile::tempdir().unwrap(), false);
    let a = agent();
    assert_eq!(
        a.put(format!("{}/crash", s3.endpoint))
            .send_empty()
            .unwrap()
            .status(),
        200
    );
    let len = 5 << 20;
    let (id, etags) = upload(&s3, "obj", 2, len);
    // Part 3 breaks off: its head and a fifth of its body, then kill -9.
    let mut half = TcpStream::connect(s3.endpoint.trim_start_matches("http://")).unwrap();
    write!(
        half,
        "PUT /crash/obj?partNumber=3&uploadId={id} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    half.write_all(&part(3, len)[..len / 5]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let s3 = S3::start_in(s3.kill9(), false);
    assert_eq!(
        object(&s3, "obj"),
        None,
        "an uncompleted upload is invisible"
    );
    let mut r = a
        .get(format!("{}/crash?uploads", s3.endpoint))
        .call()
        .unwrap();
    assert!(r.body_mut().read_to_string().unwrap().contains(&id));
    let mut r = a
        .get(format!("{}/crash/obj?uploadId={id}", s3.endpoint))
        .call()
        .unwrap();
    let parts = r.body_mut().read_to_string().unwrap();
    assert_eq!(
        parts.matches("<Part>").count(),
        2,
        "part 3 never landed: {parts}"
    );
    let mut r = a
        .post(format!("{}/crash/obj?uploadId={id}", s3.endpoint))
        .send(complete_doc(&etags))
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let whole = [part(1, len), part(2, len)].concat();
    assert!(
        object(&s3, "obj") == Some(whole),
        "the completed object differs"
    );
}

#[test]
fn kill_9_during_complete_leaves_the_object_absent_or_whole() {
    let mut s3 = S3::start_in(tempfile::tempdir().unwrap(), false);
    assert_eq!(
        agent()
            .put(format!("{}/crash", s3.endpoint))
            .send_empty()
            .unwrap()
            .status(),
        200
    );
    let len = 5 << 20;
    let whole: Vec<u8> = (1..=4).flat_map(|n| part(n, len)).collect();
    let (mut absent, mut present) = (0, 0);
    for (i, delay_ms) in [0u64, 2, 5, 10, 20, 40, 80, 160].into_iter().enumerate() {
        let key = format!("obj{i}");
        let (id, etags) = upload(&s3, &key, 4, len);
        let url = format!("{}/crash/{key}?uploadId={id}", s3.endpoint);
        let doc = complete_doc(&etags);
        let completing =
            std::thread::spawn(move || agent().post(url).send(doc).map(|r| r.status()));
        std::thread::sleep(Duration::from_millis(delay_ms));
        s3 = S3::start_in(s3.kill9(), false);
        let _ = completing.join();
        match object(&s3, &key) {
            None => absent += 1,
            Some(bytes) => {
                assert!(
                    bytes == whole,
                    "after kill -9 at {delay_ms} ms: a partial object"
                );
                present += 1;
            }
        }
    }
    eprintln!("kill -9 during Complete: {absent} absent, {present} whole");
}

#[test]
fn an_upload_left_alone_expires_with_its_parts() {
    // 0.0005 h = 1.8 s.
    let s3 = S3::start_with(
        tempfile::tempdir().unwrap(),
        false,
        &["--s3-multipart-expiry-hours", "0.0005"],
    );
    let a = agent();
    assert_eq!(
        a.put(format!("{}/crash", s3.endpoint))
            .send_empty()
            .unwrap()
            .status(),
        200
    );
    let (id, etags) = upload(&s3, "left", 1, 1000);
    std::thread::sleep(Duration::from_secs(3));
    let mut r = a
        .get(format!("{}/crash/left?uploadId={id}", s3.endpoint))
        .call()
        .unwrap();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status(), 404, "{body}");
    assert!(body.contains("NoSuchUpload"), "{body}");
    let mut r = a
        .get(format!("{}/crash?uploads", s3.endpoint))
        .call()
        .unwrap();
    assert!(!r.body_mut().read_to_string().unwrap().contains(&id));
    let r = a
        .post(format!("{}/crash/left?uploadId={id}", s3.endpoint))
        .send(complete_doc(&etags))
        .unwrap();
    assert_eq!(r.status(), 404, "an expired upload completed");
    assert_eq!(object(&s3, "left"), None);
}

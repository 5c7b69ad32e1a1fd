//! The access log and `/metrics`: one log line per request through `tracing` (with
//! `LOGCACHE_LOG=info`, none by default), the library's `log` messages still shown, and
//! `/metrics` parsed by a Prometheus text parser, with typed counters and latency histograms.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::agent;
use crate::common::served::{BIN, Served};

/// `logcache serve` with `LOGCACHE_LOG` set to `level` (unset: `None`), standard error in `log`.
fn serve_logging(dir: &Path, level: Option<&str>) -> Served {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data")
        .arg(dir.join("s.log"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    match level {
        Some(l) => cmd.env("LOGCACHE_LOG", l),
        None => cmd.env_remove("LOGCACHE_LOG"),
    };
    Served::spawn_keeping_stderr(cmd, dir.join("s.log"))
}

/// Waits (a liveness bound, not a speed check) until the server's standard error has a line
/// with every one of `parts`; returns it.
fn log_line(dir: &Path, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(dir.join("stderr")).unwrap();
        if let Some(line) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {parts:?} in:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn each_request_has_an_access_log_line_at_info_and_none_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_logging(dir.path(), Some("info"));
    let a = agent();
    assert_eq!(
        a.put(server.object("cat.jpg"))
            .send(&[1u8; 3000][..])
            .unwrap()
            .status(),
        200
    );
    let mut r = a.get(server.object("cat.jpg")).call().unwrap();
    assert_eq!(r.body_mut().read_to_vec().unwrap().len(), 3000);
    assert_eq!(
        a.get(server.object("dog.jpg")).call().unwrap().status(),
        404
    );
    let put = log_line(
        dir.path(),
        &["logcache::access", "method=PUT", "/v1/objects/cat.jpg"],
    );
    assert!(
        put.contains("status=200") && put.contains("received=3000"),
        "{put}"
    );
    assert!(put.contains("INFO") && put.contains("ms="), "{put}");
    let get = log_line(dir.path(), &["method=GET", "/v1/objects/cat.jpg"]);
    assert!(
        get.contains("sent=3000") && get.contains("complete=true"),
        "{get}"
    );
    let miss = log_line(dir.path(), &["method=GET", "/v1/objects/dog.jpg"]);
    assert!(miss.contains("status=404"), "{miss}");
    drop(server);

    // The default level (warn) logs no requests.
    let quiet = tempfile::tempdir().unwrap();
    let mut server = serve_logging(quiet.path(), None);
    assert_eq!(
        agent().put(server.object("k")).send("v").unwrap().status(),
        200
    );
    server.terminate();
    let log = std::fs::read_to_string(quiet.path().join("stderr")).unwrap();
    assert!(!log.contains("logcache::access"), "{log}");

    // Messages outside the access log still come through the subscriber.
    let bad = tempfile::tempdir().unwrap();
    let mut server = serve_logging(bad.path(), Some("info=="));
    server.terminate();
    log_line(bad.path(), &["WARN", "LOGCACHE_LOG", "is not a log filter"]);
}

#[test]
fn metrics_parse_as_prometheus_text_with_typed_counters_and_histograms() {
    let server = Served::start(&[]);
    let a = agent();
    for i in 0..5 {
        a.put(server.object(&format!("o{i}")))
            .send(&[7u8; 2000][..])
            .unwrap();
    }
    for i in 0..7 {
        a.get(server.object(&format!("o{}", i % 6)))
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap();
    }
    let mut r = a.get(format!("{}/metrics", server.url)).call().unwrap();
    let content_type = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = r.body_mut().read_to_string().unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");

    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |metric: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .and_then(|s| match s.value {
                prometheus_parse::Value::Untyped(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v) => Some(v),
                _ => None,
            })
    };
    let requests = "logcache_http_requests_total";
    let object = |m, s| [("route", "object"), ("method", m), ("status", s)];
    assert_eq!(value(requests, &object("PUT", "200")), Some(5.0), "{text}");
    assert_eq!(value(requests, &object("GET", "200")), Some(6.0), "{text}");
    assert_eq!(value(requests, &object("GET", "404")), Some(1.0), "{text}");
    // A histogram per route and method, with buckets that add up to the count.
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "logcache_http_request_duration_seconds"
                && s.labels.get("route") == Some("object")
                && s.labels.get("method") == Some("GET")
        })
        .unwrap_or_else(|| panic!("no GET histogram in {text}"));
    let prometheus_parse::Value::Histogram(buckets) = &hist.value else {
        panic!("not a histogram: {hist:?}");
    };
    assert!(buckets.len() >= 10, "{buckets:?}");
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(inf.count, 7.0);
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "cumulative"
    );
    assert_eq!(
        value(
            "logcache_http_request_duration_seconds_count",
            &[("route", "object"), ("method", "GET")]
        ),
        Some(7.0)
    );
    // Counters are typed as counters and their samples end in `_total`; levels are gauges.
    for (family, kind) in [
        ("logcache_http_requests", "counter"),
        ("logcache_http_bytes_received", "counter"),
        ("logcache_objects_hits", "counter"),
        ("logcache_store_sets", "counter"),
        ("logcache_objects", "gauge"),
        ("logcache_http_connections_open", "gauge"),
        ("logcache_store_live_keys", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family} {kind}: {text}"
        );
    }
    let mut counters = 0;
    let mut family = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            family = if kind == "counter" { name } else { "" };
            counters += usize::from(kind == "counter");
        } else if !family.is_empty() && !line.starts_with('#') {
            let sample = line.split(['{', ' ']).next().unwrap();
            assert_eq!(sample, format!("{family}_total"), "{line}");
        }
    }
    assert!(counters >= 20, "{text}");
    assert_eq!(
        value("logcache_objects_sets_total", &[]),
        Some(5.0),
        "{text}"
    );
    // Each figure is described by its field's doc comment, the store's too.
    for help in [
        "# HELP logcache_http_connections_open TCP connections open now.",
        "# HELP logcache_objects_hits gets that returned an object.",
        "# HELP logcache_store_sets Successful sets (set, set_with_ttl, set_deferred, and put, their alias).",
        "# HELP logcache_store_live_keys Keys with a live, unexpired value.",
    ] {
        assert!(text.contains(help), "{help}: {text}");
    }

    // `/v1/stats` sums the same request count: by method and by status class, the scrape's
    // requests so far (the 12 object requests; this scrape is counted once it is answered).
    let stats: serde_json::Value = serde_json::from_str(
        &a.get(format!("{}/v1/stats", server.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let sum = |method: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == requests && s.labels.get("method") == Some(method))
            .filter_map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => {
                    Some(v)
                }
                _ => None,
            })
            .sum()
    };
    assert_eq!(stats["requests"]["PUT"], 5, "{stats}");
    assert_eq!(stats["requests"]["PUT"].as_f64(), Some(sum("PUT")));
    // GET: the 7 object reads, and the /metrics scrape.
    assert_eq!(stats["requests"]["GET"], 8, "{stats}");
    assert_eq!(stats["responses"]["2xx"], 12, "{stats}");
    assert_eq!(stats["responses"]["4xx"], 1, "{stats}");
}

/// `/v1/stats` over a store whose budget evicts (`--memcached` with `--capacity`: items and
/// objects share it): `objects` counts the objects that read back, not those whose blocks the
/// budget evicted (issue 27).
#[test]
fn stats_count_only_objects_that_survive_the_store_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start_at(
        &dir.path().join("store.log"),
        &["--memcached", "127.0.0.1:0", "--capacity", "6MiB"],
    );
    let http = agent();
    const OBJECTS: usize = 40;
    for i in 0..OBJECTS {
        let len = if i % 4 == 0 { 500 } else { (1 << 20) + 1000 };
        let r = http
            .put(server.object(&format!("o{i}")))
            .send(&vec![i as u8; len][..])
            .unwrap();
        assert_eq!(r.status(), 200, "PUT o{i}");
    }
    let readable = (0..OBJECTS)
        .filter(|i| {
            let r = http.get(server.object(&format!("o{i}"))).call().unwrap();
            r.status() == 200
        })
        .count() as u64;
    let mut r = http.get(format!("{}/v1/stats", server.url)).call().unwrap();
    let stats: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let objects = stats["objects"]["objects"].as_u64().unwrap();
    assert!(
        readable < OBJECTS as u64,
        "the budget evicted nothing: {readable}"
    );
    assert_eq!(
        objects, readable,
        "objects in /v1/stats against objects that read back"
    );
}

//! The object API nested in a program's own axum application: its routes beside logcache's,
//! the objects under `/cache`, the program's own listener.
//!
//! ```sh
//! cargo run --features server --example embed               # serves on 127.0.0.1:8080 until Ctrl-C
//! cargo run --features server --example embed -- --self-test  # a free port: PUT, GET, range, list, exit
//! ```

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use logcache::server::{ServerConfig, router, shutdown_signal};
use logcache::{BigCache, Durability, DurableKVCache};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let self_test = std::env::args().any(|a| a == "--self-test");
    let dir = tempfile::tempdir()?;
    let store = DurableKVCache::builder(dir.path().join("objects.log"))
        .durability(Durability::Sync)
        .open()?;
    let cache = Arc::new(BigCache::new(store)?);

    // The application's own routes, and logcache's object API nested under /cache.
    let app = Router::new()
        .route(
            "/",
            get(|| async { "an application with a cache under /cache\n" }),
        )
        .nest("/cache", router(cache.clone(), &ServerConfig::default())?);

    let addr = if self_test {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:8080"
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("listening on {url} (objects under {url}/cache/v1/objects/<key>)");
    if !self_test {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal()?)
            .await?;
        return Ok(());
    }
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let checked = tokio::task::spawn_blocking(move || exercise(&url)).await?;
    server.abort();
    checked?;
    // What the HTTP calls stored is in the cache the program holds.
    assert_eq!(cache.size_of("notes/today.txt")?, Some(1 << 20));
    println!("self-test passed");
    Ok(())
}

/// A client's round: the application's route, then PUT, GET, a range, HEAD and a listing of
/// the nested object API.
fn exercise(url: &str) -> Result<(), Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let home = agent
        .get(format!("{url}/"))
        .call()?
        .into_body()
        .read_to_string()?;
    assert!(home.starts_with("an application"), "{home}");

    let object = format!("{url}/cache/v1/objects/notes/today.txt");
    let body: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let put = agent
        .put(&object)
        .header("Content-Type", "text/plain")
        .send(&body[..])?;
    assert_eq!(put.status(), 200);
    let mut got = agent.get(&object).call()?;
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert!(got.body_mut().with_config().limit(u64::MAX).read_to_vec()? == body);
    let mut part = agent
        .get(&object)
        .header("Range", "bytes=1000-1009")
        .call()?;
    assert_eq!(part.status(), 206);
    assert_eq!(part.body_mut().read_to_vec()?, &body[1000..1010]);
    let head = agent.head(&object).call()?;
    assert_eq!(head.headers()["content-length"], "1048576");
    let list = agent
        .get(format!("{url}/cache/v1/objects?prefix=notes/"))
        .call()?
        .into_body()
        .read_to_string()?;
    assert!(list.contains("today.txt"), "{list}");
    let metrics = agent
        .get(format!("{url}/cache/metrics"))
        .call()?
        .into_body()
        .read_to_string()?;
    assert!(
        metrics.contains("logcache_http_requests_total"),
        "{metrics}"
    );
    println!("PUT 1 MiB, GET, a 10-byte range, HEAD, a listing and /metrics under /cache: ok");
    Ok(())
}

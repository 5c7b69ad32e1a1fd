//! The async API in a tokio program: small values put and got, and a file streamed into the
//! object cache and back out, memory at about one block whatever its size.
//!
//! ```sh
//! cargo run --release --features tokio --example async_quickstart
//! ```

use logcache::future::{AsyncBigCache, AsyncCache};
use logcache::{BigCache, DurableKVCache};
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    // Small values on the embedded store: every call runs on a bounded pool, so an fsync
    // never blocks the runtime.
    let cache = AsyncCache::new(DurableKVCache::open(dir.path().join("kv.log"))?);
    cache.set("user:1", "ada").await?;
    assert_eq!(cache.get("user:1").await?.as_deref(), Some(&b"ada"[..]));

    // A 20 MiB file streamed in and out of the object cache.
    let input = dir.path().join("film.bin");
    let bytes: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    tokio::fs::write(&input, &bytes).await?;
    let objects = AsyncBigCache::new(BigCache::new(DurableKVCache::open(
        dir.path().join("objects.log"),
    )?)?);
    let mut writer = objects.writer("films/1").await?;
    tokio::io::copy(&mut tokio::fs::File::open(&input).await?, &mut writer).await?;
    let committed = writer.commit().await?;

    let output = dir.path().join("copy.bin");
    let mut reader = objects
        .reader("films/1")
        .await?
        .ok_or("the object was just written")?;
    let mut file = tokio::fs::File::create(&output).await?;
    tokio::io::copy(&mut reader, &mut file).await?;
    file.flush().await?;
    assert!(tokio::fs::read(&output).await? == bytes);
    println!(
        "put and got a value; streamed {} MiB in and out (version {:032x})",
        committed.size >> 20,
        committed.version
    );
    Ok(())
}

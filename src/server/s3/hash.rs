//! The MD5 of a request body, which every S3 `ETag` is made of. MD5 runs at about 700 MiB/s
//! on one core and cannot be split, so for a large body it runs on a thread of its own, fed
//! the body's chunks (reference-counted, not copied) through a bounded channel: reading the
//! socket, hashing and writing the store then overlap instead of taking turns.

use bytes::Bytes;
use md5::{Digest as _, Md5};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bodies announced at least this large are hashed on a thread of their own.
const APART: u64 = 1 << 20;
/// Chunks in flight to the hashing thread.
const DEPTH: usize = 64;

/// The MD5 of a body being read.
pub(crate) enum BodyMd5 {
    /// Hashed as the chunks pass, on the request's task.
    Inline(Md5),
    /// Hashed on a blocking thread.
    Apart {
        tx: mpsc::Sender<Bytes>,
        task: JoinHandle<[u8; 16]>,
    },
}

impl BodyMd5 {
    /// A hasher for a body of `len` bytes, if known.
    pub(crate) fn new(len: Option<u64>) -> BodyMd5 {
        if len.is_none_or(|n| n < APART) {
            return BodyMd5::Inline(Md5::new());
        }
        let (tx, mut rx) = mpsc::channel::<Bytes>(DEPTH);
        let task = tokio::task::spawn_blocking(move || {
            let mut md5 = Md5::new();
            while let Some(chunk) = rx.blocking_recv() {
                md5.update(&chunk);
            }
            md5.finalize().into()
        });
        BodyMd5::Apart { tx, task }
    }

    pub(crate) async fn update(&mut self, data: &Bytes) {
        match self {
            BodyMd5::Inline(md5) => md5.update(data),
            // The thread stops only when the sender is dropped: a send cannot fail before.
            BodyMd5::Apart { tx, .. } => {
                let _ = tx.send(data.clone()).await;
            }
        }
    }

    /// The digest of everything given; `None` if the hashing thread failed.
    pub(crate) async fn finish(self) -> Option<[u8; 16]> {
        match self {
            BodyMd5::Inline(md5) => Some(md5.finalize().into()),
            BodyMd5::Apart { tx, task } => {
                drop(tx);
                task.await.ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_ways_give_the_same_digest() {
        let data: Vec<Bytes> = (0..50u8).map(|i| Bytes::from(vec![i; 70_000])).collect();
        let mut inline = BodyMd5::new(None);
        let mut apart = BodyMd5::new(Some(3_500_000));
        assert!(matches!(apart, BodyMd5::Apart { .. }));
        for d in &data {
            inline.update(d).await;
            apart.update(d).await;
        }
        let whole: Vec<u8> = data.iter().flat_map(|d| d.to_vec()).collect();
        let expected: [u8; 16] = Md5::digest(&whole).into();
        assert_eq!(inline.finish().await, Some(expected));
        assert_eq!(apart.finish().await, Some(expected));
    }
}

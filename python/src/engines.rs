//! What the holder opens: the cache's log and, on first use, the objects' log beside it.
//!
//! Large objects (`open_writer`/`open_reader`) are BigCache's blocks and manifests; they live
//! in a log of their own (`<log>.objects`) so the cache's keys, length and iteration hold the
//! cache's items alone.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use logcache::{Durability, DurableKVCache};

use crate::ops::Failure;

/// The engines of the process that holds the cache.
pub struct Engines {
    pub cache: DurableKVCache,
    objects: Mutex<Option<Arc<DurableKVCache>>>,
    objects_path: PathBuf,
    durability: Durability,
}

impl Engines {
    pub fn new(cache: DurableKVCache, durability: Durability) -> Engines {
        let mut objects_path = cache.path().as_os_str().to_owned();
        objects_path.push(".objects");
        Engines {
            cache,
            objects: Mutex::new(None),
            objects_path: objects_path.into(),
            durability,
        }
    }

    /// The objects' engine, opened on first use.
    pub fn objects(&self) -> Result<Arc<DurableKVCache>, Failure> {
        let mut slot = self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(o) = &*slot {
            return Ok(Arc::clone(o));
        }
        let o = Arc::new(
            DurableKVCache::builder(&self.objects_path)
                .durability(self.durability)
                .open()?,
        );
        *slot = Some(Arc::clone(&o));
        Ok(o)
    }

    /// Closes both logs (the hint files are written), reporting the first failure.
    pub fn close(self) -> Result<(), Failure> {
        let objects = self
            .objects
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = self.cache.close();
        if let Some(o) = objects.and_then(|o| Arc::try_unwrap(o).ok()) {
            o.close()?;
        }
        Ok(first?)
    }
}

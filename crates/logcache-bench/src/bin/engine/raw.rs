//! The raw baseline: the physical-limit model the benchmarks compare logcache against.
//!
//! A plain file of length-prefixed records (`u32` key length, `u32` value length, key, value)
//! appended with one `pwrite` each and the same fsync pattern as the logcache run, a `HashMap`
//! of value offsets (same hasher as logcache's index), positional reads. No checksums, no
//! recovery, no locking, no preallocation: what any store must at least do.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

type Map = HashMap<Vec<u8>, (u64, u32), foldhash::fast::RandomState>;

pub struct Raw {
    file: File,
    end: u64,
    index: Map,
    sync_each: bool,
    buf: Vec<u8>,
    pub syncs: u64,
}

impl Raw {
    pub fn create(path: &Path, sync_each: bool) -> io::Result<Raw> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Raw {
            file,
            end: 0,
            index: Map::default(),
            sync_each,
            buf: Vec::new(),
            syncs: 0,
        })
    }

    pub fn put(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.buf.clear();
        self.buf
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(value);
        self.file.write_all_at(&self.buf, self.end)?;
        let value_at = self.end + 8 + key.len() as u64;
        self.end += self.buf.len() as u64;
        self.index
            .insert(key.to_vec(), (value_at, value.len() as u32));
        if self.sync_each {
            self.sync()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.syncs += 1;
        self.file.sync_data()
    }

    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let Some(&(at, len)) = self.index.get(key) else {
            return Ok(None);
        };
        let mut value = vec![0u8; len as usize];
        self.file.read_exact_at(&mut value, at)?;
        Ok(Some(value))
    }

    pub fn size(&self) -> u64 {
        self.end
    }

    /// Rebuilds the index by scanning the file sequentially (the baseline for reopen).
    pub fn scan(path: &Path) -> io::Result<(usize, u64)> {
        let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
        let mut index = Map::default();
        let mut pos = 0u64;
        let mut head = [0u8; 8];
        let mut key = Vec::new();
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let klen = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
            let vlen = u32::from_le_bytes(head[4..].try_into().unwrap()) as u64;
            key.resize(klen, 0);
            r.read_exact(&mut key)?;
            io::copy(&mut (&mut r).take(vlen), &mut io::sink())?;
            index.insert(key.clone(), (pos + 8 + klen as u64, vlen as u32));
            pos += 8 + klen as u64 + vlen;
        }
        Ok((index.len(), pos))
    }
}

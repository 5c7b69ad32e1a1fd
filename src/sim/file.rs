//! One simulated open file: reads, writes and syncs against the shared state, counted and
//! failed per the plan; and the lock guard.

use std::io;
use std::path::{Path, PathBuf};

use super::{MAX_SIM_FILE, OpKind, SimFs};
use crate::fs::FileHandle;

/// A handle: an inode number in `fs`'s state. Inodes are never removed and a handle shares its
/// file system's state, so `ino` always indexes `inodes`.
#[derive(Debug)]
pub(super) struct SimFile {
    pub(super) fs: SimFs,
    pub(super) ino: usize,
}

pub(super) fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "simulated files are limited to 4 GiB",
    )
}

impl FileHandle for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let s = self.fs.begin(OpKind::Read, false)?;
        let data = &s.inodes[self.ino].data;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > MAX_SIM_FILE {
            return Err(too_big());
        }
        let fs = &self.fs;
        let mut s = match fs.begin(OpKind::Write, true) {
            Ok(s) => s,
            Err(e) => {
                // An injected failure lands half the bytes, like a short write before ENOSPC.
                let mut s = fs.lock();
                if s.crashed.is_none() {
                    write_into(&mut s.inodes[self.ino].data, &buf[..buf.len() / 2], offset);
                }
                return Err(e);
            }
        };
        write_into(&mut s.inodes[self.ino].data, buf, offset);
        s.writes += 1;
        SimFs::end(&mut s);
        drop(s);
        fs.written.notify_all();
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let s = self.fs.begin(OpKind::Read, false)?;
        Ok(s.inodes[self.ino].data.len() as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fs.pass_sync_gate();
        let mut s = self.fs.begin(OpKind::Sync, true)?;
        let inode = &mut s.inodes[self.ino];
        inode.durable = inode.data.clone();
        SimFs::end(&mut s);
        Ok(())
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        if len > MAX_SIM_FILE {
            return Err(too_big());
        }
        let mut s = self.fs.begin(OpKind::Truncate, true)?;
        s.inodes[self.ino]
            .data
            .resize(usize::try_from(len).unwrap_or(usize::MAX), 0);
        SimFs::end(&mut s);
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        if len > MAX_SIM_FILE {
            return Err(too_big());
        }
        let mut s = self.fs.begin(OpKind::Allocate, true)?;
        let data = &mut s.inodes[self.ino].data;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if data.len() < len {
            data.resize(len, 0);
        }
        SimFs::end(&mut s);
        Ok(())
    }
}

pub(super) fn write_into(data: &mut Vec<u8>, buf: &[u8], offset: u64) {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if data.len() < start + buf.len() {
        data.resize(start + buf.len(), 0);
    }
    data[start..start + buf.len()].copy_from_slice(buf);
}

pub(super) fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

pub(super) fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

pub(super) struct SimLock {
    pub(super) fs: SimFs,
    pub(super) path: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.lock().locks.remove(&self.path);
    }
}

//! [`SimFs`]: the in-memory file system that crashes and fails on purpose, and its crash images.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::fs::{FileHandle, FileInfo, FileKind, FileSystem, LockGuard};

use super::file::{SimFile, SimLock, not_found, parent};

/// The kinds of operation the simulation counts, crashes after and fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// Opening a file (counted as mutating when it creates one).
    Open,
    /// `read_at`.
    Read,
    /// `write_at`.
    Write,
    /// `sync_data`.
    Sync,
    /// `truncate`.
    Truncate,
    /// `allocate`.
    Allocate,
    /// `rename`.
    Rename,
    /// `remove`.
    Remove,
    /// `sync_dir`.
    SyncDir,
}

impl OpKind {
    /// Every kind, for tests that enumerate them.
    pub const ALL: [OpKind; 9] = [
        OpKind::Open,
        OpKind::Read,
        OpKind::Write,
        OpKind::Sync,
        OpKind::Truncate,
        OpKind::Allocate,
        OpKind::Rename,
        OpKind::Remove,
        OpKind::SyncDir,
    ];
}

/// How [`SimFs::crash_images`] treats unsynced file bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataLoss {
    /// Every unsynced byte is lost.
    AllLost,
    /// A random prefix of the unsynced bytes (in offset order) is kept, the rest lost.
    Prefix,
    /// Unsynced bytes read back as zeros.
    Zeros,
    /// Unsynced bytes read back as random garbage.
    Garbage,
    /// Every unsynced byte made it (the OS flushed just in time).
    AllKept,
    /// Each 512-byte sector holding unsynced bytes independently made it or not: writeback
    /// out of order, so later records can survive while earlier ones are lost.
    Sectors,
}

impl DataLoss {
    /// Every variant.
    pub const ALL: [DataLoss; 6] = [
        DataLoss::AllLost,
        DataLoss::Prefix,
        DataLoss::Zeros,
        DataLoss::Garbage,
        DataLoss::AllKept,
        DataLoss::Sectors,
    ];
}

#[derive(Debug, Clone, Default)]
pub(super) struct Inode {
    pub(super) data: Vec<u8>,
    pub(super) durable: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct State {
    pub(super) inodes: Vec<Inode>,
    pub(super) names: BTreeMap<PathBuf, usize>,
    pub(super) durable_names: BTreeMap<PathBuf, usize>,
    pub(super) locks: BTreeSet<PathBuf>,
    /// Mutating operations so far.
    pub(super) ops: u64,
    /// Operations of each kind so far (for failure plans).
    pub(super) kind_counts: BTreeMap<OpKind, u64>,
    pub(super) crash_after: Option<u64>,
    /// A crash at the n-th operation of a kind: (kind, n, after it took effect?).
    pub(super) crash_at: Option<(OpKind, u64, bool)>,
    /// Writes so far (for the sync gate).
    pub(super) writes: u64,
    /// The next sync waits until `writes` reaches this.
    pub(super) sync_gate: Option<u64>,
    /// The state at the crash, once it happened.
    pub(super) crashed: Option<Box<State>>,
    pub(super) fail: Option<(OpKind, u64, bool)>,
    pub(super) failed: bool,
    pub(super) available: u64,
}

/// An in-memory file system that can crash and fail on purpose. Cheap to clone: clones share
/// state.
#[derive(Clone)]
pub struct SimFs {
    pub(super) state: Arc<Mutex<State>>,
    /// Signalled after each write, for a sync held by the gate.
    pub(super) written: Arc<Condvar>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("SimFs")
            .field("files", &s.names.len())
            .field("ops", &s.ops)
            .finish()
    }
}

impl Default for SimFs {
    fn default() -> Self {
        Self::new()
    }
}

pub(super) fn dead() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        SimFs {
            written: Arc::default(),
            state: Arc::new(Mutex::new(State {
                available: u64::MAX / 2,
                ..State::default()
            })),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Mutating operations (open-with-create, write, sync, truncate, allocate, rename,
    /// remove, sync_dir) so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Operations of `kind` since the last [`fail`](Self::fail) (or since creation).
    pub fn count(&self, kind: OpKind) -> u64 {
        self.lock().kind_counts.get(&kind).copied().unwrap_or(0)
    }

    /// Crashes right after the `k`-th mutating operation from the start (1-based; it takes
    /// effect). Every later operation fails.
    pub fn crash_after(&self, k: u64) {
        self.lock().crash_after = Some(k);
    }

    /// Crashes at the `nth` (1-based, counted from now) operation of `kind`: before it takes
    /// effect (it fails), or with `after` right after. Every later operation fails.
    pub fn crash_at(&self, kind: OpKind, nth: u64, after: bool) {
        let mut s = self.lock();
        s.kind_counts.clear();
        s.crash_at = Some((kind, nth, after));
    }

    /// Holds the next `sync_data` (up to 10 s) until `more` further writes have happened, and
    /// then 50 ms more (as a real fsync takes time, so that writers that wrote have also
    /// queued for their fsync): for tests of group commit, where one fsync must cover every
    /// write that arrived while another ran.
    pub fn hold_next_sync_until_writes(&self, more: u64) {
        let mut s = self.lock();
        s.sync_gate = Some(s.writes + more);
    }

    /// Waits out the sync gate, if one is set (called by a sync before it begins).
    pub(super) fn pass_sync_gate(&self) {
        let mut s = self.lock();
        let Some(target) = s.sync_gate.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while s.writes < target {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s = self
                .written
                .wait_timeout(s, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        drop(s);
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Crashes now: every later operation fails.
    pub fn crash_now(&self) {
        let mut s = self.lock();
        let snapshot = Box::new(s.clone());
        s.crashed = Some(snapshot);
    }

    /// Whether the crash happened.
    pub fn has_crashed(&self) -> bool {
        self.lock().crashed.is_some()
    }

    /// Fails the `nth` (1-based, counted from now) operation of `kind`; with `persistent`, every
    /// one after it too. Failed writes leave half their bytes written.
    pub fn fail(&self, kind: OpKind, nth: u64, persistent: bool) {
        let mut s = self.lock();
        s.kind_counts.clear();
        s.fail = Some((kind, nth, persistent));
        s.failed = false;
    }

    /// Stops injecting failures.
    pub fn heal(&self) {
        self.lock().fail = None;
    }

    /// Whether an injected failure fired.
    pub fn failure_fired(&self) -> bool {
        self.lock().failed
    }

    /// Sets the free space reported by `available_space`.
    pub fn set_available_space(&self, bytes: u64) {
        self.lock().available = bytes;
    }

    /// The current contents of `path` (page-cache view), if it exists.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.lock();
        s.names.get(path).map(|&i| s.inodes[i].data.clone())
    }

    /// Replaces the contents of `path` (creating it), durably.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) {
        let mut s = self.lock();
        let ino = s.inodes.len();
        s.inodes.push(Inode {
            data: bytes.to_vec(),
            durable: bytes.to_vec(),
        });
        s.names.insert(path.to_path_buf(), ino);
        s.durable_names.insert(path.to_path_buf(), ino);
    }

    /// The file systems the machine could come back with after the crash (or now, if it has
    /// not crashed): one per [`DataLoss`] variant, each with directory changes since the last
    /// `sync_dir` undone and, when there are any, again with them kept. `seed` drives the
    /// random prefix and garbage.
    pub fn crash_images(&self, seed: u64) -> Vec<(String, SimFs)> {
        let s = self.lock();
        let at = s.crashed.as_deref().unwrap_or(&s);
        let mut out = Vec::new();
        let mut dir_choices = vec![(false, &at.durable_names)];
        if at.names != at.durable_names {
            dir_choices.push((true, &at.names));
        }
        for (i, loss) in DataLoss::ALL.into_iter().enumerate() {
            for &(kept, names) in &dir_choices {
                let mut rng = Rng(seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut state = State {
                    available: at.available,
                    ..State::default()
                };
                for (path, &ino) in names {
                    let inode = &at.inodes[ino];
                    let bytes = settle(inode, loss, &mut rng);
                    let new = state.inodes.len();
                    state.inodes.push(Inode {
                        data: bytes.clone(),
                        durable: bytes,
                    });
                    state.names.insert(path.clone(), new);
                    state.durable_names.insert(path.clone(), new);
                }
                let label = format!(
                    "{loss:?}, directory changes {}",
                    if kept { "kept" } else { "undone" }
                );
                out.push((
                    label,
                    SimFs {
                        state: Arc::new(Mutex::new(state)),
                        written: Arc::default(),
                    },
                ));
            }
        }
        out
    }

    /// Counts an operation against the crash and failure plans.
    pub(super) fn begin(&self, kind: OpKind, mutating: bool) -> io::Result<MutexGuard<'_, State>> {
        let mut s = self.lock();
        if s.crashed.is_some() {
            return Err(dead());
        }
        let n = {
            let c = s.kind_counts.entry(kind).or_insert(0);
            *c += 1;
            *c
        };
        if let Some((k, nth, after)) = s.crash_at
            && k == kind
            && n == nth
        {
            s.crash_at = None;
            if !after {
                let snapshot = Box::new(s.clone());
                s.crashed = Some(snapshot);
                return Err(dead());
            }
            // Crash as soon as this operation took effect (`end`).
            s.crash_after = Some(s.ops + u64::from(mutating));
        }
        if let Some((k, nth, persistent)) = s.fail
            && k == kind
            && (n == nth || persistent && n > nth)
        {
            s.failed = true;
            return Err(io::Error::other(format!(
                "injected {} failure",
                format!("{kind:?}").to_lowercase()
            )));
        }
        if mutating {
            s.ops += 1;
        }
        Ok(s)
    }

    /// After a mutating operation took effect: crash if this was the armed one.
    pub(super) fn end(s: &mut State) {
        if s.crash_after.is_some_and(|k| s.ops >= k) && s.crashed.is_none() {
            s.crash_after = None;
            let snapshot = Box::new(s.clone());
            s.crashed = Some(snapshot);
        }
    }
}

/// What a crash leaves of one file.
pub(super) fn settle(inode: &Inode, loss: DataLoss, rng: &mut Rng) -> Vec<u8> {
    let (cur, dur) = (&inode.data, &inode.durable);
    let dirty: Vec<usize> = (0..cur.len().max(dur.len()))
        .filter(|&i| cur.get(i) != dur.get(i))
        .collect();
    if dirty.is_empty() {
        return cur.clone();
    }
    match loss {
        DataLoss::AllLost => dur.clone(),
        DataLoss::AllKept => cur.clone(),
        DataLoss::Prefix => {
            let keep = rng.below(dirty.len() as u64 + 1) as usize;
            let mut out = dur.clone();
            for &i in &dirty[..keep] {
                match cur.get(i) {
                    Some(&b) => {
                        if i >= out.len() {
                            out.resize(i + 1, 0);
                        }
                        out[i] = b;
                    }
                    // Bytes the current view cut off (a truncate): the cut reached disk.
                    None => out.truncate(i.min(out.len())),
                }
            }
            out
        }
        DataLoss::Sectors => {
            let mut out = cur.clone();
            let mut sector = usize::MAX;
            let mut keep = true;
            for &i in &dirty {
                if i / 512 != sector {
                    sector = i / 512;
                    keep = rng.below(2) == 0;
                }
                if !keep && let Some(b) = out.get_mut(i) {
                    *b = dur.get(i).copied().unwrap_or(0);
                }
            }
            out
        }
        DataLoss::Zeros | DataLoss::Garbage => {
            let mut out = cur.clone();
            for &i in &dirty {
                if let Some(b) = out.get_mut(i) {
                    *b = if loss == DataLoss::Zeros {
                        0
                    } else {
                        rng.next() as u8
                    };
                }
            }
            out
        }
    }
}

/// xorshift64*: small, deterministic, good enough to pick cut points.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Largest simulated file: writes and allocations beyond it fail instead of allocating.
pub(super) const MAX_SIM_FILE: u64 = 1 << 32;

impl FileSystem for SimFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        let exists = self.lock().names.contains_key(path);
        let mut s = self.begin(OpKind::Open, create && !exists)?;
        let ino = match s.names.get(path) {
            Some(&ino) => ino,
            None if create => {
                let ino = s.inodes.len();
                s.inodes.push(Inode::default());
                s.names.insert(path.to_path_buf(), ino);
                SimFs::end(&mut s);
                ino
            }
            None => return Err(not_found(path)),
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            ino,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.begin(OpKind::Rename, true)?;
        let ino = s.names.remove(from).ok_or_else(|| not_found(from))?;
        s.names.insert(to.to_path_buf(), ino);
        SimFs::end(&mut s);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.begin(OpKind::Remove, true)?;
        s.names.remove(path).ok_or_else(|| not_found(path))?;
        SimFs::end(&mut s);
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let s = self.begin(OpKind::Read, false)?;
        Ok(s.names.contains_key(path))
    }

    fn stat(&self, path: &Path) -> io::Result<Option<FileInfo>> {
        // The simulation has regular files only, each with one name.
        Ok(self.exists(path)?.then_some(FileInfo {
            kind: FileKind::File,
            links: 1,
        }))
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(path.to_path_buf()) // no links to follow
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.begin(OpKind::SyncDir, true)?;
        let in_dir = |p: &Path| parent(p) == dir;
        s.durable_names.retain(|p, _| !in_dir(p));
        let current: Vec<(PathBuf, usize)> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        s.durable_names.extend(current);
        SimFs::end(&mut s);
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let s = self.begin(OpKind::Read, false)?;
        Ok(s.names
            .keys()
            .filter(|p| parent(p) == dir)
            .cloned()
            .collect())
    }

    fn lock(&self, path: &Path) -> io::Result<LockGuard> {
        let mut s = self.begin(OpKind::Read, false)?;
        if !s.locks.insert(path.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        drop(s);
        Ok(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
        }))
    }

    fn available_space(&self, _dir: &Path) -> io::Result<u64> {
        let s = self.begin(OpKind::Read, false)?;
        Ok(s.available)
    }
}

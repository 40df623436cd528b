//! A simulated disk for crash and corruption tests.
//!
//! Model: each file (an inode) has `current` bytes, what reads see, and
//! `durable` bytes, what survives a crash; `sync_data` copies one to the
//! other. Directory entries (create, remove, rename) are likewise buffered
//! until `sync_dir` of their directory. [`SimDisk::crash`] throws away
//! everything not durable and may tear the last unsynced write of each file
//! (keeping a prefix of it, as a power cut mid-write does).
//!
//! Every mutating call is a numbered *write point*. With
//! [`SimDisk::stop_at_write_point`] the disk fails that call and every later
//! one, as if the machine died there; the test then calls `crash` and
//! reopens.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Disk, DiskFile};

type Inode = u64;

#[derive(Default, Clone)]
struct Contents {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// The last write since the last sync: (offset, bytes).
    last_unsynced_write: Option<(u64, Vec<u8>)>,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<PathBuf, Inode>,
    durable_entries: BTreeMap<PathBuf, Inode>,
    inodes: HashMap<Inode, Contents>,
    next_inode: Inode,
    write_points: u64,
    stop_at: Option<u64>,
    syncs: u64,
}

/// An in-memory [`Disk`] that can crash. Clones share the same disk.
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

struct SimFile {
    state: Arc<Mutex<State>>,
    inode: Inode,
}

fn dead() -> io::Error {
    io::Error::other("simulated machine stopped")
}

impl State {
    /// Counts a write point; fails once the stop point is reached.
    fn write_point(&mut self) -> io::Result<()> {
        if self.stop_at.is_some_and(|stop| self.write_points >= stop) {
            return Err(dead());
        }
        self.write_points += 1;
        Ok(())
    }
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mutating calls made so far.
    pub fn write_points(&self) -> u64 {
        self.state.lock().write_points
    }

    /// `sync_data` calls made so far.
    pub fn syncs(&self) -> u64 {
        self.state.lock().syncs
    }

    /// Fails write point `point` (counting from 0) and everything after it.
    pub fn stop_at_write_point(&self, point: u64) {
        self.state.lock().stop_at = Some(point);
    }

    /// Simulates power loss: un-synced bytes and directory changes are lost;
    /// with `tear`, the first half of each file's last unsynced write
    /// survives. The disk works again afterwards.
    pub fn crash(&self, tear: bool) {
        let mut state = self.state.lock();
        state.entries = state.durable_entries.clone();
        for contents in state.inodes.values_mut() {
            let mut survived = contents.durable.clone();
            if tear {
                if let Some((offset, data)) = &contents.last_unsynced_write {
                    let kept = &data[..data.len() / 2];
                    let end = *offset as usize + kept.len();
                    if survived.len() >= *offset as usize {
                        if survived.len() < end {
                            survived.resize(end, 0);
                        }
                        survived[*offset as usize..end].copy_from_slice(kept);
                    }
                }
            }
            contents.current.clone_from(&survived);
            contents.durable = survived;
            contents.last_unsynced_write = None;
        }
        let live: Vec<Inode> = state.entries.values().copied().collect();
        state.inodes.retain(|inode, _| live.contains(inode));
        state.stop_at = None;
    }

    /// Flips one bit of a file, in both its current and durable bytes.
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) {
        let mut state = self.state.lock();
        let inode = *state.entries.get(path).expect("flip_bit on a missing file");
        let contents = state.inodes.get_mut(&inode).expect("inode of an entry");
        for bytes in [&mut contents.current, &mut contents.durable] {
            if let Some(byte) = bytes.get_mut(offset as usize) {
                *byte ^= 1 << bit;
            }
        }
    }

    /// The current length of a file, if it exists.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        let state = self.state.lock();
        let inode = state.entries.get(path)?;
        Some(state.inodes[inode].current.len() as u64)
    }
}

impl DiskFile for SimFile {
    fn byte_len(&self) -> io::Result<u64> {
        let state = self.state.lock();
        let contents = state.inodes.get(&self.inode).ok_or_else(dead)?;
        Ok(contents.current.len() as u64)
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let state = self.state.lock();
        let contents = state.inodes.get(&self.inode).ok_or_else(dead)?;
        let start = offset as usize;
        let end = start + buf.len();
        if end > contents.current.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past end of file",
            ));
        }
        buf.copy_from_slice(&contents.current[start..end]);
        Ok(())
    }

    fn write_all_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_point()?;
        let contents = state.inodes.get_mut(&self.inode).ok_or_else(dead)?;
        let start = offset as usize;
        if contents.current.len() < start + data.len() {
            contents.current.resize(start + data.len(), 0);
        }
        contents.current[start..start + data.len()].copy_from_slice(data);
        contents.last_unsynced_write = Some((offset, data.to_vec()));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_point()?;
        state.syncs += 1;
        let contents = state.inodes.get_mut(&self.inode).ok_or_else(dead)?;
        contents.durable = contents.current.clone();
        contents.last_unsynced_write = None;
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_point()?;
        let contents = state.inodes.get_mut(&self.inode).ok_or_else(dead)?;
        contents.current.resize(len as usize, 0);
        contents.last_unsynced_write = None;
        Ok(())
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state.lock();
        Ok(state
            .entries
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| {
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .collect())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        let mut state = self.state.lock();
        let inode = match state.entries.get(path) {
            Some(inode) => *inode,
            None if create => {
                state.write_point()?;
                let inode = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(inode, Contents::default());
                state.entries.insert(path.to_path_buf(), inode);
                inode
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} not found", path.display()),
                ))
            }
        };
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_point()?;
        state.entries.remove(path).map(|_| ()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} not found", path.display()),
            )
        })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_point()?;
        let inode = state.entries.remove(from).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} not found", from.display()),
            )
        })?;
        state.entries.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_point()?;
        let in_dir = |path: &PathBuf| path.parent() == Some(dir);
        let current: Vec<(PathBuf, Inode)> = state
            .entries
            .iter()
            .filter(|(path, _)| in_dir(path))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        state.durable_entries.retain(|path, _| !in_dir(path));
        state.durable_entries.extend(current);
        Ok(())
    }
}

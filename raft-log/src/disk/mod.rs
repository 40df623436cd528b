//! The `Disk` seam: every byte raft-log reads or writes goes through it.
//!
//! [`RealDisk`] is the operating system's file system. [`SimDisk`] is an
//! in-memory disk that keeps durable and buffered bytes apart, so a test
//! can crash it (dropping what was not synced, optionally tearing the last
//! write), flip bits, and stop it at any chosen write point.

pub mod conformance;
mod real;
mod sim;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use real::RealDisk;
pub use sim::SimDisk;

/// An open file. All methods take `&self`: writers at different offsets and
/// a concurrent `sync_data` may share one handle.
pub trait DiskFile: Send + Sync {
    /// Current length in bytes, buffered writes included.
    fn byte_len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; fails if the file is shorter.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `data` at `offset` (buffered until `sync_data`).
    fn write_all_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every write so far durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Cuts or extends the file to `len` (buffered until `sync_data`).
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// A file system.
pub trait Disk: Send + Sync {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens `path` for reading and writing, creating it if `create`.
    /// A new file's directory entry is durable only after `sync_dir`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn DiskFile>>;
    /// Removes `path` (durable after `sync_dir`).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` over `to` atomically (durable after `sync_dir`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// Reads a whole file.
pub fn read_all(file: &dyn DiskFile) -> io::Result<Vec<u8>> {
    let len = file.byte_len()?;
    let mut buf = vec![0; usize::try_from(len).map_err(io::Error::other)?];
    file.read_exact_at(0, &mut buf)?;
    Ok(buf)
}

/// `dir/name`.
pub fn child(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

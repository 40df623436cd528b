//! Snapshot files: a consistent copy of the whole mvcc store, with the Raft
//! position it reflects. `kv-server/FORMAT.md` specifies the bytes.
//!
//! A snapshot is built by streaming [`keel_mvcc::Store::export`] into a file
//! under a temporary name, fsyncing it, and renaming it into place; it is
//! installed by checking the whole file's checksum first and then streaming
//! it into [`keel_mvcc::Store::import`]. All file access goes through the
//! raft-log `Disk` seam, so the simulator can crash it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_mvcc::backend::{Backend, BackendError, Table};
use keel_mvcc::Store;
use keel_proto::keelpb;
use keel_raft_log::disk::child;
use keel_raft_log::{Disk, DiskFile};
use prost::Message;

/// First bytes of every snapshot file.
pub const MAGIC: &[u8; 8] = b"KEELSNAP";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// The mvcc meta key whose value is the applied state (see
/// [`applied_state_key`]).
const APPLIED_KEY: &[u8] = b"applied";
/// Snapshot files are written and read in pieces of this size.
const IO_CHUNK: usize = 1 << 20;
/// The largest key or value a frame may hold (a sanity bound when reading).
const FIELD_MAX: u32 = 64 << 20;
/// Bytes of the fixed footer: metadata length and crc32.
const FOOTER_LEN: u64 = 8;

/// The mvcc meta key under which each applied entry stores its
/// `keelpb.AppliedState`.
pub fn applied_state_key() -> &'static [u8] {
    APPLIED_KEY
}

/// A snapshot file on disk: openraft's `SnapshotData` in keel.
#[derive(Clone)]
pub struct SnapshotFile {
    /// The disk it lives on.
    pub disk: Arc<dyn Disk>,
    /// Its path.
    pub path: PathBuf,
}

impl std::fmt::Debug for SnapshotFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn table_tag(table: Table) -> u8 {
    match table {
        Table::Versions => 1,
        Table::Revisions => 2,
        Table::Meta => 3,
        Table::Leases => 4,
        Table::LeaseKeys => 5,
    }
}

fn table_of_tag(tag: u8) -> Option<Table> {
    match tag {
        1 => Some(Table::Versions),
        2 => Some(Table::Revisions),
        3 => Some(Table::Meta),
        4 => Some(Table::Leases),
        5 => Some(Table::LeaseKeys),
        _ => None,
    }
}

fn corrupt(path: &Path, offset: u64, reason: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "snapshot {} corrupt at offset {offset}: {reason}",
            path.display()
        ),
    )
}

/// Appends to a file through a buffer, tracking the crc of what it wrote.
struct FileWriter {
    file: Arc<dyn DiskFile>,
    offset: u64,
    buffer: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl FileWriter {
    fn new(file: Arc<dyn DiskFile>) -> Self {
        Self {
            file,
            offset: 0,
            buffer: Vec::with_capacity(IO_CHUNK),
            crc: crc32fast::Hasher::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= IO_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.write_all_at(self.offset, &self.buffer)?;
        self.offset += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }
}

/// Reads a file front to back through a buffer.
struct FileReader {
    file: Arc<dyn DiskFile>,
    path: PathBuf,
    /// Bytes of the file this reader may read (the footer excluded).
    limit: u64,
    offset: u64,
    buffer: Vec<u8>,
    at: usize,
    crc: crc32fast::Hasher,
}

impl FileReader {
    fn new(file: Arc<dyn DiskFile>, path: PathBuf, limit: u64) -> Self {
        Self {
            file,
            path,
            limit,
            offset: 0,
            buffer: Vec::new(),
            at: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    fn position(&self) -> u64 {
        self.offset - (self.buffer.len() - self.at) as u64
    }

    fn read(&mut self, len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            if self.at == self.buffer.len() {
                let left = self.limit - self.offset;
                if left == 0 {
                    return Err(corrupt(&self.path, self.position(), "ends early"));
                }
                let size = left.min(IO_CHUNK as u64) as usize;
                self.buffer.resize(size, 0);
                self.file.read_exact_at(self.offset, &mut self.buffer)?;
                self.offset += size as u64;
                self.at = 0;
            }
            let take = (len - out.len()).min(self.buffer.len() - self.at);
            out.extend_from_slice(&self.buffer[self.at..self.at + take]);
            self.at += take;
        }
        self.crc.update(&out);
        Ok(out)
    }

    fn read_u32(&mut self) -> io::Result<u32> {
        let bytes = self.read(4)?;
        Ok(u32::from_be_bytes(bytes.try_into().expect("4 bytes")))
    }
}

/// The file name of a snapshot whose last applied entry has `index` and
/// `term`: names sort by index.
pub fn file_name(index: u64, term: u64) -> String {
    format!("{index:020}-{term:020}.snap")
}

/// Writes a snapshot of `store` into `dir`, durably, and returns it with
/// the applied state it holds (the `keelpb.AppliedState` stored with the
/// last applied entry; `None` if the store never applied anything). The
/// file is named `tag` followed by [`file_name`]; concurrent writers into
/// one directory must use different tags.
pub fn write<B: Backend>(
    store: &Store<B>,
    disk: &Arc<dyn Disk>,
    dir: &Path,
    tag: &str,
) -> io::Result<(SnapshotFile, Option<keelpb::AppliedState>)> {
    disk.create_dir_all(dir)?;
    let temporary = child(dir, &format!("{tag}building.snap.tmp"));
    let file = disk.open(&temporary, true)?;
    file.set_len(0)?;
    let mut writer = FileWriter::new(file);
    writer.write(MAGIC)?;
    writer.write(&VERSION.to_be_bytes())?;
    let mut applied = None;
    let mut failure = None;
    store
        .export(&mut |table, key, value| {
            if table == Table::Meta && key == APPLIED_KEY {
                applied = Some(value.to_vec());
            }
            let mut frame = Vec::with_capacity(9 + key.len() + value.len());
            frame.push(table_tag(table));
            frame.extend_from_slice(&(key.len() as u32).to_be_bytes());
            frame.extend_from_slice(&(value.len() as u32).to_be_bytes());
            frame.extend_from_slice(key);
            frame.extend_from_slice(value);
            match writer.write(&frame) {
                Ok(()) => true,
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        })
        .map_err(io::Error::other)?;
    if let Some(error) = failure {
        return Err(error);
    }
    let meta = applied
        .map(|bytes| keelpb::AppliedState::decode(&bytes[..]))
        .transpose()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let (index, term) = meta
        .as_ref()
        .and_then(|meta| meta.last_applied.as_ref())
        .map_or((0, 0), |id| (id.index, id.term));
    let name = format!("{tag}{}", file_name(index, term));
    let meta = meta.map(|mut meta| {
        meta.snapshot_id.clone_from(&name);
        meta
    });
    let path = child(dir, &name);
    let meta_bytes = meta.clone().unwrap_or_default().encode_to_vec();
    writer.write(&[0])?;
    writer.write(&meta_bytes)?;
    writer.write(&(meta_bytes.len() as u32).to_be_bytes())?;
    let crc = writer.crc.clone().finalize();
    writer.buffer.extend_from_slice(&crc.to_be_bytes());
    writer.flush()?;
    writer.file.sync_data()?;
    disk.rename(&temporary, &path)?;
    disk.sync_dir(dir)?;
    Ok((
        SnapshotFile {
            disk: Arc::clone(disk),
            path,
        },
        meta,
    ))
}

/// One key-value pair of a snapshot, with the table it belongs to.
type Frame = (Table, Vec<u8>, Vec<u8>);

/// A snapshot file being read front to back.
struct Frames {
    reader: FileReader,
    len: u64,
    meta_len: u64,
    stored_crc: u32,
}

impl Frames {
    /// Opens a snapshot and checks its header. `len` is the snapshot's
    /// length when it is only the first part of the file.
    fn open(snapshot: &SnapshotFile, len: Option<u64>) -> io::Result<Self> {
        let path = &snapshot.path;
        let file = snapshot.disk.open(path, false)?;
        let len = match len {
            Some(len) => len,
            None => file.byte_len()?,
        };
        if len < (MAGIC.len() + 4) as u64 + 1 + FOOTER_LEN {
            return Err(corrupt(path, 0, "too short"));
        }
        let mut footer = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(len - FOOTER_LEN, &mut footer)?;
        let meta_len = u64::from(u32::from_be_bytes(footer[..4].try_into().expect("4")));
        let stored_crc = u32::from_be_bytes(footer[4..].try_into().expect("4"));
        let mut reader = FileReader::new(file, path.clone(), len - 4);
        if reader.read(MAGIC.len())? != MAGIC {
            return Err(corrupt(path, 0, "not a keel snapshot"));
        }
        let version = reader.read_u32()?;
        if version != VERSION {
            return Err(corrupt(
                path,
                8,
                &format!("format version {version}, this keel reads {VERSION}"),
            ));
        }
        Ok(Self {
            reader,
            len,
            meta_len,
            stored_crc,
        })
    }

    /// The next frame, or `None` at the end marker.
    fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let at = self.reader.position();
        let tag = self.reader.read(1)?[0];
        if tag == 0 {
            return Ok(None);
        }
        let path = &self.reader.path;
        let table = table_of_tag(tag).ok_or_else(|| corrupt(path, at, "unknown table"))?;
        let key_len = self.reader.read_u32()?;
        let value_len = self.reader.read_u32()?;
        if key_len > FIELD_MAX || value_len > FIELD_MAX {
            return Err(corrupt(&self.reader.path, at, "frame too long"));
        }
        let key = self.reader.read(key_len as usize)?;
        let value = self.reader.read(value_len as usize)?;
        Ok(Some((table, key, value)))
    }

    /// After the end marker: reads the metadata and checks the checksum.
    fn finish(mut self) -> io::Result<keelpb::AppliedState> {
        let meta_at = self.reader.position();
        let path = self.reader.path.clone();
        if meta_at + self.meta_len + 4 != self.len - 4 {
            return Err(corrupt(&path, meta_at, "metadata length does not fit"));
        }
        let meta_bytes = self.reader.read(self.meta_len as usize)?;
        self.reader.read_u32()?;
        if self.reader.crc.clone().finalize() != self.stored_crc {
            return Err(corrupt(&path, self.len - 4, "checksum mismatch"));
        }
        keelpb::AppliedState::decode(&meta_bytes[..])
            .map_err(|_| corrupt(&path, meta_at, "metadata does not decode"))
    }
}

/// Reads a whole snapshot file and checks its checksum. Returns its
/// metadata.
pub fn verify(snapshot: &SnapshotFile) -> io::Result<keelpb::AppliedState> {
    verify_prefix(snapshot, None)
}

/// [`verify`] of the snapshot held in the first `len` bytes of the file
/// (`None`: the whole file).
pub fn verify_prefix(
    snapshot: &SnapshotFile,
    len: Option<u64>,
) -> io::Result<keelpb::AppliedState> {
    let mut frames = Frames::open(snapshot, len)?;
    while frames.next_frame()?.is_some() {}
    frames.finish()
}

/// Replaces the content of `store` with the snapshot's, after checking the
/// whole file, streaming it without holding it in memory. Returns the
/// snapshot's metadata.
pub fn install<B: Backend>(
    store: &Store<B>,
    snapshot: &SnapshotFile,
) -> io::Result<keelpb::AppliedState> {
    install_prefix(store, snapshot, None)
}

/// [`install`] of the snapshot held in the first `len` bytes of the file
/// (`None`: the whole file), as when a [`trailer`] follows it.
pub fn install_prefix<B: Backend>(
    store: &Store<B>,
    snapshot: &SnapshotFile,
    len: Option<u64>,
) -> io::Result<keelpb::AppliedState> {
    install_prefix_reporting(store, snapshot, len, &mut |_, _| {})
}

/// [`install_prefix`], telling `progress` how many of the snapshot's bytes
/// have been imported and how many there are, after every frame and once
/// at the end (`keeld --restore-snapshot --restore-only` draws a progress
/// bar from it).
pub fn install_prefix_reporting<B: Backend>(
    store: &Store<B>,
    snapshot: &SnapshotFile,
    len: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<keelpb::AppliedState> {
    let meta = verify_prefix(snapshot, len)?;
    let mut frames = Frames::open(snapshot, len)?;
    let total = frames.len;
    let entries = std::iter::from_fn(|| match frames.next_frame() {
        Ok(Some(frame)) => {
            progress(frames.reader.position(), total);
            Some(Ok(frame))
        }
        Ok(None) => None,
        Err(error) => Some(Err(BackendError::Corrupt(error.to_string()))),
    });
    store.import(entries).map_err(io::Error::other)?;
    progress(total, total);
    Ok(meta)
}

/// The integrity trailer that etcdctl expects at the end of a client
/// snapshot (`Maintenance.Snapshot`), and that `keeld --restore-snapshot`
/// checks and strips. etcd's bbolt files are whole pages, so etcd appends a
/// bare sha256; etcdctl recognises it by the size, which must be 32 more
/// than a multiple of 512. A keel snapshot file is any length, so keel first
/// pads it: zero bytes, then the count of those zero bytes as a big-endian
/// u32, so that the padded length is a multiple of 512. The sha256 covers
/// the snapshot and its padding. `kv-server/FORMAT.md` has the layout.
pub mod trailer {
    use std::io;

    use keel_raft_log::DiskFile;
    use sha2::{Digest, Sha256};

    /// etcdctl's unit: the padded snapshot is a whole number of these.
    pub const SECTOR: u64 = 512;
    /// Bytes of the sha256 digest at the very end.
    pub const DIGEST_LEN: u64 = 32;
    /// Bytes of the padding-length field.
    const PAD_LEN_FIELD: u64 = 4;

    /// The padding that follows a snapshot of `len` bytes.
    pub fn padding(len: u64) -> Vec<u8> {
        let zeros = (SECTOR - (len + PAD_LEN_FIELD) % SECTOR) % SECTOR;
        let mut padding = vec![0; zeros as usize];
        padding.extend_from_slice(&(zeros as u32).to_be_bytes());
        padding
    }

    /// A running sha256 of the bytes streamed so far.
    #[derive(Default)]
    pub struct Hasher(Sha256);

    impl Hasher {
        /// Adds `bytes` to the digest.
        pub fn update(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }

        /// The 32-byte digest.
        pub fn finish(self) -> Vec<u8> {
            self.0.finalize().to_vec()
        }
    }

    /// If `file` ends with a trailer whose digest matches, the length of the
    /// snapshot inside it; `None` if the file's length cannot hold a
    /// trailer or its digest does not match (a bare snapshot file).
    /// Reads the whole file.
    pub fn snapshot_len(file: &dyn DiskFile) -> io::Result<Option<u64>> {
        let len = file.byte_len()?;
        if len < SECTOR + DIGEST_LEN || len % SECTOR != DIGEST_LEN {
            return Ok(None);
        }
        let padded = len - DIGEST_LEN;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        let mut offset = 0;
        while offset < padded {
            let size = (padded - offset).min(buffer.len() as u64) as usize;
            file.read_exact_at(offset, &mut buffer[..size])?;
            hasher.update(&buffer[..size]);
            offset += size as u64;
        }
        let mut stored = [0u8; DIGEST_LEN as usize];
        file.read_exact_at(padded, &mut stored)?;
        if hasher.finalize().as_slice() != stored {
            return Ok(None);
        }
        let mut field = [0u8; PAD_LEN_FIELD as usize];
        file.read_exact_at(padded - PAD_LEN_FIELD, &mut field)?;
        let zeros = u64::from(u32::from_be_bytes(field));
        padded
            .checked_sub(PAD_LEN_FIELD + zeros)
            .filter(|_| zeros < SECTOR)
            .map(Some)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "snapshot trailer: padding length out of range",
                )
            })
    }

    #[cfg(test)]
    mod tests {
        use std::path::Path;

        use keel_raft_log::{Disk, SimDisk};

        use super::*;

        /// Writes `body`, its padding and the digest as the stream does.
        fn trailed(body: &[u8]) -> Vec<u8> {
            let mut bytes = body.to_vec();
            bytes.extend(padding(body.len() as u64));
            let mut hasher = Hasher::default();
            hasher.update(&bytes);
            bytes.extend(hasher.finish());
            bytes
        }

        fn len_of(bytes: &[u8]) -> io::Result<Option<u64>> {
            let disk = SimDisk::new();
            let file = disk.open(Path::new("/s"), true)?;
            file.write_all_at(0, bytes)?;
            snapshot_len(&*file)
        }

        #[test]
        fn every_length_pads_to_what_etcdctl_accepts_and_strips_back() {
            for len in (0..1600).chain([4096, 65_531, 65_532, 65_533]) {
                let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let bytes = trailed(&body);
                assert_eq!(bytes.len() as u64 % SECTOR, DIGEST_LEN, "len {len}");
                let added = (bytes.len() - body.len()) as u64;
                assert!(
                    added <= SECTOR - 1 + PAD_LEN_FIELD + DIGEST_LEN,
                    "len {len}"
                );
                assert_eq!(len_of(&bytes).unwrap(), Some(len as u64), "len {len}");
            }
        }

        #[test]
        fn a_changed_byte_or_a_bare_file_has_no_trailer() {
            let body = vec![7u8; 3000];
            let mut bytes = trailed(&body);
            for at in [0, 1500, bytes.len() - 40, bytes.len() - 1] {
                bytes[at] ^= 1;
                assert_eq!(len_of(&bytes).unwrap(), None, "byte {at} changed");
                bytes[at] ^= 1;
            }
            assert_eq!(len_of(&bytes).unwrap(), Some(3000));
            assert_eq!(len_of(&body).unwrap(), None);
            assert_eq!(len_of(&bytes[..bytes.len() - 1]).unwrap(), None);
        }
    }
}

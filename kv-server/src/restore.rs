//! `keeld --restore-snapshot`: a new data directory from a snapshot file.

use std::path::Path;
use std::sync::Arc;

use keel_mvcc::{Limits, Store};
use keel_raft_log::{Disk, RealDisk};

use crate::node::NodeOptions;
use crate::raft::snapshot::{self, SnapshotFile};

/// Fills `options.data_dir` (which must not exist) with the keys and
/// revisions of the snapshot at `path`: either a file saved by `etcdctl
/// snapshot save` (a keel snapshot with etcdctl's sha256 trailer, which is
/// checked and stripped) or a bare keel snapshot file such as those under
/// `member/snap`. The Raft position and membership of
/// the cluster the snapshot came from are dropped: the restored member
/// starts a new cluster of its own.
///
/// `progress` hears how many of the snapshot's bytes are imported, of how
/// many, as the import goes.
pub fn restore(
    path: &Path,
    options: &NodeOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), String> {
    let member_dir = options.data_dir.join("member");
    if member_dir.exists() {
        return Err(format!(
            "the data directory {} already holds a member; restore into a new --data-dir",
            options.data_dir.display()
        ));
    }
    let disk: Arc<dyn Disk> = Arc::new(RealDisk);
    let file = SnapshotFile {
        disk: Arc::clone(&disk),
        path: path.to_path_buf(),
    };
    let opened = disk.open(path, false).map_err(|e| e.to_string())?;
    let len = snapshot::trailer::snapshot_len(&*opened).map_err(|e| e.to_string())?;
    if let Err(error) = snapshot::verify_prefix(&file, len) {
        return Err(match len {
            None if looks_trailed(&*opened) => format!(
                "{}: its sha256 trailer does not match its contents ({error})",
                path.display()
            ),
            _ => error.to_string(),
        });
    }
    let kv_dir = member_dir.join("kv");
    let backend = open(&kv_dir)?;
    let store = Store::open(backend, Limits::default()).map_err(|e| e.to_string())?;
    snapshot::install_prefix_reporting(&store, &file, len, progress).map_err(|e| e.to_string())?;
    // Forget the old cluster's Raft position: the new member's log starts
    // empty and its first entry is its own membership.
    store.record_applied(&[]).map_err(|e| e.to_string())?;
    Ok(())
}

/// Whether the file's length is that of a snapshot with a trailer.
fn looks_trailed(file: &dyn keel_raft_log::DiskFile) -> bool {
    use snapshot::trailer::{DIGEST_LEN, SECTOR};
    file.byte_len()
        .is_ok_and(|len| len >= SECTOR + DIGEST_LEN && len % SECTOR == DIGEST_LEN)
}

#[cfg(not(madsim))]
fn open(dir: &Path) -> Result<Arc<dyn keel_mvcc::backend::Backend>, String> {
    let backend =
        keel_mvcc::backend::RocksBackend::open(dir, &keel_mvcc::backend::RocksOptions::default())
            .map_err(|e| e.to_string())?;
    Ok(Arc::new(backend))
}

#[cfg(madsim)]
fn open(_dir: &Path) -> Result<Arc<dyn keel_mvcc::backend::Backend>, String> {
    Err("restoring is not available in the simulator".into())
}

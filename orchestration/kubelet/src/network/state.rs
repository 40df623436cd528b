//! What the node network remembers across kubelet restarts: a file per
//! attached pod, `<state dir>/<pod uid>.json`, written atomically (a
//! temporary file, fsync, rename, fsync of the directory), so that a
//! crash leaves either the old record or the new one, never half of one.
//!
//! ```text
//!   { "uid": "6f1c...", "namespace": "keel-6f1c2a3b-9e0d11aa",
//!     "veth": "kv9e0d11aa", "ip": "10.244.0.2" }
//! ```

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NetworkError;

/// The suffix of a record's file.
const RECORD_SUFFIX: &str = ".json";
/// The suffix of a record being written (never read back; removed when
/// found at load).
const TEMPORARY_SUFFIX: &str = ".json.tmp";

/// One attached pod, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    /// The pod's uid (the file's name).
    pub uid: String,
    /// The name of its network namespace (`/run/netns/<namespace>`).
    pub namespace: String,
    /// The host end of its veth pair (the pod's end is `eth0`).
    pub veth: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

fn record_path(dir: &Path, uid: &str) -> PathBuf {
    dir.join(format!("{uid}{RECORD_SUFFIX}"))
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> NetworkError {
    move |source| NetworkError::Io { what, source }
}

/// Reads every record of `dir`, creating `dir` if missing; removes
/// temporary files a crash left behind.
#[allow(
    clippy::disallowed_methods,
    reason = "this is the kubelet's own state directory, read once at start"
)]
pub fn load_all(dir: &Path) -> Result<Vec<PodRecord>, NetworkError> {
    std::fs::create_dir_all(dir).map_err(io_error(format!("create {}", dir.display())))?;
    let entries = std::fs::read_dir(dir).map_err(io_error(format!("list {}", dir.display())))?;
    let mut records = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(io_error(format!("list {}", dir.display())))?
            .path();
        let Some(name) = path
            .file_name()
            .and_then(|name| name.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if name.ends_with(TEMPORARY_SUFFIX) {
            std::fs::remove_file(&path).map_err(io_error(format!("remove {}", path.display())))?;
            continue;
        }
        let Some(uid) = name.strip_suffix(RECORD_SUFFIX) else {
            continue;
        };
        let text = std::fs::read(&path).map_err(io_error(format!("read {}", path.display())))?;
        let record: PodRecord =
            serde_json::from_slice(&text).map_err(|error| NetworkError::CorruptState {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        if record.uid != uid {
            return Err(NetworkError::CorruptState {
                path,
                reason: format!("records pod {:?}, not {uid:?}", record.uid),
            });
        }
        records.push(record);
    }
    records.sort_by(|a, b| a.uid.cmp(&b.uid));
    Ok(records)
}

/// Writes `record` atomically.
pub async fn save(dir: &Path, record: &PodRecord) -> Result<(), NetworkError> {
    use tokio::io::AsyncWriteExt;

    let path = record_path(dir, &record.uid);
    let temporary = dir.join(format!("{}{TEMPORARY_SUFFIX}", record.uid));
    // Serializing four plain fields cannot fail.
    let text = serde_json::to_vec_pretty(record).expect("a pod record serializes");
    let what = || format!("write {}", temporary.display());
    let mut file = tokio::fs::File::create(&temporary)
        .await
        .map_err(io_error(what()))?;
    file.write_all(&text).await.map_err(io_error(what()))?;
    file.sync_all().await.map_err(io_error(what()))?;
    drop(file);
    tokio::fs::rename(&temporary, &path)
        .await
        .map_err(io_error(format!("rename to {}", path.display())))?;
    sync_dir(dir).await
}

/// Removes the record of `uid`; Ok when there is none.
pub async fn remove(dir: &Path, uid: &str) -> Result<(), NetworkError> {
    let path = record_path(dir, uid);
    match tokio::fs::remove_file(&path).await {
        Ok(()) => sync_dir(dir).await,
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error(format!("remove {}", path.display()))(error)),
    }
}

/// Makes a rename or removal in `dir` durable.
async fn sync_dir(dir: &Path) -> Result<(), NetworkError> {
    let what = || format!("sync {}", dir.display());
    let handle = tokio::fs::File::open(dir).await.map_err(io_error(what()))?;
    handle.sync_all().await.map_err(io_error(what()))
}

//! The node's image store: images imported from docker-archive or
//! OCI-layout tars, unpacked once, found by reference.
//!
//! ```text
//!   keel image import FILE ─► archive (read the tar in place: plans)
//!                          ─► unpack (layers onto <root>/tmp/…, whiteouts)
//!                          ─► store  (under the lock: rename into
//!                                     <root>/sha256/<hex>, index.json)
//!   kubelet ─► ImageStore::resolve(reference) ─► Image { rootfs, config }
//! ```
//!
//! - [`reference`]: references normalised as docker does (pure).
//! - `index`: the store's index and the lookups in it (pure).
//! - `archive`, `unpack`: reading archives and applying layers.
//! - [`ImageStore`]: the store itself; its files are specified in
//!   `FORMAT.md` beside this module.

pub(crate) mod archive;
mod index;
pub mod reference;
mod store;
mod unpack;

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use store::ImageStore;

/// Where `keel image` and the kubelet keep images unless told otherwise.
pub const IMAGES_DIR_DEFAULT: &str = "/var/lib/keel/images";

/// What a container runs unless the pod says otherwise: the `config` part
/// of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, each `K=V`.
    pub env: Vec<String>,
    /// `WorkingDir` (empty: `/`).
    pub working_dir: String,
    /// `User` (`uid`, `uid:gid`, or a name of the image's /etc/passwd;
    /// empty: root).
    pub user: String,
}

/// An image found by [`ImageStore::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:` of its config.
    pub id: String,
    /// The tags that name it, normalised, sorted.
    pub references: Vec<String>,
    /// Its unpacked files. Shared by every container of the image: mount
    /// it read-only or as an overlay's lower directory.
    pub rootfs: PathBuf,
    /// What it runs.
    pub config: ImageConfig,
}

/// One image, as [`ImageStore::list`] and [`ImageStore::import`] tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// `sha256:` of its config.
    pub id: String,
    /// The tags that name it, normalised, sorted (empty: dangling).
    pub references: Vec<String>,
    /// The bytes of its unpacked files.
    pub size_bytes: u64,
    /// When it was built, if its config says.
    pub created: Option<Timestamp>,
}

/// What can go wrong with the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image answers to the reference: a node without a registry can
    /// only run what was imported.
    #[error(
        "image \"{reference}\" is not in this node's image store \
         (import it with: keel image import FILE)"
    )]
    NotFound {
        /// The reference, normalised when it could be.
        reference: String,
    },
    /// The reference cannot be parsed.
    #[error("{reference:?} is not an image reference: {reason}")]
    InvalidReference {
        /// As given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not an image archive this store reads.
    #[error("not an image archive this store reads: {0}")]
    Format(String),
    /// A blob is not what its digest says.
    #[error("{what} has the digest {actual}, not {expected}: the archive is damaged")]
    DigestMismatch {
        /// Which blob or layer.
        what: String,
        /// The digest the archive names.
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// A layer entry would be written outside the rootfs.
    #[error("refusing to unpack the layer entry {path:?}: it {reason}")]
    UnsafePath {
        /// The entry's path in its layer.
        path: String,
        /// How it would escape.
        reason: String,
    },
    /// The store's index cannot be read.
    #[error("the image store's index {path} is damaged: {reason}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

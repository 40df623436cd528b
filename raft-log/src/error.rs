//! raft-log's one error type.

use std::io;
use std::path::{Path, PathBuf};

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The disk failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Stored bytes fail their checksum or break the log's structure. The
    /// log refuses to open (or to serve the read) rather than serve them.
    #[error("corrupt raft log: {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where in it.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// An append whose first index does not follow the last one.
    #[error("append of index {got} does not follow the last index {expected_after}")]
    NotContiguous {
        /// The last index in the log.
        expected_after: u64,
        /// The first index appended.
        got: u64,
    },
    /// An index outside the log (purged, or beyond the last).
    #[error("index {index} is outside the log [{first}, {last}]")]
    OutOfRange {
        /// The index asked for.
        index: u64,
        /// First index in the log.
        first: u64,
        /// Last index in the log.
        last: u64,
    },
    /// An earlier write or sync failed; the log's state on disk is unknown
    /// until it is reopened.
    #[error("raft log failed earlier and must be reopened")]
    Poisoned,
}

impl LogError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

//! keel's durable Raft log: a segmented, append-only file of
//! `(index, term, payload)` records, each framed with its length and crc32
//! checksums. keel acknowledges a write only once its entry is durable here.
//!
//! ```text
//!  append ──► RaftLog (log.rs) ── one write per call ──► Segment (segment.rs)
//!               │   group commit: the first waiter syncs           │
//!               │   for everyone written so far                    ▼
//!               ├── vote / committed / purge point ──► Meta (meta.rs)
//!               ▼                                                  │
//!            Disk seam (disk/) ◄──────────────────────────────────┘
//!            RealDisk (std::fs) | SimDisk (crash, tear, bit flips)
//! ```
//!
//! - `frame.rs`: the record frame; the header carries its own checksum, so
//!   damage anywhere, even to a length, is told apart from a torn append.
//! - `segment.rs`: segment files (`<first index, 20 digits>.wal`) and the
//!   recovery scan.
//! - `log.rs`: [`RaftLog`]: append (with [`RaftLog::append_buffered`] and
//!   [`RaftLog::sync_through`] for callers that want to acknowledge
//!   asynchronously), read, truncate, purge, vote and committed.
//! - `disk/`: the only way the crate touches files.
//!
//! `FORMAT.md` specifies the bytes and the recovery rules.
//!
//! # Concurrency and lock order
//!
//! [`RaftLog`] is `Send + Sync`. Appends write under the `inner` lock; a
//! sync round takes the list of written files under `inner`, releases it,
//! syncs, and publishes the durable index under the `sync` lock, so
//! appenders keep writing while a sync runs, and everyone waiting when it
//! ends is served by it. Lock order: `inner`, then `sync`. The crate spawns
//! no threads (it must run under the deterministic simulator).
//!
//! # Failure
//!
//! A failed write or sync poisons the log: the bytes on disk are unknown,
//! so every later call fails with [`LogError::Poisoned`] until the log is
//! reopened, which recovers to a consistent prefix.

pub mod disk;
mod error;
mod frame;
mod log;
mod meta;
mod segment;

pub use disk::{conformance as disk_conformance, Disk, DiskFile, RealDisk, SimDisk};
pub use error::LogError;
pub use frame::{Record, HEADER_LEN, PAYLOAD_LEN_MAX};
pub use log::{Options, RaftLog};

/// A record's position: index and term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    /// The Raft log index.
    pub index: u64,
    /// The Raft term.
    pub term: u64,
}

//! The storage seam under the MVCC engine: an ordered byte map split into a
//! few tables, read by point lookups and ordered scans, written by atomic
//! batches.
//!
//! The engine ([`crate::Store`]) owns every encoding decision; a backend only
//! stores bytes. That keeps the two implementations, RocksDB and memory, byte
//! for byte identical, so `hash_kv` agrees across them and one conformance
//! suite ([`conformance`]) covers both.

pub mod conformance;
mod memory;
#[cfg(not(madsim))]
mod rocks;

pub use memory::MemoryBackend;
#[cfg(not(madsim))]
pub use rocks::{RocksBackend, RocksOptions};

/// The tables a backend keeps. Each is an independent ordered map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// Every version of every key: `escaped key ‖ inverted revision` →
    /// version record. Key-ordered, newest version first within a key.
    Versions,
    /// The change log: `revision` → `kind ‖ key`. Revision-ordered; drives
    /// compaction and watch catch-up.
    Revisions,
    /// Engine metadata: current and compacted revision, caller metadata.
    Meta,
    /// Leases: `lease id` → granted TTL and checkpointed remaining TTL.
    Leases,
    /// Which keys each lease holds: `lease id ‖ key` → nothing.
    LeaseKeys,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 5] = [
        Table::Versions,
        Table::Revisions,
        Table::Meta,
        Table::Leases,
        Table::LeaseKeys,
    ];

    /// The table's stable name (a RocksDB column family name).
    pub fn name(self) -> &'static str {
        match self {
            Table::Versions => "versions",
            Table::Revisions => "revisions",
            Table::Meta => "meta",
            Table::Leases => "leases",
            Table::LeaseKeys => "lease_keys",
        }
    }
}

/// One mutation inside a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value`.
    Put {
        /// Target table.
        table: Table,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// Remove `key` (absent keys are fine).
    Delete {
        /// Target table.
        table: Table,
        /// Key bytes.
        key: Vec<u8>,
    },
}

/// Mutations applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a put.
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(BatchOp::Put { table, key, value });
    }

    /// Queues a delete.
    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.ops.push(BatchOp::Delete { table, key });
    }

    /// The queued mutations, in order. Later ones win on the same key.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of queued mutations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What a scan visitor wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanStep {
    /// Go on to the next entry in key order.
    Next,
    /// Jump to the first entry whose key is `>=` the given key. The target
    /// must be greater than the current key (scans only move forward).
    Seek(Vec<u8>),
    /// End the scan.
    Stop,
}

/// A storage failure. Not part of etcd's contract: the server reports it as
/// an internal error and stops applying, since the state machine can no
/// longer promise anything.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The underlying engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// Stored bytes do not decode.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// A visitor of every entry of every table ([`Backend::visit_all`]):
/// table, key, value; `false` stops the visit.
pub type TableVisitor<'a> = dyn FnMut(Table, &[u8], &[u8]) -> bool + 'a;

/// An ordered, tabled key-value store with atomic batches.
///
/// Reads see a consistent state: a `scan` never observes half of a batch.
pub trait Backend: Send + Sync + 'static {
    /// The value stored under `key`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;

    /// Visits entries in ascending key order starting at the first key
    /// `>= from`, until the visitor stops or the table ends. The visitor
    /// must not call back into the backend.
    fn scan(
        &self,
        table: Table,
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> ScanStep,
    ) -> Result<(), BackendError>;

    /// Visits every entry of every table, in [`Table::ALL`] order and key
    /// order within a table, as of one moment (between two batches), until
    /// the visitor returns `false`. Where the engine allows it (RocksDB: a
    /// snapshot), writers go on meanwhile and the visit does not see them.
    /// The visitor must not call back into the backend.
    fn visit_all(&self, visit: &mut TableVisitor<'_>) -> Result<(), BackendError>;

    /// Applies every mutation of `batch` atomically.
    fn write(&self, batch: WriteBatch) -> Result<(), BackendError>;

    /// Approximate bytes of storage in use (for the space quota).
    fn size_bytes(&self) -> u64;

    /// Reclaims the space of removed history where the engine supports
    /// it, returning when done. Never blocks other reads or writes for the
    /// duration; callers on an async runtime run it on a blocking thread.
    fn defragment(&self) -> Result<(), BackendError>;
}

/// A shared backend of any kind is a backend: the server picks RocksDB or
/// memory at run time and holds it as `Arc<dyn Backend>`.
impl<T: Backend + ?Sized> Backend for std::sync::Arc<T> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        (**self).get(table, key)
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> ScanStep,
    ) -> Result<(), BackendError> {
        (**self).scan(table, from, visit)
    }

    fn visit_all(&self, visit: &mut TableVisitor<'_>) -> Result<(), BackendError> {
        (**self).visit_all(visit)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), BackendError> {
        (**self).write(batch)
    }

    fn size_bytes(&self) -> u64 {
        (**self).size_bytes()
    }

    fn defragment(&self) -> Result<(), BackendError> {
        (**self).defragment()
    }
}

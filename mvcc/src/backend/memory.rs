//! The in-memory backend: one `BTreeMap` per table behind a lock. Used by
//! unit tests and by the deterministic simulation, where RocksDB is not built.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::{Backend, BackendError, BatchOp, ScanStep, Table, TableVisitor, WriteBatch};

type Tables = [BTreeMap<Vec<u8>, Vec<u8>>; Table::ALL.len()];

/// An in-memory [`Backend`]. Clones share the same data, so a test can
/// "reopen" a store by building a new one over a clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    tables: Arc<RwLock<Tables>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }
}

fn slot(table: Table) -> usize {
    match table {
        Table::Versions => 0,
        Table::Revisions => 1,
        Table::Meta => 2,
        Table::Leases => 3,
        Table::LeaseKeys => 4,
    }
}

impl Backend for MemoryBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.tables.read()[slot(table)].get(key).cloned())
    }

    fn visit_all(&self, visit: &mut TableVisitor<'_>) -> Result<(), BackendError> {
        // One read lock over all tables: writers wait until the visit ends.
        let tables = self.tables.read();
        for table in Table::ALL {
            for (key, value) in &tables[slot(table)] {
                if !visit(table, key, value) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> ScanStep,
    ) -> Result<(), BackendError> {
        // The read lock is held for the whole scan, which gives the scan the
        // same consistency a RocksDB iterator's implicit snapshot gives.
        let tables = self.tables.read();
        let map = &tables[slot(table)];
        let mut start = from.to_vec();
        'restart: loop {
            for (key, value) in map.range(start.clone()..) {
                match visit(key, value) {
                    ScanStep::Next => {}
                    ScanStep::Stop => return Ok(()),
                    ScanStep::Seek(target) => {
                        assert!(
                            target.as_slice() > key.as_slice(),
                            "scans only move forward"
                        );
                        start = target;
                        continue 'restart;
                    }
                }
            }
            return Ok(());
        }
    }

    fn write(&self, batch: WriteBatch) -> Result<(), BackendError> {
        let mut tables = self.tables.write();
        for op in batch.ops {
            match op {
                BatchOp::Put { table, key, value } => {
                    tables[slot(table)].insert(key, value);
                }
                BatchOp::Delete { table, key } => {
                    tables[slot(table)].remove(&key);
                }
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        let tables = self.tables.read();
        tables
            .iter()
            .flat_map(|map| map.iter())
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
    }

    fn defragment(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

//! The RocksDB backend: one column family per [`Table`].
//!
//! Writes go to RocksDB's own WAL without fsync. keel's durability lives in
//! the Raft log; after a crash the state machine replays the log from the
//! applied index stored *in the same batch* as the data, so a lost tail of
//! RocksDB writes is re-applied, never lost.

use std::path::Path;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType,
    Options, ReadOptions, WriteOptions, DB,
};

use super::{Backend, BackendError, BatchOp, ScanStep, Table, TableVisitor, WriteBatch};

/// Tuning knobs for [`RocksBackend::open`].
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// Shared block cache for all tables. 64 MiB keeps hot key ranges in
    /// memory without letting RSS grow with the key count.
    pub block_cache_bytes: usize,
    /// Memtable size per table before a flush. RocksDB's default (64 MiB).
    pub write_buffer_bytes: usize,
}

impl Default for RocksOptions {
    fn default() -> Self {
        Self {
            block_cache_bytes: 64 << 20,
            write_buffer_bytes: 64 << 20,
        }
    }
}

/// A [`Backend`] stored in a RocksDB database directory.
pub struct RocksBackend {
    db: DB,
    write_options: WriteOptions,
}

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

fn engine(error: &rocksdb::Error) -> BackendError {
    BackendError::Engine(error.to_string())
}

impl RocksBackend {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, options: &RocksOptions) -> Result<Self, BackendError> {
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let mut table_options = BlockBasedOptions::default();
        table_options.set_block_cache(&cache);
        // Index blocks live in the cache too, so their memory is bounded by
        // the cache size rather than by the amount of data. They are
        // partitioned into blocks of metadata_block_size: a whole-file index
        // of a large SST is bigger than a cache shard, never stays cached,
        // and was read and decompressed again on every seek (three
        // quarters of keeld's CPU under a put load, docs/benchmarks.md).
        // The top level of each partitioned index, and level 0's indexes,
        // stay pinned.
        table_options.set_cache_index_and_filter_blocks(true);
        table_options.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        table_options.set_metadata_block_size(4096);
        table_options.set_pin_top_level_index_and_filter(true);
        table_options.set_pin_l0_filter_and_index_blocks_in_cache(true);

        let mut family = Options::default();
        family.set_block_based_table_factory(&table_options);
        family.set_compression_type(DBCompressionType::Lz4);
        family.set_write_buffer_size(options.write_buffer_bytes);

        let mut db_options = family.clone();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.increase_parallelism(2);
        db_options.set_max_open_files(1024);

        let families = Table::ALL
            .iter()
            .map(|table| ColumnFamilyDescriptor::new(table.name(), family.clone()));
        let db = DB::open_cf_descriptors(&db_options, path, families).map_err(|e| engine(&e))?;
        let mut write_options = WriteOptions::default();
        write_options.set_sync(false);
        Ok(Self { db, write_options })
    }

    /// Writes every memtable to SST files, so the next open replays no
    /// RocksDB WAL (a clean shutdown does this).
    pub fn flush(&self) -> Result<(), BackendError> {
        for table in Table::ALL {
            self.db
                .flush_cf(self.family(table))
                .map_err(|e| engine(&e))?;
        }
        Ok(())
    }

    fn family(&self, table: Table) -> &rocksdb::ColumnFamily {
        // Every table's family is created by `open` (create_missing_column_families),
        // so a missing handle is a bug, not an operational error.
        self.db
            .cf_handle(table.name())
            .expect("column family created at open")
    }
}

impl Backend for RocksBackend {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        self.db
            .get_cf(self.family(table), key)
            .map_err(|e| engine(&e))
    }

    fn scan(
        &self,
        table: Table,
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> ScanStep,
    ) -> Result<(), BackendError> {
        // A raw iterator pins an implicit snapshot: the scan is consistent.
        let mut iterator = self.db.raw_iterator_cf(self.family(table));
        iterator.seek(from);
        while let (Some(key), Some(value)) = (iterator.key(), iterator.value()) {
            match visit(key, value) {
                ScanStep::Next => iterator.next(),
                ScanStep::Stop => break,
                ScanStep::Seek(target) => {
                    assert!(target.as_slice() > key, "scans only move forward");
                    iterator.seek(&target);
                }
            }
        }
        iterator.status().map_err(|e| engine(&e))
    }

    fn visit_all(&self, visit: &mut TableVisitor<'_>) -> Result<(), BackendError> {
        // One snapshot for every column family: a single point between two
        // atomic batches, while writers go on.
        let snapshot = self.db.snapshot();
        for table in Table::ALL {
            let mut read = ReadOptions::default();
            read.set_snapshot(&snapshot);
            // A whole-table pass should not evict the hot blocks.
            read.fill_cache(false);
            let mut iterator = self.db.raw_iterator_cf_opt(self.family(table), read);
            iterator.seek_to_first();
            while let (Some(key), Some(value)) = (iterator.key(), iterator.value()) {
                if !visit(table, key, value) {
                    return Ok(());
                }
                iterator.next();
            }
            iterator.status().map_err(|e| engine(&e))?;
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), BackendError> {
        let mut rocks_batch = rocksdb::WriteBatch::default();
        for op in batch.ops() {
            match op {
                BatchOp::Put { table, key, value } => {
                    rocks_batch.put_cf(self.family(*table), key, value);
                }
                BatchOp::Delete { table, key } => rocks_batch.delete_cf(self.family(*table), key),
            }
        }
        self.db
            .write_opt(rocks_batch, &self.write_options)
            .map_err(|e| engine(&e))
    }

    fn size_bytes(&self) -> u64 {
        Table::ALL
            .iter()
            .map(|table| {
                let family = self.family(*table);
                let sst = self
                    .db
                    .property_int_value_cf(family, "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                let memtable = self
                    .db
                    .property_int_value_cf(family, "rocksdb.cur-size-all-mem-tables")
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                sst + memtable
            })
            .sum()
    }

    fn defragment(&self) -> Result<(), BackendError> {
        // A full manual compaction rewrites the SSTs without tombstones and
        // superseded versions, and returns when it is done. RocksDB keeps
        // serving reads and writes while it runs, unlike etcd's
        // stop-the-world bbolt defragmentation.
        for table in Table::ALL {
            self.db
                .compact_range_cf(self.family(table), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }
}

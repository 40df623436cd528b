//! The store: reads at any uncompacted revision, and writes applied one
//! command at a time, each as one atomic batch together with the caller's
//! metadata (the Raft applied log id).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

use crate::backend::{Backend, BackendError, ScanStep, Table, WriteBatch};
use crate::encoding::{
    decode_change, decode_i64, decode_lease, decode_lease_attachment_key, decode_revision_key,
    decode_version, decode_version_key, encode_i64, encode_lease, key_prefix, lease_key,
    revision_key, version_seek_key, Version, META_APPLIED, META_COMPACTED_REVISION,
    META_CURRENT_REVISION, META_IMPORTING,
};
use crate::error::MvccError;
use crate::read;
use crate::txn::{Staged, WriteTxn};
use crate::types::{
    Command, CommandResponse, CompactResponse, DeleteRangeRequest, HashKvResponse, LeaseRecord,
    LeaseResponse, Limits, RangeRequest, RangeResponse, Revision, TxnRequest, TxnResponse,
};
use crate::validate::{validate_command, validate_range, validate_txn};
use crate::watch::WatchHub;

/// The revision of an empty store, as in etcd.
pub const EMPTY_STORE_REVISION: i64 = 1;
/// The compacted revision of a store never compacted, as in etcd.
pub const NEVER_COMPACTED: i64 = -1;

/// One entry of a whole-store export: table, key, value.
pub type ExportEntry = (Table, Vec<u8>, Vec<u8>);

/// The visitor [`Store::export`] calls for each entry; `false` stops it.
pub type ExportVisitor<'a> = crate::backend::TableVisitor<'a>;

/// An import writes at most this many entries per batch, so a big snapshot
/// never builds one huge batch in memory.
const IMPORT_BATCH_ENTRIES: usize = 4096;

/// An MVCC key-value store over a [`Backend`].
///
/// Reads may run from any thread at any time. Writes ([`Store::apply`])
/// are serialised by an internal lock; a Raft state machine applies them in
/// log order from one task anyway.
#[derive(Debug)]
pub struct Store<B: Backend> {
    backend: B,
    limits: Limits,
    /// Published only after the batch that reaches it is written, so a
    /// reader never sees a revision whose data is missing.
    current_revision: AtomicI64,
    compacted_revision: AtomicI64,
    /// Serialises writers. Lock order: this lock, then the watch hub's,
    /// then the backend's own.
    writer: Mutex<()>,
    /// The watchers, told of every applied change.
    watch: WatchHub,
}

impl<B: Backend> Store<B> {
    /// Opens a store over `backend`, restoring its current and compacted
    /// revisions. An empty backend is a store at revision 1.
    pub fn open(backend: B, limits: Limits) -> Result<Self, BackendError> {
        let (current, compacted) = Self::load_revisions(&backend)?;
        Ok(Self {
            backend,
            limits,
            current_revision: AtomicI64::new(current),
            compacted_revision: AtomicI64::new(compacted),
            writer: Mutex::new(()),
            watch: WatchHub::new(current),
        })
    }

    /// The watchers of this store.
    pub fn watch_hub(&self) -> &WatchHub {
        &self.watch
    }

    /// The backend underneath.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The limits the store enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The revision of the last change.
    pub fn current_revision(&self) -> i64 {
        self.current_revision.load(Ordering::Acquire)
    }

    /// The revision history was compacted to (`-1`: never).
    pub fn compacted_revision(&self) -> i64 {
        self.compacted_revision.load(Ordering::Acquire)
    }

    /// The metadata stored with the last applied command, if any.
    pub fn applied_metadata(&self) -> Result<Option<Vec<u8>>, BackendError> {
        self.backend.get(Table::Meta, META_APPLIED)
    }

    /// Checks a command the way etcd does before it is proposed.
    pub fn validate(&self, command: &Command) -> Result<(), MvccError> {
        validate_command(command, self.limits)
    }

    /// etcd's Range.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse, MvccError> {
        validate_range(request)?;
        let current = self.current_revision();
        let at = read::read_revision(request.revision, current, self.compacted_revision())?;
        let response = read::range(&self.backend, request, at, current, None)?;
        self.after_read(at)?;
        Ok(response)
    }

    /// Fails a finished read at `at` if a compaction past `at` began while
    /// it ran: its scan may have missed versions the compaction removed.
    fn after_read(&self, at: i64) -> Result<(), MvccError> {
        if at < self.compacted_revision() {
            return Err(MvccError::Compacted);
        }
        Ok(())
    }

    /// A transaction without writes, served without consensus. Refuses
    /// nothing a write transaction would accept; if `request` does write,
    /// its writes are not applied and the response is as if they were
    /// (callers route writing transactions through [`Store::apply`]).
    pub fn read_txn(&self, request: &TxnRequest) -> Result<TxnResponse, MvccError> {
        validate_txn(request, self.limits)?;
        let begin = self.current_revision();
        let mut txn = WriteTxn::new(&self.backend, begin, self.compacted_revision());
        let response = txn.txn(request)?;
        self.after_read(begin)?;
        Ok(response)
    }

    /// Applies one command and stores `applied` with it in the same atomic
    /// batch. A command the store refuses (say, a put with `ignore_value` on
    /// a missing key) still stores `applied`: the entry was applied, with an
    /// error as its outcome. The command's events go to the watchers once
    /// its batch is written.
    pub fn apply(&self, command: &Command, applied: &[u8]) -> Result<CommandResponse, MvccError> {
        let _writer = self.writer.lock();
        let begin = self.current_revision();
        let compacted = self.compacted_revision();
        let outcome = validate_command(command, self.limits)
            .and_then(|()| self.stage(command, begin, compacted));
        let (response, staged, new_compacted) = match outcome {
            Ok(staged) => staged,
            Err(error) if error.is_storage() => return Err(error),
            Err(error) => {
                let mut batch = WriteBatch::new();
                batch.put(Table::Meta, META_APPLIED.to_vec(), applied.to_vec());
                self.backend.write(batch)?;
                return Err(error);
            }
        };
        let Staged {
            mut batch,
            revision: new_current,
            events,
        } = staged;
        assert!(new_current >= begin, "revisions only grow");
        assert!(
            new_current <= begin + 1,
            "one command bumps the revision at most once"
        );
        assert_eq!(
            events.is_empty(),
            new_current == begin,
            "a command that changes keys bumps the revision"
        );
        if new_current != begin {
            batch.put(
                Table::Meta,
                META_CURRENT_REVISION.to_vec(),
                encode_i64(new_current),
            );
        }
        batch.put(Table::Meta, META_APPLIED.to_vec(), applied.to_vec());
        // A compaction is published *before* its batch removes anything: a
        // reader that re-checks the compacted revision after its scan (see
        // `after_read`) then never returns history the batch removed.
        self.compacted_revision
            .store(new_compacted, Ordering::Release);
        self.backend.write(batch)?;
        self.current_revision.store(new_current, Ordering::Release);
        if !events.is_empty() {
            self.watch.notify(new_current, events);
        }
        Ok(response)
    }

    /// Stages `command` on a store at revision `begin`: its response, its
    /// batch and events, and the compacted revision after it.
    fn stage(
        &self,
        command: &Command,
        begin: i64,
        compacted: i64,
    ) -> Result<(CommandResponse, Staged, i64), MvccError> {
        let unchanged = |batch| Staged {
            batch,
            revision: begin,
            events: Vec::new(),
        };
        let lease_unchanged = |batch| {
            let response = CommandResponse::Lease(LeaseResponse { revision: begin });
            (response, unchanged(batch), compacted)
        };
        match command {
            Command::Compact(revision) => {
                let (response, batch) = self.stage_compaction(*revision, begin, compacted)?;
                Ok((response, unchanged(batch), *revision))
            }
            Command::Put(request) => {
                let mut txn = WriteTxn::new(&self.backend, begin, compacted);
                let response = txn.put(request)?;
                Ok((CommandResponse::Put(response), txn.finish(), compacted))
            }
            Command::DeleteRange(request) => {
                let mut txn = WriteTxn::new(&self.backend, begin, compacted);
                let response = txn.delete_range(request)?;
                Ok((
                    CommandResponse::DeleteRange(response),
                    txn.finish(),
                    compacted,
                ))
            }
            Command::Txn(request) => {
                let mut txn = WriteTxn::new(&self.backend, begin, compacted);
                let response = txn.txn(request)?;
                Ok((CommandResponse::Txn(response), txn.finish(), compacted))
            }
            Command::LeaseGrant(grant) => {
                if self.lease(grant.id)?.is_some() {
                    return Err(MvccError::LeaseExists);
                }
                let mut batch = WriteBatch::new();
                put_lease(
                    &mut batch,
                    &LeaseRecord {
                        id: grant.id,
                        granted_ttl_secs: grant.ttl_secs,
                        remaining_ttl_secs: 0,
                    },
                );
                Ok(lease_unchanged(batch))
            }
            Command::LeaseRevoke(id) => {
                if self.lease(*id)?.is_none() {
                    return Err(MvccError::LeaseNotFound);
                }
                let keys = self.lease_keys(*id)?;
                let mut txn = WriteTxn::new(&self.backend, begin, compacted);
                for key in keys {
                    let delete = DeleteRangeRequest {
                        key,
                        range_end: Vec::new(),
                        prev_kv: false,
                    };
                    txn.delete_range(&delete)?;
                }
                let mut staged = txn.finish();
                staged.batch.delete(Table::Leases, lease_key(*id).to_vec());
                let response = LeaseResponse {
                    revision: staged.revision,
                };
                Ok((CommandResponse::Lease(response), staged, compacted))
            }
            Command::LeaseCheckpoint(checkpoints) => {
                let mut batch = WriteBatch::new();
                for checkpoint in checkpoints {
                    if let Some(mut record) = self.lease(checkpoint.id)? {
                        record.remaining_ttl_secs = checkpoint.remaining_ttl_secs;
                        put_lease(&mut batch, &record);
                    }
                }
                Ok(lease_unchanged(batch))
            }
        }
    }

    /// The lease `id`, if it exists.
    pub fn lease(&self, id: i64) -> Result<Option<LeaseRecord>, BackendError> {
        let key = lease_key(id);
        self.backend
            .get(Table::Leases, &key)?
            .map(|value| decode_lease(&key, &value))
            .transpose()
    }

    /// Every lease, in ID order.
    pub fn leases(&self) -> Result<Vec<LeaseRecord>, BackendError> {
        let mut leases = Vec::new();
        let mut failure = None;
        self.backend.scan(
            Table::Leases,
            &[],
            &mut |key, value| match decode_lease(key, value) {
                Ok(record) => {
                    leases.push(record);
                    ScanStep::Next
                }
                Err(error) => {
                    failure = Some(error);
                    ScanStep::Stop
                }
            },
        )?;
        failure.map_or(Ok(leases), Err)
    }

    /// The keys attached to lease `id`, in key order.
    pub fn lease_keys(&self, id: i64) -> Result<Vec<Vec<u8>>, BackendError> {
        let prefix = lease_key(id);
        let mut keys = Vec::new();
        let mut failure = None;
        self.backend
            .scan(Table::LeaseKeys, &prefix, &mut |raw_key, _| {
                if !raw_key.starts_with(&prefix) {
                    return ScanStep::Stop;
                }
                match decode_lease_attachment_key(raw_key) {
                    Ok((_, key)) => {
                        keys.push(key.to_vec());
                        ScanStep::Next
                    }
                    Err(error) => {
                        failure = Some(error);
                        ScanStep::Stop
                    }
                }
            })?;
        failure.map_or(Ok(keys), Err)
    }

    /// Stores `applied` alone, for log entries that carry no command (blank
    /// and membership entries).
    pub fn record_applied(&self, applied: &[u8]) -> Result<(), BackendError> {
        let _writer = self.writer.lock();
        let mut batch = WriteBatch::new();
        batch.put(Table::Meta, META_APPLIED.to_vec(), applied.to_vec());
        self.backend.write(batch)
    }

    /// Stages a compaction to `revision`: every version superseded at or
    /// below it is removed, as is a key's newest version there if it is a
    /// tombstone, and the change log at or below it.
    fn stage_compaction(
        &self,
        revision: i64,
        current: i64,
        compacted: i64,
    ) -> Result<(CommandResponse, WriteBatch), MvccError> {
        if revision <= compacted {
            return Err(MvccError::Compacted);
        }
        if revision > current {
            return Err(MvccError::FutureRevision);
        }
        let mut batch = WriteBatch::new();
        // Only keys changed since the last compaction can have versions to
        // drop: every other key holds just its one surviving version. The
        // change log keeps the entries *at* the compacted revision, since a
        // watch may start there (as a read may read there).
        let mut changed = BTreeSet::new();
        let mut failure = None;
        let start = revision_key(Revision {
            main: compacted.max(0),
            sub: 0,
        });
        self.backend
            .scan(Table::Revisions, &start, &mut |raw_key, raw_value| {
                let decoded = decode_revision_key(raw_key)
                    .and_then(|rev| Ok((rev, decode_change(raw_value)?)));
                match decoded {
                    Ok((rev, _)) if rev.main > revision => ScanStep::Stop,
                    Ok((rev, (_, key))) => {
                        changed.insert(key.to_vec());
                        if rev.main < revision {
                            batch.delete(Table::Revisions, raw_key.to_vec());
                        }
                        ScanStep::Next
                    }
                    Err(error) => {
                        failure = Some(error);
                        ScanStep::Stop
                    }
                }
            })?;
        if let Some(error) = failure {
            return Err(error.into());
        }
        for key in &changed {
            self.stage_key_compaction(key, revision, &mut batch)?;
        }
        batch.put(
            Table::Meta,
            META_COMPACTED_REVISION.to_vec(),
            encode_i64(revision),
        );
        Ok((
            CommandResponse::Compact(CompactResponse { revision: current }),
            batch,
        ))
    }

    /// Visits every entry of every table, in [`Table::ALL`] order and key
    /// order within a table, as of one moment between two applied
    /// commands (each is one atomic batch). On RocksDB writers go on while
    /// the visit runs. The visitor returns `false` to stop early. This is
    /// what a Raft snapshot of the store is made of; [`Store::import`]
    /// takes it back.
    pub fn export(&self, visit: &mut ExportVisitor<'_>) -> Result<(), BackendError> {
        self.backend.visit_all(visit)
    }

    /// Replaces the whole content of the store with `entries` (as produced
    /// by [`Store::export`]) and reloads the current and compacted
    /// revisions from them. The replacement takes several batches; the
    /// `importing` mark (see `FORMAT.md`) says when one was cut off, which
    /// [`Store::import_incomplete`] reports.
    pub fn import<I>(&self, entries: I) -> Result<(), BackendError>
    where
        I: IntoIterator<Item = Result<ExportEntry, BackendError>>,
    {
        let _writer = self.writer.lock();
        let mut mark = WriteBatch::new();
        mark.put(Table::Meta, META_IMPORTING.to_vec(), Vec::new());
        self.backend.write(mark)?;
        for table in Table::ALL {
            loop {
                let mut batch = WriteBatch::new();
                self.backend.scan(table, &[], &mut |key, _| {
                    if !(table == Table::Meta && key == META_IMPORTING) {
                        batch.delete(table, key.to_vec());
                    }
                    if batch.len() >= IMPORT_BATCH_ENTRIES {
                        ScanStep::Stop
                    } else {
                        ScanStep::Next
                    }
                })?;
                if batch.is_empty() {
                    break;
                }
                self.backend.write(batch)?;
            }
        }
        let mut batch = WriteBatch::new();
        for entry in entries {
            let (table, key, value) = entry?;
            if table == Table::Meta && key == META_IMPORTING {
                continue;
            }
            batch.put(table, key, value);
            if batch.len() >= IMPORT_BATCH_ENTRIES {
                self.backend.write(std::mem::take(&mut batch))?;
            }
        }
        self.backend.write(batch)?;
        let (current, compacted) = Self::load_revisions(&self.backend)?;
        let mut unmark = WriteBatch::new();
        unmark.delete(Table::Meta, META_IMPORTING.to_vec());
        self.backend.write(unmark)?;
        self.current_revision.store(current, Ordering::Release);
        self.compacted_revision.store(compacted, Ordering::Release);
        // The history changed under every watcher: each catches up from the
        // new content (or learns that its revision was compacted).
        self.watch.reset(current);
        Ok(())
    }

    /// Whether an [`Store::import`] was cut off (by a crash) before it
    /// finished: the content is then an unknown mix and must be replaced.
    pub fn import_incomplete(&self) -> Result<bool, BackendError> {
        Ok(self.backend.get(Table::Meta, META_IMPORTING)?.is_some())
    }

    fn load_revisions(backend: &B) -> Result<(i64, i64), BackendError> {
        let current = match backend.get(Table::Meta, META_CURRENT_REVISION)? {
            Some(bytes) => decode_i64(&bytes)?,
            None => EMPTY_STORE_REVISION,
        };
        let compacted = match backend.get(Table::Meta, META_COMPACTED_REVISION)? {
            Some(bytes) => decode_i64(&bytes)?,
            None => NEVER_COMPACTED,
        };
        if compacted > current {
            return Err(BackendError::Corrupt(format!(
                "compacted revision {compacted} above current revision {current}"
            )));
        }
        Ok((current, compacted))
    }

    fn stage_key_compaction(
        &self,
        key: &[u8],
        revision: i64,
        batch: &mut WriteBatch,
    ) -> Result<(), MvccError> {
        let prefix = key_prefix(key);
        let prefix_len = prefix.len();
        let mut newest_seen = false;
        let mut failure = None;
        self.backend.scan(
            Table::Versions,
            &version_seek_key(key, revision),
            &mut |raw_key, raw_value| {
                if raw_key.len() != prefix_len + 16 || raw_key[..prefix_len] != prefix[..] {
                    return ScanStep::Stop;
                }
                let keep = !newest_seen
                    && match decode_version(Vec::new(), 0, raw_value, false) {
                        Ok(version) => version != Version::Tombstone,
                        Err(error) => {
                            failure = Some(error);
                            return ScanStep::Stop;
                        }
                    };
                newest_seen = true;
                if !keep {
                    batch.delete(Table::Versions, raw_key.to_vec());
                }
                ScanStep::Next
            },
        )?;
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// A crc32 over every stored version at or below `revision` (0: the
    /// current one), in key order. Replicas that applied the same commands
    /// agree on it, whatever their backend.
    pub fn hash_kv(&self, revision: i64) -> Result<HashKvResponse, MvccError> {
        // Holding the writer lock keeps the revisions read here and the
        // scanned data from the same moment.
        let _writer = self.writer.lock();
        let current = self.current_revision();
        let compacted = self.compacted_revision();
        if revision > 0 && revision <= compacted {
            return Err(MvccError::Compacted);
        }
        if revision > current {
            return Err(MvccError::FutureRevision);
        }
        let hash_revision = if revision <= 0 { current } else { revision };
        let mut hasher = crc32fast::Hasher::new();
        let mut failure = None;
        self.backend
            .scan(Table::Versions, &[], &mut |raw_key, raw_value| {
                match decode_version_key(raw_key) {
                    Ok((_, rev)) if rev.main <= hash_revision => {
                        hasher.update(raw_key);
                        hasher.update(raw_value);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        failure = Some(error);
                        return ScanStep::Stop;
                    }
                }
                ScanStep::Next
            })?;
        if let Some(error) = failure {
            return Err(error.into());
        }
        Ok(HashKvResponse {
            hash: hasher.finalize(),
            compact_revision: compacted,
            hash_revision,
            revision: current,
        })
    }
}

/// Stages a lease's record.
fn put_lease(batch: &mut WriteBatch, record: &LeaseRecord) {
    batch.put(
        Table::Leases,
        lease_key(record.id).to_vec(),
        encode_lease(record),
    );
}

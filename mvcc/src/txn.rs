//! A write transaction: the staging area where one command's changes become
//! one batch. It follows etcd's `applyTxn`:
//!
//! 1. every compare, nested ones included, is judged on the state before the
//!    transaction (the "path");
//! 2. the operations on that path are checked (`ignore_*` needs the key,
//!    reads need an uncompacted, non-future revision) before anything runs;
//! 3. the operations run in order; all writes share the main revision
//!    `begin + 1` with increasing sub revisions, and later reads see earlier
//!    writes.

use std::cmp::Ordering;

use crate::backend::{Backend, Table, WriteBatch};
use crate::encoding::{
    encode_change, encode_version, lease_attachment_key, lease_key, revision_key, version_key,
    ChangeKind, Version,
};
use crate::error::MvccError;
use crate::range_bounds::KeyRange;
use crate::read::{self, Overlay};
use crate::types::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventKind, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseOp, Revision, TxnRequest, TxnResponse,
};

/// Which branch each transaction on the path takes: the outer one, then its
/// nested transactions in order.
#[derive(Debug)]
pub struct Path {
    succeeded: bool,
    nested: Vec<Path>,
}

/// The changes of one command, not yet written.
pub struct WriteTxn<'a, B: Backend> {
    backend: &'a B,
    begin: i64,
    compacted: i64,
    changes: i64,
    overlay: Overlay,
    batch: WriteBatch,
    /// The changes as watchers will see them, in sub-revision order.
    events: Vec<Event>,
}

/// What a finished [`WriteTxn`] hands back: the batch to write, the
/// revision it brings the store to, and its events.
pub struct Staged {
    /// Every mutation of the command.
    pub batch: WriteBatch,
    /// The store's revision once the batch is written.
    pub revision: i64,
    /// One event per changed key, in sub-revision order.
    pub events: Vec<Event>,
}

impl<'a, B: Backend> WriteTxn<'a, B> {
    /// Starts a transaction over a store at revision `begin`.
    pub fn new(backend: &'a B, begin: i64, compacted: i64) -> Self {
        Self {
            backend,
            begin,
            compacted,
            changes: 0,
            overlay: Overlay::new(),
            batch: WriteBatch::new(),
            events: Vec::new(),
        }
    }

    /// The revision as seen inside the transaction: `begin + 1` once it
    /// changed something.
    pub fn revision(&self) -> i64 {
        if self.changes > 0 {
            self.begin + 1
        } else {
            self.begin
        }
    }

    /// The staged batch, the revision it brings the store to, and the
    /// events.
    pub fn finish(self) -> Staged {
        Staged {
            revision: self.revision(),
            batch: self.batch,
            events: self.events,
        }
    }

    /// A top-level put.
    pub fn put(&mut self, request: &PutRequest) -> Result<PutResponse, MvccError> {
        self.check_put(request)?;
        self.stage_put(request)
    }

    /// A top-level deletion.
    pub fn delete_range(
        &mut self,
        request: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, MvccError> {
        self.stage_delete(request)
    }

    /// A top-level transaction.
    pub fn txn(&mut self, request: &TxnRequest) -> Result<TxnResponse, MvccError> {
        let path = self.path(request)?;
        self.check_path(request, &path)?;
        let mut response = self.run(request, &path)?;
        response.revision = self.revision();
        Ok(response)
    }

    fn path(&self, request: &TxnRequest) -> Result<Path, MvccError> {
        let mut succeeded = true;
        for compare in &request.compare {
            if !self.compare(compare)? {
                succeeded = false;
                break;
            }
        }
        let ops = if succeeded {
            &request.success
        } else {
            &request.failure
        };
        let mut nested = Vec::new();
        for op in ops {
            if let RequestOp::Txn(inner) = op {
                nested.push(self.path(inner)?);
            }
        }
        Ok(Path { succeeded, nested })
    }

    /// etcd's `applyCompare`: every key of the range must satisfy the
    /// compare; a missing key compares as all zeros, except that a value
    /// compare on a missing key always fails.
    fn compare(&self, compare: &Compare) -> Result<bool, MvccError> {
        let range = KeyRange::new(&compare.key, &compare.range_end);
        let with_value = matches!(compare.target, CompareTarget::Value(_));
        let mut seen_any = false;
        let mut holds = true;
        read::scan_latest(self.backend, &range, self.begin, with_value, &mut |kv| {
            seen_any = true;
            holds = compare_holds(compare, &kv);
            holds
        })?;
        if !seen_any {
            if with_value {
                return Ok(false);
            }
            return Ok(compare_holds(compare, &KeyValue::default()));
        }
        Ok(holds)
    }

    fn check_path(&self, request: &TxnRequest, path: &Path) -> Result<(), MvccError> {
        let ops = if path.succeeded {
            &request.success
        } else {
            &request.failure
        };
        let mut nested = path.nested.iter();
        for op in ops {
            match op {
                RequestOp::Put(put) => self.check_put(put)?,
                RequestOp::Range(range) => self.check_range(range)?,
                RequestOp::DeleteRange(_) => {}
                RequestOp::Txn(inner) => {
                    let inner_path = nested.next().expect("one path per nested txn");
                    self.check_path(inner, inner_path)?;
                }
            }
        }
        Ok(())
    }

    fn check_put(&self, request: &PutRequest) -> Result<(), MvccError> {
        if (request.ignore_value || request.ignore_lease)
            && read::get_latest(self.backend, &request.key, self.begin)?.is_none()
        {
            return Err(MvccError::KeyNotFound);
        }
        if request.lease != 0
            && self
                .backend
                .get(Table::Leases, &lease_key(request.lease))?
                .is_none()
        {
            return Err(MvccError::LeaseNotFound);
        }
        Ok(())
    }

    fn check_range(&self, request: &RangeRequest) -> Result<(), MvccError> {
        if request.revision > self.begin {
            return Err(MvccError::FutureRevision);
        }
        if request.revision > 0 && request.revision < self.compacted {
            return Err(MvccError::Compacted);
        }
        Ok(())
    }

    fn run(&mut self, request: &TxnRequest, path: &Path) -> Result<TxnResponse, MvccError> {
        let ops = if path.succeeded {
            &request.success
        } else {
            &request.failure
        };
        let mut nested = path.nested.iter();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match op {
                RequestOp::Range(range) => ResponseOp::Range(self.range(range)?),
                RequestOp::Put(put) => ResponseOp::Put(self.stage_put(put)?),
                RequestOp::DeleteRange(delete) => {
                    ResponseOp::DeleteRange(self.stage_delete(delete)?)
                }
                RequestOp::Txn(inner) => {
                    let inner_path = nested.next().expect("one path per nested txn");
                    ResponseOp::Txn(self.run(inner, inner_path)?)
                }
            };
            responses.push(response);
        }
        // etcd leaves a nested transaction's header revision at 0; the
        // top-level caller overwrites this with the final revision.
        Ok(TxnResponse {
            revision: 0,
            succeeded: path.succeeded,
            responses,
        })
    }

    /// A read inside the transaction: at revision 0 it sees the
    /// transaction's own writes.
    fn range(&self, request: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let current = self.revision();
        let at = read::read_revision(request.revision, current, self.compacted)?;
        let overlay = (at > self.begin).then_some(&self.overlay);
        read::range(self.backend, request, at, current, overlay)
    }

    /// The key's state as the transaction sees it now.
    fn latest(&self, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        match self.overlay.get(key) {
            Some(change) => Ok(change.clone()),
            None => read::get_latest(self.backend, key, self.begin),
        }
    }

    fn next_revision(&mut self) -> Revision {
        let revision = Revision {
            main: self.begin + 1,
            sub: self.changes,
        };
        self.changes += 1;
        revision
    }

    fn stage_put(&mut self, request: &PutRequest) -> Result<PutResponse, MvccError> {
        let previous = self.latest(&request.key)?;
        let revision = self.next_revision();
        let (create_revision, version, kept_value, kept_lease) = match &previous {
            Some(prev) => (
                prev.create_revision,
                prev.version + 1,
                prev.value.clone(),
                prev.lease,
            ),
            None => (revision.main, 1, Vec::new(), 0),
        };
        let kv = KeyValue {
            key: request.key.clone(),
            create_revision,
            mod_revision: revision.main,
            version,
            value: if request.ignore_value {
                kept_value
            } else {
                request.value.clone()
            },
            lease: if request.ignore_lease {
                kept_lease
            } else {
                request.lease
            },
        };
        self.batch.put(
            Table::Versions,
            version_key(&kv.key, revision),
            encode_version(&Version::Live(kv.clone())),
        );
        self.batch.put(
            Table::Revisions,
            revision_key(revision),
            encode_change(ChangeKind::Put, &kv.key),
        );
        let previous_lease = previous.as_ref().map_or(0, |prev| prev.lease);
        if previous_lease != kv.lease {
            if previous_lease != 0 {
                self.batch.delete(
                    Table::LeaseKeys,
                    lease_attachment_key(previous_lease, &kv.key),
                );
            }
            if kv.lease != 0 {
                self.batch.put(
                    Table::LeaseKeys,
                    lease_attachment_key(kv.lease, &kv.key),
                    Vec::new(),
                );
            }
        }
        self.overlay.insert(kv.key.clone(), Some(kv.clone()));
        self.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: previous.clone(),
        });
        Ok(PutResponse {
            revision: revision.main,
            prev_kv: previous.filter(|_| request.prev_kv),
        })
    }

    fn stage_delete(
        &mut self,
        request: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, MvccError> {
        let range = KeyRange::new(&request.key, &request.range_end);
        let at = self.revision();
        let overlay = (at > self.begin).then_some(&self.overlay);
        // Values too: the delete events carry the deleted state as prev_kv.
        let (doomed, _) = read::collect(self.backend, &range, at, 0, true, overlay)?;
        for kv in &doomed {
            let revision = self.next_revision();
            self.batch.put(
                Table::Versions,
                version_key(&kv.key, revision),
                encode_version(&Version::Tombstone),
            );
            self.batch.put(
                Table::Revisions,
                revision_key(revision),
                encode_change(ChangeKind::Delete, &kv.key),
            );
            if kv.lease != 0 {
                self.batch
                    .delete(Table::LeaseKeys, lease_attachment_key(kv.lease, &kv.key));
            }
            self.overlay.insert(kv.key.clone(), None);
            self.events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: kv.key.clone(),
                    mod_revision: revision.main,
                    ..KeyValue::default()
                },
                prev_kv: Some(kv.clone()),
            });
        }
        let deleted = doomed.len() as i64;
        Ok(DeleteRangeResponse {
            revision: self.revision(),
            deleted,
            prev_kvs: if request.prev_kv { doomed } else { Vec::new() },
        })
    }
}

/// etcd's `compareKV`.
fn compare_holds(compare: &Compare, kv: &KeyValue) -> bool {
    let ordering = match &compare.target {
        CompareTarget::Version(version) => kv.version.cmp(version),
        CompareTarget::Create(revision) => kv.create_revision.cmp(revision),
        CompareTarget::Mod(revision) => kv.mod_revision.cmp(revision),
        CompareTarget::Value(value) => kv.value.as_slice().cmp(value.as_slice()),
        CompareTarget::Lease(lease) => kv.lease.cmp(lease),
    };
    match compare.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

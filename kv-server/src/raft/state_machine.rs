//! openraft's state machine over the mvcc store.
//!
//! Every applied entry is one atomic mvcc batch that also stores the
//! `keelpb.AppliedState` (last applied log id, membership, alarms), so after
//! a crash the data and the Raft position agree; openraft then replays the
//! log from there. Revisions are assigned here, at apply, never from log
//! indexes (blank and membership entries have indexes too).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use keel_mvcc::backend::Backend;
use keel_mvcc::{Command, CommandResponse, Store};
use keel_proto::{etcdserverpb as pb, keelpb};
use keel_raft_log::Disk;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::type_config::alias::SnapshotOf;
use openraft::{EntryPayload, OptionalSend};
use parking_lot::Mutex;
use prost::Message;

use super::codec::{
    log_id_from_pb, log_id_to_pb, stored_membership_from_pb, stored_membership_to_pb,
};
use super::snapshot::{self, SnapshotFile};
use super::{LogId, SnapshotMeta, StoredMembership, TypeConfig};
use crate::clock::Clock;
use crate::convert;
use crate::error::EtcdError;
use keel_lease::Lessor;

/// The mvcc store as the server holds it: over whichever backend it opened.
pub type KvStore = Store<Arc<dyn Backend>>;

/// What applying one client write produced.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The store's answer to a put, delete, txn or compaction.
    Kv(CommandResponse),
    /// The alarms an alarm request changed.
    Alarms(Vec<pb::AlarmMember>),
}

/// The response openraft hands back to the proposer: the outcome, or
/// etcd's error for it.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The outcome the client gets.
    pub outcome: Result<Outcome, EtcdError>,
}

/// The newest snapshot and its metadata, shared with snapshot builders.
type CurrentSnapshot = Arc<Mutex<Option<(SnapshotMeta, SnapshotFile)>>>;

/// The lessor as the server shares it: the state machine mirrors every
/// applied lease command into it; the lease driver and the Lease service
/// use it on the leader.
pub type SharedLessor = Arc<Mutex<Lessor>>;

/// openraft's `RaftStateMachine` over a [`KvStore`].
pub struct StateMachine {
    store: Arc<KvStore>,
    disk: Arc<dyn Disk>,
    snapshot_dir: PathBuf,
    state: keelpb::AppliedState,
    current: CurrentSnapshot,
    lessor: SharedLessor,
    clock: Arc<dyn Clock>,
    metrics: Arc<crate::metrics::Metrics>,
}

fn invalid(detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail.to_string())
}

/// openraft's snapshot metadata from a `keelpb.AppliedState`.
fn snapshot_meta(state: &keelpb::AppliedState) -> io::Result<SnapshotMeta> {
    Ok(SnapshotMeta {
        last_log_id: state.last_applied.as_ref().map(log_id_from_pb),
        last_membership: match &state.membership {
            Some(membership) => stored_membership_from_pb(membership)?,
            None => StoredMembership::default(),
        },
    })
}

impl StateMachine {
    /// Opens the state machine over `store`, with snapshots in
    /// `snapshot_dir`. If the newest snapshot is ahead of the store (the
    /// store lost unsynced writes, or an install was cut off), the
    /// snapshot is installed again first.
    pub fn open(
        store: Arc<KvStore>,
        disk: Arc<dyn Disk>,
        snapshot_dir: PathBuf,
        lessor: SharedLessor,
        clock: Arc<dyn Clock>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> io::Result<Self> {
        disk.create_dir_all(&snapshot_dir)?;
        let mut newest = None;
        let mut names: Vec<String> = disk
            .list(&snapshot_dir)?
            .into_iter()
            .filter(|name| {
                std::path::Path::new(name)
                    .extension()
                    .is_some_and(|ext| ext == "snap")
            })
            .collect();
        names.sort();
        if let Some(name) = names.last() {
            let file = SnapshotFile {
                disk: Arc::clone(&disk),
                path: snapshot_dir.join(name),
            };
            let state = snapshot::verify(&file)?;
            newest = Some((state, file));
        }
        let mut machine = Self {
            store,
            disk,
            snapshot_dir,
            state: keelpb::AppliedState::default(),
            current: Arc::new(Mutex::new(None)),
            lessor,
            clock,
            metrics,
        };
        machine.state = machine.load_state()?;
        let incomplete = machine
            .store
            .import_incomplete()
            .map_err(io::Error::other)?;
        if let Some((snapshot_state, file)) = newest {
            let index_of = |state: &keelpb::AppliedState| {
                state.last_applied.as_ref().map(|id| (id.index, id.term))
            };
            if incomplete || index_of(&snapshot_state) > index_of(&machine.state) {
                snapshot::install(&machine.store, &file)?;
                machine.state = machine.load_state()?;
            }
            *machine.current.lock() = Some((snapshot_meta(&snapshot_state)?, file));
        } else if incomplete {
            return Err(invalid(
                "the store was cut off while installing a snapshot, and no snapshot file is left to finish it",
            ));
        }
        machine.restore_lessor()?;
        Ok(machine)
    }

    /// Rebuilds the lessor's mirror from the leases the store holds (at
    /// start and after a snapshot install). The new lessor is not primary:
    /// the lease driver promotes it again if this member leads.
    fn restore_lessor(&self) -> io::Result<()> {
        let leases = self.store.leases().map_err(io::Error::other)?;
        let mut lessor = self.lessor.lock();
        *lessor = Lessor::new(lessor.config());
        for lease in leases {
            lessor.restore(lease.id, lease.granted_ttl_secs, lease.remaining_ttl_secs);
        }
        Ok(())
    }

    /// Mirrors an applied lease command into the lessor.
    fn mirror_lease(&self, command: &Command) {
        let now_ms = self.clock.monotonic_ms();
        let mut lessor = self.lessor.lock();
        match command {
            Command::LeaseGrant(grant) => {
                // The store accepted the grant, so the ID is new here too.
                let _ = lessor.apply_grant(grant.id, grant.ttl_secs, now_ms);
            }
            Command::LeaseRevoke(id) => {
                lessor.apply_revoke(*id);
            }
            Command::LeaseCheckpoint(checkpoints) => {
                for checkpoint in checkpoints {
                    lessor.apply_checkpoint(checkpoint.id, checkpoint.remaining_ttl_secs);
                }
            }
            Command::Put(_) | Command::DeleteRange(_) | Command::Txn(_) | Command::Compact(_) => {}
        }
    }

    fn load_state(&self) -> io::Result<keelpb::AppliedState> {
        match self.store.applied_metadata().map_err(io::Error::other)? {
            Some(bytes) => keelpb::AppliedState::decode(&bytes[..]).map_err(invalid),
            None => Ok(keelpb::AppliedState::default()),
        }
    }

    /// The store underneath (reads go straight to it).
    pub fn store(&self) -> &Arc<KvStore> {
        &self.store
    }

    /// Applies one client write whose entry is `log_id`.
    fn apply_proposal(
        &mut self,
        proposal: &keelpb::Command,
    ) -> io::Result<Result<Outcome, EtcdError>> {
        use keelpb::command::Request;
        if let Some(Request::Alarm(alarm)) = &proposal.request {
            let changed = self.apply_alarm(alarm);
            self.record_state()?;
            return Ok(Ok(Outcome::Alarms(changed)));
        }
        let command = match convert::command(proposal) {
            Ok(Some(command)) => command,
            Ok(None) => {
                self.record_state()?;
                return Ok(Err(EtcdError::Internal("empty command".into())));
            }
            Err(error) => {
                self.record_state()?;
                return Ok(Err(error.into()));
            }
        };
        if self.no_space() && writes(&command) {
            self.record_state()?;
            return Ok(Err(EtcdError::NoSpace));
        }
        if let Command::LeaseGrant(grant) = &command {
            // Proposers apply the TTL rules; an entry that breaks them
            // (a corrupt or hand-made log) is refused, not mirrored.
            if !(1..=keel_lease::MAX_LEASE_TTL_SECS).contains(&grant.ttl_secs) || grant.id == 0 {
                self.record_state()?;
                return Ok(Err(EtcdError::LeaseTTLTooLarge));
            }
        }
        let applied = self.state.encode_to_vec();
        match self
            .metrics
            .time_backend_commit(|| self.store.apply(&command, &applied))
        {
            Ok(response) => {
                self.mirror_lease(&command);
                Ok(Ok(Outcome::Kv(response)))
            }
            Err(error) if error.is_storage() => Err(io::Error::other(error)),
            Err(error) => Ok(Err(error.into())),
        }
    }

    /// Whether a NOSPACE alarm is active on any member.
    fn no_space(&self) -> bool {
        self.state
            .alarms
            .iter()
            .any(|alarm| alarm.alarm == pb::AlarmType::Nospace as i32)
    }

    /// The active alarms.
    pub fn alarms(&self) -> Vec<pb::AlarmMember> {
        self.state.alarms.clone()
    }

    fn apply_alarm(&mut self, request: &pb::AlarmRequest) -> Vec<pb::AlarmMember> {
        use pb::alarm_request::AlarmAction;
        let member = pb::AlarmMember {
            member_id: request.member_id,
            alarm: request.alarm,
        };
        match AlarmAction::try_from(request.action) {
            Ok(AlarmAction::Activate) => {
                if request.alarm != pb::AlarmType::None as i32
                    && !self.state.alarms.contains(&member)
                {
                    self.state.alarms.push(member);
                    vec![member]
                } else {
                    Vec::new()
                }
            }
            Ok(AlarmAction::Deactivate) => {
                let before = self.state.alarms.len();
                self.state.alarms.retain(|active| active != &member);
                if self.state.alarms.len() < before {
                    vec![member]
                } else {
                    Vec::new()
                }
            }
            Ok(AlarmAction::Get) | Err(_) => self.state.alarms.clone(),
        }
    }

    /// Stores the applied state alone (entries that change no key).
    fn record_state(&self) -> io::Result<()> {
        self.metrics
            .time_backend_commit(|| self.store.record_applied(&self.state.encode_to_vec()))
            .map_err(io::Error::other)
    }
}

/// Whether a transaction only reads (no put or delete in any branch, nested
/// ones included).
pub fn txn_read_only(txn: &keel_mvcc::TxnRequest) -> bool {
    txn.success.iter().chain(&txn.failure).all(|op| match op {
        keel_mvcc::RequestOp::Range(_) => true,
        keel_mvcc::RequestOp::Txn(inner) => txn_read_only(inner),
        keel_mvcc::RequestOp::Put(_) | keel_mvcc::RequestOp::DeleteRange(_) => false,
    })
}

/// Whether a command would write keys (and so is refused under NOSPACE).
fn writes(command: &Command) -> bool {
    match command {
        // A lease grant adds a record: etcd refuses it under NOSPACE too.
        Command::Put(_) | Command::LeaseGrant(_) => true,
        Command::Txn(txn) => !txn_read_only(txn),
        Command::DeleteRange(_)
        | Command::Compact(_)
        | Command::LeaseRevoke(_)
        | Command::LeaseCheckpoint(_) => false,
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let meta = snapshot_meta(&self.state)?;
        Ok((meta.last_log_id, meta.last_membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: futures::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            #[cfg(madsim)]
            observe_applied(self.metrics.member_id(), &entry);
            self.state.last_applied = Some(log_id_to_pb(&entry.log_id));
            let outcome = match &entry.payload {
                EntryPayload::Blank => {
                    self.record_state()?;
                    None
                }
                EntryPayload::Membership(membership) => {
                    let stored = StoredMembership::new(Some(entry.log_id), membership.clone());
                    self.state.membership = Some(stored_membership_to_pb(&stored));
                    self.record_state()?;
                    None
                }
                EntryPayload::Normal(proposal) => Some(self.apply_proposal(&proposal.0)?),
            };
            if let Some(responder) = responder {
                responder.send(Applied {
                    outcome: outcome
                        .unwrap_or_else(|| Err(EtcdError::Internal("no outcome".into()))),
                });
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            store: Arc::clone(&self.store),
            disk: Arc::clone(&self.disk),
            dir: self.snapshot_dir.clone(),
            current: Arc::clone(&self.current),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotFile,
    ) -> Result<(), io::Error> {
        let store = Arc::clone(&self.store);
        let file = snapshot.clone();
        let installed = crate::blocking::run(move || snapshot::install(&store, &file)).await??;
        let installed_meta = snapshot_meta(&installed)?;
        if installed_meta.last_log_id != meta.last_log_id {
            return Err(invalid(format!(
                "snapshot file holds {:?}, expected {:?}",
                installed_meta.last_log_id, meta.last_log_id
            )));
        }
        self.state = self.load_state()?;
        self.restore_lessor()?;
        #[cfg(madsim)]
        if let Some(id) = &meta.last_log_id {
            let member_id = self.metrics.member_id();
            crate::observe::report(|o| {
                o.snapshot_installed(member_id, id.index, id.leader_id.term)
            });
        }
        tracing::info!(
            last_log_id = ?meta.last_log_id,
            revision = self.store.current_revision(),
            "installed a snapshot from the leader"
        );
        // Keep the installed file as the current snapshot, under our name.
        let name = snapshot::file_name(
            installed.last_applied.as_ref().map_or(0, |id| id.index),
            installed.last_applied.as_ref().map_or(0, |id| id.term),
        );
        let path = self.snapshot_dir.join(name);
        if snapshot.path != path {
            self.disk.rename(&snapshot.path, &path)?;
            self.disk.sync_dir(&self.snapshot_dir)?;
        }
        let file = SnapshotFile {
            disk: Arc::clone(&self.disk),
            path,
        };
        replace_current(&self.disk, &self.current, meta.clone(), file)?;
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<TypeConfig, SnapshotFile>>, io::Error> {
        Ok(self.current.lock().as_ref().map(|(meta, file)| Snapshot {
            meta: meta.clone(),
            snapshot: file.clone(),
        }))
    }
}

/// Tells the simulation's observer about an applied entry.
#[cfg(madsim)]
fn observe_applied(member_id: u64, entry: &super::Entry) {
    use prost::Message;
    let digest = match &entry.payload {
        EntryPayload::Blank => 0,
        EntryPayload::Membership(membership) => {
            u64::from(crc32fast::hash(format!("{membership:?}").as_bytes())) | (1 << 32)
        }
        EntryPayload::Normal(proposal) => {
            u64::from(crc32fast::hash(&proposal.0.encode_to_vec())) | (2 << 32)
        }
    };
    let (index, term) = (entry.log_id.index, entry.log_id.leader_id.term);
    crate::observe::report(|o| o.applied(member_id, index, term, digest));
}

/// The last log id the state machine holds.
impl StateMachine {
    /// `(index, term)` of the last applied entry, if any.
    pub fn last_applied(&self) -> Option<(u64, u64)> {
        self.state
            .last_applied
            .as_ref()
            .map(|id| (id.index, id.term))
    }
}

/// Makes `file` the current snapshot and deletes the one it replaces.
fn replace_current(
    disk: &Arc<dyn Disk>,
    current: &CurrentSnapshot,
    meta: SnapshotMeta,
    file: SnapshotFile,
) -> io::Result<()> {
    let path = file.path.clone();
    let previous = current.lock().replace((meta, file));
    if let Some((_, old)) = previous {
        if old.path != path {
            disk.remove(&old.path)?;
        }
    }
    Ok(())
}

/// Builds a snapshot of the store in the background.
pub struct SnapshotBuilder {
    store: Arc<KvStore>,
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    current: CurrentSnapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotFile>, io::Error> {
        let store = Arc::clone(&self.store);
        let disk = Arc::clone(&self.disk);
        let dir = self.dir.clone();
        let (file, state) =
            crate::blocking::run(move || snapshot::write(&store, &disk, &dir, "")).await??;
        let meta = snapshot_meta(&state.unwrap_or_default())?;
        replace_current(&self.disk, &self.current, meta.clone(), file.clone())?;
        Ok(Snapshot {
            meta,
            snapshot: file,
        })
    }
}

//! A keel member: its storage, its Raft node, and the two paths every
//! request takes: writes are proposed through Raft and answered once
//! applied; linearizable reads wait for a read index (batched) and then read
//! the local store.

use openraft::type_config::async_runtime::WatchReceiver;
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keel_mvcc::backend::Backend;
use keel_mvcc::{Limits, Store};
use keel_proto::{etcdserverpb as pb, keelpb};
use keel_raft_log::{Disk, RaftLog, RealDisk};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{ReadPolicy, SnapshotPolicy};

use crate::clock::Clock;
use crate::error::EtcdError;
use crate::ids;
use crate::raft::log_store::LogStore;
use crate::raft::network::SingleMemberNetwork;
use crate::raft::state_machine::{KvStore, Outcome, SharedLessor, StateMachine};
use crate::raft::{Member, Proposal, Raft};
use keel_lease::{Lessor, LessorConfig};

/// What a member needs to start.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// `--name`.
    pub name: String,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--initial-advertise-peer-urls`.
    pub peer_urls: Vec<String>,
    /// `--advertise-client-urls`.
    pub client_urls: Vec<String>,
    /// `--initial-cluster-token`.
    pub cluster_token: String,
    /// `--snapshot-count`: applied entries between snapshots.
    pub snapshot_count: u64,
    /// `--heartbeat-interval`, in milliseconds.
    pub heartbeat_ms: u64,
    /// `--election-timeout`, in milliseconds.
    pub election_ms: u64,
    /// `--quota-backend-bytes`.
    pub quota_backend_bytes: u64,
    /// `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// `--max-request-bytes`: the largest proposal accepted.
    pub max_request_bytes: usize,
    /// `--experimental-watch-progress-notify-interval`.
    pub watch_progress_notify_interval: Duration,
    /// `--lease-checkpoint-interval`.
    pub lease_checkpoint_interval: Duration,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Raft log could not be opened.
    #[error("opening the Raft log in {path}: {source}")]
    Log {
        /// The log directory.
        path: PathBuf,
        /// What failed.
        source: keel_raft_log::LogError,
    },
    /// The key-value store could not be opened.
    #[error("opening the key-value store in {path}: {source}")]
    Store {
        /// The store directory.
        path: PathBuf,
        /// What failed.
        source: keel_mvcc::backend::BackendError,
    },
    /// The state machine could not be recovered.
    #[error("recovering the state machine: {0}")]
    StateMachine(io::Error),
    /// openraft refused the configuration or failed to start.
    #[error("starting Raft: {0}")]
    Raft(String),
}

/// Entries kept in the log after a snapshot, so a slightly lagging member
/// catches up from the log rather than a snapshot (etcd keeps 5000 too).
const KEEP_AFTER_SNAPSHOT: u64 = 5000;

/// A running member.
pub struct Node {
    raft: Raft,
    store: Arc<KvStore>,
    member_id: u64,
    cluster_id: u64,
    options: NodeOptions,
    clock: Arc<dyn Clock>,
    reads: ReadBatcher,
    lessor: SharedLessor,
    lease_ids: LeaseIds,
    /// Numbers watch streams (client ones and the server's own) apart.
    watch_streams: AtomicU64,
    /// Wakes the watch catch-up loop when a watcher needs history.
    watch_catchup: tokio::sync::Notify,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.options.name)
            .field("member_id", &format_args!("{:x}", self.member_id))
            .finish_non_exhaustive()
    }
}

#[cfg(not(madsim))]
fn open_backend(
    dir: &std::path::Path,
) -> Result<Arc<dyn Backend>, keel_mvcc::backend::BackendError> {
    let backend =
        keel_mvcc::backend::RocksBackend::open(dir, &keel_mvcc::backend::RocksOptions::default())?;
    Ok(Arc::new(backend))
}

#[cfg(madsim)]
fn open_backend(
    _dir: &std::path::Path,
) -> Result<Arc<dyn Backend>, keel_mvcc::backend::BackendError> {
    Ok(Arc::new(keel_mvcc::backend::MemoryBackend::new()))
}

impl Node {
    /// Opens the member's storage under `options.data_dir`, starts Raft,
    /// and, on the first start, makes this member a one-member cluster.
    /// After a restart Raft replays the log from the applied index.
    pub async fn start(
        options: NodeOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, StartError> {
        let disk: Arc<dyn Disk> = Arc::new(RealDisk);
        let member_dir = options.data_dir.join("member");
        let wal_dir = member_dir.join("wal");
        let log = RaftLog::open(
            Arc::clone(&disk),
            &wal_dir,
            keel_raft_log::Options::default(),
        )
        .map_err(|source| StartError::Log {
            path: wal_dir.clone(),
            source,
        })?;
        let kv_dir = member_dir.join("kv");
        let backend = open_backend(&kv_dir).map_err(|source| StartError::Store {
            path: kv_dir.clone(),
            source,
        })?;
        let limits = Limits {
            max_txn_ops: options.max_txn_ops,
        };
        let store = Arc::new(
            Store::open(backend, limits).map_err(|source| StartError::Store {
                path: kv_dir.clone(),
                source,
            })?,
        );
        let lessor: SharedLessor = Arc::new(parking_lot::Mutex::new(Lessor::new(LessorConfig {
            checkpoint_interval_ms: options.lease_checkpoint_interval.as_millis() as u64,
            proposal_retry_ms: keel_lease::DEFAULT_PROPOSAL_RETRY_MS,
            min_ttl_secs: keel_lease::min_ttl_secs(options.election_ms, options.heartbeat_ms),
        })));
        let state_machine = StateMachine::open(
            Arc::clone(&store),
            Arc::clone(&disk),
            member_dir.join("snap"),
            Arc::clone(&lessor),
            Arc::clone(&clock),
        )
        .map_err(StartError::StateMachine)?;

        let member_id = ids::member_id(&options.peer_urls, &options.cluster_token);
        let cluster_id = ids::cluster_id(&[member_id]);
        let config = openraft::Config {
            cluster_name: options.cluster_token.clone(),
            heartbeat_interval: options.heartbeat_ms,
            election_timeout_min: options.election_ms,
            election_timeout_max: options.election_ms * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_count),
            max_in_snapshot_log_to_keep: KEEP_AFTER_SNAPSHOT,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let raft = Raft::new(
            member_id,
            Arc::new(config),
            SingleMemberNetwork,
            LogStore::new(Arc::new(log)),
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized {
            let mut members = BTreeMap::new();
            members.insert(
                member_id,
                Member {
                    name: options.name.clone(),
                    peer_urls: options.peer_urls.clone(),
                    client_urls: options.client_urls.clone(),
                },
            );
            raft.initialize(members)
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
        }
        let lease_ids = LeaseIds::new(member_id, clock.now_ms());
        Ok(Arc::new(Self {
            raft,
            store,
            member_id,
            cluster_id,
            options,
            clock,
            reads: ReadBatcher::default(),
            lessor,
            lease_ids,
            watch_streams: AtomicU64::new(0),
            watch_catchup: tokio::sync::Notify::new(),
        }))
    }

    /// The lessor (mirror of the applied leases; expiry on the leader).
    pub fn lessor(&self) -> &SharedLessor {
        &self.lessor
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A lease ID no other grant of this member has used.
    pub fn next_lease_id(&self) -> i64 {
        self.lease_ids.next()
    }

    /// A watch stream number not used before.
    pub fn next_watch_stream(&self) -> u64 {
        self.watch_streams.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes the watch catch-up loop (a watcher wants history).
    pub fn wake_watch_catchup(&self) {
        self.watch_catchup.notify_one();
    }

    /// Resolves when [`Node::wake_watch_catchup`] is called.
    pub async fn watch_catchup_wanted(&self) {
        self.watch_catchup.notified().await;
    }

    /// Whether this member knows a leader.
    pub fn has_leader(&self) -> bool {
        self.raft
            .metrics()
            .borrow_watched()
            .current_leader
            .is_some()
    }

    /// Whether this member is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow_watched().current_leader == Some(self.member_id)
    }

    /// Waits until this member knows a leader, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> bool {
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .is_ok()
    }

    /// Stops Raft.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }

    /// The Raft handle.
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The local store (serializable reads, hashes, status).
    pub fn store(&self) -> &Arc<KvStore> {
        &self.store
    }

    /// The member's options.
    pub fn options(&self) -> &NodeOptions {
        &self.options
    }

    /// This member's ID.
    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    /// The cluster's ID.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The current Raft term.
    pub fn raft_term(&self) -> u64 {
        self.raft.metrics().borrow_watched().current_term
    }

    /// A response header at `revision`.
    pub fn header(&self, revision: i64) -> pb::ResponseHeader {
        pb::ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.raft_term(),
        }
    }

    /// A response header at the store's current revision.
    pub fn current_header(&self) -> pb::ResponseHeader {
        self.header(self.store.current_revision())
    }

    /// Proposes a write and waits until it is applied; returns its outcome.
    pub async fn propose(&self, request: keelpb::command::Request) -> Result<Outcome, EtcdError> {
        let command = keelpb::Command {
            leader_time_ms: self.clock.now_ms(),
            request: Some(request),
        };
        if prost::Message::encoded_len(&command) > self.options.max_request_bytes {
            return Err(EtcdError::RequestTooLarge);
        }
        let response = self
            .raft
            .client_write(Proposal(command))
            .await
            .map_err(write_error)?;
        response.data.outcome
    }

    /// Checks the backend quota before a write of about `cost` bytes. Over
    /// quota, raises the NOSPACE alarm (once) and fails with etcd's error.
    pub async fn check_quota(&self, cost: u64) -> Result<(), EtcdError> {
        let quota = self.options.quota_backend_bytes;
        if quota == 0 || self.store.backend().size_bytes() + cost <= quota {
            return Ok(());
        }
        let alarm = pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Activate as i32,
            member_id: self.member_id,
            alarm: pb::AlarmType::Nospace as i32,
        };
        self.propose(keelpb::command::Request::Alarm(alarm)).await?;
        Err(EtcdError::NoSpace)
    }

    /// Returns once this member's store reflects every write acknowledged
    /// before the call: a ReadIndex round confirms leadership with a quorum
    /// and waits until the state machine applied through the read index.
    /// Concurrent callers share rounds.
    pub async fn linearizable_barrier(&self) -> Result<(), EtcdError> {
        self.reads.barrier(&self.raft).await
    }
}

/// Hands out lease IDs as etcd does: the low 16 bits of the member ID on
/// top, then a counter that starts at the start time in milliseconds, so
/// IDs differ across members and restarts; the sign bit is cleared (lease
/// IDs are positive).
#[derive(Debug)]
struct LeaseIds {
    prefix: u64,
    next: AtomicU64,
}

impl LeaseIds {
    fn new(member_id: u64, now_ms: i64) -> Self {
        Self {
            prefix: (member_id & 0xffff) << 48,
            next: AtomicU64::new(((now_ms as u64) & 0xff_ffff_ffff) << 8),
        }
    }

    fn next(&self) -> i64 {
        loop {
            let suffix = self.next.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff_ffff;
            let id = ((self.prefix | suffix) & (u64::MAX >> 1)) as i64;
            if id != 0 {
                return id;
            }
        }
    }
}

/// Batches ReadIndex rounds: a round covers every caller that arrived
/// before it started; callers arriving during a round share the next one.
#[derive(Debug, Default)]
struct ReadBatcher {
    /// Callers so far (each takes a ticket).
    arrived: AtomicU64,
    /// Every ticket up to this one is covered by a finished round.
    covered: AtomicU64,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
}

impl ReadBatcher {
    async fn barrier(&self, raft: &Raft) -> Result<(), EtcdError> {
        let ticket = self.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        let _round = self.round.lock().await;
        if self.covered.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Everyone who arrived before this point is covered by this round:
        // its read index is taken after they arrived.
        let covers = self.arrived.load(Ordering::SeqCst);
        raft.ensure_linearizable(ReadPolicy::ReadIndex)
            .await
            .map_err(|e| match e {
                RaftError::APIError(_) => EtcdError::NoLeader,
                RaftError::Fatal(_) => EtcdError::Stopped,
            })?;
        self.covered.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }
}

/// etcd's error for a failed proposal.
fn write_error(
    error: RaftError<crate::raft::TypeConfig, ClientWriteError<crate::raft::TypeConfig>>,
) -> EtcdError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => {
            if forward.leader_id.is_some() {
                EtcdError::NotLeader
            } else {
                EtcdError::NoLeader
            }
        }
        // The entry may still commit under another leader: the outcome is
        // unknown, which etcd reports as "leader changed".
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => EtcdError::LeaderChanged,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            EtcdError::Internal(e.to_string())
        }
        RaftError::APIError(ClientWriteError::PreconditionFailed(e)) => {
            EtcdError::Internal(e.to_string())
        }
        RaftError::Fatal(_) => EtcdError::Stopped,
    }
}

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
use crate::metrics::Metrics;
use crate::raft::log_store::LogStore;
use crate::raft::network::PeerNetwork;
use crate::raft::state_machine::{KvStore, Outcome, SharedLessor, StateMachine};
use crate::raft::{Member, Proposal, Raft};
use keel_lease::{Lessor, LessorConfig};
use keel_proto::keelpb::raft_peer_client::RaftPeerClient;
use tonic::transport::Channel;

/// Who leads, as a member knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leadership {
    /// The member's current term.
    pub term: u64,
    /// The leader it knows in that term, if any.
    pub leader: Option<u64>,
}

impl Leadership {
    fn of(metrics: &openraft::RaftMetrics<crate::raft::TypeConfig>) -> Self {
        Self {
            term: metrics.current_term,
            leader: metrics.current_leader,
        }
    }
}

/// What a member needs to start.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// `--name`.
    pub name: String,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--initial-advertise-peer-urls`.
    pub peer_urls: Vec<String>,
    /// `--initial-cluster`: every founding member's name and peer URLs
    /// (this member among them).
    pub initial_cluster: Vec<(String, Vec<String>)>,
    /// `--initial-cluster-state new`: found the cluster (rather than wait
    /// to be added to an existing one).
    pub new_cluster: bool,
    /// `--advertise-client-urls`.
    pub client_urls: Vec<String>,
    /// `--initial-cluster-token`.
    pub cluster_token: String,
    /// `--snapshot-count`: applied entries between snapshots.
    pub snapshot_count: u64,
    /// `--experimental-snapshot-catchup-entries`: entries kept in the log
    /// after a snapshot.
    pub snapshot_catchup_entries: u64,
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

/// Most entries one AppendEntries carries: with entries of up to 1.5 MiB
/// (`--max-request-bytes`), 64 of them stay below the peer message limit,
/// and at a few hundred bytes each a batch still amortises the round trip.
pub const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// A running member.
pub struct Node {
    raft: Raft,
    store: Arc<KvStore>,
    member_id: u64,
    cluster_id: u64,
    options: NodeOptions,
    clock: Arc<dyn Clock>,
    reads: ReadBatcher,
    /// The last log index when this member started. A restarted leader can
    /// resume its old leadership with a commit index that lags the entries
    /// it had already committed; a read index below this would miss them
    /// (the simulation found this: a stale read after a leader's restart).
    log_at_start: Option<u64>,
    lessor: SharedLessor,
    lease_ids: LeaseIds,
    /// Numbers watch streams (client ones and the server's own) apart.
    watch_streams: AtomicU64,
    /// Wakes the watch catch-up loop when a watcher needs history.
    watch_catchup: tokio::sync::Notify,
    disk: Arc<dyn Disk>,
    snapshot_dir: PathBuf,
    /// Connections to the other members, by member ID.
    peers: parking_lot::Mutex<std::collections::HashMap<u64, RaftPeerClient<Channel>>>,
    /// The member's Prometheus metrics (served by `metrics::http`).
    metrics: Arc<Metrics>,
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
        Self::start_on(options, clock, Arc::new(RealDisk)).await
    }

    /// [`Node::start`] with the Raft log, snapshots and small files on
    /// `disk` (the simulation's crashable disk).
    pub async fn start_on(
        options: NodeOptions,
        clock: Arc<dyn Clock>,
        disk: Arc<dyn Disk>,
    ) -> Result<Arc<Self>, StartError> {
        let metrics = Arc::new(Metrics::new(ids::member_id(
            &options.peer_urls,
            &options.cluster_token,
        )));
        metrics.set_quota_backend_bytes(options.quota_backend_bytes);
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
        let snapshot_dir = member_dir.join("snap");
        let state_machine = StateMachine::open(
            Arc::clone(&store),
            Arc::clone(&disk),
            snapshot_dir.clone(),
            Arc::clone(&lessor),
            Arc::clone(&clock),
            Arc::clone(&metrics),
        )
        .map_err(StartError::StateMachine)?;
        #[cfg(madsim)]
        if let Some((index, term)) = state_machine.last_applied() {
            let member_id = metrics.member_id();
            crate::observe::report(|o| o.snapshot_installed(member_id, index, term));
        }

        let member_id = ids::member_id(&options.peer_urls, &options.cluster_token);
        // Every founder initializes with the same membership, byte for byte
        // (the entry is the log's first): names and peer URLs from
        // --initial-cluster, no client URLs. Each member publishes its own
        // client URLs once a leader is elected (api/cluster.rs).
        let founders: BTreeMap<u64, Member> = options
            .initial_cluster
            .iter()
            .map(|(name, peer_urls)| {
                let member = Member {
                    name: name.clone(),
                    peer_urls: peer_urls.clone(),
                    client_urls: Vec::new(),
                };
                (ids::member_id(peer_urls, &options.cluster_token), member)
            })
            .collect();
        let cluster_id = cluster_id(&disk, &member_dir, &options, &founders).await?;
        let config = openraft::Config {
            cluster_name: options.cluster_token.clone(),
            heartbeat_interval: options.heartbeat_ms,
            // See `election_timeouts`: a follower campaigns 1.1 to 1.2
            // election timeouts after the leader was last heard from.
            election_timeout_min: election_timeouts(options.election_ms).0,
            election_timeout_max: election_timeouts(options.election_ms).1,
            // A would-be candidate first asks whether it would win, without
            // voting for itself: two followers whose timers fire together do
            // not split the vote, and a member back from a partition does
            // not bump the term and depose a healthy leader.
            enable_pre_vote: Some(true),
            // A restarted leader campaigns in a new term like any member,
            // as in etcd, instead of resuming its leadership in the old
            // one. Resuming broke log matching (mixed_5, seed 103): the
            // leader had sent entries it had not yet fsynced, lost them in
            // the crash, and appended different entries at the same
            // indexes under the same term, which followers holding the
            // lost ones took for entries they already had.
            enable_leader_restore: Some(false),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_count),
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            max_in_snapshot_log_to_keep: options.snapshot_catchup_entries,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let raft = Raft::new(
            member_id,
            Arc::new(config),
            PeerNetwork::new(Arc::clone(&metrics)),
            LogStore::new(Arc::new(log), Arc::clone(&metrics)),
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized && options.new_cluster {
            // Every founder initializes with the same members: openraft
            // accepts that, and whichever wins the first election leads.
            // A founder that heard from the first leader already holds the
            // membership (NotAllowed): that is what initializing was for.
            match raft.initialize(founders).await {
                Ok(())
                | Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(StartError::Raft(e.to_string())),
            }
        }
        let log_at_start = {
            use openraft::async_runtime::WatchReceiver;
            raft.metrics().borrow_watched().last_log_index
        };
        let lease_ids = LeaseIds::new(member_id, clock.now_ms());
        let node = Arc::new(Self {
            raft,
            store,
            member_id,
            cluster_id,
            options,
            clock,
            reads: ReadBatcher::default(),
            log_at_start,
            lessor,
            lease_ids,
            watch_streams: AtomicU64::new(0),
            watch_catchup: tokio::sync::Notify::new(),
            disk,
            snapshot_dir,
            peers: parking_lot::Mutex::new(std::collections::HashMap::new()),
            metrics,
        });
        #[cfg(madsim)]
        crate::observe::report(|o| o.started(&node));
        Ok(node)
    }

    /// etcd's rule for learners: they serve Status and serializable reads
    /// only; everything else gets "rpc not supported for learner".
    pub fn refuse_learner(&self) -> Result<(), EtcdError> {
        if self.is_learner() {
            Err(EtcdError::NotSupportedForLearner)
        } else {
            Ok(())
        }
    }

    /// Whether this member is a learner (in the membership, not a voter).
    pub fn is_learner(&self) -> bool {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        membership.get_node(&self.member_id).is_some()
            && !membership.voter_ids().any(|id| id == self.member_id)
    }

    /// Drops the cached connection to member `id` (its URLs changed).
    pub fn forget_peer(&self, id: u64) {
        self.peers.lock().remove(&id);
        self.metrics.forget_peer(id);
    }

    /// The member's Prometheus metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The disk the member's files live on.
    pub fn disk(&self) -> &Arc<dyn Disk> {
        &self.disk
    }

    /// Where snapshots live.
    pub fn snapshot_dir(&self) -> &std::path::Path {
        &self.snapshot_dir
    }

    /// A client of member `id`'s peer service, if the membership knows how
    /// to reach it.
    fn peer(&self, id: u64) -> Option<RaftPeerClient<Channel>> {
        if let Some(client) = self.peers.lock().get(&id) {
            return Some(client.clone());
        }
        let peer_urls = self
            .raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .get_node(&id)
            .map(|member| member.peer_urls.clone())?;
        let client = RaftPeerClient::new(crate::raft::network::peer_channel(&peer_urls)?)
            .max_decoding_message_size(usize::MAX);
        self.peers.lock().insert(id, client.clone());
        Some(client)
    }

    /// The term this member is in and the leader it knows in it.
    pub fn leadership(&self) -> Leadership {
        Leadership::of(&self.raft.metrics().borrow_watched())
    }

    /// The leader, if it is another member; etcd's "no leader" when none is
    /// known or leadership came here (a request found so was not sent yet,
    /// so it may be tried again on this member).
    pub fn leader_elsewhere(&self) -> Result<u64, EtcdError> {
        match self.leadership().leader {
            Some(leader) if leader != self.member_id => Ok(leader),
            _ => Err(EtcdError::NoLeader),
        }
    }

    /// Waits until this member knows a leader in a leadership other than
    /// `seen` (a new term, or a leader where it knew none), for at most
    /// `wait`.
    pub async fn leadership_changed(&self, seen: Leadership, wait: Duration) {
        let _ = self
            .raft
            .wait(Some(wait))
            .metrics(
                |m| m.current_leader.is_some() && Leadership::of(m) != seen,
                "a new leader is known",
            )
            .await;
    }

    /// Hands a client request (its gRPC method and encoded message) to
    /// member `leader` and returns its encoded answer; the leader's error
    /// comes back as the same gRPC status. A leader that could not be
    /// dialled, so that nothing was sent, is etcd's "no leader".
    pub async fn forward_to(
        &self,
        leader: u64,
        method: &'static str,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, EtcdError> {
        let mut client = self.peer(leader).ok_or(EtcdError::NoLeader)?;
        let forward = keelpb::ForwardRequest {
            method: method.to_string(),
            request,
            from_node_id: self.member_id,
            ..keelpb::ForwardRequest::default()
        };
        match tokio::time::timeout(self.request_timeout(), client.forward(forward)).await {
            Ok(Ok(response)) => Ok(response.into_inner().response),
            Ok(Err(status)) => Err(EtcdError::relayed(&status)),
            Err(_) => Err(EtcdError::Timeout),
        }
    }

    /// How long a request waits for its proposal or its leader: etcd's
    /// 5 s plus two election timeouts.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(5_000 + 2 * self.options.election_ms)
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
        let _pending = self.metrics.start_proposal();
        // A leader cut off from its quorum never commits: the request gets
        // etcd's "request timed out" rather than hanging (the entry may
        // still commit later, which that error leaves open, as in etcd).
        let response = tokio::time::timeout(
            self.request_timeout(),
            self.raft.client_write(Proposal(command)),
        )
        .await
        .map_err(|_| EtcdError::Timeout)
        .and_then(|written| written.map_err(write_error))
        .inspect_err(|_| self.metrics.proposal_failed())?;
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
        if crate::bugs::is_injected(crate::bugs::Bug::LocalLinearizableReads) {
            return Ok(());
        }
        self.reads
            .barrier(|| crate::leader_wait::while_electing(self, || self.read_round()))
            .await
    }

    /// One ReadIndex round: on the leader, confirm leadership with a quorum
    /// and wait until applied; on a follower, ask the leader for its read
    /// index and wait until this member has applied through it.
    async fn read_round(&self) -> Result<(), EtcdError> {
        use openraft::error::LinearizableReadError;
        if self.is_leader() {
            let confirmed = tokio::time::timeout(
                self.request_timeout(),
                self.raft.ensure_linearizable(ReadPolicy::ReadIndex),
            )
            .await
            .map_err(|_| EtcdError::Timeout)?;
            match confirmed {
                Ok(read) => return self.applied_through(self.read_index(read.index())).await,
                Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => {}
                Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_))) => {
                    return Err(EtcdError::NoLeader)
                }
                Err(RaftError::Fatal(_)) => return Err(EtcdError::Stopped),
            }
        }
        let leader = self.leader_elsewhere()?;
        let mut client = self.peer(leader).ok_or(EtcdError::NoLeader)?;
        let request = keelpb::ReadIndexRequest {
            from_node_id: self.member_id,
            policy: keelpb::ReadPolicy::ReadIndex as i32,
        };
        let read =
            match tokio::time::timeout(self.request_timeout(), client.read_index(request)).await {
                Ok(Ok(response)) => response.into_inner().read_log_id,
                Ok(Err(status)) => return Err(EtcdError::relayed(&status)),
                Err(_) => return Err(EtcdError::Timeout),
            };
        let Some(read) = read else {
            return Ok(());
        };
        self.applied_through(read.index).await
    }

    /// The index a read confirmed by this leader at `read_index` must wait
    /// for: never below the log this member started with, which its
    /// previous life may have committed.
    pub(crate) fn read_index(&self, read_index: u64) -> u64 {
        read_index.max(self.log_at_start.unwrap_or(0))
    }

    /// Waits until this member has applied through `index`.
    async fn applied_through(&self, index: u64) -> Result<(), EtcdError> {
        self.raft
            .wait(Some(self.request_timeout()))
            .applied_index_at_least(Some(index), "the read index is applied")
            .await
            .map(drop)
            .map_err(|_| EtcdError::TimeoutWaitAppliedIndex)
    }
}

/// The file that keeps the cluster's ID, as 16 hex digits.
const CLUSTER_ID_FILE: &str = "cluster_id";
/// How long a joining member keeps asking the others for the cluster's ID.
const JOIN_ATTEMPTS_MAX: usize = 30;

/// The cluster's ID: kept in the member's directory once known. A founder
/// derives it from the founding members as etcd does; a member joining an
/// existing cluster asks the members of `--initial-cluster`.
async fn cluster_id(
    disk: &Arc<dyn Disk>,
    member_dir: &std::path::Path,
    options: &NodeOptions,
    founders: &BTreeMap<u64, Member>,
) -> Result<u64, StartError> {
    let path = keel_raft_log::disk::child(member_dir, CLUSTER_ID_FILE);
    let stored = read_small_file(disk, &path).map_err(StartError::StateMachine)?;
    if let Some(text) = stored {
        let text = String::from_utf8_lossy(&text);
        return u64::from_str_radix(text.trim(), 16).map_err(|_| {
            StartError::StateMachine(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} holds {text:?}, not a cluster ID", path.display()),
            ))
        });
    }
    let id = if options.new_cluster {
        ids::cluster_id(&founders.keys().copied().collect::<Vec<_>>())
    } else {
        ask_cluster_id(options, founders).await?
    };
    write_small_file(disk, &path, format!("{id:016x}\n").as_bytes())
        .map_err(StartError::StateMachine)?;
    Ok(id)
}

/// Asks the other members of `--initial-cluster` for the cluster's ID.
async fn ask_cluster_id(
    options: &NodeOptions,
    members: &BTreeMap<u64, Member>,
) -> Result<u64, StartError> {
    let me = ids::member_id(&options.peer_urls, &options.cluster_token);
    for attempt in 0..JOIN_ATTEMPTS_MAX {
        for (id, member) in members {
            if *id == me {
                continue;
            }
            let Some(channel) = crate::raft::network::peer_channel(&member.peer_urls) else {
                continue;
            };
            let request = keelpb::ForwardRequest {
                method: crate::forward::MEMBER_LIST.to_string(),
                request: prost::Message::encode_to_vec(&pb::MemberListRequest::default()),
                from_node_id: me,
                ..keelpb::ForwardRequest::default()
            };
            let answer = RaftPeerClient::new(channel).forward(request).await;
            if let Ok(answer) = answer {
                if let Ok(list) = <pb::MemberListResponse as prost::Message>::decode(
                    &answer.into_inner().response[..],
                ) {
                    if let Some(header) = list.header.filter(|h| h.cluster_id != 0) {
                        return Ok(header.cluster_id);
                    }
                }
            }
        }
        tracing::info!(
            attempt,
            "waiting for a member of --initial-cluster to answer"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(StartError::Raft(
        "--initial-cluster-state existing: no other member of --initial-cluster answered; \
         add this member with `etcdctl member add` and make sure the others run"
            .into(),
    ))
}

fn read_small_file(disk: &Arc<dyn Disk>, path: &std::path::Path) -> io::Result<Option<Vec<u8>>> {
    let Some(dir) = path.parent() else {
        return Ok(None);
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if !disk
        .list(dir)?
        .iter()
        .any(|entry| Some(entry) == name.as_ref())
    {
        return Ok(None);
    }
    let file = disk.open(path, false)?;
    let mut bytes = vec![0; file.byte_len()? as usize];
    file.read_exact_at(0, &mut bytes)?;
    Ok(Some(bytes))
}

fn write_small_file(disk: &Arc<dyn Disk>, path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    disk.create_dir_all(dir)?;
    let temporary = keel_raft_log::disk::child(dir, "cluster_id.tmp");
    let file = disk.open(&temporary, true)?;
    file.set_len(0)?;
    file.write_all_at(0, bytes)?;
    file.sync_data()?;
    disk.rename(&temporary, path)?;
    disk.sync_dir(dir)
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
    async fn barrier<Round, Fut>(&self, round: Round) -> Result<(), EtcdError>
    where
        Round: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), EtcdError>>,
    {
        let ticket = self.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        let _round = self.round.lock().await;
        if self.covered.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        // Everyone who arrived before this point is covered by this round:
        // its read index is taken after they arrived.
        let covers = self.arrived.load(Ordering::SeqCst);
        round().await?;
        self.covered.fetch_max(covers, Ordering::SeqCst);
        Ok(())
    }
}

/// openraft's `(election_timeout_min, election_timeout_max)` for etcd's
/// `--election-timeout` of `election_ms`.
///
/// An openraft follower keeps its leader's lease for `max` after it last
/// heard from the leader, and campaigns only once the lease *and* an
/// election timeout drawn from `[min, max)` have passed: at `max + [min,
/// max)`. With `min` = `election_ms` that is over two election timeouts
/// (keeld measured 2.1 s against etcd's 1.0 to 1.5 s for a 1 s timeout;
/// docs/benchmarks.md). Halving both makes it `[1.1, 1.2)` election
/// timeouts, inside etcd's `[1, 2)`; the other follower's lease (0.6
/// election timeouts) is long over when the vote reaches it, so the first
/// campaign wins, and the draws still differ by tens of milliseconds, far
/// more than a vote's round trip, so split votes stay rare.
pub(crate) fn election_timeouts(election_ms: u64) -> (u64, u64) {
    let min = election_ms / 2;
    let max = min + election_ms / 10;
    (min, max)
}

/// etcd's error for a failed proposal (a client write or a membership
/// change).
pub(crate) fn write_error(
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

#[cfg(test)]
mod tests {
    use super::election_timeouts;

    /// A follower campaigns once its leader's lease (`max`) and a drawn
    /// election timeout (`[min, max)`) have passed since it last heard from
    /// the leader; that must land inside etcd's `[1, 2)` election timeouts,
    /// and the other follower's lease must be over by then.
    #[test]
    fn a_follower_campaigns_within_etcds_election_window() {
        for election_ms in [500, 1000, 5000] {
            let (min, max) = election_timeouts(election_ms);
            assert!(min < max);
            let earliest = max + min;
            let latest = max + max;
            assert!(earliest >= election_ms, "{election_ms}: {earliest}");
            assert!(latest < 2 * election_ms, "{election_ms}: {latest}");
            assert!(earliest > max, "the other follower's lease is over");
        }
    }
}

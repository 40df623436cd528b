//! keel's openraft wiring: the type configuration, the log store over
//! `raft-log`, the state machine over `mvcc`, and the encodings between
//! openraft's types and the bytes on disk.
//!
//! ```text
//!  openraft core ──append/truncate/purge/vote──► log_store.rs ──► raft-log WAL
//!        │                                        (group fsync on a flusher)
//!        └──apply(entries)──► state_machine.rs ──► mvcc::Store (one batch per
//!                                │                  entry, applied log id in it)
//!                                └──snapshot build/install──► snapshot.rs files
//! ```
//!
//! keel runs openraft in its standard leader-id mode (one leader per term, as
//! in etcd's Raft), so a log id is `(term, index)` and fits raft-log's
//! `RecordId`. openraft numbers the log from 0 (the first membership entry of
//! a new cluster) while raft-log numbers records from 1, so raft index `i`
//! is stored as record `i + 1`; [`codec`] is the one place that knows it.

pub mod codec;
pub mod log_store;
pub mod network;
pub mod rpc_codec;
#[cfg(madsim)]
pub mod sim_runtime;
pub mod snapshot;
pub mod state_machine;

use std::fmt;

use keel_proto::keelpb;

/// A member of the cluster as Raft sees it: the node's name and URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// The member's `--name`.
    pub name: String,
    /// URLs other members reach it on (`--initial-advertise-peer-urls`).
    pub peer_urls: Vec<String>,
    /// URLs clients reach it on (`--advertise-client-urls`).
    pub client_urls: Vec<String>,
}

/// A write as openraft carries it: keel's `keelpb.Command` (see
/// `proto/keel/command.proto`).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal(pub keelpb::Command);

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use keelpb::command::Request;
        let kind = match &self.0.request {
            Some(Request::Put(_)) => "put",
            Some(Request::DeleteRange(_)) => "delete_range",
            Some(Request::Txn(_)) => "txn",
            Some(Request::Compaction(_)) => "compaction",
            Some(Request::Alarm(_)) => "alarm",
            Some(Request::LeaseGrant(_)) => "lease_grant",
            Some(Request::LeaseRevoke(_)) => "lease_revoke",
            Some(Request::LeaseCheckpoint(_)) => "lease_checkpoint",
            None => "empty",
        };
        write!(f, "{kind}")
    }
}

/// The runtime openraft runs on: tokio's, or the simulator's under
/// `--cfg madsim` (see sim_runtime.rs).
#[cfg(not(madsim))]
type RaftRuntime = openraft::impls::TokioRuntime;
#[cfg(madsim)]
type RaftRuntime = sim_runtime::SimRuntime;

openraft::declare_raft_types!(
    /// keel's openraft type configuration.
    pub TypeConfig:
        D = Proposal,
        R = state_machine::Applied,
        NodeId = u64,
        Node = Member,
        Term = u64,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
        AsyncRuntime = RaftRuntime,
);

/// openraft's log id, in keel's configuration.
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// openraft's vote, in keel's configuration.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// A log entry, in keel's configuration.
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// The membership as stored with the log id that set it.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig, state_machine::StateMachine>;
/// The Raft metrics, in keel's configuration.
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;

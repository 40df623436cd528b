//! What a test run records: client operations with their real-time
//! intervals, watch streams, Raft metrics, applied entries and HashKV
//! samples. The simulation and the jepsen harness both fill these types;
//! every checker reads them. They are plain data (serde), so a history can
//! be saved beside a failure and checked again later.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which client issued an operation. A client has at most one operation in
/// flight; after an operation of unknown outcome it takes a fresh id.
pub type ClientId = u64;

/// An etcd lease id (0: no lease).
pub type LeaseId = i64;

/// A key's record as etcd reports it (`mvccpb.KeyValue`), with key and
/// value as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Revision of the put that created the key (since its last delete).
    pub create_revision: i64,
    /// Revision of the last write of the key.
    pub mod_revision: i64,
    /// Number of puts since the key was created (1 after its creation).
    pub version: i64,
    /// The lease the key is attached to, 0 for none.
    pub lease: LeaseId,
}

/// What a client asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// A linearizable single-key Range.
    Get {
        /// The key read.
        key: String,
    },
    /// A Put, attached to `lease` unless it is 0.
    Put {
        /// The key written.
        key: String,
        /// The value written.
        value: String,
        /// The lease to attach, 0 for none.
        lease: LeaseId,
    },
    /// A single-key DeleteRange.
    Delete {
        /// The key deleted.
        key: String,
    },
    /// A Txn: if the key's mod_revision is `expected_mod_revision` (0: the
    /// key is absent), put `value`.
    CompareAndPut {
        /// The key compared and written.
        key: String,
        /// The mod_revision compared against.
        expected_mod_revision: i64,
        /// The value put when the compare holds.
        value: String,
    },
    /// LeaseGrant with a client-chosen id.
    LeaseGrant {
        /// The lease id asked for.
        id: LeaseId,
        /// Its time to live (long enough never to expire in a run).
        ttl_secs: i64,
    },
    /// LeaseRevoke: ends the lease and deletes its keys.
    LeaseRevoke {
        /// The lease revoked.
        id: LeaseId,
    },
}

/// What the server answered. `revision` is the response header's revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The key's record, absent if the key does not exist.
    Get {
        /// Header revision: the store's revision when read.
        revision: i64,
        /// The key's record.
        kv: Option<KeyValue>,
    },
    /// The put happened at `revision`.
    Put {
        /// The revision of the put.
        revision: i64,
    },
    /// The delete removed `deleted` keys (at `revision` if any).
    Delete {
        /// Header revision.
        revision: i64,
        /// How many keys were deleted (0 or 1).
        deleted: i64,
    },
    /// The txn ran; its compare held if `succeeded`.
    CompareAndPut {
        /// Header revision: the put's if it succeeded, else the store's.
        revision: i64,
        /// Whether the compare held and the put happened.
        succeeded: bool,
    },
    /// The lease was granted.
    LeaseGrant {
        /// Header revision.
        revision: i64,
    },
    /// The lease was revoked and its keys deleted.
    LeaseRevoke {
        /// Header revision (after the deletes).
        revision: i64,
    },
    /// `etcdserver: requested lease not found` (a definite refusal).
    LeaseNotFound,
    /// `etcdserver: lease already exists` (a definite refusal).
    LeaseExists,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The server answered.
    Ok(Response),
    /// No answer (timeout, connection lost): it may or may not have taken
    /// effect, at any time after it was called.
    Unknown,
    /// It definitely did not take effect (a read that failed, a request
    /// refused before it was proposed).
    Failed,
}

/// One client operation and the real-time interval it spanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The client that issued it.
    pub client: ClientId,
    /// When it was sent (ns since the run began).
    pub call_ns: u64,
    /// When its answer arrived, or when the client gave up.
    pub return_ns: u64,
    /// What was asked.
    pub request: Request,
    /// How it ended.
    pub outcome: Outcome,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} [{:.3} ms, {:.3} ms] {:?} -> ",
            self.client,
            self.call_ns as f64 / 1e6,
            self.return_ns as f64 / 1e6,
            self.request
        )?;
        match &self.outcome {
            Outcome::Ok(response) => write!(f, "{response:?}"),
            Outcome::Unknown => f.write_str("unknown"),
            Outcome::Failed => f.write_str("failed"),
        }
    }
}

/// Every client operation of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    /// The operations, in any order.
    pub operations: Vec<Operation>,
}

/// A watch event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// The key was put.
    Put,
    /// The key was deleted.
    Delete,
}

/// One watch event (`mvccpb.Event`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the event (for a delete: key and mod_revision only).
    pub kv: KeyValue,
    /// The key before the event, when the watch asked for it and it existed.
    pub prev_kv: Option<KeyValue>,
}

/// One WatchResponse as a watcher received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResponse {
    /// Header revision. With no events (a progress notification) it
    /// promises every event up to it has been sent.
    pub header_revision: i64,
    /// The events, in revision order.
    pub events: Vec<WatchEvent>,
    /// Set when the watch was cancelled because it asked for compacted
    /// revisions.
    pub compact_revision: i64,
    /// The watch ended.
    pub canceled: bool,
    /// When it arrived (ns since the run began).
    pub received_ns: u64,
}

impl WatchResponse {
    /// The revision through which the stream is complete once this
    /// response arrived: its last event's, or a progress notification's
    /// header revision (a response with events may be sent before later
    /// events of the header's revision range, so its header promises
    /// nothing).
    pub fn complete_through(&self) -> i64 {
        self.events
            .iter()
            .map(|event| event.kv.mod_revision)
            .max()
            .unwrap_or(self.header_revision)
    }
}

/// Everything one watcher received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRecord {
    /// The watcher's id.
    pub watcher: u64,
    /// Start of the watched range.
    pub key: String,
    /// End of the watched range (exclusive; empty: the one key).
    pub range_end: String,
    /// The revision the watch started from.
    pub start_revision: i64,
    /// Whether the watch asked for prev_kv.
    pub prev_kv: bool,
    /// The responses, in arrival order.
    pub responses: Vec<WatchResponse>,
}

/// A member's Raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RaftRole {
    /// Leader of its term.
    Leader,
    /// Follower.
    Follower,
    /// Candidate in an election.
    Candidate,
    /// Non-voting learner.
    Learner,
    /// Stopped.
    Shutdown,
}

/// A vote a member has persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    /// The term voted in.
    pub term: u64,
    /// The member voted for.
    pub node: u64,
    /// Whether a quorum granted it (the member is or follows that leader).
    pub committed: bool,
}

/// A snapshot of one member's Raft metrics at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftObservation {
    /// The member.
    pub node: u64,
    /// Which start of the member this is (1 for the first): state held only
    /// in memory starts again with each incarnation.
    pub incarnation: u64,
    /// When it was seen (ns since the run began).
    pub at_ns: u64,
    /// Its role.
    pub role: RaftRole,
    /// Its current term.
    pub term: u64,
    /// Its persisted vote.
    pub vote: Option<Vote>,
    /// The highest log index it knows committed.
    pub committed_index: Option<u64>,
    /// The last index in its log.
    pub last_log_index: Option<u64>,
    /// The last index its state machine applied.
    pub last_applied_index: Option<u64>,
}

/// Something a member's state machine took in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Applied {
    /// It applied the log entry at `index`; `digest` identifies the entry's
    /// content.
    Entry {
        /// The member.
        node: u64,
        /// The member's incarnation.
        incarnation: u64,
        /// Log index.
        index: u64,
        /// The entry's term.
        term: u64,
        /// A digest of the entry's payload.
        digest: u64,
    },
    /// It installed a snapshot covering the log up to `index` (and on
    /// restart, it resumed from one).
    Snapshot {
        /// The member.
        node: u64,
        /// The member's incarnation.
        incarnation: u64,
        /// The last log index the snapshot covers.
        index: u64,
        /// That entry's term.
        term: u64,
    },
}

/// One member's HashKV answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashKvSample {
    /// The member.
    pub member: u64,
    /// The revision hashed up to.
    pub revision: i64,
    /// The member's compacted revision.
    pub compact_revision: i64,
    /// The hash.
    pub hash: u32,
}

//! Records what the members do, for the Raft invariant checkers: every
//! change of each member's Raft metrics (role, term, vote, commit index),
//! and every entry each state machine applies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use keel_jepsen::history::{Applied, RaftObservation, RaftRole, Vote};
use keel_server::node::Node;
use keel_server::observe::Observer;
use openraft::async_runtime::WatchReceiver;
use openraft::vote::RaftLeaderId;
use openraft::ServerState;
use parking_lot::Mutex;

/// What the members did, in the order it happened.
pub struct Recorder {
    epoch: Instant,
    incarnations: Mutex<HashMap<u64, u64>>,
    observations: Mutex<Vec<RaftObservation>>,
    applied: Mutex<Vec<Applied>>,
}

impl Recorder {
    /// An empty record; times count from now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            incarnations: Mutex::new(HashMap::new()),
            observations: Mutex::new(Vec::new()),
            applied: Mutex::new(Vec::new()),
        })
    }

    /// Nanoseconds of simulated time since the record began.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Member `member_id` is starting (again): a new incarnation.
    pub fn starting(&self, member_id: u64) {
        *self.incarnations.lock().entry(member_id).or_insert(0) += 1;
    }

    fn incarnation(&self, member_id: u64) -> u64 {
        self.incarnations
            .lock()
            .get(&member_id)
            .copied()
            .unwrap_or(0)
    }

    /// Every metrics change seen.
    pub fn observations(&self) -> Vec<RaftObservation> {
        self.observations.lock().clone()
    }

    /// Every entry applied, and every snapshot installed.
    pub fn applied(&self) -> Vec<Applied> {
        self.applied.lock().clone()
    }

    fn observe(&self, member_id: u64, metrics: &keel_server::raft::RaftMetrics) {
        let role = match metrics.state {
            ServerState::Leader => RaftRole::Leader,
            ServerState::Follower => RaftRole::Follower,
            ServerState::Candidate => RaftRole::Candidate,
            ServerState::Learner => RaftRole::Learner,
            ServerState::Shutdown => RaftRole::Shutdown,
        };
        let vote = &metrics.vote;
        let observation = RaftObservation {
            node: member_id,
            incarnation: self.incarnation(member_id),
            at_ns: self.now_ns(),
            role,
            term: metrics.current_term,
            // openraft's initial vote is term 0 for node 0: no vote yet.
            vote: (vote.leader_id.term() > 0).then(|| Vote {
                term: vote.leader_id.term(),
                node: *vote.leader_id.node_id(),
                committed: vote.committed,
            }),
            committed_index: metrics.local_committed.map(|id| id.index),
            last_log_index: metrics.last_log_index,
            last_applied_index: metrics.last_applied.map(|id| id.index),
        };
        self.observations.lock().push(observation);
    }
}

/// The observer keeld's members report to (`keel_server::observe`).
pub struct Observe(pub Arc<Recorder>);

impl Observer for Observe {
    fn started(&self, node: &Arc<Node>) {
        let recorder = Arc::clone(&self.0);
        let member_id = node.member_id();
        let mut metrics = node.raft().metrics();
        // Runs on the member's simulated node, so it dies with it.
        tokio::spawn(async move {
            loop {
                let current = metrics.borrow_watched().clone();
                recorder.observe(member_id, &current);
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    fn applied(&self, member_id: u64, index: u64, term: u64, digest: u64) {
        let incarnation = self.0.incarnation(member_id);
        self.0.applied.lock().push(Applied::Entry {
            node: member_id,
            incarnation,
            index,
            term,
            digest,
        });
    }

    fn snapshot_installed(&self, member_id: u64, index: u64, term: u64) {
        let incarnation = self.0.incarnation(member_id);
        self.0.applied.lock().push(Applied::Snapshot {
            node: member_id,
            incarnation,
            index,
            term,
        });
    }
}

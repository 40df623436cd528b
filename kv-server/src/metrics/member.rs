//! The adapters between a running member and its metrics: the loop that
//! copies openraft's own metrics (leader, committed, applied) and the
//! store's size into [`Metrics`], and the member as a [`HealthSource`].
//!
//! ```text
//!  openraft RaftMetrics (watch) ──changed──► follow_raft ──► set_leader / set_committed / set_applied
//!  every DB_SIZE_SAMPLE_INTERVAL ───────────► follow_raft ──► set_db_size(store size)
//!  /health ──► Node::health: alarms (applied state) → leader → quorum read (≤ 1 s) ──► judge
//! ```

use std::sync::Arc;
use std::time::Duration;

use keel_mvcc::backend::Backend;
use keel_proto::{etcdserverpb as pb, keelpb};
use openraft::type_config::async_runtime::WatchReceiver;
use prost::Message;

use super::health::{judge, passes_local_checks, Health, HealthFacts, HealthSource};
use super::Metrics;
use crate::node::Node;

/// How long `/health`'s quorum read may take: etcd's one second.
pub const HEALTH_QUORUM_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the store's size is sampled. Reading it asks RocksDB for a
/// few properties per table: cheap, but not worth doing on every applied
/// entry; a scrape interval is seconds anyway.
pub const DB_SIZE_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Copies one openraft metrics snapshot into `metrics`.
pub fn record_raft(metrics: &Metrics, raft: &openraft::RaftMetrics<crate::raft::TypeConfig>) {
    metrics.set_leader(raft.current_leader);
    if let Some(committed) = &raft.local_committed {
        metrics.set_committed(committed.index);
    }
    if let Some(applied) = &raft.last_applied {
        metrics.set_applied(applied.index);
    }
}

/// Keeps `metrics` up to date with `node`'s Raft state and store size.
/// Returns when Raft shuts down.
pub async fn follow_raft(metrics: Arc<Metrics>, node: Arc<Node>) {
    let mut raft = node.raft().metrics();
    let mut db_size = tokio::time::interval(DB_SIZE_SAMPLE_INTERVAL);
    db_size.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        record_raft(&metrics, &raft.borrow_watched());
        tokio::select! {
            // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
            biased;
            changed = raft.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = db_size.tick() => metrics.set_db_size(node.store().backend().size_bytes()),
        }
    }
}

/// The names of the active alarms (any member's), as the last applied
/// entry recorded them.
fn active_alarms(node: &Node) -> Result<Vec<String>, String> {
    let state = match node.store().applied_metadata().map_err(|e| e.to_string())? {
        Some(bytes) => keelpb::AppliedState::decode(&bytes[..]).map_err(|e| e.to_string())?,
        None => keelpb::AppliedState::default(),
    };
    Ok(state
        .alarms
        .iter()
        .map(|alarm| {
            pb::AlarmType::try_from(alarm.alarm)
                .map_or("UNKNOWN", |kind| kind.as_str_name())
                .to_string()
        })
        .collect())
}

/// etcd's `QGET`: a linearizable read barrier within the timeout.
async fn quorum_read(node: &Node) -> Result<(), String> {
    match tokio::time::timeout(HEALTH_QUORUM_READ_TIMEOUT, node.linearizable_barrier()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {HEALTH_QUORUM_READ_TIMEOUT:?}")),
    }
}

impl HealthSource for Node {
    async fn health(&self) -> Health {
        let mut facts = HealthFacts {
            alarms: active_alarms(self),
            has_leader: self
                .raft()
                .metrics()
                .borrow_watched()
                .current_leader
                .is_some(),
            quorum_read: None,
        };
        if passes_local_checks(&facts) {
            facts.quorum_read = Some(quorum_read(self).await);
        }
        judge(&facts)
    }
}

//! Leases on a member: the requests the Lease service turns into proposals
//! or lessor calls, and the driver that, on the leader, expires leases and
//! checkpoints their remaining TTLs through Raft.
//!
//! ```text
//!   LeaseGrant / LeaseRevoke ──► propose ──► Raft ──► state machine ──► mvcc lease tables
//!                                                            └─ mirror ─► Lessor
//!   LeaseKeepAlive ──► Lessor::renew (leader only, never logged)
//!                        └─ reset? ──► propose checkpoint(id, 0), answer once applied
//!   run_lessor (every member): leader? promote : demote
//!                 on the leader: expired() ──► propose revokes
//!                                checkpoints_due() ──► propose a checkpoint batch
//! ```

use std::sync::Arc;
use std::time::Duration;

use keel_lease::{LeaseError, ResetCheckpoint, CHECKPOINT_BATCH_MAX, EXPIRED_BATCH_MAX};
use keel_proto::etcdserverpb as pb;
use keel_proto::keelpb::command::Request as Proposed;
use tracing::{debug, info, warn};

use crate::error::EtcdError;
use crate::forward;
use crate::node::Node;
use crate::raft::state_machine::Outcome;

/// The lease driver wakes at least this often: a lease expires at most
/// this late (plus the revoke's commit). etcd checks twice a second too.
const LESSOR_TICK_MS: u64 = 500;
/// How often a keep-alive waiting for its reset checkpoint (or for its
/// leader's lessor to be promoted) looks again.
const RESET_POLL_MS: u64 = 5;
/// How many times a keep-alive on a just-elected leader looks for its
/// lessor's promotion: 2 s, a few election rounds of applying.
const PROMOTION_POLLS_MAX: u64 = 2_000 / RESET_POLL_MS;

/// What a grant gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// The lease's ID.
    pub id: i64,
    /// Its TTL, in seconds, after the minimum was applied.
    pub ttl_secs: i64,
}

fn lease_error(error: LeaseError) -> EtcdError {
    match error {
        LeaseError::NotFound => EtcdError::LeaseNotFound,
        LeaseError::TtlTooLarge => EtcdError::LeaseTTLTooLarge,
        LeaseError::AlreadyExists => EtcdError::LeaseExist,
        LeaseError::NotPrimary => EtcdError::NotLeader,
    }
}

impl Node {
    /// Grants a lease of `ttl_secs` (raised to the minimum) with `id`, or an
    /// ID of the server's choosing when `id` is 0.
    pub async fn lease_grant(&self, ttl_secs: i64, id: i64) -> Result<Granted, EtcdError> {
        let ttl_secs = self
            .lessor()
            .lock()
            .effective_ttl(ttl_secs)
            .map_err(lease_error)?;
        let id = if id == 0 { self.next_lease_id() } else { id };
        self.check_quota(0).await?;
        let request = pb::LeaseGrantRequest { ttl: ttl_secs, id };
        self.propose_lease(Proposed::LeaseGrant(request)).await?;
        Ok(Granted { id, ttl_secs })
    }

    /// Revokes lease `id`, deleting its keys in one revision; returns the
    /// revision after it.
    pub async fn lease_revoke(&self, id: i64) -> Result<i64, EtcdError> {
        self.lessor().lock().note_revoke_proposed(id);
        self.propose_lease(Proposed::LeaseRevoke(pb::LeaseRevokeRequest { id }))
            .await
    }

    async fn propose_lease(&self, request: Proposed) -> Result<i64, EtcdError> {
        match self.propose(request).await? {
            Outcome::Kv(keel_mvcc::CommandResponse::Lease(response)) => Ok(response.revision),
            other => Err(EtcdError::Internal(format!(
                "a lease command was answered with {other:?}"
            ))),
        }
    }

    /// Renews lease `id` (a keep-alive) and returns its TTL, or 0 if the
    /// lease does not exist or has expired (etcd answers so, not with an
    /// error). Served by the leader.
    pub async fn lease_renew(&self, id: i64) -> Result<i64, EtcdError> {
        let mut renewed = self.lessor().lock().renew(id, self.clock().monotonic_ms());
        // A new leader's lessor is promoted once the entries of earlier
        // terms are applied; a keep-alive arriving just before waits.
        for _ in 0..PROMOTION_POLLS_MAX {
            if !matches!(renewed, Err(LeaseError::NotPrimary)) || !self.is_leader() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(RESET_POLL_MS)).await;
            renewed = self.lessor().lock().renew(id, self.clock().monotonic_ms());
        }
        let renewed = match renewed {
            Ok(renewed) => renewed,
            Err(LeaseError::NotFound) => return Ok(0),
            Err(LeaseError::NotPrimary) if self.has_leader() => return Err(EtcdError::NotLeader),
            Err(LeaseError::NotPrimary) => return Err(EtcdError::NoLeader),
            Err(error) => return Err(lease_error(error)),
        };
        match renewed.reset_checkpoint {
            ResetCheckpoint::NotNeeded => {}
            ResetCheckpoint::Propose => {
                // A checkpoint below the granted TTL is on record: a new
                // leader would trust it. Record "the whole TTL" first.
                let reset = pb::LeaseCheckpointRequest {
                    checkpoints: vec![pb::LeaseCheckpoint {
                        id,
                        remaining_ttl: 0,
                    }],
                };
                self.propose_lease(Proposed::LeaseCheckpoint(reset)).await?;
                self.wait_for_reset(id).await;
            }
            ResetCheckpoint::InFlight => self.wait_for_reset(id).await,
        }
        Ok(renewed.ttl_secs)
    }

    /// Waits until no reset checkpoint of lease `id` is in flight, bounded
    /// by the lessor's proposal retry interval (after which the lessor asks
    /// for another one on the next renew).
    async fn wait_for_reset(&self, id: i64) {
        let retry_ms = self.lessor().lock().config().proposal_retry_ms;
        let polls = retry_ms / RESET_POLL_MS + 1;
        for _ in 0..polls {
            if !self.lessor().lock().reset_in_flight(id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(RESET_POLL_MS)).await;
        }
    }

    /// etcd's LeaseTimeToLive: TTL −1 and granted TTL 0 for a lease that
    /// does not exist (an answer, not an error).
    pub fn lease_time_to_live(
        &self,
        id: i64,
        with_keys: bool,
    ) -> Result<pb::LeaseTimeToLiveResponse, EtcdError> {
        let now_ms = self.clock().monotonic_ms();
        let Some(ttl) = self.lessor().lock().time_to_live(id, now_ms) else {
            return Ok(pb::LeaseTimeToLiveResponse {
                header: Some(self.current_header()),
                id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            });
        };
        let keys = if with_keys {
            self.store()
                .lease_keys(id)
                .map_err(|e| EtcdError::Internal(e.to_string()))?
        } else {
            Vec::new()
        };
        Ok(pb::LeaseTimeToLiveResponse {
            header: Some(self.current_header()),
            id,
            ttl: ttl.ttl_secs,
            granted_ttl: ttl.granted_ttl_secs,
            keys,
        })
    }

    /// Every lease's ID.
    pub fn lease_list(&self) -> Vec<i64> {
        self.lessor().lock().leases()
    }
}

/// LeaseGrant, on the leader.
pub async fn grant(
    node: &Arc<Node>,
    request: pb::LeaseGrantRequest,
) -> Result<pb::LeaseGrantResponse, EtcdError> {
    forward::on_leader(node, forward::LEASE_GRANT, request, |r| grant_here(node, r)).await
}

/// LeaseGrant, proposed by this member.
pub async fn grant_here(
    node: &Node,
    request: pb::LeaseGrantRequest,
) -> Result<pb::LeaseGrantResponse, EtcdError> {
    let granted = node.lease_grant(request.ttl, request.id).await?;
    Ok(pb::LeaseGrantResponse {
        header: Some(node.current_header()),
        id: granted.id,
        ttl: granted.ttl_secs,
        error: String::new(),
    })
}

/// LeaseRevoke, on the leader.
pub async fn revoke(
    node: &Arc<Node>,
    request: pb::LeaseRevokeRequest,
) -> Result<pb::LeaseRevokeResponse, EtcdError> {
    forward::on_leader(node, forward::LEASE_REVOKE, request, |r| {
        revoke_here(node, r)
    })
    .await
}

/// LeaseRevoke, proposed by this member.
pub async fn revoke_here(
    node: &Node,
    request: pb::LeaseRevokeRequest,
) -> Result<pb::LeaseRevokeResponse, EtcdError> {
    let revision = node.lease_revoke(request.id).await?;
    Ok(pb::LeaseRevokeResponse {
        header: Some(node.header(revision)),
    })
}

/// One keep-alive, on the leader (whose lessor tracks expiry).
pub async fn keep_alive(
    node: &Arc<Node>,
    request: pb::LeaseKeepAliveRequest,
) -> Result<pb::LeaseKeepAliveResponse, EtcdError> {
    forward::on_leader(node, forward::LEASE_KEEP_ALIVE, request, |r| {
        keep_alive_here(node, r)
    })
    .await
}

/// One keep-alive, served by this member's lessor.
pub async fn keep_alive_here(
    node: &Node,
    request: pb::LeaseKeepAliveRequest,
) -> Result<pb::LeaseKeepAliveResponse, EtcdError> {
    let ttl = node.lease_renew(request.id).await?;
    Ok(pb::LeaseKeepAliveResponse {
        header: Some(node.current_header()),
        id: request.id,
        ttl,
    })
}

/// LeaseTimeToLive, on the leader (which knows the remaining TTL).
pub async fn time_to_live(
    node: &Arc<Node>,
    request: pb::LeaseTimeToLiveRequest,
) -> Result<pb::LeaseTimeToLiveResponse, EtcdError> {
    forward::on_leader(node, forward::LEASE_TIME_TO_LIVE, request, |r| async move {
        time_to_live_here(node, r)
    })
    .await
}

/// LeaseTimeToLive from this member's lessor.
pub fn time_to_live_here(
    node: &Node,
    request: pb::LeaseTimeToLiveRequest,
) -> Result<pb::LeaseTimeToLiveResponse, EtcdError> {
    node.lease_time_to_live(request.id, request.keys)
}

/// Runs the lessor on this member until the process ends: promotes it when
/// this member becomes leader (once the entries of earlier terms are
/// applied), demotes it when leadership is lost, and while leading
/// proposes the revokes of expired leases and the checkpoints that come
/// due, in the order the lessor gives them.
pub async fn run_lessor(node: Arc<Node>) {
    use openraft::type_config::async_runtime::WatchReceiver;
    let extend_ms = node.options().election_ms;
    // Raft's server metrics change with leadership (and not with every
    // write): the lessor follows at once rather than at its next tick.
    let mut raft_changes = node.raft().server_metrics();
    loop {
        let now_ms = node.clock().monotonic_ms();
        let wait_ms = node
            .lessor()
            .lock()
            .next_deadline_ms()
            .map_or(LESSOR_TICK_MS, |deadline| {
                deadline.saturating_sub(now_ms).clamp(1, LESSOR_TICK_MS)
            });
        tokio::select! {
            // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
            biased;
            () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            changed = raft_changes.changed() => {
                if changed.is_err() {
                    // Raft stopped.
                    return;
                }
            }
        }
        let leader = node.is_leader();
        let primary = node.lessor().lock().is_primary();
        if leader && !primary {
            // The read barrier returns once every entry committed before it
            // (the new term's first entry included) is applied, so the
            // lessor starts from everything earlier terms decided.
            if node.linearizable_barrier().await.is_ok() && node.is_leader() {
                let now_ms = node.clock().monotonic_ms();
                node.lessor().lock().promote(now_ms, extend_ms);
                info!(leases = node.lessor().lock().len(), "lessor promoted");
            }
            continue;
        }
        if !leader {
            if primary {
                node.lessor().lock().demote();
                info!("lessor demoted");
            }
            continue;
        }
        let now_ms = node.clock().monotonic_ms();
        let expired = node.lessor().lock().expired(now_ms, EXPIRED_BATCH_MAX);
        if !expired.is_empty() {
            debug!(count = expired.len(), "revoking expired leases");
            let revokes = expired.iter().map(|&id| {
                let node = Arc::clone(&node);
                async move {
                    let request = pb::LeaseRevokeRequest { id };
                    (id, node.propose_lease(Proposed::LeaseRevoke(request)).await)
                }
            });
            for (id, outcome) in futures::future::join_all(revokes).await {
                match outcome {
                    Ok(_) | Err(EtcdError::LeaseNotFound) => {}
                    Err(error) => {
                        warn!(lease = %format!("{id:x}"), %error, "revoking an expired lease failed; will retry");
                    }
                }
            }
        }
        let now_ms = node.clock().monotonic_ms();
        let due = node
            .lessor()
            .lock()
            .checkpoints_due(now_ms, CHECKPOINT_BATCH_MAX);
        if !due.is_empty() {
            let checkpoints = due
                .iter()
                .map(|&(id, remaining_ttl)| pb::LeaseCheckpoint { id, remaining_ttl })
                .collect();
            let request = pb::LeaseCheckpointRequest { checkpoints };
            if let Err(error) = node.propose_lease(Proposed::LeaseCheckpoint(request)).await {
                warn!(count = due.len(), %error, "checkpointing lease TTLs failed");
            }
        }
    }
}

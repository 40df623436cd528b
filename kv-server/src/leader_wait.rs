//! Requests that need a leader wait out an election instead of failing.
//!
//! When the leader dies, the other members go on believing in it until
//! their election timers fire; a write forwarded to it meanwhile cannot
//! be delivered, and during the election itself no member knows a leader.
//! etcd hands such a proposal to Raft, which holds it until a leader takes
//! it or the request times out, so a client sees a slow write, not an
//! error. Stock etcd clients (etcdctl, Go's clientv3, kube-apiserver) do
//! not retry a write that fails with `etcdserver: no leader`, so keeld
//! must not answer that while an election can still settle it.
//!
//! ```text
//!   attempt ──ok / any other error──────────────────────────► answer
//!      │ "no leader" (nothing was proposed or sent)
//!      ├─ the client sent `hasleader: true` ─────────────────► "no leader" at once
//!      ├─ request timeout (5 s + 2 election timeouts) spent ─► "no leader"
//!      └─ wait for a new leader (a pause at most) ─► attempt again
//! ```
//!
//! Only "no leader" is tried again: every path that returns it does so
//! before the request was proposed or handed to another member (a leader
//! that could not be dialled, a proposal Raft refused for want of a
//! leader, a read index no quorum confirmed), so trying again cannot apply
//! a write twice. An error after the request left (a lost connection, a
//! discarded entry) is an unknown outcome and goes back to the client.
//!
//! The client's own gRPC deadline needs nothing here: the transport drops
//! the request's future when it passes.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::EtcdError;
use crate::node::Node;

/// The first pause between two attempts when the leadership did not
/// change meanwhile (a leader that could not be dialled may be back at
/// once); it doubles after each attempt.
const RETRY_PAUSE_MIN: Duration = Duration::from_millis(25);
/// The longest pause between two attempts: a new leader ends a pause at
/// once, so this only bounds how long a dial failure to a live leader
/// goes untried.
const RETRY_PAUSE_MAX: Duration = Duration::from_millis(400);

tokio::task_local! {
    /// Whether the request being served asked, with etcd's `hasleader:
    /// true` metadata, to fail at once when there is no leader.
    static REQUIRES_LEADER: bool;
}

/// Runs `request` as one whose client asked (`requires_leader`) to fail
/// at once rather than wait for a leader.
pub async fn with_requirement<F: Future>(requires_leader: bool, request: F) -> F::Output {
    REQUIRES_LEADER.scope(requires_leader, request).await
}

/// Whether the request being served asked to fail at once without a
/// leader.
pub fn requires_leader() -> bool {
    REQUIRES_LEADER
        .try_with(|required| *required)
        .unwrap_or(false)
}

/// Runs `attempt` until it answers anything but "no leader", waiting for
/// a new leader between attempts, for at most the node's request timeout
/// in all.
pub async fn while_electing<T, Attempt, Fut>(
    node: &Node,
    mut attempt: Attempt,
) -> Result<T, EtcdError>
where
    Attempt: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EtcdError>>,
{
    let deadline = Instant::now() + node.request_timeout();
    let mut pause = RETRY_PAUSE_MIN;
    loop {
        let seen = node.leadership();
        // An attempt cut off by the deadline may have been proposed or
        // sent: its outcome is unknown, which etcd calls a timeout.
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, attempt()).await {
            Err(_) => return Err(EtcdError::Timeout),
            Ok(Err(EtcdError::NoLeader)) if !requires_leader() => {}
            Ok(answer) => return answer,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(EtcdError::NoLeader);
        }
        if node.leadership() == seen {
            node.leadership_changed(seen, pause.min(left)).await;
            pause = (pause * 2).min(RETRY_PAUSE_MAX);
        }
    }
}

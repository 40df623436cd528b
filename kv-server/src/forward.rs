//! Every member serves every request: what only the leader can do (a
//! write's proposal, a keep-alive, a lease's remaining TTL) is done there.
//! A follower hands the client's request, as received, to the leader over
//! the peer protocol (`keelpb.RaftPeer/Forward`) and relays the leader's
//! answer, or its gRPC status, to the client unchanged.
//!
//! ```text
//!   client ──Put──► follower: on_leader(PUT, request, local)
//!                      │ leader? run `local` here
//!                      └─ else ──Forward{method, request bytes}──► leader: serve(method, bytes)
//!                                  ◄── response bytes / status ──────┘  (runs the same `local`)
//! ```

use std::future::Future;
use std::sync::Arc;

use keel_proto::etcdserverpb as pb;
use prost::Message;

use crate::api::{kv, maintenance};
use crate::error::EtcdError;
use crate::node::Node;

/// `KV.Put`.
pub const PUT: &str = "/etcdserverpb.KV/Put";
/// `KV.DeleteRange`.
pub const DELETE_RANGE: &str = "/etcdserverpb.KV/DeleteRange";
/// `KV.Txn` (writing transactions only; read-only ones are served where
/// they arrive).
pub const TXN: &str = "/etcdserverpb.KV/Txn";
/// `KV.Compact`.
pub const COMPACT: &str = "/etcdserverpb.KV/Compact";
/// `Lease.LeaseGrant`.
pub const LEASE_GRANT: &str = "/etcdserverpb.Lease/LeaseGrant";
/// `Lease.LeaseRevoke`.
pub const LEASE_REVOKE: &str = "/etcdserverpb.Lease/LeaseRevoke";
/// One keep-alive of a `Lease.LeaseKeepAlive` stream.
pub const LEASE_KEEP_ALIVE: &str = "/etcdserverpb.Lease/LeaseKeepAlive";
/// `Lease.LeaseTimeToLive`.
pub const LEASE_TIME_TO_LIVE: &str = "/etcdserverpb.Lease/LeaseTimeToLive";
/// `Maintenance.Alarm` (activate and deactivate; a get is served locally).
pub const ALARM: &str = "/etcdserverpb.Maintenance/Alarm";
/// `Cluster.MemberAdd`.
pub const MEMBER_ADD: &str = "/etcdserverpb.Cluster/MemberAdd";
/// `Cluster.MemberRemove`.
pub const MEMBER_REMOVE: &str = "/etcdserverpb.Cluster/MemberRemove";
/// `Cluster.MemberUpdate`.
pub const MEMBER_UPDATE: &str = "/etcdserverpb.Cluster/MemberUpdate";
/// `Cluster.MemberPromote`.
pub const MEMBER_PROMOTE: &str = "/etcdserverpb.Cluster/MemberPromote";
/// `Cluster.MemberList`, asked of any member by one that joins and needs
/// the cluster's ID.
pub const MEMBER_LIST: &str = "/etcdserverpb.Cluster/MemberList";
/// keel's own: a member records its name and client URLs (an
/// `etcdserverpb.Member`) in the membership once it starts.
pub const MEMBER_PUBLISH: &str = "/keelpb.RaftPeer/Publish";

/// Runs `local` with `request` if this member leads; otherwise (or if it
/// found out meanwhile that it does not) forwards the request to the
/// leader. While no leader can take it, the request waits for an election
/// ([`crate::leader_wait`]).
pub async fn on_leader<Req, Resp, Local, Fut>(
    node: &Arc<Node>,
    method: &'static str,
    request: Req,
    local: Local,
) -> Result<Resp, EtcdError>
where
    Req: Message + Clone,
    Resp: Message + Default,
    Local: Fn(Req) -> Fut,
    Fut: Future<Output = Result<Resp, EtcdError>>,
{
    crate::leader_wait::while_electing(node, || once_on_leader(node, method, &request, &local))
        .await
}

/// One try of [`on_leader`].
async fn once_on_leader<Req, Resp, Local, Fut>(
    node: &Arc<Node>,
    method: &'static str,
    request: &Req,
    local: &Local,
) -> Result<Resp, EtcdError>
where
    Req: Message + Clone,
    Resp: Message + Default,
    Local: Fn(Req) -> Fut,
    Fut: Future<Output = Result<Resp, EtcdError>>,
{
    if node.is_leader() {
        match local(request.clone()).await {
            Err(EtcdError::NotLeader) => {}
            other => return other,
        }
    }
    let leader = node.leader_elsewhere()?;
    let bytes = node
        .forward_to(leader, method, request.encode_to_vec())
        .await?;
    Resp::decode(&bytes[..]).map_err(|e| {
        EtcdError::Internal(format!(
            "the leader's answer to {method} does not decode: {e}"
        ))
    })
}

fn decode<T: Message + Default>(method: &str, bytes: &[u8]) -> Result<T, EtcdError> {
    T::decode(bytes)
        .map_err(|e| EtcdError::Internal(format!("a forwarded {method} does not decode: {e}")))
}

/// Serves a request a follower forwarded, on this member (the leader).
pub async fn serve(node: &Arc<Node>, method: &str, bytes: &[u8]) -> Result<Vec<u8>, EtcdError> {
    if let Some(outcome) = crate::api::cluster::serve_forwarded(node, method, bytes).await {
        return outcome;
    }
    Ok(match method {
        PUT => kv::put_here(node, decode(method, bytes)?)
            .await?
            .encode_to_vec(),
        DELETE_RANGE => kv::delete_range_here(node, decode(method, bytes)?)
            .await?
            .encode_to_vec(),
        TXN => kv::txn_here(node, decode(method, bytes)?)
            .await?
            .encode_to_vec(),
        COMPACT => kv::compact_here(node, decode(method, bytes)?)
            .await?
            .encode_to_vec(),
        LEASE_GRANT => {
            let request: pb::LeaseGrantRequest = decode(method, bytes)?;
            crate::lease::grant_here(node, request)
                .await?
                .encode_to_vec()
        }
        LEASE_REVOKE => {
            let request: pb::LeaseRevokeRequest = decode(method, bytes)?;
            crate::lease::revoke_here(node, request)
                .await?
                .encode_to_vec()
        }
        LEASE_KEEP_ALIVE => {
            let request: pb::LeaseKeepAliveRequest = decode(method, bytes)?;
            crate::lease::keep_alive_here(node, request)
                .await?
                .encode_to_vec()
        }
        LEASE_TIME_TO_LIVE => {
            let request: pb::LeaseTimeToLiveRequest = decode(method, bytes)?;
            crate::lease::time_to_live_here(node, request)?.encode_to_vec()
        }
        ALARM => maintenance::alarm_here(node, decode(method, bytes)?)
            .await?
            .encode_to_vec(),
        other => {
            return Err(EtcdError::Internal(format!(
                "{other} cannot be forwarded to the leader"
            )))
        }
    })
}

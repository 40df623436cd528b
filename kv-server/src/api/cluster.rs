//! `etcdserverpb.Cluster`: MemberList, MemberAdd, MemberRemove,
//! MemberUpdate and MemberPromote, over openraft's membership.
//!
//! A member is in the membership from the moment it is added, with its
//! peer URLs only; once started, it publishes its name and client URLs
//! (see [`run_publish`]), as etcd members do. Voters are openraft voters,
//! learners are openraft learners. Changes are made by the leader (a
//! follower forwards them) and answered once committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use keel_proto::etcdserverpb::{self as pb, cluster_server::Cluster};
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::ChangeMembers;
use prost::Message;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::error::EtcdError;
use crate::forward;
use crate::ids;
use crate::node::Node;
use crate::raft::Member;

/// A learner may be promoted once it holds this share of the leader's log
/// (etcd's `readyPercent`).
const LEARNER_READY_PERCENT: u64 = 90;
/// The first wait before a member that could not publish its attributes
/// tries again; it doubles up to [`PUBLISH_RETRY_MAX`]. Members that start
/// together collide (openraft takes one membership change at a time), and
/// each change commits in milliseconds, so the first retries come soon.
const PUBLISH_RETRY_MIN: Duration = Duration::from_millis(20);
/// The longest wait between two attempts to publish.
const PUBLISH_RETRY_MAX: Duration = Duration::from_secs(1);

/// The Cluster service.
#[derive(Debug, Clone)]
pub struct ClusterApi {
    node: Arc<Node>,
}

impl ClusterApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// The members as etcd lists them: voters and learners, by ID.
pub fn members(node: &Node) -> Vec<pb::Member> {
    let metrics = node.raft().metrics().borrow_watched().clone();
    members_of(metrics.membership_config.membership())
}

/// The members of `membership`, as etcd lists them.
fn members_of(membership: &openraft::Membership<u64, Member>) -> Vec<pb::Member> {
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    membership
        .nodes()
        .map(|(id, member)| pb::Member {
            id: *id,
            name: member.name.clone(),
            peer_ur_ls: member.peer_urls.clone(),
            client_ur_ls: member.client_urls.clone(),
            is_learner: !voters.contains(id),
        })
        .collect()
}

/// Proposes a membership change on this member (the leader); answers the
/// members it made. They come from the change's own answer: the metrics
/// [`members`] reads are published a moment later, and an answer built
/// from them could miss the member just added (keelctl's member test saw
/// `member add` answer without the new member once).
async fn change(
    node: &Node,
    change: ChangeMembers<u64, Member>,
) -> Result<Vec<pb::Member>, EtcdError> {
    let written = node
        .raft()
        .change_membership(change, false)
        .await
        .map_err(crate::node::write_error)?;
    Ok(members_after(node, &written))
}

/// The members a membership change's answer carries (or, should it carry
/// none, the published ones).
fn members_after(
    node: &Node,
    written: &openraft::raft::ClientWriteResponse<crate::raft::TypeConfig>,
) -> Vec<pb::Member> {
    written
        .membership
        .as_ref()
        .map_or_else(|| members(node), members_of)
}

/// MemberAdd, on the leader.
pub async fn add_here(
    node: &Node,
    request: pb::MemberAddRequest,
) -> Result<pb::MemberAddResponse, EtcdError> {
    if request.peer_ur_ls.is_empty()
        || request
            .peer_ur_ls
            .iter()
            .any(|url| crate::config::listen_address(url).is_err())
    {
        return Err(EtcdError::MemberBadURLs);
    }
    let current = members(node);
    if current.iter().any(|member| {
        member
            .peer_ur_ls
            .iter()
            .any(|url| request.peer_ur_ls.contains(url))
    }) {
        return Err(EtcdError::PeerURLExist);
    }
    let id = ids::member_id(&request.peer_ur_ls, &node.options().cluster_token);
    if current.iter().any(|member| member.id == id) {
        return Err(EtcdError::MemberExist);
    }
    let member = Member {
        name: String::new(),
        peer_urls: request.peer_ur_ls.clone(),
        client_urls: Vec::new(),
    };
    let members = if request.is_learner {
        let written = node
            .raft()
            .add_learner(id, member, false)
            .await
            .map_err(crate::node::write_error)?;
        members_after(node, &written)
    } else {
        change(
            node,
            ChangeMembers::AddVoters(BTreeMap::from([(id, member)])),
        )
        .await?
    };
    info!(member = %format!("{id:x}"), learner = request.is_learner, "member added");
    Ok(pb::MemberAddResponse {
        header: Some(node.current_header()),
        member: Some(pb::Member {
            id,
            name: String::new(),
            peer_ur_ls: request.peer_ur_ls,
            client_ur_ls: Vec::new(),
            is_learner: request.is_learner,
        }),
        members,
    })
}

/// MemberRemove, on the leader.
pub async fn remove_here(
    node: &Node,
    request: pb::MemberRemoveRequest,
) -> Result<pb::MemberRemoveResponse, EtcdError> {
    let current = members(node);
    let Some(member) = current.iter().find(|member| member.id == request.id) else {
        return Err(EtcdError::MemberNotFound);
    };
    let ids = BTreeSet::from([request.id]);
    let mut members = current.clone();
    if !member.is_learner {
        if current.iter().filter(|m| !m.is_learner).count() == 1 {
            // etcd refuses to remove the last voter.
            return Err(EtcdError::Unhealthy);
        }
        members = change(node, ChangeMembers::RemoveVoters(ids.clone())).await?;
    }
    if members.iter().any(|m| m.id == request.id) {
        members = change(node, ChangeMembers::RemoveNodes(ids)).await?;
    }
    info!(member = %format!("{:x}", request.id), "member removed");
    Ok(pb::MemberRemoveResponse {
        header: Some(node.current_header()),
        members,
    })
}

/// MemberUpdate, on the leader: new peer URLs for a member.
pub async fn update_here(
    node: &Node,
    request: pb::MemberUpdateRequest,
) -> Result<pb::MemberUpdateResponse, EtcdError> {
    let current = members(node);
    let Some(member) = current.iter().find(|member| member.id == request.id) else {
        return Err(EtcdError::MemberNotFound);
    };
    if current.iter().any(|other| {
        other.id != request.id
            && other
                .peer_ur_ls
                .iter()
                .any(|url| request.peer_ur_ls.contains(url))
    }) {
        return Err(EtcdError::PeerURLExist);
    }
    let updated = Member {
        name: member.name.clone(),
        peer_urls: request.peer_ur_ls,
        client_urls: member.client_ur_ls.clone(),
    };
    let members = change(
        node,
        ChangeMembers::SetNodes(BTreeMap::from([(request.id, updated)])),
    )
    .await?;
    node.forget_peer(request.id);
    Ok(pb::MemberUpdateResponse {
        header: Some(node.current_header()),
        members,
    })
}

/// MemberPromote, on the leader: a learner that holds at least
/// [`LEARNER_READY_PERCENT`] of the leader's log becomes a voter.
pub async fn promote_here(
    node: &Node,
    request: pb::MemberPromoteRequest,
) -> Result<pb::MemberPromoteResponse, EtcdError> {
    let current = members(node);
    let Some(member) = current.iter().find(|member| member.id == request.id) else {
        return Err(EtcdError::MemberNotFound);
    };
    if !member.is_learner {
        return Err(EtcdError::MemberNotLearner);
    }
    let metrics = node.raft().metrics().borrow_watched().clone();
    let leader_last = metrics.last_log_index.unwrap_or(0);
    let matched = metrics
        .replication
        .as_ref()
        .and_then(|replication| replication.get(&request.id).copied())
        .flatten()
        .map_or(0, |log_id| log_id.index);
    if matched * 100 < leader_last * LEARNER_READY_PERCENT {
        return Err(EtcdError::LearnerNotReady);
    }
    let members = change(
        node,
        ChangeMembers::AddVoterIds(BTreeSet::from([request.id])),
    )
    .await?;
    info!(member = %format!("{:x}", request.id), "learner promoted");
    Ok(pb::MemberPromoteResponse {
        header: Some(node.current_header()),
        members,
    })
}

/// A member's own name and client URLs, recorded in the membership (a
/// keel member does this once after it starts, as etcd's members
/// publish theirs).
pub async fn publish_here(
    node: &Node,
    request: pb::Member,
) -> Result<pb::MemberListResponse, EtcdError> {
    let current = members(node);
    let Some(member) = current.iter().find(|member| member.id == request.id) else {
        return Err(EtcdError::MemberNotFound);
    };
    let mut members = current.clone();
    if member.name != request.name || member.client_ur_ls != request.client_ur_ls {
        let published = Member {
            name: request.name,
            peer_urls: member.peer_ur_ls.clone(),
            client_urls: request.client_ur_ls,
        };
        members = change(
            node,
            ChangeMembers::SetNodes(BTreeMap::from([(request.id, published)])),
        )
        .await?;
    }
    Ok(pb::MemberListResponse {
        header: Some(node.current_header()),
        members,
    })
}

/// Publishes this member's name and client URLs until the membership holds
/// them (retrying while there is no leader); then ends.
pub async fn run_publish(node: Arc<Node>) {
    let mut retry = PUBLISH_RETRY_MIN;
    loop {
        let me = members(&node)
            .into_iter()
            .find(|member| member.id == node.member_id());
        let wanted = pb::Member {
            id: node.member_id(),
            name: node.options().name.clone(),
            peer_ur_ls: node.options().peer_urls.clone(),
            client_ur_ls: node.options().client_urls.clone(),
            is_learner: false,
        };
        if let Some(me) = me {
            if me.name == wanted.name && me.client_ur_ls == wanted.client_ur_ls {
                return;
            }
            let outcome = forward::on_leader(&node, forward::MEMBER_PUBLISH, wanted, |r| {
                publish_here(&node, r)
            })
            .await;
            match outcome {
                Ok(_) => {
                    info!("published this member's name and client URLs");
                    return;
                }
                Err(error) => warn!(%error, "publishing this member's attributes failed; retrying"),
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(PUBLISH_RETRY_MAX);
    }
}

/// Serves the Cluster requests a follower forwarded; `None` for other
/// methods.
pub async fn serve_forwarded(
    node: &Arc<Node>,
    method: &str,
    bytes: &[u8],
) -> Option<Result<Vec<u8>, EtcdError>> {
    fn decode<T: Message + Default>(bytes: &[u8]) -> Result<T, EtcdError> {
        T::decode(bytes)
            .map_err(|e| EtcdError::Internal(format!("a forwarded request does not decode: {e}")))
    }
    Some(match method {
        forward::MEMBER_ADD => match decode(bytes) {
            Ok(request) => add_here(node, request).await.map(|r| r.encode_to_vec()),
            Err(error) => Err(error),
        },
        forward::MEMBER_REMOVE => match decode(bytes) {
            Ok(request) => remove_here(node, request).await.map(|r| r.encode_to_vec()),
            Err(error) => Err(error),
        },
        forward::MEMBER_UPDATE => match decode(bytes) {
            Ok(request) => update_here(node, request).await.map(|r| r.encode_to_vec()),
            Err(error) => Err(error),
        },
        forward::MEMBER_PROMOTE => match decode(bytes) {
            Ok(request) => promote_here(node, request).await.map(|r| r.encode_to_vec()),
            Err(error) => Err(error),
        },
        forward::MEMBER_PUBLISH => match decode(bytes) {
            Ok(request) => publish_here(node, request).await.map(|r| r.encode_to_vec()),
            Err(error) => Err(error),
        },
        forward::MEMBER_LIST => match decode::<pb::MemberListRequest>(bytes) {
            Ok(_) => Ok(pb::MemberListResponse {
                header: Some(node.current_header()),
                members: members(node),
            }
            .encode_to_vec()),
            Err(error) => Err(error),
        },
        _ => return None,
    })
}

#[tonic::async_trait]
impl Cluster for ClusterApi {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        let node = &self.node;
        node.refuse_learner()?;
        let request = request.into_inner();
        Ok(Response::new(
            forward::on_leader(node, forward::MEMBER_ADD, request, |r| add_here(node, r)).await?,
        ))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        let node = &self.node;
        node.refuse_learner()?;
        let request = request.into_inner();
        Ok(Response::new(
            forward::on_leader(node, forward::MEMBER_REMOVE, request, |r| {
                remove_here(node, r)
            })
            .await?,
        ))
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        let node = &self.node;
        node.refuse_learner()?;
        let request = request.into_inner();
        Ok(Response::new(
            forward::on_leader(node, forward::MEMBER_UPDATE, request, |r| {
                update_here(node, r)
            })
            .await?,
        ))
    }

    async fn member_list(
        &self,
        request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        // etcd's learners serve Status and serializable ranges only.
        self.node.refuse_learner()?;
        if request.into_inner().linearizable {
            self.node.linearizable_barrier().await?;
        }
        Ok(Response::new(pb::MemberListResponse {
            header: Some(self.node.current_header()),
            members: members(&self.node),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        let node = &self.node;
        node.refuse_learner()?;
        let request = request.into_inner();
        Ok(Response::new(
            forward::on_leader(node, forward::MEMBER_PROMOTE, request, |r| {
                promote_here(node, r)
            })
            .await?,
        ))
    }
}

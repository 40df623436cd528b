//! The Maintenance service (status, hashes, alarms, defragmentation,
//! snapshots, leader transfer) and the Cluster service (membership).
//!
//! Status, hash and defragment questions are about one member: they go to
//! the client's current endpoint, so ask them through a client made for
//! that one endpoint (as `etcdctl endpoint status` does per endpoint).

use futures::{Stream, StreamExt};
use keel_proto::etcdserverpb::{
    alarm_request, cluster_client::ClusterClient, maintenance_client::MaintenanceClient,
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, HashKvRequest,
    HashKvResponse, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse, MoveLeaderRequest, MoveLeaderResponse,
    SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use tonic::transport::Channel;

use crate::client::Client;
use crate::endpoints::MESSAGE_BYTES_MAX;
use crate::error::{Error, Safety};

/// The generated Maintenance client on `channel`.
pub(crate) fn grpc(channel: Channel) -> MaintenanceClient<Channel> {
    MaintenanceClient::new(channel).max_decoding_message_size(MESSAGE_BYTES_MAX)
}

fn cluster(channel: Channel) -> ClusterClient<Channel> {
    ClusterClient::new(channel)
}

pub use alarm_request::AlarmAction;
pub use keel_proto::etcdserverpb::AlarmType;

impl Client {
    /// The current endpoint's status: its version, DB size, leader, raft
    /// index and term.
    pub async fn status(&self) -> Result<StatusResponse, Error> {
        self.call(Safety::Idempotent, |channel| async move {
            Ok(grpc(channel).status(StatusRequest {}).await?.into_inner())
        })
        .await
    }

    /// The current endpoint's hash of its keys up to `revision` (0: all).
    pub async fn hash_kv(&self, revision: i64) -> Result<HashKvResponse, Error> {
        self.call(Safety::Idempotent, |channel| async move {
            let request = HashKvRequest { revision };
            Ok(grpc(channel).hash_kv(request).await?.into_inner())
        })
        .await
    }

    /// Defragments the current endpoint's storage.
    pub async fn defragment(&self) -> Result<DefragmentResponse, Error> {
        self.call(Safety::Idempotent, |channel| async move {
            let request = DefragmentRequest {};
            Ok(grpc(channel).defragment(request).await?.into_inner())
        })
        .await
    }

    /// Lists, activates or deactivates alarms (`member_id` 0: every member;
    /// `alarm` `None` for a list of every alarm).
    pub async fn alarm(
        &self,
        action: AlarmAction,
        member_id: u64,
        alarm: AlarmType,
    ) -> Result<AlarmResponse, Error> {
        let mut request = AlarmRequest {
            member_id,
            ..AlarmRequest::default()
        };
        request.set_action(action);
        request.set_alarm(alarm);
        let safety = if action == AlarmAction::Get {
            Safety::Idempotent
        } else {
            Safety::Mutating
        };
        self.call(safety, |channel| async move {
            Ok(grpc(channel).alarm(request).await?.into_inner())
        })
        .await
    }

    /// Hands leadership to member `target_id`. Only the leader can; the
    /// client finds it.
    pub async fn move_leader(&self, target_id: u64) -> Result<MoveLeaderResponse, Error> {
        self.call(Safety::Mutating, |channel| async move {
            let request = MoveLeaderRequest { target_id };
            Ok(grpc(channel).move_leader(request).await?.into_inner())
        })
        .await
    }

    /// The current endpoint's snapshot of its whole store, as a stream of
    /// chunks; the last chunk ends with etcd's sha256 trailer. A stream that
    /// breaks off is not resumed: take a new snapshot.
    pub async fn snapshot(
        &self,
    ) -> Result<impl Stream<Item = Result<SnapshotResponse, Error>>, Error> {
        let chunks = self
            .call(Safety::Idempotent, |channel| async move {
                Ok(grpc(channel)
                    .snapshot(SnapshotRequest {})
                    .await?
                    .into_inner())
            })
            .await?;
        Ok(chunks.map(|chunk| chunk.map_err(|status| Error::Server { status })))
    }

    /// The cluster's members (linearizable, as etcd 3.4 answers it).
    pub async fn member_list(&self) -> Result<MemberListResponse, Error> {
        self.call(Safety::Idempotent, |channel| async move {
            let request = MemberListRequest::default();
            Ok(cluster(channel).member_list(request).await?.into_inner())
        })
        .await
    }

    /// Adds a member that will serve peers at `peer_urls`, as a learner or
    /// a voter.
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<MemberAddResponse, Error> {
        let request = MemberAddRequest {
            peer_ur_ls: peer_urls,
            is_learner,
        };
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move { Ok(cluster(channel).member_add(request).await?.into_inner()) }
        })
        .await
    }

    /// Removes member `id`.
    pub async fn member_remove(&self, id: u64) -> Result<MemberRemoveResponse, Error> {
        self.call(Safety::Mutating, |channel| async move {
            let request = MemberRemoveRequest { id };
            Ok(cluster(channel).member_remove(request).await?.into_inner())
        })
        .await
    }

    /// Changes member `id`'s peer URLs.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<MemberUpdateResponse, Error> {
        let request = MemberUpdateRequest {
            id,
            peer_ur_ls: peer_urls,
        };
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move { Ok(cluster(channel).member_update(request).await?.into_inner()) }
        })
        .await
    }

    /// Makes learner `id` a voter (it must have caught up).
    pub async fn member_promote(&self, id: u64) -> Result<MemberPromoteResponse, Error> {
        self.call(Safety::Mutating, |channel| async move {
            let request = MemberPromoteRequest { id };
            Ok(cluster(channel).member_promote(request).await?.into_inner())
        })
        .await
    }
}

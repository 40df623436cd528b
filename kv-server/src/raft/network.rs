//! openraft's network, for a cluster of one member.
//!
//! A one-member cluster never sends a Raft message: it is its own quorum.
//! Any attempt to reach another member reports it unreachable. Peer
//! transport over tonic replaces this when clusters grow past one member.

use std::future::Future;

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::OptionalSend;

use super::snapshot::SnapshotFile;
use super::{Member, TypeConfig, Vote};

/// Creates [`NoPeers`] clients.
#[derive(Debug, Clone, Default)]
pub struct SingleMemberNetwork;

/// A client for a member that a single-member cluster cannot have.
#[derive(Debug, Clone)]
pub struct NoPeers {
    target: u64,
}

impl NoPeers {
    fn unreachable(&self) -> Unreachable<TypeConfig> {
        Unreachable::new(&std::io::Error::other(format!(
            "member {:x} is not reachable: this keeld runs a one-member cluster",
            self.target
        )))
    }
}

impl RaftNetworkFactory<TypeConfig> for SingleMemberNetwork {
    type Network = NoPeers;

    async fn new_client(&mut self, target: u64, _node: &Member) -> Self::Network {
        NoPeers { target }
    }
}

impl RaftNetworkV2<TypeConfig> for NoPeers {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: SnapshotOf<TypeConfig, SnapshotFile>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(self.unreachable()))
    }
}

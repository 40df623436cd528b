//! `keelpb.RaftPeer`: what a member serves the other members on its peer
//! URLs: openraft's RPCs (vote, pre-vote, append, snapshot install, leader
//! transfer), and keel's Forward (a follower's client write, proposed here
//! on the leader) and ReadIndex (a follower's linearizable read).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use keel_proto::keelpb::{self, raft_peer_server::RaftPeer};
use keel_raft_log::disk::child;
use openraft::raft::TransferLeaderRequest;
use openraft::storage::Snapshot;
use openraft::type_config::alias::SnapshotOf;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::ReadPolicy;
use tonic::{Request, Response, Status, Streaming};

use crate::error::EtcdError;
use crate::forward;
use crate::node::Node;
use crate::raft::codec::{log_id_from_pb, log_id_to_pb, vote_from_pb, vote_to_pb};
use crate::raft::network::SNAPSHOT_CHUNK_TIMEOUT;
use crate::raft::rpc_codec::{
    append_request_from_pb, append_response_to_pb, snapshot_meta_from_pb, snapshot_response_to_pb,
    stream_result_to_pb, vote_request_from_pb, vote_response_to_pb,
};
use crate::raft::snapshot::SnapshotFile;

/// The peer service.
#[derive(Debug, Clone)]
pub struct PeerApi {
    node: Arc<Node>,
    /// Tells concurrent incoming snapshot files apart.
    incoming: Arc<AtomicU64>,
}

impl PeerApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self {
            node,
            incoming: Arc::new(AtomicU64::new(0)),
        }
    }
}

fn invalid(error: impl std::fmt::Display) -> Status {
    Status::invalid_argument(error.to_string())
}

fn fatal(error: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("raft stopped: {error}"))
}

#[tonic::async_trait]
impl RaftPeer for PeerApi {
    async fn vote(
        &self,
        request: Request<keelpb::VoteRequest>,
    ) -> Result<Response<keelpb::VoteResponse>, Status> {
        let request = vote_request_from_pb(&request.into_inner()).map_err(invalid)?;
        let response = self.node.raft().vote(request).await.map_err(fatal)?;
        Ok(Response::new(vote_response_to_pb(&response)))
    }

    async fn pre_vote(
        &self,
        request: Request<keelpb::VoteRequest>,
    ) -> Result<Response<keelpb::VoteResponse>, Status> {
        let request = vote_request_from_pb(&request.into_inner()).map_err(invalid)?;
        let response = self.node.raft().pre_vote(request).await.map_err(fatal)?;
        Ok(Response::new(vote_response_to_pb(&response)))
    }

    async fn append_entries(
        &self,
        request: Request<keelpb::AppendEntriesRequest>,
    ) -> Result<Response<keelpb::AppendEntriesResponse>, Status> {
        let request = append_request_from_pb(&request.into_inner()).map_err(invalid)?;
        let response = self
            .node
            .raft()
            .append_entries(request)
            .await
            .map_err(fatal)?;
        Ok(Response::new(append_response_to_pb(&response)))
    }

    type StreamAppendStream = std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<keelpb::StreamAppendResponse, Status>> + Send>,
    >;

    async fn stream_append(
        &self,
        request: Request<Streaming<keelpb::AppendEntriesRequest>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        // A request that does not decode ends the stream: the leader
        // resends from what the answers so far confirmed.
        let requests = futures::stream::unfold(request.into_inner(), |mut inbound| async move {
            let request = inbound.message().await.ok()??;
            let request = append_request_from_pb(&request).ok()?;
            Some((request, inbound))
        });
        let results = self.node.raft().stream_append(requests);
        let answers = futures::StreamExt::map(results, |result| match result {
            Ok(result) => Ok(stream_result_to_pb(&result)),
            Err(error) => Err(fatal(error)),
        });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<keelpb::InstallSnapshotRequest>>,
    ) -> Result<Response<keelpb::InstallSnapshotResponse>, Status> {
        let mut parts = request.into_inner();
        let number = self.incoming.fetch_add(1, Ordering::Relaxed);
        let (vote, snapshot) = receive_snapshot(&self.node, &mut parts, number).await?;
        let response = self
            .node
            .raft()
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(fatal)?;
        Ok(Response::new(snapshot_response_to_pb(&response)))
    }

    async fn transfer_leader(
        &self,
        request: Request<keelpb::TransferLeaderRequest>,
    ) -> Result<Response<keelpb::TransferLeaderResponse>, Status> {
        let request = request.into_inner();
        let from = request
            .from_leader
            .as_ref()
            .map(vote_from_pb)
            .ok_or_else(|| invalid("transfer leader request without a vote"))?;
        let transfer = TransferLeaderRequest::new(
            from,
            request.to_node_id,
            request.last_log_id.as_ref().map(log_id_from_pb),
        );
        self.node
            .raft()
            .handle_transfer_leader(transfer)
            .await
            .map_err(fatal)?
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(keelpb::TransferLeaderResponse {}))
    }

    async fn forward(
        &self,
        request: Request<keelpb::ForwardRequest>,
    ) -> Result<Response<keelpb::ForwardResponse>, Status> {
        let request = request.into_inner();
        let response = forward::serve(&self.node, &request.method, &request.request).await?;
        Ok(Response::new(keelpb::ForwardResponse { response }))
    }

    async fn read_index(
        &self,
        _request: Request<keelpb::ReadIndexRequest>,
    ) -> Result<Response<keelpb::ReadIndexResponse>, Status> {
        let (read, applied) = self
            .node
            .raft()
            .get_read_log_id(ReadPolicy::ReadIndex)
            .await
            .map_err(|_| Status::from(EtcdError::NotLeader))?;
        let vote = self.node.raft().metrics().borrow_watched().vote;
        let mut read_log_id = log_id_to_pb(read.log_id());
        read_log_id.index = self.node.read_index(read_log_id.index);
        Ok(Response::new(keelpb::ReadIndexResponse {
            read_log_id: Some(read_log_id),
            applied: applied.as_ref().map(log_id_to_pb),
            leader_vote: Some(vote_to_pb(&vote)),
        }))
    }
}

/// The next part of a snapshot transfer, waiting at most
/// [`SNAPSHOT_CHUNK_TIMEOUT`] for it.
async fn next_part(
    parts: &mut Streaming<keelpb::InstallSnapshotRequest>,
) -> Result<keelpb::install_snapshot_request::Part, Status> {
    match tokio::time::timeout(SNAPSHOT_CHUNK_TIMEOUT, parts.message()).await {
        Ok(Ok(Some(part))) => part.part.ok_or_else(|| invalid("an empty snapshot part")),
        Ok(Ok(None)) => Err(invalid("the snapshot stream ended early")),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(Status::deadline_exceeded("the snapshot transfer stalled")),
    }
}

/// Receives one InstallSnapshot stream into a file in the snapshot
/// directory: checks that chunks are contiguous and that size and crc32
/// match the header and the `done` message before handing it over.
async fn receive_snapshot(
    node: &Node,
    parts: &mut Streaming<keelpb::InstallSnapshotRequest>,
    number: u64,
) -> Result<
    (
        crate::raft::Vote,
        SnapshotOf<crate::raft::TypeConfig, SnapshotFile>,
    ),
    Status,
> {
    use keelpb::install_snapshot_request::Part;
    let Part::Header(header) = next_part(parts).await? else {
        return Err(invalid("a snapshot transfer must start with its header"));
    };
    let vote = header
        .vote
        .as_ref()
        .map(vote_from_pb)
        .ok_or_else(|| invalid("snapshot header without a vote"))?;
    let meta = snapshot_meta_from_pb(
        header
            .meta
            .as_ref()
            .ok_or_else(|| invalid("snapshot header without meta"))?,
    )
    .map_err(invalid)?;
    let disk = Arc::clone(node.disk());
    let dir = node.snapshot_dir();
    disk.create_dir_all(dir)
        .map_err(|e| Status::internal(e.to_string()))?;
    let path = child(dir, &format!("incoming-{number}.snap.tmp"));
    let file = disk
        .open(&path, true)
        .map_err(|e| Status::internal(e.to_string()))?;
    file.set_len(0)
        .map_err(|e| Status::internal(e.to_string()))?;
    let mut received = 0u64;
    let mut crc = crc32fast::Hasher::new();
    let outcome = loop {
        match next_part(parts).await {
            Ok(Part::Chunk(chunk)) => {
                if chunk.offset != received {
                    break Err(invalid(format!(
                        "snapshot chunk at {}, expected {received}",
                        chunk.offset
                    )));
                }
                if received + chunk.data.len() as u64 > header.size_bytes {
                    break Err(invalid("snapshot data longer than its header says"));
                }
                crc.update(&chunk.data);
                if let Err(error) = file.write_all_at(received, &chunk.data) {
                    break Err(Status::internal(error.to_string()));
                }
                received += chunk.data.len() as u64;
            }
            Ok(Part::Done(done)) => {
                if received != header.size_bytes {
                    break Err(invalid(format!(
                        "snapshot of {received} bytes, header says {}",
                        header.size_bytes
                    )));
                }
                if crc.clone().finalize() != done.crc32 {
                    break Err(invalid("snapshot checksum mismatch"));
                }
                break file
                    .sync_data()
                    .map_err(|e| Status::internal(e.to_string()));
            }
            Ok(Part::Header(_)) => break Err(invalid("a second snapshot header")),
            Err(status) => break Err(status),
        }
    };
    if let Err(status) = outcome {
        let _ = disk.remove(&path);
        return Err(status);
    }
    Ok((
        vote,
        Snapshot {
            meta,
            snapshot: SnapshotFile { disk, path },
        },
    ))
}

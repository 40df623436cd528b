//! `etcdserverpb.Lease`: LeaseGrant, LeaseRevoke, LeaseKeepAlive,
//! LeaseTimeToLive and LeaseLeases, over [`crate::lease`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use keel_proto::etcdserverpb::{self as pb, lease_server::Lease};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::node::Node;

/// Keep-alive answers a stream buffers towards a client that reads slowly;
/// past it the stream stops reading requests until the client catches up.
/// etcd's clients send one request per lease every TTL/3, so a handful is
/// plenty.
const KEEPALIVE_RESPONSES_BUFFERED_MAX: usize = 16;

/// The Lease service.
#[derive(Debug, Clone)]
pub struct LeaseApi {
    node: Arc<Node>,
}

impl LeaseApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Lease for LeaseApi {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let request = request.into_inner();
        let granted = self.node.lease_grant(request.ttl, request.id).await?;
        Ok(Response::new(pb::LeaseGrantResponse {
            header: Some(self.node.current_header()),
            id: granted.id,
            ttl: granted.ttl_secs,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let revision = self.node.lease_revoke(request.into_inner().id).await?;
        Ok(Response::new(pb::LeaseRevokeResponse {
            header: Some(self.node.header(revision)),
        }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut requests = request.into_inner();
        let (responses, out) = tokio::sync::mpsc::channel(KEEPALIVE_RESPONSES_BUFFERED_MAX);
        let node = Arc::clone(&self.node);
        tokio::spawn(async move {
            loop {
                let request = match requests.message().await {
                    Ok(Some(request)) => request,
                    Ok(None) => return,
                    Err(status) => {
                        let _ = responses.send(Err(status)).await;
                        return;
                    }
                };
                let answer = node
                    .lease_renew(request.id)
                    .await
                    .map(|ttl| pb::LeaseKeepAliveResponse {
                        header: Some(node.current_header()),
                        id: request.id,
                        ttl,
                    })
                    .map_err(Status::from);
                let failed = answer.is_err();
                if responses.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(
            self.node.lease_time_to_live(request.id, request.keys)?,
        ))
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let leases = self
            .node
            .lease_list()
            .into_iter()
            .map(|id| pb::LeaseStatus { id })
            .collect();
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: Some(self.node.current_header()),
            leases,
        }))
    }
}

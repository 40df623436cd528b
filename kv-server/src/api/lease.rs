//! `etcdserverpb.Lease`: LeaseGrant, LeaseRevoke, LeaseKeepAlive,
//! LeaseTimeToLive and LeaseLeases, over [`crate::lease`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use keel_proto::etcdserverpb::{self as pb, lease_server::Lease};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::lease;
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
        self.node.refuse_learner()?;
        Ok(Response::new(
            lease::grant(&self.node, request.into_inner()).await?,
        ))
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        self.node.refuse_learner()?;
        Ok(Response::new(
            lease::revoke(&self.node, request.into_inner()).await?,
        ))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        self.node.refuse_learner()?;
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
                let answer = lease::keep_alive(&node, request)
                    .await
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
        self.node.refuse_learner()?;
        Ok(Response::new(
            lease::time_to_live(&self.node, request.into_inner()).await?,
        ))
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        self.node.refuse_learner()?;
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

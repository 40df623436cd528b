//! `v3lockpb.Lock`: Lock and Unlock, etcd's mutex recipe run inside the
//! server (see [`crate::concurrency`]). The returned key's create revision
//! (the response header's revision when the lock was free) is the fencing
//! token.

use std::sync::Arc;

use keel_proto::etcdserverpb as pb;
use keel_proto::v3lockpb::{self, lock_server::Lock};
use tonic::{Request, Response, Status};

use crate::api::kv;
use crate::concurrency::{create_key, wait_deletes, Abandon};
use crate::error::EtcdError;
use crate::node::Node;

/// The Lock service.
#[derive(Debug, Clone)]
pub struct LockApi {
    node: Arc<Node>,
}

impl LockApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// Takes the lock `name` for `lease`: returns the lock's key and the
/// header at which it was acquired.
pub async fn lock(
    node: &Arc<Node>,
    name: &[u8],
    lease: i64,
) -> Result<(Vec<u8>, pb::ResponseHeader), EtcdError> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    let held = create_key(node, &prefix, lease, b"").await?;
    let abandon = Abandon::new(node, held.key.clone(), held.revision);
    let header = if held.owns() {
        held.header
    } else {
        wait_deletes(node, &prefix, held.revision - 1).await?
    };
    abandon.disarm();
    Ok((held.key, header))
}

#[tonic::async_trait]
impl Lock for LockApi {
    async fn lock(
        &self,
        request: Request<v3lockpb::LockRequest>,
    ) -> Result<Response<v3lockpb::LockResponse>, Status> {
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let (key, header) = lock(&self.node, &request.name, request.lease).await?;
        Ok(Response::new(v3lockpb::LockResponse {
            header: Some(header),
            key,
        }))
    }

    async fn unlock(
        &self,
        request: Request<v3lockpb::UnlockRequest>,
    ) -> Result<Response<v3lockpb::UnlockResponse>, Status> {
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let response = kv::delete_range(
            &self.node,
            pb::DeleteRangeRequest {
                key: request.key,
                ..pb::DeleteRangeRequest::default()
            },
        )
        .await?;
        Ok(Response::new(v3lockpb::UnlockResponse {
            header: response.header,
        }))
    }
}

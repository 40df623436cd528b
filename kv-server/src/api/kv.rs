//! `etcdserverpb.KV`: Range, Put, DeleteRange, Txn and Compact.

use std::sync::Arc;

use keel_mvcc::{Command, CommandResponse, RequestOp, TxnRequest};
use keel_proto::etcdserverpb::{self as pb, kv_server::Kv};
use keel_proto::keelpb::command::Request as Proposed;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::EtcdError;
use crate::forward;
use crate::node::Node;
use crate::raft::state_machine::{txn_read_only, Outcome};

/// The KV service.
#[derive(Debug, Clone)]
pub struct KvApi {
    node: Arc<Node>,
}

impl KvApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// Proposes a write and returns the store's answer to it.
async fn write(
    node: &Node,
    command: &Command,
    proposed: Proposed,
    cost: u64,
) -> Result<CommandResponse, EtcdError> {
    node.store().validate(command)?;
    if writes_keys(command) {
        node.check_quota(cost).await?;
    }
    match node.propose(proposed).await? {
        Outcome::Kv(response) => Ok(response),
        Outcome::Alarms(_) => Err(EtcdError::Internal(
            "a write was answered with alarms".into(),
        )),
    }
}

/// Whether a command adds data (and so counts against the space quota).
fn writes_keys(command: &Command) -> bool {
    fn txn_puts(txn: &TxnRequest) -> bool {
        txn.success.iter().chain(&txn.failure).any(|op| match op {
            RequestOp::Put(_) => true,
            RequestOp::Txn(inner) => txn_puts(inner),
            RequestOp::Range(_) | RequestOp::DeleteRange(_) => false,
        })
    }
    match command {
        Command::Put(_) => true,
        Command::Txn(txn) => txn_puts(txn),
        Command::DeleteRange(_)
        | Command::Compact(_)
        | Command::LeaseGrant(_)
        | Command::LeaseRevoke(_)
        | Command::LeaseCheckpoint(_) => false,
    }
}

/// Whether every read of a (read-only) transaction asks to be serializable.
fn serializable(txn: &pb::TxnRequest) -> bool {
    use pb::request_op::Request as Op;
    txn.success
        .iter()
        .chain(&txn.failure)
        .all(|op| match &op.request {
            Some(Op::RequestRange(range)) => range.serializable,
            Some(Op::RequestTxn(inner)) => serializable(inner),
            _ => false,
        })
}

/// etcd's Range on `node`: linearizable unless `serializable` is set.
pub async fn range(node: &Node, request: pb::RangeRequest) -> Result<pb::RangeResponse, EtcdError> {
    let range = convert::range_request(&request)?;
    if !request.serializable {
        // A learner serves serializable reads only, as in etcd.
        node.refuse_learner()?;
        node.linearizable_barrier().await?;
    }
    let response = node.store().range(&range)?;
    let revision = response.revision;
    let mut out = convert::range_response(response);
    out.header = Some(node.header(revision));
    Ok(out)
}

/// etcd's Put, on the leader.
pub async fn put(node: &Arc<Node>, request: pb::PutRequest) -> Result<pb::PutResponse, EtcdError> {
    forward::on_leader(node, forward::PUT, request, |r| put_here(node, r)).await
}

/// etcd's Put, proposed by this member.
pub async fn put_here(node: &Node, request: pb::PutRequest) -> Result<pb::PutResponse, EtcdError> {
    let command = Command::Put(convert::put_request(&request));
    let cost = request.encoded_len() as u64;
    match write(node, &command, Proposed::Put(request), cost).await? {
        CommandResponse::Put(response) => {
            let revision = response.revision;
            let mut out = convert::put_response(response);
            out.header = Some(node.header(revision));
            Ok(out)
        }
        other => Err(unexpected(&other)),
    }
}

/// etcd's DeleteRange, on the leader.
pub async fn delete_range(
    node: &Arc<Node>,
    request: pb::DeleteRangeRequest,
) -> Result<pb::DeleteRangeResponse, EtcdError> {
    forward::on_leader(node, forward::DELETE_RANGE, request, |r| {
        delete_range_here(node, r)
    })
    .await
}

/// etcd's DeleteRange, proposed by this member.
pub async fn delete_range_here(
    node: &Node,
    request: pb::DeleteRangeRequest,
) -> Result<pb::DeleteRangeResponse, EtcdError> {
    let command = Command::DeleteRange(convert::delete_range_request(&request));
    match write(node, &command, Proposed::DeleteRange(request), 0).await? {
        CommandResponse::DeleteRange(response) => {
            let revision = response.revision;
            let mut out = convert::delete_range_response(response);
            out.header = Some(node.header(revision));
            Ok(out)
        }
        other => Err(unexpected(&other)),
    }
}

/// etcd's Txn: a read-only transaction is served by this member without a
/// log entry, as etcd serves it; a writing one is proposed by the leader.
pub async fn txn(node: &Arc<Node>, request: pb::TxnRequest) -> Result<pb::TxnResponse, EtcdError> {
    let txn = convert::txn_request(&request)?;
    if txn_read_only(&txn) {
        if !serializable(&request) {
            node.linearizable_barrier().await?;
        }
        let response = node.store().read_txn(&txn)?;
        let revision = response.revision;
        let mut out = convert::txn_response(response);
        out.header = Some(node.header(revision));
        return Ok(out);
    }
    forward::on_leader(node, forward::TXN, request, |r| txn_here(node, r)).await
}

/// etcd's writing Txn, proposed by this member.
pub async fn txn_here(node: &Node, request: pb::TxnRequest) -> Result<pb::TxnResponse, EtcdError> {
    let txn = convert::txn_request(&request)?;
    let cost = request.encoded_len() as u64;
    match write(node, &Command::Txn(txn), Proposed::Txn(request), cost).await? {
        CommandResponse::Txn(response) => {
            let revision = response.revision;
            let mut out = convert::txn_response(response);
            out.header = Some(node.header(revision));
            Ok(out)
        }
        other => Err(unexpected(&other)),
    }
}

#[tonic::async_trait]
impl Kv for KvApi {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        Ok(Response::new(
            range(&self.node, request.into_inner()).await?,
        ))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        self.node.refuse_learner()?;
        Ok(Response::new(put(&self.node, request.into_inner()).await?))
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        self.node.refuse_learner()?;
        Ok(Response::new(
            delete_range(&self.node, request.into_inner()).await?,
        ))
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        self.node.refuse_learner()?;
        Ok(Response::new(txn(&self.node, request.into_inner()).await?))
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        self.node.refuse_learner()?;
        let node = &self.node;
        let request = request.into_inner();
        Ok(Response::new(
            forward::on_leader(node, forward::COMPACT, request, |r| compact_here(node, r)).await?,
        ))
    }
}

/// etcd's Compact, proposed by this member. Compaction removes history
/// physically while it is applied, so the answer comes after the removal
/// whether or not `physical` was set.
pub async fn compact_here(
    node: &Node,
    request: pb::CompactionRequest,
) -> Result<pb::CompactionResponse, EtcdError> {
    let command = Command::Compact(request.revision);
    match write(node, &command, Proposed::Compaction(request), 0).await? {
        CommandResponse::Compact(response) => Ok(pb::CompactionResponse {
            header: Some(node.header(response.revision)),
        }),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(response: &CommandResponse) -> EtcdError {
    EtcdError::Internal(format!("unexpected response {response:?}"))
}

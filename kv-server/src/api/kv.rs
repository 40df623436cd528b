//! `etcdserverpb.KV`: Range, Put, DeleteRange, Txn and Compact.

use std::sync::Arc;

use keel_mvcc::{Command, CommandResponse, RequestOp, TxnRequest};
use keel_proto::etcdserverpb::{self as pb, kv_server::Kv};
use keel_proto::keelpb::command::Request as Proposed;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::EtcdError;
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

    /// Proposes a write and returns the store's answer to it.
    async fn write(
        &self,
        command: &Command,
        proposed: Proposed,
        cost: u64,
    ) -> Result<CommandResponse, EtcdError> {
        self.node.store().validate(command)?;
        if writes_keys(command) {
            self.node.check_quota(cost).await?;
        }
        match self.node.propose(proposed).await? {
            Outcome::Kv(response) => Ok(response),
            Outcome::Alarms(_) => Err(EtcdError::Internal(
                "a write was answered with alarms".into(),
            )),
        }
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

#[tonic::async_trait]
impl Kv for KvApi {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let request = request.into_inner();
        let range = convert::range_request(&request).map_err(EtcdError::from)?;
        if !request.serializable {
            self.node.linearizable_barrier().await?;
        }
        let response = self.node.store().range(&range).map_err(EtcdError::from)?;
        let revision = response.revision;
        let mut out = convert::range_response(response);
        out.header = Some(self.node.header(revision));
        Ok(Response::new(out))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let request = request.into_inner();
        let command = Command::Put(convert::put_request(&request));
        let cost = request.encoded_len() as u64;
        match self.write(&command, Proposed::Put(request), cost).await? {
            CommandResponse::Put(response) => {
                let revision = response.revision;
                let mut out = convert::put_response(response);
                out.header = Some(self.node.header(revision));
                Ok(Response::new(out))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let request = request.into_inner();
        let command = Command::DeleteRange(convert::delete_range_request(&request));
        match self
            .write(&command, Proposed::DeleteRange(request), 0)
            .await?
        {
            CommandResponse::DeleteRange(response) => {
                let revision = response.revision;
                let mut out = convert::delete_range_response(response);
                out.header = Some(self.node.header(revision));
                Ok(Response::new(out))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let request = request.into_inner();
        let txn = convert::txn_request(&request).map_err(EtcdError::from)?;
        if txn_read_only(&txn) {
            // etcd serves read-only transactions without a log entry.
            if !serializable(&request) {
                self.node.linearizable_barrier().await?;
            }
            let response = self.node.store().read_txn(&txn).map_err(EtcdError::from)?;
            let revision = response.revision;
            let mut out = convert::txn_response(response);
            out.header = Some(self.node.header(revision));
            return Ok(Response::new(out));
        }
        let cost = request.encoded_len() as u64;
        match self
            .write(&Command::Txn(txn), Proposed::Txn(request), cost)
            .await?
        {
            CommandResponse::Txn(response) => {
                let revision = response.revision;
                let mut out = convert::txn_response(response);
                out.header = Some(self.node.header(revision));
                Ok(Response::new(out))
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let request = request.into_inner();
        let command = Command::Compact(request.revision);
        // Compaction removes history physically while it is applied, so the
        // answer comes after the removal whether or not `physical` was set.
        match self
            .write(&command, Proposed::Compaction(request), 0)
            .await?
        {
            CommandResponse::Compact(response) => Ok(Response::new(pb::CompactionResponse {
                header: Some(self.node.header(response.revision)),
            })),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(response: &CommandResponse) -> Status {
    EtcdError::Internal(format!("unexpected response {response:?}")).into()
}

//! `v3electionpb.Election`: Campaign, Proclaim, Leader, Observe and
//! Resign, etcd's election recipe run inside the server (see
//! [`crate::concurrency`]). A leader is the first-created key under
//! `<name>/`; its create revision is the leadership's fencing token.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use keel_mvcc::watch::WatchMessage;
use keel_mvcc::{EventKind, KeyRange};
use keel_proto::etcdserverpb::{self as pb, compare, request_op, RequestOp};
use keel_proto::mvccpb;
use keel_proto::v3electionpb::{self as epb, election_server::Election};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::kv;
use crate::concurrency::{
    create_key, delete_if_created_at, owner, prefix_end, wait_deletes, Abandon, InternalWatch,
};
use crate::convert;
use crate::error::EtcdError;
use crate::node::Node;

/// Leader changes an Observe stream buffers towards a slow client; past it
/// the observer waits (and then reports the leader as it is by then).
const OBSERVE_BUFFER_MAX: usize = 16;

/// The Election service.
#[derive(Debug, Clone)]
pub struct ElectionApi {
    node: Arc<Node>,
}

impl ElectionApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

fn name_prefix(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

/// Sets the leader's value if `leader` still leads.
async fn proclaim(
    node: &Arc<Node>,
    leader: &epb::LeaderKey,
    value: &[u8],
) -> Result<pb::ResponseHeader, EtcdError> {
    let request = pb::TxnRequest {
        compare: vec![pb::Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Create as i32,
            key: leader.key.clone(),
            target_union: Some(compare::TargetUnion::CreateRevision(leader.rev)),
            range_end: Vec::new(),
        }],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(pb::PutRequest {
                key: leader.key.clone(),
                value: value.to_vec(),
                lease: leader.lease,
                ..pb::PutRequest::default()
            })),
        }],
        failure: Vec::new(),
    };
    let response = kv::txn(node, request).await?;
    if !response.succeeded {
        return Err(EtcdError::ElectionNotLeader);
    }
    Ok(response.header.unwrap_or_default())
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<epb::LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Election for ElectionApi {
    async fn campaign(
        &self,
        request: Request<epb::CampaignRequest>,
    ) -> Result<Response<epb::CampaignResponse>, Status> {
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let prefix = name_prefix(&request.name);
        let held = create_key(&self.node, &prefix, request.lease, &request.value).await?;
        let abandon = Abandon::new(&self.node, held.key.clone(), held.revision);
        let leader = epb::LeaderKey {
            name: request.name.clone(),
            key: held.key.clone(),
            rev: held.revision,
            lease: request.lease,
        };
        if held.value != request.value {
            // The lease campaigned before with another value: etcd's
            // recipe proclaims the new one.
            proclaim(&self.node, &leader, &request.value).await?;
        }
        let header = wait_deletes(&self.node, &prefix, held.revision - 1).await?;
        abandon.disarm();
        Ok(Response::new(epb::CampaignResponse {
            header: Some(header),
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<epb::ProclaimRequest>,
    ) -> Result<Response<epb::ProclaimResponse>, Status> {
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let leader = request.leader.ok_or(EtcdError::ElectionLeaderKeyMissing)?;
        let header = proclaim(&self.node, &leader, &request.value).await?;
        Ok(Response::new(epb::ProclaimResponse {
            header: Some(header),
        }))
    }

    async fn leader(
        &self,
        request: Request<epb::LeaderRequest>,
    ) -> Result<Response<epb::LeaderResponse>, Status> {
        self.node.refuse_learner()?;
        let prefix = name_prefix(&request.into_inner().name);
        let (header, kv) = owner(&self.node, &prefix).await?;
        let kv = kv.ok_or(EtcdError::ElectionNoLeader)?;
        Ok(Response::new(epb::LeaderResponse {
            header: Some(header),
            kv: Some(kv),
        }))
    }

    type ObserveStream = ObserveStream;

    async fn observe(
        &self,
        request: Request<epb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        self.node.refuse_learner()?;
        let prefix = name_prefix(&request.into_inner().name);
        let (sender, receiver) = tokio::sync::mpsc::channel(OBSERVE_BUFFER_MAX);
        let node = Arc::clone(&self.node);
        tokio::spawn(async move {
            if let Err(error) = observe(&node, &prefix, &sender).await {
                let _ = sender.send(Err(error.into())).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn resign(
        &self,
        request: Request<epb::ResignRequest>,
    ) -> Result<Response<epb::ResignResponse>, Status> {
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let leader = request.leader.ok_or(EtcdError::ElectionLeaderKeyMissing)?;
        let header = delete_if_created_at(&self.node, &leader.key, leader.rev).await?;
        Ok(Response::new(epb::ResignResponse {
            header: Some(header),
        }))
    }
}

type ObserveSender = tokio::sync::mpsc::Sender<Result<epb::LeaderResponse, Status>>;

/// etcd's `Election.Observe`: reports the leader, then every value it
/// proclaims, then the next leader once it is gone, until the client
/// leaves (`Ok`) or the server fails (`Err`).
async fn observe(node: &Arc<Node>, prefix: &[u8], sender: &ObserveSender) -> Result<(), EtcdError> {
    loop {
        let (header, leader) = owner(node, prefix).await?;
        let leader = match leader {
            Some(leader) => leader,
            None => match first_put(node, prefix, header.revision + 1, sender).await? {
                Some(leader) => leader,
                None => return Ok(()),
            },
        };
        let mut revision = leader.mod_revision;
        let key = leader.key.clone();
        let created = leader.create_revision;
        let response = epb::LeaderResponse {
            header: Some(node.header(revision)),
            kv: Some(leader),
        };
        if sender.send(Ok(response)).await.is_err() {
            return Ok(());
        }
        let mut watcher = InternalWatch::new(node, KeyRange::new(&key, b""), revision + 1);
        'leading: while let Some(message) = next_unless_closed(&mut watcher, sender).await {
            let WatchMessage::Events { events, .. } = message else {
                break 'leading;
            };
            for event in events {
                if event.kind == EventKind::Delete || event.kv.create_revision != created {
                    break 'leading;
                }
                revision = event.kv.mod_revision;
                let response = epb::LeaderResponse {
                    header: Some(node.header(revision)),
                    kv: Some(convert::key_value(event.kv.clone())),
                };
                if sender.send(Ok(response)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if sender.is_closed() {
            return Ok(());
        }
    }
}

/// The watcher's next message, or `None` once the observer's client is
/// gone (or the watcher ended).
async fn next_unless_closed(
    watcher: &mut InternalWatch,
    sender: &ObserveSender,
) -> Option<WatchMessage> {
    tokio::select! {
        // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
        biased;
        message = watcher.next() => message,
        () = sender.closed() => None,
    }
}

/// Waits for the first key put under `prefix` at or after `from`; `None`
/// if the watcher ends or the client leaves first.
async fn first_put(
    node: &Arc<Node>,
    prefix: &[u8],
    from: i64,
    sender: &ObserveSender,
) -> Result<Option<mvccpb::KeyValue>, EtcdError> {
    let range = KeyRange::new(prefix, &prefix_end(prefix));
    let mut watcher = InternalWatch::new(node, range, from);
    while let Some(message) = next_unless_closed(&mut watcher, sender).await {
        match message {
            WatchMessage::Events { events, .. } => {
                if let Some(put) = events.iter().find(|event| event.kind == EventKind::Put) {
                    return Ok(Some(convert::key_value(put.kv.clone())));
                }
            }
            // History is gone: read the owner again.
            WatchMessage::Compacted { .. } => {
                return Ok(owner(node, prefix).await?.1);
            }
            WatchMessage::Progress { .. } => {}
        }
    }
    Ok(None)
}

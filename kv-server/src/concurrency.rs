//! etcd's concurrency recipes, run inside the server for the Lock and
//! Election services: the same keys, transactions and waits as etcd's
//! `clientv3/concurrency` (which `etcdctl lock` and `etcdctl elect` run on
//! the client side), so both kinds of client interoperate on one name.
//!
//! ```text
//!   acquire(prefix, lease, value)
//!     txn: create_revision(prefix/<lease hex>) == 0 ? put : get   ──► my key, my revision
//!     wait_deletes(prefix, my revision − 1):
//!        range prefix, max_create_revision, newest first, limit 1 ─► none: my turn
//!        └─ watch that key from the range's revision until it is deleted, again
//! ```
//!
//! The revision a key was created at is its fencing token: every holder of
//! a name has a larger one than all holders before it.

use std::sync::Arc;

use keel_mvcc::watch::{Offer, WatchMessage, WatchSink, WatchSpec};
use keel_mvcc::{EventKind, KeyRange};
use keel_proto::etcdserverpb::{self as pb, compare, request_op, RequestOp};
use keel_proto::mvccpb;
use tokio::sync::mpsc;

use crate::api::kv;
use crate::error::EtcdError;
use crate::node::Node;

/// Messages an internal watcher buffers; it is read at once, and a full
/// buffer only sets it aside to catch up from history.
const INTERNAL_WATCH_BUFFER_MAX: usize = 16;

/// The end of etcd's prefix range for `prefix`: the prefix with its last
/// byte that is not 0xff incremented (everything after it dropped), or
/// `[0]` (every key) when it has none.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A compare that `key`'s create revision equals `revision` (0: the key
/// does not exist).
pub fn created_at(key: &[u8], revision: i64) -> pb::Compare {
    pb::Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(revision)),
        range_end: Vec::new(),
    }
}

/// A range of `prefix` sorted by create revision (ascending: the oldest
/// key, the owner), at most one key.
pub fn first_created(prefix: &[u8]) -> pb::RangeRequest {
    pb::RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: pb::range_request::SortOrder::Ascend as i32,
        sort_target: pb::range_request::SortTarget::Create as i32,
        ..pb::RangeRequest::default()
    }
}

fn op(request: request_op::Request) -> RequestOp {
    RequestOp {
        request: Some(request),
    }
}

/// A key this recipe holds under a name, and where it stands.
#[derive(Debug, Clone)]
pub struct Held {
    /// The key: `<prefix><lease id in hex>`.
    pub key: Vec<u8>,
    /// Its create revision: the fencing token.
    pub revision: i64,
    /// The key's value.
    pub value: Vec<u8>,
    /// The header of the transaction that created or found it.
    pub header: pb::ResponseHeader,
    /// The first-created key under the prefix as that transaction saw it.
    pub owner: Option<mvccpb::KeyValue>,
}

impl Held {
    /// Whether this key is the first-created one under its prefix.
    pub fn owns(&self) -> bool {
        self.owner
            .as_ref()
            .is_none_or(|owner| owner.create_revision == self.revision)
    }
}

fn range_result(response: Option<&pb::ResponseOp>) -> Option<mvccpb::KeyValue> {
    match response.and_then(|op| op.response.as_ref()) {
        Some(pb::response_op::Response::ResponseRange(range)) => range.kvs.first().cloned(),
        _ => None,
    }
}

/// Creates (or finds) this lease's key under `prefix` with `value`, and
/// reads the prefix's owner in the same transaction, as etcd's recipes do.
pub async fn create_key(
    node: &Arc<Node>,
    prefix: &[u8],
    lease: i64,
    value: &[u8],
) -> Result<Held, EtcdError> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    let get_owner = op(request_op::Request::RequestRange(first_created(prefix)));
    let request = pb::TxnRequest {
        compare: vec![created_at(&key, 0)],
        success: vec![
            op(request_op::Request::RequestPut(pb::PutRequest {
                key: key.clone(),
                value: value.to_vec(),
                lease,
                ..pb::PutRequest::default()
            })),
            get_owner.clone(),
        ],
        failure: vec![
            op(request_op::Request::RequestRange(pb::RangeRequest {
                key: key.clone(),
                ..pb::RangeRequest::default()
            })),
            get_owner,
        ],
    };
    let response = kv::txn(node, request).await?;
    let header = response.header.unwrap_or_default();
    let owner = range_result(response.responses.get(1));
    if response.succeeded {
        return Ok(Held {
            key,
            revision: header.revision,
            value: value.to_vec(),
            header,
            owner,
        });
    }
    match range_result(response.responses.first()) {
        Some(kv) => Ok(Held {
            key,
            revision: kv.create_revision,
            value: kv.value,
            header,
            owner,
        }),
        // The compare saw the key and the read did not: impossible within
        // one transaction.
        None => Err(EtcdError::Internal(
            "a transaction saw a key its own read did not".into(),
        )),
    }
}

/// Waits until no key under `prefix` has a create revision at or below
/// `max_create_revision` (every earlier holder is gone); returns the
/// header of the last read.
pub async fn wait_deletes(
    node: &Arc<Node>,
    prefix: &[u8],
    max_create_revision: i64,
) -> Result<pb::ResponseHeader, EtcdError> {
    loop {
        let request = pb::RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            limit: 1,
            sort_order: pb::range_request::SortOrder::Descend as i32,
            sort_target: pb::range_request::SortTarget::Create as i32,
            max_create_revision,
            ..pb::RangeRequest::default()
        };
        let response = kv::range(node, request).await?;
        let header = response.header.unwrap_or_default();
        let Some(last) = response.kvs.into_iter().next() else {
            return Ok(header);
        };
        wait_for_delete(node, &last.key, header.revision + 1).await?;
    }
}

/// Waits until `key` is deleted at or after revision `from`.
pub async fn wait_for_delete(node: &Arc<Node>, key: &[u8], from: i64) -> Result<(), EtcdError> {
    let mut watcher = InternalWatch::new(node, KeyRange::new(key, b""), from);
    while let Some(message) = watcher.next().await {
        match message {
            WatchMessage::Events { events, .. } => {
                if events.iter().any(|event| event.kind == EventKind::Delete) {
                    return Ok(());
                }
            }
            // History from `from` is gone: whatever happened to the key,
            // the caller's next read tells.
            WatchMessage::Compacted { .. } => return Ok(()),
            WatchMessage::Progress { .. } => {}
        }
    }
    Err(EtcdError::Stopped)
}

/// A watcher the server holds for itself, removed when dropped.
pub struct InternalWatch {
    node: Arc<Node>,
    stream: u64,
    receiver: mpsc::Receiver<WatchMessage>,
}

struct ChannelSink(mpsc::Sender<WatchMessage>);

impl WatchSink for ChannelSink {
    fn offer(&self, message: WatchMessage) -> Offer {
        match self.0.try_send(message) {
            Ok(()) => Offer::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    fn has_room(&self) -> bool {
        self.0.capacity() > 0
    }
}

impl InternalWatch {
    /// Watches `range` from revision `from` (0: the next change).
    pub fn new(node: &Arc<Node>, range: KeyRange, from: i64) -> Self {
        let (sender, receiver) = mpsc::channel(INTERNAL_WATCH_BUFFER_MAX);
        let stream = node.next_watch_stream();
        let spec = WatchSpec {
            range,
            start_revision: from,
            filter_puts: false,
            filter_deletes: false,
            prev_kv: false,
            progress_notify: false,
        };
        let hub = node.store().watch_hub();
        // A fresh stream number has no watchers, so the ID is free.
        let _ = hub.watch(stream, 0, spec, Arc::new(ChannelSink(sender)));
        if from != 0 && from <= node.store().current_revision() {
            node.wake_watch_catchup();
        }
        Self {
            node: Arc::clone(node),
            stream,
            receiver,
        }
    }

    /// The next message; `None` once the hub dropped the watcher.
    pub async fn next(&mut self) -> Option<WatchMessage> {
        self.receiver.recv().await
    }
}

impl Drop for InternalWatch {
    fn drop(&mut self) {
        self.node.store().watch_hub().close_stream(self.stream);
    }
}

/// The first-created key under `prefix` (the current owner), if any, with
/// the header of the read.
pub async fn owner(
    node: &Arc<Node>,
    prefix: &[u8],
) -> Result<(pb::ResponseHeader, Option<mvccpb::KeyValue>), EtcdError> {
    let response = kv::range(node, first_created(prefix)).await?;
    Ok((
        response.header.unwrap_or_default(),
        response.kvs.into_iter().next(),
    ))
}

/// Deletes `key` if it was created at `revision` (a holder giving up what
/// it holds, and nothing a later holder of the same key made).
pub async fn delete_if_created_at(
    node: &Arc<Node>,
    key: &[u8],
    revision: i64,
) -> Result<pb::ResponseHeader, EtcdError> {
    let request = pb::TxnRequest {
        compare: vec![created_at(key, revision)],
        success: vec![op(request_op::Request::RequestDeleteRange(
            pb::DeleteRangeRequest {
                key: key.to_vec(),
                ..pb::DeleteRangeRequest::default()
            },
        ))],
        failure: Vec::new(),
    };
    Ok(kv::txn(node, request).await?.header.unwrap_or_default())
}

/// Deletes a key a recipe created when the request that created it is
/// abandoned (the client went away while waiting), as etcd's recipes do.
pub struct Abandon {
    node: Arc<Node>,
    key: Option<(Vec<u8>, i64)>,
}

impl Abandon {
    /// Arms the guard for `key`, created at `revision`.
    pub fn new(node: &Arc<Node>, key: Vec<u8>, revision: i64) -> Self {
        Self {
            node: Arc::clone(node),
            key: Some((key, revision)),
        }
    }

    /// The request completed: keep the key.
    pub fn disarm(mut self) {
        self.key = None;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some((key, revision)) = self.key.take() {
            let node = Arc::clone(&self.node);
            tokio::spawn(async move {
                let _ = delete_if_created_at(&node, &key, revision).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_follows_etcds_get_prefix_range_end() {
        assert_eq!(prefix_end(b"lock/"), b"lock0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}

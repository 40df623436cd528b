//! The KV service: get, put, delete, transactions and compaction, with
//! option builders in the style of etcd's clients.
//!
//! ```no_run
//! # async fn demo(client: keel_client::Client) -> Result<(), keel_client::Error> {
//! use keel_client::{Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
//! client.put("config/a", "1", None).await?;
//! let listed = client.get("config/", Some(GetOptions::new().with_prefix())).await?;
//! let swapped = client
//!     .txn(
//!         Txn::new()
//!             .when([Compare::value("config/a", CompareOp::Equal, "1")])
//!             .and_then([TxnOp::put("config/a", "2", None)]),
//!     )
//!     .await?;
//! # let _ = (listed, swapped); Ok(()) }
//! ```

use keel_proto::etcdserverpb::{
    compare, kv_client::KvClient, range_request, request_op, CompactionRequest, CompactionResponse,
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, TxnRequest, TxnResponse,
};
use tonic::transport::Channel;

use crate::client::Client;
use crate::endpoints::MESSAGE_BYTES_MAX;
use crate::error::{Error, Safety};

/// The generated KV client on `channel`, accepting large answers.
fn grpc(channel: Channel) -> KvClient<Channel> {
    KvClient::new(channel).max_decoding_message_size(MESSAGE_BYTES_MAX)
}

/// The end of the range holding every key that starts with `prefix`: the
/// prefix with its last byte below 0xff incremented and what follows
/// dropped; `\0` (every key) when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    match prefix.iter().rposition(|byte| *byte < 0xff) {
        Some(last) => {
            let mut end = prefix[..=last].to_vec();
            end[last] += 1;
            end
        }
        None => vec![0],
    }
}

/// The `with_range`, `with_prefix` and `with_from_key` options of a
/// request builder with a `span: Span` field.
macro_rules! span_options {
    () => {
        /// Covers the keys in `[key, end)`.
        #[must_use]
        pub fn with_range(mut self, end: impl Into<Vec<u8>>) -> Self {
            self.span = $crate::kv::Span::End(end.into());
            self
        }
        /// Covers every key starting with the key (every key, for an
        /// empty key).
        #[must_use]
        pub fn with_prefix(mut self) -> Self {
            self.span = $crate::kv::Span::Prefix;
            self
        }
        /// Covers every key from the key on.
        #[must_use]
        pub fn with_from_key(mut self) -> Self {
            self.span = $crate::kv::Span::FromKey;
            self
        }
    };
}
pub(crate) use span_options;

/// Which keys a request covers besides its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Span {
    /// The key alone.
    #[default]
    Key,
    /// Keys in `[key, end)`.
    End(Vec<u8>),
    /// Keys starting with the key.
    Prefix,
    /// Keys from the key on.
    FromKey,
}

impl Span {
    /// The request's `(key, range_end)` for `key`. As etcd's clientv3 has
    /// it, an empty key with a prefix or from-key span means every key and
    /// is sent as `("\0", "\0")`: the server refuses an empty key with
    /// "key is not provided".
    pub(crate) fn bounds(&self, key: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
        match self {
            Span::Key => (key, Vec::new()),
            Span::End(end) => (key, end.clone()),
            Span::Prefix | Span::FromKey if key.is_empty() => (vec![0], vec![0]),
            Span::Prefix => {
                let end = prefix_end(&key);
                (key, end)
            }
            Span::FromKey => (key, vec![0]),
        }
    }
}

/// How sorted a range's answer is.
pub use range_request::{SortOrder, SortTarget};

/// Options of [`Client::get`].
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    span: Span,
    request: RangeRequest,
}

impl GetOptions {
    /// A get of one key, linearizable, at the newest revision.
    pub fn new() -> Self {
        Self::default()
    }
    span_options!();
    /// At most `limit` keys (0: no limit).
    #[must_use]
    pub fn with_limit(mut self, limit: i64) -> Self {
        self.request.limit = limit;
        self
    }
    /// The keys as they were at `revision` (0: the newest).
    #[must_use]
    pub fn with_revision(mut self, revision: i64) -> Self {
        self.request.revision = revision;
        self
    }
    /// Sorted by `target` in `order`.
    #[must_use]
    pub fn with_sort(mut self, target: SortTarget, order: SortOrder) -> Self {
        self.request.set_sort_target(target);
        self.request.set_sort_order(order);
        self
    }
    /// Served from the member's own copy without asking the leader: may be
    /// stale, and survives the loss of quorum.
    #[must_use]
    pub fn with_serializable(mut self) -> Self {
        self.request.serializable = true;
        self
    }
    /// Keys without their values.
    #[must_use]
    pub fn with_keys_only(mut self) -> Self {
        self.request.keys_only = true;
        self
    }
    /// Only the number of keys.
    #[must_use]
    pub fn with_count_only(mut self) -> Self {
        self.request.count_only = true;
        self
    }
    /// Only keys last modified at or after `revision`.
    #[must_use]
    pub fn with_min_mod_revision(mut self, revision: i64) -> Self {
        self.request.min_mod_revision = revision;
        self
    }
    /// Only keys last modified at or before `revision`.
    #[must_use]
    pub fn with_max_mod_revision(mut self, revision: i64) -> Self {
        self.request.max_mod_revision = revision;
        self
    }
    /// Only keys created at or after `revision`.
    #[must_use]
    pub fn with_min_create_revision(mut self, revision: i64) -> Self {
        self.request.min_create_revision = revision;
        self
    }
    /// Only keys created at or before `revision`.
    #[must_use]
    pub fn with_max_create_revision(mut self, revision: i64) -> Self {
        self.request.max_create_revision = revision;
        self
    }

    fn into_request(self, key: Vec<u8>) -> RangeRequest {
        let (key, range_end) = self.span.bounds(key);
        RangeRequest {
            key,
            range_end,
            ..self.request
        }
    }
}

/// Options of [`Client::put`].
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    request: PutRequest,
}

impl PutOptions {
    /// A plain put.
    pub fn new() -> Self {
        Self::default()
    }
    /// Attaches the key to lease `id`: it is deleted when the lease ends.
    #[must_use]
    pub fn with_lease(mut self, id: i64) -> Self {
        self.request.lease = id;
        self
    }
    /// Answers with the key's previous value.
    #[must_use]
    pub fn with_prev_key(mut self) -> Self {
        self.request.prev_kv = true;
        self
    }
    /// Keeps the key's current value (only the lease changes).
    #[must_use]
    pub fn with_ignore_value(mut self) -> Self {
        self.request.ignore_value = true;
        self
    }
    /// Keeps the key's current lease (only the value changes).
    #[must_use]
    pub fn with_ignore_lease(mut self) -> Self {
        self.request.ignore_lease = true;
        self
    }

    fn into_request(self, key: Vec<u8>, value: Vec<u8>) -> PutRequest {
        PutRequest {
            key,
            value,
            ..self.request
        }
    }
}

/// Options of [`Client::delete`].
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    span: Span,
    prev_kv: bool,
}

impl DeleteOptions {
    /// A delete of one key.
    pub fn new() -> Self {
        Self::default()
    }
    span_options!();
    /// Answers with the deleted keys and values.
    #[must_use]
    pub fn with_prev_key(mut self) -> Self {
        self.prev_kv = true;
        self
    }

    fn into_request(self, key: Vec<u8>) -> DeleteRangeRequest {
        let (key, range_end) = self.span.bounds(key);
        DeleteRangeRequest {
            key,
            range_end,
            prev_kv: self.prev_kv,
        }
    }
}

/// How a [`Compare`] relates the key's field to the given value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `>`
    Greater,
    /// `<`
    Less,
}

impl CompareOp {
    fn result(self) -> compare::CompareResult {
        match self {
            CompareOp::Equal => compare::CompareResult::Equal,
            CompareOp::NotEqual => compare::CompareResult::NotEqual,
            CompareOp::Greater => compare::CompareResult::Greater,
            CompareOp::Less => compare::CompareResult::Less,
        }
    }
}

/// One condition of a [`Txn`].
#[derive(Clone, Debug)]
pub struct Compare(keel_proto::etcdserverpb::Compare);

impl Compare {
    fn new(
        key: impl Into<Vec<u8>>,
        op: CompareOp,
        target: compare::CompareTarget,
        union: compare::TargetUnion,
    ) -> Self {
        let mut compare = keel_proto::etcdserverpb::Compare {
            key: key.into(),
            target_union: Some(union),
            ..Default::default()
        };
        compare.set_result(op.result());
        compare.set_target(target);
        Self(compare)
    }
    /// The key's version (0: the key does not exist).
    pub fn version(key: impl Into<Vec<u8>>, op: CompareOp, version: i64) -> Self {
        let union = compare::TargetUnion::Version(version);
        Self::new(key, op, compare::CompareTarget::Version, union)
    }
    /// The revision that created the key (0: the key does not exist).
    pub fn create_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: i64) -> Self {
        let union = compare::TargetUnion::CreateRevision(revision);
        Self::new(key, op, compare::CompareTarget::Create, union)
    }
    /// The revision that last modified the key.
    pub fn mod_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: i64) -> Self {
        let union = compare::TargetUnion::ModRevision(revision);
        Self::new(key, op, compare::CompareTarget::Mod, union)
    }
    /// The key's value.
    pub fn value(key: impl Into<Vec<u8>>, op: CompareOp, value: impl Into<Vec<u8>>) -> Self {
        let union = compare::TargetUnion::Value(value.into());
        Self::new(key, op, compare::CompareTarget::Value, union)
    }
    /// The key's lease (0: none).
    pub fn lease(key: impl Into<Vec<u8>>, op: CompareOp, lease: i64) -> Self {
        let union = compare::TargetUnion::Lease(lease);
        Self::new(key, op, compare::CompareTarget::Lease, union)
    }
    /// Applies the condition to every key in `[key, end)`.
    #[must_use]
    pub fn with_range(mut self, end: impl Into<Vec<u8>>) -> Self {
        self.0.range_end = end.into();
        self
    }
    /// Applies the condition to every key starting with the key.
    #[must_use]
    pub fn with_prefix(mut self) -> Self {
        let key = std::mem::take(&mut self.0.key);
        (self.0.key, self.0.range_end) = Span::Prefix.bounds(key);
        self
    }
}

/// One operation of a [`Txn`] branch.
#[derive(Clone, Debug)]
pub struct TxnOp(RequestOp);

impl TxnOp {
    /// A get.
    pub fn get(key: impl Into<Vec<u8>>, options: Option<GetOptions>) -> Self {
        let range = options.unwrap_or_default().into_request(key.into());
        Self(RequestOp {
            request: Some(request_op::Request::RequestRange(range)),
        })
    }
    /// A put.
    pub fn put(
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        options: Option<PutOptions>,
    ) -> Self {
        let put = options
            .unwrap_or_default()
            .into_request(key.into(), value.into());
        Self(RequestOp {
            request: Some(request_op::Request::RequestPut(put)),
        })
    }
    /// A delete.
    pub fn delete(key: impl Into<Vec<u8>>, options: Option<DeleteOptions>) -> Self {
        let delete = options.unwrap_or_default().into_request(key.into());
        Self(RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(delete)),
        })
    }
    /// A nested transaction.
    pub fn txn(txn: Txn) -> Self {
        Self(RequestOp {
            request: Some(request_op::Request::RequestTxn(txn.request)),
        })
    }
}

/// A transaction: if every condition holds, the `and_then` operations run,
/// else the `or_else` ones; atomically, at one revision.
#[derive(Clone, Debug, Default)]
pub struct Txn {
    request: TxnRequest,
}

impl Txn {
    /// An empty transaction (no conditions: `and_then` runs).
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds conditions (all must hold).
    #[must_use]
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.request
            .compare
            .extend(compares.into_iter().map(|compare| compare.0));
        self
    }
    /// Adds operations run when the conditions hold.
    #[must_use]
    pub fn and_then(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.request.success.extend(ops.into_iter().map(|op| op.0));
        self
    }
    /// Adds operations run when a condition fails.
    #[must_use]
    pub fn or_else(mut self, ops: impl IntoIterator<Item = TxnOp>) -> Self {
        self.request.failure.extend(ops.into_iter().map(|op| op.0));
        self
    }

    /// Whether running the transaction twice is the same as once: true when
    /// no branch writes.
    fn safety(&self) -> Safety {
        if writes(&self.request) {
            Safety::Mutating
        } else {
            Safety::Idempotent
        }
    }
}

/// Whether any operation of any branch (nested ones included) writes.
fn writes(txn: &TxnRequest) -> bool {
    txn.success
        .iter()
        .chain(&txn.failure)
        .any(|op| match &op.request {
            Some(request_op::Request::RequestRange(_)) | None => false,
            Some(request_op::Request::RequestTxn(nested)) => writes(nested),
            Some(_) => true,
        })
}

impl Client {
    /// Reads a key (or, with options, a range of keys).
    pub async fn get(
        &self,
        key: impl Into<Vec<u8>>,
        options: Option<GetOptions>,
    ) -> Result<RangeResponse, Error> {
        let request = options.unwrap_or_default().into_request(key.into());
        self.call(Safety::Idempotent, |channel| {
            let request = request.clone();
            async move { Ok(grpc(channel).range(request).await?.into_inner()) }
        })
        .await
    }

    /// Writes a key. An [`Error::UnknownOutcome`] means the put may or may
    /// not have been applied.
    pub async fn put(
        &self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        options: Option<PutOptions>,
    ) -> Result<PutResponse, Error> {
        let request = options
            .unwrap_or_default()
            .into_request(key.into(), value.into());
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move { Ok(grpc(channel).put(request).await?.into_inner()) }
        })
        .await
    }

    /// Deletes a key (or, with options, a range of keys).
    pub async fn delete(
        &self,
        key: impl Into<Vec<u8>>,
        options: Option<DeleteOptions>,
    ) -> Result<DeleteRangeResponse, Error> {
        let request = options.unwrap_or_default().into_request(key.into());
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move { Ok(grpc(channel).delete_range(request).await?.into_inner()) }
        })
        .await
    }

    /// Runs a transaction. One that only reads is retried like a get; one
    /// that writes is retried only when it provably had no effect.
    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse, Error> {
        let safety = txn.safety();
        let request = txn.request;
        self.call(safety, |channel| {
            let request = request.clone();
            async move { Ok(grpc(channel).txn(request).await?.into_inner()) }
        })
        .await
    }

    /// Compacts history before `revision`; with `physical`, answers only
    /// once the compaction has been applied to storage.
    pub async fn compact(
        &self,
        revision: i64,
        physical: bool,
    ) -> Result<CompactionResponse, Error> {
        let request = CompactionRequest { revision, physical };
        self.call(Safety::Mutating, |channel| async move {
            Ok(grpc(channel).compact(request).await?.into_inner())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"a"), b"b");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"a\xfe\xff"), b"a\xff");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }

    #[test]
    fn get_options_become_range_requests() {
        let request = GetOptions::new()
            .with_prefix()
            .with_limit(3)
            .with_serializable()
            .into_request(b"k/".to_vec());
        assert_eq!(request.key, b"k/");
        assert_eq!(request.range_end, b"k0");
        assert_eq!(request.limit, 3);
        assert!(request.serializable);
        // etcd's clientv3 sends "every key" as ("\0", "\0"): the server
        // refuses an empty key.
        let every = GetOptions::new().with_prefix().into_request(Vec::new());
        assert_eq!((every.key, every.range_end), (vec![0], vec![0]));
        let from_start = GetOptions::new().with_from_key().into_request(Vec::new());
        assert_eq!((from_start.key, from_start.range_end), (vec![0], vec![0]));
        let deletes = DeleteOptions::new().with_prefix().into_request(Vec::new());
        assert_eq!((deletes.key, deletes.range_end), (vec![0], vec![0]));
        let compare = Compare::version("", CompareOp::Greater, 0).with_prefix();
        assert_eq!((compare.0.key, compare.0.range_end), (vec![0], vec![0]));
        let single = GetOptions::new().into_request(b"k".to_vec());
        assert!(single.range_end.is_empty());
    }

    #[test]
    fn a_transaction_that_only_reads_is_idempotent() {
        let reads = Txn::new()
            .when([Compare::version("k", CompareOp::Greater, 0)])
            .and_then([TxnOp::get("k", None)])
            .or_else([TxnOp::txn(Txn::new().and_then([TxnOp::get("j", None)]))]);
        assert_eq!(reads.safety(), Safety::Idempotent);
        let nested_write =
            Txn::new().or_else([TxnOp::txn(Txn::new().and_then([TxnOp::delete("k", None)]))]);
        assert_eq!(nested_write.safety(), Safety::Mutating);
        let put = Txn::new().and_then([TxnOp::put("k", "v", None)]);
        assert_eq!(put.safety(), Safety::Mutating);
    }

    #[test]
    fn compares_carry_their_target() {
        let compare = Compare::mod_revision("k", CompareOp::Less, 7).with_prefix();
        assert_eq!(compare.0.target(), compare::CompareTarget::Mod);
        assert_eq!(compare.0.result(), compare::CompareResult::Less);
        assert_eq!(compare.0.range_end, b"l");
        assert_eq!(
            compare.0.target_union,
            Some(compare::TargetUnion::ModRevision(7))
        );
    }
}

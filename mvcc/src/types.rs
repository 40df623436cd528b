//! The engine's requests and responses: etcd's KV messages as plain Rust
//! data, with enums where etcd's wire format has integers. The server maps
//! its protobuf messages onto these; nothing here knows about the wire.

/// A revision: the main revision a write request bumps, and the sub
/// revision that orders the changes within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    /// The store-wide revision of the request that made the change.
    pub main: i64,
    /// The change's position within its request, from 0.
    pub sub: i64,
}

/// A key's state at some revision (etcd's `mvccpb.KeyValue`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The revision of the put that created the key (since its last delete).
    pub create_revision: i64,
    /// The revision of the last put to the key.
    pub mod_revision: i64,
    /// Number of puts since creation; 1 for a new key.
    pub version: i64,
    /// The value.
    pub value: Vec<u8>,
    /// The attached lease, or 0.
    pub lease: i64,
}

/// `RangeRequest.sort_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// No sorting: results come in key order.
    #[default]
    None,
    /// Lowest first.
    Ascend,
    /// Highest first.
    Descend,
}

/// `RangeRequest.sort_target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// The version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Mod,
    /// The value.
    Value,
}

/// A read of a key or a key range (etcd's `RangeRequest`).
///
/// `range_end` empty means the single key `key`; `range_end == [0]` means
/// every key `>= key`; otherwise the half-open range `[key, range_end)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeRequest {
    /// First key (or the only key).
    pub key: Vec<u8>,
    /// End of the range; see the type's doc.
    pub range_end: Vec<u8>,
    /// At most this many keys (0: no limit).
    pub limit: i64,
    /// Read at this revision (0 or less: the current one).
    pub revision: i64,
    /// Sort order.
    pub sort_order: SortOrder,
    /// Sort target.
    pub sort_target: SortTarget,
    /// Return keys without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Drop keys whose mod revision is lower (0: no bound).
    pub min_mod_revision: i64,
    /// Drop keys whose mod revision is higher (0: no bound).
    pub max_mod_revision: i64,
    /// Drop keys whose create revision is lower (0: no bound).
    pub min_create_revision: i64,
    /// Drop keys whose create revision is higher (0: no bound).
    pub max_create_revision: i64,
}

/// The result of a [`RangeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResponse {
    /// The store's current revision when the read ran (not the revision
    /// read at), as etcd's header reports it.
    pub revision: i64,
    /// The keys, after filters, sorting and limit.
    pub kvs: Vec<KeyValue>,
    /// Whether the limit cut off more keys.
    pub more: bool,
    /// Number of keys in the range at the read revision, ignoring limit and
    /// the min/max revision filters.
    pub count: i64,
}

/// A write of one key (etcd's `PutRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutRequest {
    /// The key; must not be empty.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The lease to attach (0: none; any existing lease is detached).
    pub lease: i64,
    /// Return the previous key-value.
    pub prev_kv: bool,
    /// Keep the current value (`value` must be empty; the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (`lease` must be 0; the key must exist).
    pub ignore_lease: bool,
}

/// The result of a [`PutRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutResponse {
    /// The revision of the write.
    pub revision: i64,
    /// The previous key-value, when asked for and present.
    pub prev_kv: Option<KeyValue>,
}

/// A deletion of a key or key range (etcd's `DeleteRangeRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteRangeRequest {
    /// First key (or the only key).
    pub key: Vec<u8>,
    /// End of the range, as in [`RangeRequest`].
    pub range_end: Vec<u8>,
    /// Return the deleted key-values.
    pub prev_kv: bool,
}

/// The result of a [`DeleteRangeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteRangeResponse {
    /// The revision of the deletion, or the current one if nothing was
    /// deleted.
    pub revision: i64,
    /// Number of keys deleted.
    pub deleted: i64,
    /// The deleted key-values, when asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// `Compare.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompareResult {
    /// `==`
    #[default]
    Equal,
    /// `>`
    Greater,
    /// `<`
    Less,
    /// `!=`
    NotEqual,
}

/// What a [`Compare`] looks at, with the operand to compare it against.
///
/// etcd carries target and operand separately; a mismatched operand reads as
/// zero (or the empty value), which the wire mapping expresses by building
/// the target with `0` or an empty value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version.
    Version(i64),
    /// The key's create revision.
    Create(i64),
    /// The key's mod revision.
    Mod(i64),
    /// The key's value.
    Value(Vec<u8>),
    /// The key's lease.
    Lease(i64),
}

/// One guard of a transaction (etcd's `Compare`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The relation that must hold.
    pub result: CompareResult,
    /// What to compare, and against what.
    pub target: CompareTarget,
    /// The key; must not be empty.
    pub key: Vec<u8>,
    /// When set, the compare must hold for every key in the range, as in
    /// [`RangeRequest`].
    pub range_end: Vec<u8>,
}

/// One operation of a transaction branch (etcd's `RequestOp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOp {
    /// A read.
    Range(RangeRequest),
    /// A put.
    Put(PutRequest),
    /// A deletion.
    DeleteRange(DeleteRangeRequest),
    /// A nested transaction.
    Txn(TxnRequest),
}

/// An atomic if/then/else (etcd's `TxnRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnRequest {
    /// Guards; all must hold for `success` to run.
    pub compare: Vec<Compare>,
    /// Operations when every guard holds.
    pub success: Vec<RequestOp>,
    /// Operations otherwise.
    pub failure: Vec<RequestOp>,
}

/// The result of one [`RequestOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOp {
    /// A read's result.
    Range(RangeResponse),
    /// A put's result.
    Put(PutResponse),
    /// A deletion's result.
    DeleteRange(DeleteRangeResponse),
    /// A nested transaction's result.
    Txn(TxnResponse),
}

/// The result of a [`TxnRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnResponse {
    /// The store revision after the transaction (for a nested one, as seen
    /// when it finished).
    pub revision: i64,
    /// Whether every guard held.
    pub succeeded: bool,
    /// One response per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}

/// The result of a compaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactResponse {
    /// The current revision.
    pub revision: i64,
}

/// A hash of the key-value history (etcd's `HashKV`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashKvResponse {
    /// crc32 over every stored version at or below `hash_revision`.
    pub hash: u32,
    /// The compacted revision when the hash was taken.
    pub compact_revision: i64,
    /// The revision the hash covers.
    pub hash_revision: i64,
    /// The current revision.
    pub revision: i64,
}

/// A write the state machine applies: one Raft entry's worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A put.
    Put(PutRequest),
    /// A deletion.
    DeleteRange(DeleteRangeRequest),
    /// A transaction.
    Txn(TxnRequest),
    /// A compaction to the given revision.
    Compact(i64),
    /// Creates a lease. The ID and TTL are final: the server picked the ID
    /// (if the client did not) and applied the TTL rules before proposing.
    LeaseGrant(LeaseGrant),
    /// Ends a lease and deletes every key attached to it, in one revision.
    LeaseRevoke(i64),
    /// Records the remaining TTL of leases, so it survives a restart and a
    /// leader change.
    LeaseCheckpoint(Vec<LeaseCheckpoint>),
}

/// A lease to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The lease ID; never 0.
    pub id: i64,
    /// Its TTL in seconds.
    pub ttl_secs: i64,
}

/// The remaining TTL of one lease at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseCheckpoint {
    /// The lease ID.
    pub id: i64,
    /// Seconds left; 0 means the whole granted TTL (the lease was renewed).
    pub remaining_ttl_secs: i64,
}

/// A lease as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The lease ID.
    pub id: i64,
    /// The TTL it was granted with, in seconds.
    pub granted_ttl_secs: i64,
    /// The remaining TTL at its last checkpoint, in seconds; 0 if none was
    /// recorded since the grant or the last renewal.
    pub remaining_ttl_secs: i64,
}

/// What happened to a key in one change (etcd's `mvccpb.Event.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The key was written.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change to one key, as watchers see it (etcd's `mvccpb.Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// For a put, the key's new state; for a delete, the key with its
    /// `mod_revision` set to the deletion's revision and every other field
    /// zero, as in etcd.
    pub kv: KeyValue,
    /// The key's state just before the change, if it existed (and, for
    /// changes read back from history, if compaction has not removed it).
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    /// The main revision of the change.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// The result of an applied [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandResponse {
    /// A put's result.
    Put(PutResponse),
    /// A deletion's result.
    DeleteRange(DeleteRangeResponse),
    /// A transaction's result.
    Txn(TxnResponse),
    /// A compaction's result.
    Compact(CompactResponse),
    /// A lease grant's, revoke's or checkpoint's result: the revision after
    /// it (a revoke that deleted keys bumps it).
    Lease(LeaseResponse),
}

/// The result of a lease command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaseResponse {
    /// The current revision after the command.
    pub revision: i64,
}

/// Request limits that the store enforces with etcd's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most operations in one transaction branch (and most compares):
    /// etcd's `--max-txn-ops`, default 128.
    pub max_txn_ops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_txn_ops: 128 }
    }
}

//! keel's MVCC store: etcd's revision semantics over an ordered key-value
//! backend.
//!
//! Every write request that changes something bumps the store's revision by
//! one; every version of every key is kept until a compaction removes the
//! history below a revision. Reads can ask for any uncompacted revision.
//! The rules are etcd's exactly (see `../shared/etcd-compat.md`): revisions
//! `(main, sub)`, `create_revision` / `mod_revision` / `version` / `lease`,
//! tombstones, every Range option, Put's `prev_kv` / `ignore_value` /
//! `ignore_lease`, DeleteRange's `prev_kvs`, nested transactions with
//! read-your-writes and the duplicate-key and max-ops rules, compaction, and
//! a history hash.
//!
//! ```text
//!   Command ──► Store::apply ──► WriteTxn (txn.rs) ──► one WriteBatch ──┐
//!                 │   validate.rs: etcd's request checks                │
//!                 └──► events ──► watch::WatchHub ──► watchers          │
//!                                   ▲ catch-up: watch/history.rs ◄──────┤
//!                                                                       ▼
//!   RangeRequest ─► Store::range ──► read.rs: newest version ≤ rev ◄── Backend
//!                                                                (RocksDB | memory)
//! ```
//!
//! - [`backend`]: the storage seam. [`backend::RocksBackend`] (not built
//!   under `--cfg madsim`) and [`backend::MemoryBackend`] store the same
//!   bytes and pass one conformance suite.
//! - `encoding.rs`: the byte layout of the five tables (spec:
//!   `mvcc/FORMAT.md`).
//! - `read.rs`, `txn.rs`, `store.rs`: the rules. They do no I/O of their own
//!   beyond the backend calls, take no time and no randomness.
//! - [`watch`]: the watchable store. Every applied command hands its events
//!   to a [`watch::WatchHub`], which offers them to the watchers they match
//!   without ever waiting; watchers that fall behind catch up from the
//!   change log.
//! - Leases: the store keeps each lease's record and the keys attached to
//!   it ([`Command::LeaseGrant`], [`Command::LeaseRevoke`],
//!   [`Command::LeaseCheckpoint`]); when a lease expires is the `lease`
//!   crate's business.
//!
//! # Why this layout
//!
//! etcd keeps an in-memory B-tree of every key and its revisions and
//! rebuilds it by scanning the whole database at every start: memory grows
//! with the key count (≈ 470 MB RSS at 1 M keys), restarts get slower as
//! data grows, and users hit its 2–8 GiB ceiling. keel keeps no index in
//! memory. The `versions` table is ordered by `key ‖ inverted revision`, so
//!
//! - the newest version of a key at or below revision R is one seek;
//! - a range read is a forward scan in key order that can stop at its limit
//!   and streams from disk, whatever the range's size;
//! - opening the store reads two numbers, not the whole history, so it
//!   starts in constant time;
//! - RSS is bounded by RocksDB's block cache and memtables, not by the data.
//!
//! The `revisions` table (`revision → key`) orders changes by revision, for
//! compaction (which only visits keys changed since the last compaction)
//! and for watch catch-up. `docs/benchmarks.md` has the RSS and reopen
//! figures at 1 M keys.
//!
//! # Durability and atomicity
//!
//! Each command is one atomic batch that also carries the caller's metadata
//! (the Raft applied log id), so after a crash the data and the applied
//! index agree, and the state machine replays the Raft log from there. The
//! backend need not fsync: durability lives in the Raft log.

pub mod backend;
mod encoding;
mod error;
mod range_bounds;
mod read;
mod store;
mod txn;
mod types;
mod validate;
pub mod watch;

pub use error::MvccError;
pub use range_bounds::{KeyRange, RangeEnd};
pub use store::{ExportEntry, ExportVisitor, Store, EMPTY_STORE_REVISION, NEVER_COMPACTED};
pub use types::{
    Command, CommandResponse, CompactResponse, Compare, CompareResult, CompareTarget,
    DeleteRangeRequest, DeleteRangeResponse, Event, EventKind, HashKvResponse, KeyValue,
    LeaseCheckpoint, LeaseGrant, LeaseRecord, LeaseResponse, Limits, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RequestOp, ResponseOp, Revision, SortOrder, SortTarget,
    TxnRequest, TxnResponse,
};

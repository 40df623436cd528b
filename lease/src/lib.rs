//! keel's lessor: the lease table, TTLs, expiry and checkpoint scheduling,
//! as plain logic with no I/O and no clock (time comes in as `now_ms`, on a
//! monotonic clock the caller owns).
//!
//! The persistent lease state (ID, granted TTL, last checkpointed remaining
//! TTL) lives in the mvcc store and is replicated through Raft. Every member
//! applies the same lease commands in log order and mirrors them into its
//! [`Lessor`]. Only the leader, the *primary*, tracks expiry: it asks the
//! lessor which leases have expired and proposes their revokes, serves
//! keep-alives (never logged), and periodically proposes checkpoints of the
//! remaining TTLs so that they survive restarts and leader changes (etcd
//! resets them to the full TTL on leader change, etcd issues 9395 and 9888;
//! keel does not). Key attachment and deleting a revoked lease's keys are the
//! store's business, not this crate's.
//!
//! ```text
//!   Raft log (same order everywhere)        persisted records (at start)
//!   grant / revoke / checkpoint(id, rem)         |
//!        |                                       | restore
//!        v apply_*                               v
//!  +-------------------------------------------------------------------+
//!  | Lessor (every member)                                             |
//!  |   mirror: id -> (granted TTL, persisted remaining TTL; 0 = full)  |
//!  |                                                                   |
//!  |   +-----------------------------------------------------------+   |
//!  |   | Primary (leader only: built by promote, dropped by demote)|   |
//!  |   |   expiry per lease (now + persisted TTL + extend)         |   |
//!  |   |   expiry queue     {(deadline, id)} --expired()----------------> propose revoke
//!  |   |   checkpoint queue {(due, id)}      --checkpoints_due()--------> propose checkpoint
//!  |   |   keep-alive --renew(id)--> new expiry, reset? ----------------> propose checkpoint(id, 0)
//!  |   +-----------------------------------------------------------+   |
//!  +-------------------------------------------------------------------+
//! ```
//!
//! Both queues are ordered sets holding each lease at most once, so renews
//! and revokes cost O(log n) and nothing grows with the number of renews.
//!
//! # The safety rule
//!
//! The persisted remaining TTL must never be LESS than the true remaining
//! TTL, the time the client was promised at its last grant or keep-alive;
//! otherwise a new leader would expire a lease its client is keeping alive.
//! Hence:
//!
//! - checkpoints are rounded UP to whole seconds;
//! - after a renew, if a checkpoint below the granted TTL is recorded (or on
//!   its way), [`Lessor::renew`] asks for a reset checkpoint (remaining 0,
//!   "the full granted TTL"), as etcd does, and the keep-alive should be
//!   answered only once it is applied (see [`ResetCheckpoint`]);
//! - the mirror changes only when a checkpoint comes back through the log,
//!   never on the leader's say-so.
//!
//! A promote adds `extend_ms` on top of the persisted TTL, so a lease can
//! outlive its promise by that much, never the other way round.
//!
//! # Driving it (the server's part)
//!
//! - Restore from the store at start, then apply every lease command in log
//!   order on every member.
//! - On becoming leader, once the entries of earlier terms are applied, call
//!   [`Lessor::promote`]; on losing leadership, [`Lessor::demote`].
//! - Before proposing a client's revoke, call [`Lessor::note_revoke_proposed`].
//! - While leader, at [`Lessor::next_deadline_ms`] (or on a tick), propose a
//!   revoke for each of [`Lessor::expired`] and the checkpoints of
//!   [`Lessor::checkpoints_due`], in the order returned, from one task, so
//!   that the log holds them in the order the lessor issued them.

mod error;
mod lessor;
mod primary;
mod queue;
mod record;
mod ttl;

pub use error::LeaseError;
pub use lessor::{
    Lessor, LessorConfig, Renewed, ResetCheckpoint, TimeToLive, CHECKPOINT_BATCH_MAX,
    DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_PROPOSAL_RETRY_MS, EXPIRED_BATCH_MAX,
};
pub use ttl::{effective_ttl, min_ttl_secs, LeaseId, MAX_LEASE_TTL_SECS, NO_LEASE};

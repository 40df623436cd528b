//! `keeld`, keel's server.
//!
//! It wires openraft to the `raft-log` WAL (log storage) and the `mvcc`
//! store (state machine, one atomic batch per applied entry), and serves
//! etcd's gRPC services from the `keel-proto` definitions, with one table
//! that maps every internal error to etcd's exact gRPC code and message.
//!
//! ```text
//!   api/kv.rs ─────── Range/Put/DeleteRange/Txn/Compact ──► node.rs: propose | read barrier
//!   api/watch.rs ──── streams ──► the store's WatchHub (mvcc) ◄── run_catchup, run_progress_notify
//!   api/lease.rs ──── lease.rs: grant/revoke proposals, keep-alive on the Lessor,
//!                      run_lessor (leader: expire, checkpoint)
//!   api/lock.rs, api/election.rs ── concurrency.rs: etcd's recipes, server-side
//!   api/maintenance.rs, api/health.rs
//!   forward.rs ── what only the leader does, handed to it; leader_wait.rs: a request
//!                  that needs a leader waits out an election (api/require_leader.rs:
//!                  etcd's `hasleader: true` fails at once instead)
//!   raft/ ── openraft: log_store.rs (raft-log), state_machine.rs (mvcc + lessor mirror),
//!            snapshot.rs
//! ```
//!
//! The same code builds under `RUSTFLAGS="--cfg madsim"` for the
//! deterministic simulation (`tests/sim`, docs/testing.md): openraft then
//! runs on `raft/sim_runtime.rs`, blocking work runs inline
//! (`blocking.rs`), the raft log sits on madsim's simulated disk, and
//! `observe.rs` and `bugs.rs` (deliberate, test-only bugs) exist only there.

pub mod api;
pub mod blocking;
pub mod bugs;
pub mod clock;
pub mod concurrency;
pub mod config;
pub mod convert;
pub mod error;
pub mod forward;
pub mod ids;
pub mod leader_wait;
pub mod lease;
pub mod metrics;
pub mod node;
#[cfg(madsim)]
pub mod observe;
pub mod raft;
pub mod restore;
pub mod server;

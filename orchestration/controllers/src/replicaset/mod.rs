//! The ReplicaSet controller's decisions (`pkg/controller/replicaset/`):
//! keep `spec.replicas` active pods that match the selector, owned through
//! controller references, and report them in the status.
//!
//! ```text
//!   informer caches ─► reconcile_replica_set ─► ReplicaSetPlan
//!                        claim ─ adopt / release          │ adapter: expectations,
//!                        ranking ─ least valuable first   │ slow-start creations,
//!                        status ─ counts, ReplicaFailure  ▼ deletions, status write
//! ```
//!
//! - [`claim`]: which pods (or ReplicaSets) a controller owns, adopts or
//!   releases.
//! - [`expectations`]: creations and deletions awaited from the watch.
//! - [`slow_start`]: creation batches of 1, 2, 4, ...
//! - [`ranking`]: which pods go first when there are too many.
//! - [`status`]: the status counts and the ReplicaFailure condition.
//! - [`reconcile`]: one sync, from the caches to a plan.
//! - [`run`]: the controller at work (the adapter: caches in, store
//!   writes out through [`crate::adapter`]).

pub mod claim;
pub mod expectations;
pub mod ranking;
pub mod reconcile;
pub mod run;
pub mod slow_start;
pub mod status;

pub use reconcile::{reconcile_replica_set, ReplicaSetInput, ReplicaSetPlan, BURST_REPLICAS};

//! keel's scheduler: places each pending pod on a node, as kube-scheduler
//! does, reading pods and nodes from keel's watch streams and binding
//! through the store.
//!
//! ```text
//!   pods, nodes (informers) ─► snapshot of nodes + assumed pods
//!        pending pod ─► filters ─► feasible nodes ─► scores ─► best node
//!                                   │ none                      │
//!                      PodScheduled=False + FailedScheduling     bind (CAS on the pod)
//! ```
//!
//! The decisions are plain functions over plain data; the I/O lives in a
//! thin adapter around them. This crate is that pure core:
//!
//! ```text
//!   watch events ─► model::Cluster (nodes, pods on them, assume cache)
//!   pending pods ─► queue::SchedulingQueue ─► pop
//!        ─► schedule::schedule(cluster, pod, search state, random)
//!             filters (sample::num_feasible_nodes_to_find of them) ─► scores ─► node
//!        ─► Ok: cluster.assume(pod, node), the adapter binds
//!        ─► Err(diagnosis): diagnosis.message() for the event and condition,
//!                           queue.unschedulable(pod, now)
//! ```
//!
//! - [`model`]: pods and nodes read from JSON, and the [`model::Cluster`].
//! - [`filters`]: whether a pod may go on a node, with Kubernetes' reasons.
//! - [`scores`]: how good a feasible node is, weighted as kube-scheduler.
//! - [`sample`]: how many feasible nodes a search looks for.
//! - [`schedule`]: one decision.
//! - [`diagnosis`]: the FailedScheduling message and condition.
//! - [`queue`]: which pod next, backoff, and retries on events.
//! - [`random`]: the randomness seam for tie-breaks.
//! - [`run`]: the adapter: informers, the scheduling loop, binds, events,
//!   leader election (`keel scheduler`).
//!
//! No clock is read and no random number drawn in the core: time comes in
//! as a `Duration` since the caller's origin, randomness through
//! [`random::Random`]; [`run`] reads the clock and picks the seed.

pub mod diagnosis;
pub mod filters;
pub mod model;
pub mod queue;
pub mod random;
pub mod run;
pub mod sample;
pub mod schedule;
pub mod scores;

pub use diagnosis::Diagnosis;
pub use model::{Cluster, Node, NodeInfo, PodInfo, PodKey};
pub use queue::{QueueConfig, SchedulingQueue};
pub use random::{Random, SplitMix64};
pub use schedule::{schedule, Decision, SearchState};

//! keel's controllers: they turn Deployments, ReplicaSets, Jobs,
//! DaemonSets, Services and node heartbeats into pods, endpoints and
//! evictions, as kube-controller-manager does.
//!
//! ```text
//!   manager: Context (shared informers, store, options) ─► every controller
//!
//!   informers ─► controller runner (work queue) ─► <controller>/run.rs: reconcile(key)
//!                                                    │ reads the caches (adapter)
//!                                                    ▼
//!                  <controller>/mod.rs + its files: the pure core,
//!                  objects and `now` in, a plan out (pods.rs: what it reads of pods)
//!                                                    │
//!                                                    ▼
//!                  <controller>/run.rs applies the plan through adapter/
//!                  (writes, awaited writes, decode/encode, the wall clock)
//! ```
//!
//! Each controller's decisions are plain functions over plain data; the
//! I/O lives in a thin adapter around them, its `run.rs`, built from
//! [`adapter`]'s shared pieces.
//!
//! - [`manager`]: the controller manager: shared informers, the store,
//!   options, and every controller started and stopped together.
//! - [`adapter`]: what the adapters share: the store writes several
//!   controllers make, the writes awaited from the pod cache, decoding,
//!   encoding and the wall clock.
//! - [`pods`]: what controllers read from pods (phase, readiness,
//!   activity, availability, in JSON or typed form) and from any object's
//!   metadata (controller references, timestamps), and the pod made from
//!   a template.
//! - [`replicaset`]: the ReplicaSet controller.
//! - [`deployment`]: the Deployment controller.
//! - [`daemonset`]: the DaemonSet controller (one pod per eligible node,
//!   rolling updates, ControllerRevisions).
//! - [`job`]: the Job controller (completions, parallelism, backoffLimit,
//!   activeDeadlineSeconds, the Complete and Failed conditions,
//!   ttlSecondsAfterFinished).
//! - [`nodes`]: the node lifecycle controller (heartbeats, conditions,
//!   taints) and the taint eviction controller.
//! - [`endpoints`]: the Endpoints controller (a Service's ready and
//!   not-ready pod addresses and ports).
//! - [`gc`]: the garbage collector (owner references: background,
//!   foreground, orphan) and the namespace deleter.
//! - [`ipam`]: node IPAM's range allocator (each node's podCIDR).
//! - [`podgc`]: the pod garbage collector (pods on nodes that are gone,
//!   pods deleted before they were scheduled, finished pods beyond a
//!   threshold).

pub use keel_runtime::events;

pub mod adapter;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod ipam;
pub mod job;
pub mod manager;
pub mod nodes;
pub mod podgc;
pub mod pods;
pub mod replicaset;

#[cfg(test)]
mod test_support;

//! keel's controllers: they turn Deployments, ReplicaSets, Jobs,
//! DaemonSets, Services and node heartbeats into pods, endpoints and
//! evictions, as kube-controller-manager does.
//!
//! ```text
//!   informers ─► controller runner (work queue) ─► reconcile(key)
//!                                                    │ plain function: objects in, actions out
//!                                                    ▼
//!                                                  store writes
//! ```
//!
//! Each controller's decisions are plain functions over plain data; the
//! I/O lives in a thin adapter around them.
//!
//! - [`manager`]: the controller manager: shared informers, the store,
//!   options, and every controller started and stopped together.
//! - [`pods`]: what controllers read from pods and metadata (readiness,
//!   availability, controller references) and the pod made from a
//!   template.
//! - [`replicaset`]: the ReplicaSet controller's decisions.
//! - [`deployment`]: the Deployment controller's decisions.
//! - [`daemonset`]: the DaemonSet controller (one pod per eligible node,
//!   rolling updates, ControllerRevisions), pure core and adapter.
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
//! - [`pod_status`]: what the controllers read off a pod (ready, finished,
//!   active, its controller).

pub use keel_runtime::events;

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod ipam;
pub mod job;
pub mod manager;
pub mod nodes;
pub mod pod_status;
pub mod pods;
pub mod replicaset;

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
//! - [`pods`]: what controllers read from pods and metadata (readiness,
//!   availability, controller references) and the pod made from a
//!   template.
//! - [`replicaset`]: the ReplicaSet controller's decisions.
//! - [`deployment`]: the Deployment controller's decisions.

pub mod deployment;
pub mod pods;
pub mod replicaset;

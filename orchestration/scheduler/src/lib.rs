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
//! thin adapter around them.

//! The node lifecycle controller (`pkg/controller/nodelifecycle/`) and the
//! taint eviction controller (`pkg/controller/tainteviction/`), Kubernetes
//! 1.33, with TaintBasedEvictions:
//!
//! ```text
//!   node + its Lease + now ─► health::node_health
//!       no heartbeat (Ready's lastHeartbeatTime, the Lease's renewTime)
//!       for the grace period ─► Ready, MemoryPressure, DiskPressure,
//!       PIDPressure := Unknown "NodeStatusUnknown"
//!       conditions ─► taints: Ready False ─► not-ready:NoSchedule+NoExecute
//!                             Ready Unknown ─► unreachable:NoSchedule+NoExecute
//!                             pressures, unschedulable ─► their NoSchedule taints
//!   pod + its node's taints + now ─► eviction::taint_eviction
//!       an untolerated NoExecute taint ─► evict now
//!       tolerated for a while ─► evict at timeAdded + min(tolerationSeconds)
//!       tolerated for ever ─► keep
//! ```
//!
//! Not modelled: the zones' disruption modes and the eviction rate limits
//! (kube-controller-manager taints at most 0.1 nodes per second per zone,
//! and stops when a whole zone is down); keel taints at once.

mod eviction;
mod health;
pub mod run;

#[cfg(test)]
mod tests;

pub use eviction::{
    disruption_condition, eviction_notice, taint_eviction, tolerates, Eviction, EVICTION_MESSAGE,
    EVICTION_REASON,
};
pub use health::{
    node_health, pod_marked_not_ready, NodeHealth, NodeTimings, NEVER_UPDATED_MESSAGE,
    STOPPED_POSTING_MESSAGE,
};

/// The taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a cordoned node (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// The taint of a node under memory pressure.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// The taint of a node under disk pressure.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// The taint of a node under process-id pressure.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// The taint of a node whose network is not set up.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

//! The scheduler's data: pods and nodes read from their JSON into compact
//! forms, and the cluster they make up, updated one event at a time.
//!
//! ```text
//!   pod JSON ─► PodInfo ──┐
//!   node JSON ─► Node ────┴─► Cluster { NodeInfo (node + its pods + totals) ... }
//! ```
//!
//! - [`terms`]: node selector terms, taints, tolerations, affinity terms.
//! - [`pod`]: [`PodInfo`] and its requests.
//! - [`node`]: [`Node`] and [`NodeInfo`].
//! - [`cluster`]: [`Cluster`], with the assume cache.

pub mod cluster;
pub mod node;
pub mod pod;
pub mod terms;

pub use cluster::{AssumeError, Cluster, PodChange};
pub use node::{Allocatable, Node, NodeInfo};
pub use pod::{HostPort, NonZeroRequests, Owner, PodInfo, PodKey, Resources};

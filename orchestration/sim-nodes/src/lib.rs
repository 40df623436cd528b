//! Simulated nodes, in the manner of kwok: many Nodes that register,
//! renew their Leases and move the pods bound to them through a kubelet's
//! stages, without running anything. The scheduler and controllers cannot
//! tell them from real nodes, so they are tested and benchmarked at the
//! scale of thousands of nodes on one machine.
//!
//! ```text
//!   keel sim-nodes --count N
//!     register ─► Node (Ready, capacity) + Lease in kube-node-lease
//!     renew    ─► every Lease, batched in Txns, every interval
//!     pods     ─► informer ─► runner ─► step(pod, now) ─► status / final delete
//! ```
//!
//! - [`node`]: a simulated node's Node and Lease objects (pure).
//! - [`pod`]: a pod's next stage and the statuses written (pure).
//! - [`address`]: node and pod addresses (pure).
//! - [`run`]: the adapter that does it against keel.

pub mod address;
pub mod node;
pub mod pod;
pub mod run;

pub use node::Capacity;
pub use run::{run, Options, SimError};

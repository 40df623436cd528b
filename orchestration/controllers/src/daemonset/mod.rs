//! The DaemonSet controller's decisions (pkg/controller/daemon): one pod
//! per eligible node, rolled to a new template a few nodes at a time,
//! with the templates kept as ControllerRevisions.
//!
//! ```text
//!   DaemonSet + nodes + its pods + its ControllerRevisions + now
//!     │ history:  the current template's revision (created, or an old
//!     │           one of the same hash brought back with a new number)
//!     │ eligible: per node, should it run a daemon pod, and may a
//!     │           running one stay (node affinity, taints with the
//!     │           DaemonSet's default tolerations)
//!     │ manage:   create the missing pods (pinned by node affinity, the
//!     │           scheduler binds them), delete extra, failed and
//!     │           misplaced ones
//!     │ roll:     delete old-template pods within maxUnavailable
//!     ▼
//!   DaemonSetPlan { revisions, create_on, delete, status }
//! ```

pub mod eligible;
pub mod history;
pub mod run;
pub mod sync;

pub use sync::{sync, DaemonSetInput, DaemonSetPlan};

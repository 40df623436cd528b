//! What the kubelet does with a pod bound to its node, as plain
//! decisions over plain data: the pod as stored, what is known of each of
//! its containers ([`ContainerRecord`]), and the time. The pod worker
//! (`crate::worker`) carries them out against the runtime and keel.
//!
//! ```text
//!   pod + records + now ─► plan::plan ─► Start(name) / Stop(name, grace) / Remove
//!                        └► status::status ─► the pod's status as the kubelet writes it
//! ```
//!
//! The lifecycle follows the kubelet's `computePodActions` and
//! `getPhase`: init containers one after the other, each to a successful
//! exit, then every container; exits restarted by `restartPolicy` with
//! [`backoff`]; a deleted pod's containers stopped within its grace
//! period, then the pod removed.

pub mod backoff;
pub mod eviction;
pub mod plan;
pub mod probe;
pub mod status;
#[cfg(test)]
mod tests;

use jiff::Timestamp;

use crate::runtime::{ContainerId, State};

pub use backoff::{Backoff, BackoffPolicy};
pub use plan::{plan, Action, Plan};
pub use status::{status, Placement};

/// One run of a container, as the runtime started it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The runtime's id of this run.
    pub id: ContainerId,
    /// Which run (the restart count when it started).
    pub attempt: u32,
    /// Running, or how it ended.
    pub state: State,
    /// The id of the image it runs (`sha256:...`).
    pub image_id: String,
}

impl Run {
    /// When it ended, if it has.
    pub fn finished_at(&self) -> Option<Timestamp> {
        match &self.state {
            State::Exited { exit, .. } => Some(exit.finished_at),
            State::Running { .. } => None,
        }
    }

    /// Its exit code, if it has ended.
    pub fn exit_code(&self) -> Option<i32> {
        match &self.state {
            State::Exited { exit, .. } => Some(exit.code),
            State::Running { .. } => None,
        }
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }
}

/// Why a container does not run now, as its status's `waiting` says
/// (`ErrImagePull`, `ImagePullBackOff`, `CrashLoopBackOff`,
/// `CreateContainerConfigError`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The reason, one CamelCase word.
    pub reason: String,
    /// What a person reads.
    pub message: String,
}

/// What the pod worker knows of one container of a pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerRecord {
    /// Its latest run.
    pub current: Option<Run>,
    /// The run before (its status's `lastState`).
    pub previous: Option<Run>,
    /// Why it does not run now (set when a start failed before a run).
    pub waiting: Option<Waiting>,
    /// When a start that failed before a run (an image missing, a
    /// ConfigMap missing) may be tried again.
    pub retry_at: Option<Timestamp>,
    /// Its restart back-off.
    pub backoff: Option<Backoff>,
    /// Its back-off for starts that fail before a run.
    pub failed_start_backoff: Option<Backoff>,
    /// Its startup probe has succeeded (or it has none) since it started.
    pub started: bool,
    /// Its readiness probe passes (or it has none and it has started).
    pub ready: bool,
    /// A stop has been asked for and not yet seen through.
    pub stopping: bool,
}

impl ContainerRecord {
    /// Whether its latest run runs.
    pub fn is_running(&self) -> bool {
        self.current.as_ref().is_some_and(Run::is_running)
    }

    /// How many times it was restarted: its latest run's attempt.
    pub fn restart_count(&self) -> u32 {
        self.current.as_ref().map_or(0, |run| run.attempt)
    }

    /// Whether its latest run exited with 0.
    pub fn succeeded(&self) -> bool {
        self.current.as_ref().and_then(Run::exit_code) == Some(0)
    }
}

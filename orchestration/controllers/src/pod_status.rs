//! What the controllers read off a pod, as `k8s.io/kubernetes/pkg/api/v1/pod`
//! and `pkg/controller/controller_utils.go` read it: is it ready, finished,
//! still active, being deleted, who controls it, and when it finished.
//!
//! ```text
//!   pod ─► phase / conditions / deletionTimestamp / ownerReferences
//!        ─► is_ready · is_terminal · is_active · is_terminating · controller_uid
//! ```

use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::k8s_openapi::jiff::Timestamp;

/// The pod's phase ("" when the status has none yet).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The status of the pod's condition `kind` ("True", "False", "Unknown"),
/// if it has one.
pub fn condition_status<'p>(pod: &'p Pod, kind: &str) -> Option<&'p str> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.as_str())
}

/// Whether the pod's Ready condition is True (`podutil.IsPodReady`).
pub fn is_ready(pod: &Pod) -> bool {
    condition_status(pod, "Ready") == Some("True")
}

/// Whether the pod has finished for good: Succeeded or Failed
/// (`podutil.IsPodTerminal`).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether the pod is being deleted (has a deletionTimestamp).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Whether the pod counts as one of its controller's running replicas
/// (`controller.IsPodActive`): not finished and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_terminating(pod)
}

/// The uid of the pod's controller (the owner reference with
/// `controller: true`), if any.
pub fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// The pod's name ("" if it has none).
pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// The pod's uid ("" if it has none).
pub fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

/// When the pod finished, as the Job controller's `getFinishedTime` reads
/// it: the latest `finishedAt` of its terminated containers, else when its
/// Ready condition turned False, else its deletionTimestamp, else `now`.
pub fn finish_time(pod: &Pod, now: Timestamp) -> Timestamp {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten();
    let from_containers = containers
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let from_ready = || {
        status?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")?
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
    };
    from_containers
        .or_else(from_ready)
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now)
}

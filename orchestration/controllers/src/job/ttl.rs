//! The TTL-after-finished controller's decision
//! (`pkg/controller/ttlafterfinished/ttlafterfinished_controller.go`): a
//! finished Job with `ttlSecondsAfterFinished` is deleted that long after
//! it finished (the adapter deletes it with `propagationPolicy:
//! Foreground` and a uid precondition, as Kubernetes does).

use keel_api::k8s_openapi::api::batch::v1::Job;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::finished_condition;

/// What to do about a Job's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlDecision {
    /// Nothing: no TTL, not finished, or already being deleted.
    Keep,
    /// Its time is up: delete it.
    DeleteNow,
    /// Look again after this long.
    DeleteAfter(SignedDuration),
}

/// The decision for `job` at `now`: its finish time is the
/// lastTransitionTime of its Complete or Failed condition.
pub fn ttl_after_finished(job: &Job, now: Timestamp) -> TtlDecision {
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
    let finished_at = finished_condition(job).and_then(|c| c.last_transition_time.as_ref());
    let (Some(ttl), Some(finished_at), None) = (ttl, finished_at, &job.metadata.deletion_timestamp)
    else {
        return TtlDecision::Keep;
    };
    let left = SignedDuration::from_secs(i64::from(ttl)) - now.duration_since(finished_at.0);
    if left <= SignedDuration::ZERO {
        TtlDecision::DeleteNow
    } else {
        TtlDecision::DeleteAfter(left)
    }
}

//! What the Deployment controller reads from a Deployment's spec, with
//! apps/v1's defaults for what is missing (objects in keel are already
//! defaulted; the fallbacks only keep hand-written test objects short).

use serde_json::Value;

use crate::pods::{i64_at, str_at};

/// `progressDeadlineSeconds` and `revisionHistoryLimit` at this value mean
/// "none" (`math.MaxInt32` in `HasProgressDeadline`,
/// `HasRevisionHistoryLimit`).
const UNLIMITED: i64 = i32::MAX as i64;

/// `spec.replicas` (1 when missing).
pub fn replicas(deployment: &Value) -> i64 {
    i64_at(deployment, "/spec/replicas").unwrap_or(1)
}

/// Whether the strategy is RollingUpdate (the default) rather than
/// Recreate.
pub fn is_rolling_update(deployment: &Value) -> bool {
    matches!(
        str_at(deployment, "/spec/strategy/type"),
        "RollingUpdate" | ""
    )
}

/// `spec.paused`.
pub fn is_paused(deployment: &Value) -> bool {
    deployment
        .pointer("/spec/paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(deployment: &Value) -> i64 {
    i64_at(deployment, "/spec/minReadySeconds").unwrap_or(0)
}

/// `spec.progressDeadlineSeconds`, unless unset or unlimited.
pub fn progress_deadline_seconds(deployment: &Value) -> Option<i64> {
    i64_at(deployment, "/spec/progressDeadlineSeconds").filter(|&secs| secs != UNLIMITED)
}

/// `spec.revisionHistoryLimit`, unless unset or unlimited.
pub fn revision_history_limit(deployment: &Value) -> Option<i64> {
    i64_at(deployment, "/spec/revisionHistoryLimit").filter(|&limit| limit != UNLIMITED)
}

/// `spec.template` (null when missing).
pub fn template(deployment: &Value) -> &Value {
    deployment.pointer("/spec/template").unwrap_or(&Value::Null)
}

/// A ReplicaSet's `spec.replicas` (1 when missing, as defaulted).
pub fn rs_replicas(replica_set: &Value) -> i64 {
    i64_at(replica_set, "/spec/replicas").unwrap_or(1)
}

/// A count in an object's status (0 when missing).
pub fn status_count(object: &Value, field: &str) -> i64 {
    object
        .get("status")
        .and_then(|status| status.get(field))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

//! A ReplicaSet's status as its controller writes it (`calculateStatus`
//! and `updateReplicaSetStatus` in `pkg/controller/replicaset/`):
//! counts of its active pods, and a ReplicaFailure condition while it
//! cannot create or delete them.
//!
//! ```text
//!   claimed active pods ─► replicas, fullyLabeledReplicas (template labels),
//!                          readyReplicas, availableReplicas (minReadySeconds at now)
//!   last create/delete error ─► ReplicaFailure=True (FailedCreate | FailedDelete)
//! ```

use jiff::Timestamp;
use keel_api::selector::LabelSelector;
use serde_json::{json, Map, Value};

use crate::pods::{format_time, generation_of, i64_at, is_available, is_ready};

/// Why the last sync's creations or deletions failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaFailure {
    /// A pod create failed; the API's message.
    Create(String),
    /// A pod delete failed; the API's message.
    Delete(String),
}

/// Sets `condition` in `conditions`, replacing one of its type unless that
/// one has the same status and reason (then nothing changes), as the
/// controllers' `SetCondition` helpers do.
pub fn set_condition(conditions: &mut Vec<Value>, condition: Value) {
    let kind = condition["type"].clone();
    if let Some(current) = conditions.iter().find(|c| c["type"] == kind) {
        if current["status"] == condition["status"] && current["reason"] == condition["reason"] {
            return;
        }
    }
    conditions.retain(|c| c["type"] != kind);
    conditions.push(condition);
}

/// Inserts a count, leaving zeros out as Go's `omitempty` does, except
/// where the field is always written.
pub(crate) fn put_count(status: &mut Map<String, Value>, field: &str, count: i64, always: bool) {
    if always || count != 0 {
        status.insert(field.into(), count.into());
    } else {
        status.remove(field);
    }
}

/// The status `rs` should have with these claimed active `pods`, after a
/// sync whose creations or deletions failed with `failure` (if any).
pub fn replica_set_status(
    rs: &Value,
    pods: &[&Value],
    failure: Option<&ReplicaFailure>,
    now: Timestamp,
) -> Value {
    let template_labels = rs
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let template_selector =
        LabelSelector::from_json(&json!({"matchLabels": template_labels})).unwrap_or_default();
    let min_ready_seconds = i64_at(rs, "/spec/minReadySeconds").unwrap_or(0);
    let fully_labeled = pods
        .iter()
        .filter(|p| template_selector.matches_object(p))
        .count();
    let ready = pods.iter().filter(is_ready).count();
    let available = pods
        .iter()
        .filter(|p| is_available(p, min_ready_seconds, now))
        .count();

    let mut status = rs
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c["type"] == "ReplicaFailure");
    match failure {
        Some(failure) if !has_failure => {
            let (reason, message) = match failure {
                ReplicaFailure::Create(message) => ("FailedCreate", message),
                ReplicaFailure::Delete(message) => ("FailedDelete", message),
            };
            set_condition(
                &mut conditions,
                json!({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": format_time(now),
                       "reason": reason, "message": message}),
            );
        }
        None if has_failure => conditions.retain(|c| c["type"] != "ReplicaFailure"),
        _ => {}
    }
    if conditions.is_empty() {
        status.remove("conditions");
    } else {
        status.insert("conditions".into(), conditions.into());
    }
    put_count(&mut status, "replicas", pods.len() as i64, true);
    put_count(
        &mut status,
        "fullyLabeledReplicas",
        fully_labeled as i64,
        false,
    );
    put_count(&mut status, "readyReplicas", ready as i64, false);
    put_count(&mut status, "availableReplicas", available as i64, false);
    put_count(&mut status, "observedGeneration", generation_of(rs), false);
    Value::Object(status)
}

/// Whether `new` differs from `rs`'s current status in what the
/// controller writes, or the spec's generation is not yet observed.
pub fn status_changed(rs: &Value, new: &Value) -> bool {
    let old = rs.get("status").cloned().unwrap_or_else(|| json!({}));
    let count =
        |status: &Value, field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let conditions = |status: &Value| {
        status
            .get("conditions")
            .cloned()
            .unwrap_or_else(|| json!([]))
    };
    [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
    ]
    .iter()
    .any(|field| count(&old, field) != count(new, field))
        || conditions(&old) != conditions(new)
        || count(&old, "observedGeneration") != generation_of(rs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-01T00:01:00Z".parse().unwrap()
    }

    fn pod(labels: Value, ready_since: Option<&str>) -> Value {
        let conditions = match ready_since {
            Some(t) => json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]),
            None => json!([]),
        };
        let mut pod =
            json!({"metadata": {}, "status": {"phase": "Running", "conditions": conditions}});
        pod["metadata"]["labels"] = labels;
        pod
    }

    #[test]
    fn counts_follow_labels_readiness_and_min_ready_seconds() {
        let rs = json!({
            "metadata": {"generation": 3},
            "spec": {"replicas": 4, "minReadySeconds": 30,
                     "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}}}},
        });
        let pods = [
            pod(
                json!({"app": "web", "tier": "fe"}),
                Some("2025-01-01T00:00:00Z"),
            ),
            pod(
                json!({"app": "web", "tier": "fe"}),
                Some("2025-01-01T00:00:45Z"),
            ),
            pod(json!({"app": "web"}), None),
        ];
        let pods: Vec<&Value> = pods.iter().collect();
        let status = replica_set_status(&rs, &pods, None, now());
        assert_eq!(
            status,
            json!({"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                   "availableReplicas": 1, "observedGeneration": 3})
        );
        assert!(status_changed(&rs, &status));
        let mut written = rs.clone();
        written["status"] = status.clone();
        assert!(!status_changed(&written, &status));
    }

    #[test]
    fn a_failure_sets_replica_failure_until_a_sync_succeeds() {
        let rs = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1}});
        let failure = ReplicaFailure::Create("pods \"web-\" is forbidden: exceeded quota".into());
        let failed = replica_set_status(&rs, &[], Some(&failure), now());
        assert_eq!(
            failed["conditions"],
            json!([{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "2025-01-01T00:01:00Z",
                    "reason": "FailedCreate", "message": "pods \"web-\" is forbidden: exceeded quota"}])
        );
        assert_eq!(failed["replicas"], 0, "replicas is always written");
        let mut rs = rs;
        rs["status"] = failed;
        assert!(replica_set_status(&rs, &[], None, now())
            .get("conditions")
            .is_none());
    }
}

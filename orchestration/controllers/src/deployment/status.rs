//! A Deployment's status and conditions (`calculateStatus` in `sync.go`,
//! `syncRolloutStatus` and `requeueStuckDeployment` in `progress.go`,
//! `checkPausedConditions`): the counts summed over its ReplicaSets, and
//! the two conditions `kubectl rollout status` reads.
//!
//! ```text
//!   Available   True  MinimumReplicasAvailable    available ≥ replicas - maxUnavailable
//!               False MinimumReplicasUnavailable  otherwise
//!   Progressing True  NewReplicaSetCreated | FoundNewReplicaSet   (getNewReplicaSet)
//!               True  ReplicaSetUpdated           pods moved since the last sync
//!               True  NewReplicaSetAvailable      rollout complete
//!               False ProgressDeadlineExceeded    no move for progressDeadlineSeconds
//!               Unknown DeploymentPaused | DeploymentResumed
//! ```

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Map, Value};

use super::fenceposts::max_unavailable;
use super::spec::{is_paused, progress_deadline_seconds, replicas, status_count};
use crate::pods::{format_time, generation_of, name_of, timestamp_at};
use crate::replicaset::status::put_count;

/// Progressing: a new ReplicaSet was created.
pub const NEW_REPLICA_SET_REASON: &str = "NewReplicaSetCreated";
/// Progressing: an existing ReplicaSet was found to be the new one.
pub const FOUND_NEW_REPLICA_SET_REASON: &str = "FoundNewReplicaSet";
/// Progressing: a ReplicaSet moved.
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// Progressing: the rollout is complete.
pub const NEW_REPLICA_SET_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// Progressing=False: no progress within progressDeadlineSeconds.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// Progressing=Unknown: paused.
pub const PAUSED_REASON: &str = "DeploymentPaused";
/// Progressing=Unknown: resumed.
pub const RESUMED_REASON: &str = "DeploymentResumed";
/// Available=True.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available=False.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// A Deployment condition made at `now` (`NewDeploymentCondition`).
pub fn condition(kind: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> Value {
    let now = format_time(now);
    json!({"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

fn conditions_of(status: &Value) -> Vec<Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn put_conditions(status: &mut Value, conditions: Vec<Value>) {
    let fields = status.as_object_mut().expect("a status is a JSON object");
    if conditions.is_empty() {
        fields.remove("conditions");
    } else {
        fields.insert("conditions".into(), conditions.into());
    }
}

/// The condition of type `kind` in a status.
pub fn get_condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Sets `new` in a status: no change when one of its type has the same
/// status and reason; the transition time kept when only the reason
/// changes (`SetDeploymentCondition`).
pub fn set_condition(status: &mut Value, mut new: Value) {
    let mut conditions = conditions_of(status);
    if let Some(current) = conditions.iter().find(|c| c["type"] == new["type"]) {
        if current["status"] == new["status"] && current["reason"] == new["reason"] {
            return;
        }
        if current["status"] == new["status"] {
            new["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
    }
    conditions.retain(|c| c["type"] != new["type"]);
    conditions.push(new);
    put_conditions(status, conditions);
}

/// Removes the condition of type `kind`.
pub fn remove_condition(status: &mut Value, kind: &str) {
    let mut conditions = conditions_of(status);
    conditions.retain(|c| c["type"] != kind);
    put_conditions(status, conditions);
}

fn status_of(deployment: &Value) -> Value {
    match deployment.get("status") {
        Some(status) if status.is_object() => status.clone(),
        _ => json!({}),
    }
}

/// The status counts over `all` ReplicaSets with `new` the new one, the
/// collision count kept, and the Available condition (`calculateStatus`).
pub fn calculate_status(
    deployment: &Value,
    all: &[&Value],
    new: Option<&Value>,
    now: Timestamp,
) -> Value {
    let sum =
        |set: &[&Value], field: &str| set.iter().map(|rs| status_count(rs, field)).sum::<i64>();
    let spec_total: i64 = all.iter().map(|rs| super::spec::rs_replicas(rs)).sum();
    let available = sum(all, "availableReplicas");
    let unavailable = (spec_total - available).max(0);
    let mut status = Map::new();
    put_count(
        &mut status,
        "observedGeneration",
        generation_of(deployment),
        false,
    );
    put_count(&mut status, "replicas", sum(all, "replicas"), false);
    put_count(
        &mut status,
        "updatedReplicas",
        new.map_or(0, |rs| status_count(rs, "replicas")),
        false,
    );
    put_count(
        &mut status,
        "readyReplicas",
        sum(all, "readyReplicas"),
        false,
    );
    put_count(&mut status, "availableReplicas", available, false);
    put_count(&mut status, "unavailableReplicas", unavailable, false);
    let current = status_of(deployment);
    if let Some(count) = current.get("collisionCount").filter(|c| !c.is_null()) {
        status.insert("collisionCount".into(), count.clone());
    }
    let mut status = Value::Object(status);
    put_conditions(&mut status, conditions_of(&current));
    let minimum = replicas(deployment) - max_unavailable(deployment);
    let available_condition = if available >= minimum {
        condition(
            "Available",
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.",
            now,
        )
    } else {
        condition(
            "Available",
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, available_condition);
    status
}

/// Whether a status shows the rollout complete: every replica updated and
/// available, no old ones, and the spec observed (`DeploymentComplete`).
pub fn is_complete(deployment: &Value, status: &Value) -> bool {
    let desired = replicas(deployment);
    let count = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    count("updatedReplicas") == desired
        && count("replicas") == desired
        && count("availableReplicas") == desired
        && count("observedGeneration") >= generation_of(deployment)
}

/// Whether pods moved between the Deployment's status and `new`: more
/// updated, fewer old, more ready or more available (`DeploymentProgressing`).
fn is_progressing(deployment: &Value, new: &Value) -> bool {
    let old = status_of(deployment);
    let count =
        |status: &Value, field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let old_pods = |status: &Value| count(status, "replicas") - count(status, "updatedReplicas");
    count(new, "updatedReplicas") > count(&old, "updatedReplicas")
        || old_pods(new) < old_pods(&old)
        || count(new, "readyReplicas") > count(&old, "readyReplicas")
        || count(new, "availableReplicas") > count(&old, "availableReplicas")
}

/// When the Progressing condition last recorded progress.
fn last_progress(condition: &Value) -> Option<Timestamp> {
    timestamp_at(condition, "/lastUpdateTime")
}

/// Whether the rollout has made no progress for progressDeadlineSeconds at
/// `now` (`DeploymentTimedOut`).
fn is_timed_out(deployment: &Value, new: &Value, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline_seconds(deployment) else {
        return false;
    };
    let Some(progressing) = get_condition(new, "Progressing") else {
        return false;
    };
    match progressing["reason"].as_str() {
        Some(NEW_REPLICA_SET_AVAILABLE_REASON) => false,
        Some(TIMED_OUT_REASON) => true,
        _ => last_progress(progressing)
            .is_some_and(|from| from + SignedDuration::from_secs(deadline) < now),
    }
}

/// The Deployment's status after a rollout step over `all` ReplicaSets,
/// with the Progressing condition estimated and ReplicaSet failures
/// promoted (`syncRolloutStatus`); and when to check progress again if
/// nothing changed (`requeueStuckDeployment`).
pub fn rollout_status(
    deployment: &Value,
    all: &[&Value],
    new: Option<&Value>,
    now: Timestamp,
) -> (Value, Option<i64>) {
    let mut status = calculate_status(deployment, all, new, now);
    let deadline = progress_deadline_seconds(deployment);
    if deadline.is_none() {
        remove_condition(&mut status, "Progressing");
    }
    let current_status = status_of(deployment);
    let current = get_condition(&current_status, "Progressing");
    let count = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let already_complete = count("replicas") == count("updatedReplicas")
        && current.is_some_and(|c| c["reason"] == NEW_REPLICA_SET_AVAILABLE_REASON);
    let subject = match new {
        Some(rs) => format!("ReplicaSet \"{}\"", name_of(rs)),
        None => format!("Deployment \"{}\"", name_of(deployment)),
    };
    if deadline.is_some() && !already_complete {
        if is_complete(deployment, &status) {
            let message = format!("{subject} has successfully progressed.");
            set_condition(
                &mut status,
                condition(
                    "Progressing",
                    "True",
                    NEW_REPLICA_SET_AVAILABLE_REASON,
                    &message,
                    now,
                ),
            );
        } else if is_progressing(deployment, &status) {
            let message = format!("{subject} is progressing.");
            let mut new_condition = condition(
                "Progressing",
                "True",
                REPLICA_SET_UPDATED_REASON,
                &message,
                now,
            );
            // Progress refreshes lastUpdateTime even with the same reason.
            if let Some(current) = current {
                if current["status"] == "True" {
                    new_condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
                }
                remove_condition(&mut status, "Progressing");
            }
            set_condition(&mut status, new_condition);
        } else if is_timed_out(deployment, &status, now) {
            let message = format!("{subject} has timed out progressing.");
            set_condition(
                &mut status,
                condition("Progressing", "False", TIMED_OUT_REASON, &message, now),
            );
        }
    }
    match replica_failure(all, new) {
        Some(failure) => set_condition(&mut status, failure),
        None => remove_condition(&mut status, "ReplicaFailure"),
    }
    let requeue = if same_status(&current_status, &status) {
        requeue_after(deployment, &status, now)
    } else {
        None
    };
    (status, requeue)
}

/// The first ReplicaFailure condition of the new ReplicaSet, else of any
/// (`getReplicaFailures`), as a Deployment condition.
fn replica_failure(all: &[&Value], new: Option<&Value>) -> Option<Value> {
    let failure_of = |rs: &Value| {
        let status = rs.get("status")?;
        let found = get_condition(status, "ReplicaFailure")?;
        let mut promoted = found.clone();
        promoted["lastUpdateTime"] = found["lastTransitionTime"].clone();
        Some(promoted)
    };
    new.and_then(failure_of)
        .or_else(|| all.iter().find_map(|rs| failure_of(rs)))
}

/// When a rollout that shows no progress must be checked against its
/// deadline: the Progressing condition's lastUpdateTime plus the deadline,
/// plus a second of slack; 0 when that is less than a second away.
fn requeue_after(deployment: &Value, status: &Value, now: Timestamp) -> Option<i64> {
    let deadline = progress_deadline_seconds(deployment)?;
    let current_status = status_of(deployment);
    let current = get_condition(&current_status, "Progressing")?;
    if is_complete(deployment, status) || current["reason"] == TIMED_OUT_REASON {
        return None;
    }
    let from = last_progress(current)?;
    let after = (from + SignedDuration::from_secs(deadline)).duration_since(now);
    if after < SignedDuration::from_secs(1) {
        return Some(0);
    }
    Some(after.as_secs() + 1)
}

/// Sets Progressing=Unknown DeploymentPaused or DeploymentResumed when the
/// Deployment was paused or resumed, unless it already timed out
/// (`checkPausedConditions`); whether the status changed.
pub fn set_paused_condition(deployment: &mut Value, now: Timestamp) -> bool {
    if progress_deadline_seconds(deployment).is_none() {
        return false;
    }
    let mut status = status_of(deployment);
    let reason =
        get_condition(&status, "Progressing").and_then(|c| c["reason"].as_str().map(str::to_owned));
    if reason.as_deref() == Some(TIMED_OUT_REASON) {
        return false;
    }
    let paused_recorded = reason.as_deref() == Some(PAUSED_REASON);
    let new = match (is_paused(deployment), paused_recorded) {
        (true, false) => condition(
            "Progressing",
            "Unknown",
            PAUSED_REASON,
            "Deployment is paused",
            now,
        ),
        (false, true) => condition(
            "Progressing",
            "Unknown",
            RESUMED_REASON,
            "Deployment is resumed",
            now,
        ),
        _ => return false,
    };
    set_condition(&mut status, new);
    deployment["status"] = status;
    true
}

/// Whether two statuses agree, counts missing read as 0 (Go leaves zeros
/// out of the JSON).
pub fn same_status(a: &Value, b: &Value) -> bool {
    let clean = |status: &Value| -> Value {
        let mut status = status.as_object().cloned().unwrap_or_default();
        status.retain(|_, v| !(v.is_null() || v == &json!(0) || v == &json!([])));
        Value::Object(status)
    };
    clean(a) == clean(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::at;

    fn rs(name: &str, replicas: i64, available: i64) -> Value {
        json!({"metadata": {"name": name}, "spec": {"replicas": replicas},
               "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}})
    }

    fn deployment(status: Value) -> Value {
        let mut d = json!({"metadata": {"name": "web", "generation": 2},
               "spec": {"replicas": 4, "progressDeadlineSeconds": 600,
                        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        d["status"] = status;
        d
    }

    #[test]
    fn counts_and_availability_sum_over_the_replica_sets() {
        let d = deployment(json!({"collisionCount": 1}));
        let (old, new) = (rs("web-old", 2, 2), rs("web-new", 3, 1));
        let status = calculate_status(&d, &[&old, &new], Some(&new), at("2025-01-01T00:00:00Z"));
        assert_eq!(status["observedGeneration"], 2);
        assert_eq!(status["replicas"], 5);
        assert_eq!(status["updatedReplicas"], 3);
        assert_eq!(status["readyReplicas"], 3);
        assert_eq!(status["availableReplicas"], 3);
        assert_eq!(status["unavailableReplicas"], 2);
        assert_eq!(status["collisionCount"], 1);
        assert_eq!(
            get_condition(&status, "Available").unwrap()["reason"],
            MINIMUM_REPLICAS_AVAILABLE
        );
        let short = rs("web-new", 4, 2);
        let status = calculate_status(&d, &[&short], Some(&short), at("2025-01-01T00:00:00Z"));
        assert_eq!(
            get_condition(&status, "Available").unwrap()["status"],
            "False"
        );
        assert_eq!(
            get_condition(&status, "Available").unwrap()["message"],
            "Deployment does not have minimum availability."
        );
    }

    #[test]
    fn progressing_moves_from_updated_to_available_or_times_out() {
        let start = at("2025-01-01T00:00:00Z");
        let created = condition(
            "Progressing",
            "True",
            NEW_REPLICA_SET_REASON,
            "Created new replica set \"web-new\"",
            start,
        );
        let d = deployment(
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1,
                                  "conditions": [created]}),
        );
        let (old, new) = (rs("web-old", 3, 3), rs("web-new", 2, 0));
        let later = at("2025-01-01T00:01:00Z");
        let (status, requeue) = rollout_status(&d, &[&old, &new], Some(&new), later);
        let progressing = get_condition(&status, "Progressing").unwrap();
        assert_eq!(progressing["reason"], REPLICA_SET_UPDATED_REASON);
        assert_eq!(
            progressing["message"],
            "ReplicaSet \"web-new\" is progressing."
        );
        assert_eq!(progressing["lastTransitionTime"], "2025-01-01T00:00:00Z");
        assert_eq!(progressing["lastUpdateTime"], "2025-01-01T00:01:00Z");
        assert_eq!(
            requeue, None,
            "the status changed; its watch event syncs again"
        );

        // No movement: requeue for the deadline, then time out past it.
        let mut stuck = d.clone();
        stuck["status"] = status;
        let (same, requeue) = rollout_status(
            &stuck,
            &[&old, &new],
            Some(&new),
            at("2025-01-01T00:02:00Z"),
        );
        assert!(same_status(&same, &stuck["status"]));
        assert_eq!(requeue, Some(600 - 60 + 1));
        let (late, _) = rollout_status(
            &stuck,
            &[&old, &new],
            Some(&new),
            at("2025-01-01T00:11:01Z"),
        );
        let progressing = get_condition(&late, "Progressing").unwrap();
        assert_eq!(progressing["status"], "False");
        assert_eq!(progressing["reason"], TIMED_OUT_REASON);
        assert_eq!(
            progressing["message"],
            "ReplicaSet \"web-new\" has timed out progressing."
        );

        // Done: all updated and available.
        let done = rs("web-new", 4, 4);
        let (complete, _) = rollout_status(&stuck, &[&done], Some(&done), later);
        let progressing = get_condition(&complete, "Progressing").unwrap();
        assert_eq!(progressing["reason"], NEW_REPLICA_SET_AVAILABLE_REASON);
        assert_eq!(
            progressing["message"],
            "ReplicaSet \"web-new\" has successfully progressed."
        );
    }

    #[test]
    fn pausing_and_resuming_set_an_unknown_progressing_condition() {
        let now = at("2025-01-01T00:00:00Z");
        let mut d = deployment(json!({}));
        d["spec"]["paused"] = json!(true);
        assert!(set_paused_condition(&mut d, now));
        let progressing = get_condition(&d["status"], "Progressing").unwrap().clone();
        assert_eq!(
            (
                progressing["status"].as_str(),
                progressing["reason"].as_str()
            ),
            (Some("Unknown"), Some(PAUSED_REASON))
        );
        assert!(!set_paused_condition(&mut d, now), "already recorded");
        d["spec"]["paused"] = json!(false);
        assert!(set_paused_condition(&mut d, now));
        assert_eq!(
            get_condition(&d["status"], "Progressing").unwrap()["message"],
            "Deployment is resumed"
        );
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let mut status = json!({});
        set_condition(
            &mut status,
            condition("Progressing", "True", "A", "a", at("2025-01-01T00:00:00Z")),
        );
        set_condition(
            &mut status,
            condition("Progressing", "True", "A", "a2", at("2025-01-01T00:01:00Z")),
        );
        assert_eq!(
            get_condition(&status, "Progressing").unwrap()["message"],
            "a",
            "same status and reason: unchanged"
        );
        set_condition(
            &mut status,
            condition("Progressing", "True", "B", "b", at("2025-01-01T00:02:00Z")),
        );
        let c = get_condition(&status, "Progressing").unwrap();
        assert_eq!(
            (
                c["lastTransitionTime"].as_str(),
                c["lastUpdateTime"].as_str()
            ),
            (Some("2025-01-01T00:00:00Z"), Some("2025-01-01T00:02:00Z"))
        );
    }
}

//! One sync of one ReplicaSet (`syncReplicaSet` and `manageReplicas` in
//! `pkg/controller/replicaset/replica_set.go`), as a plain function: the
//! ReplicaSet and the pods its informer holds in, the plan out.
//!
//! ```text
//!   pods ─► active (not finished, not being deleted) ─► claim (adopt / release)
//!        ─► expectations satisfied and the ReplicaSet not being deleted?
//!             too few ─► create min(diff, 500) from the template (slow start)
//!             too many ─► delete min(diff, 500), least valuable first
//!        ─► status of the claimed pods; requeue when minReadySeconds is pending
//! ```

use jiff::Timestamp;
use keel_api::selector::LabelSelector;
use serde_json::Value;

use super::claim::{claim, Claim};
use super::ranking::pods_to_delete;
use super::status::{replica_set_status, status_changed};
use crate::pods::{
    controller_ref, i64_at, is_active, is_being_deleted, pod_from_template, ObjectRef,
};

/// The most pods one sync creates or deletes (kube-controller-manager's
/// `burstReplicas`, 500): the rest waits for the watch to show these.
pub const BURST_REPLICAS: usize = 500;

/// What one ReplicaSet sync sees.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaSetInput<'a> {
    /// The ReplicaSet, as cached.
    pub replica_set: &'a Value,
    /// The pods of its namespace the adapter holds: those it controls and
    /// the orphans (others are ignored here anyway).
    pub pods: &'a [Value],
    /// The pods of every ReplicaSet with the same controller (its
    /// Deployment), to rank deletions by crowded nodes; empty: its own.
    pub related_pods: &'a [Value],
    /// Whether its expectations are satisfied (see
    /// [`super::expectations::Expectations::satisfied`]).
    pub expectations_satisfied: bool,
    /// The time of the sync.
    pub now: Timestamp,
}

/// What one ReplicaSet sync does, in order: adopt and release, then create
/// or delete, then write the status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaSetPlan {
    /// Orphans to adopt: add the ReplicaSet's controller reference
    /// ([`Self::controller_ref`]) with the pod's uid as a precondition.
    pub adopt: Vec<ObjectRef>,
    /// Pods to release: remove the ReplicaSet's owner reference.
    pub release: Vec<ObjectRef>,
    /// How many pods to create, each from [`Self::pod`], in slow-start
    /// batches ([`super::slow_start::SlowStart`]); expect that many
    /// creations first.
    pub create: usize,
    /// The body of each pod to create (`generateName` set), when
    /// `create` > 0.
    pub pod: Option<Value>,
    /// Pods to delete, least valuable first; expect their deletions first.
    pub delete: Vec<ObjectRef>,
    /// The status to write through `/status`, when it changed; computed
    /// as if the creations and deletions succeed (on a failure, write
    /// [`super::status::replica_set_status`] with the failure instead).
    pub status: Option<Value>,
    /// Sync again after this many seconds (ready pods waiting out
    /// minReadySeconds).
    pub requeue_after_secs: Option<i64>,
}

/// The controller reference a ReplicaSet puts on its pods.
pub fn controller_ref_of(replica_set: &Value) -> Value {
    controller_ref(replica_set, "apps/v1", "ReplicaSet")
}

/// Plans one sync of `input.replica_set`.
pub fn reconcile_replica_set(input: ReplicaSetInput<'_>) -> ReplicaSetPlan {
    let rs = input.replica_set;
    let mut plan = ReplicaSetPlan::default();
    // An unreadable selector selects nothing (validation rejects those).
    let selector = rs
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_json(s).ok());
    let mut claimed: Vec<&Value> = Vec::new();
    if let Some(selector) = &selector {
        for pod in input.pods.iter().filter(is_active) {
            match claim(rs, selector, pod) {
                Claim::Owned => claimed.push(pod),
                Claim::Adopt => {
                    plan.adopt.push(ObjectRef::to(pod));
                    claimed.push(pod);
                }
                Claim::Release => plan.release.push(ObjectRef::to(pod)),
                Claim::Ignore => {}
            }
        }
    }

    let desired = i64_at(rs, "/spec/replicas").unwrap_or(1).max(0) as usize;
    if input.expectations_satisfied && !is_being_deleted(rs) && selector.is_some() {
        if claimed.len() < desired {
            plan.create = (desired - claimed.len()).min(BURST_REPLICAS);
            let template = rs.pointer("/spec/template").cloned().unwrap_or_default();
            plan.pod = Some(pod_from_template(rs, &template, controller_ref_of(rs)));
        } else if claimed.len() > desired {
            let count = (claimed.len() - desired).min(BURST_REPLICAS);
            let related: Vec<&Value> = if input.related_pods.is_empty() {
                claimed.clone()
            } else {
                input.related_pods.iter().collect()
            };
            plan.delete = pods_to_delete(&claimed, &related, count, input.now)
                .into_iter()
                .map(ObjectRef::to)
                .collect();
        }
    }

    let status = replica_set_status(rs, &claimed, None, input.now);
    let min_ready_seconds = i64_at(rs, "/spec/minReadySeconds").unwrap_or(0);
    let count = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    if min_ready_seconds > 0
        && count("readyReplicas") == desired as i64
        && count("availableReplicas") != desired as i64
    {
        plan.requeue_after_secs = Some(min_ready_seconds);
    }
    if status_changed(rs, &status) {
        plan.status = Some(status);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    fn rs(replicas: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "ns", "uid": "rs-uid", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}},
        })
    }

    fn pod(name: &str, owner: Option<&str>, ready: bool) -> Value {
        let mut pod = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name, "labels": {"app": "web"},
                         "creationTimestamp": "2024-12-31T00:00:00Z"},
            "spec": {"nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" },
                 "lastTransitionTime": "2024-12-31T00:00:00Z"}]},
        });
        if let Some(uid) = owner {
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "x", "uid": uid, "controller": true}]);
        }
        pod
    }

    fn input<'a>(rs: &'a Value, pods: &'a [Value], satisfied: bool) -> ReplicaSetInput<'a> {
        ReplicaSetInput {
            replica_set: rs,
            pods,
            related_pods: &[],
            expectations_satisfied: satisfied,
            now: now(),
        }
    }

    fn names(refs: &[ObjectRef]) -> Vec<&str> {
        refs.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn too_few_pods_creates_the_difference_from_the_template() {
        let rs = rs(3);
        let pods = [pod("a", Some("rs-uid"), true)];
        let plan = reconcile_replica_set(input(&rs, &pods, true));
        assert_eq!(plan.create, 2);
        let body = plan.pod.unwrap();
        assert_eq!(body["metadata"]["generateName"], "web-1-");
        assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "rs-uid");
        assert_eq!(plan.status.unwrap()["replicas"], 1);
    }

    #[test]
    fn creations_are_capped_by_the_burst_limit() {
        let rs = rs(1200);
        assert_eq!(
            reconcile_replica_set(input(&rs, &[], true)).create,
            BURST_REPLICAS
        );
    }

    #[test]
    fn unsatisfied_expectations_only_update_the_status() {
        let rs = rs(3);
        let plan = reconcile_replica_set(input(&rs, &[], false));
        assert_eq!(plan.create, 0);
        assert!(plan.delete.is_empty());
        assert!(plan.status.is_some());
    }

    #[test]
    fn too_many_pods_deletes_the_least_valuable() {
        let rs = rs(1);
        let pods = [
            pod("ready", Some("rs-uid"), true),
            pod("not-ready", Some("rs-uid"), false),
        ];
        let plan = reconcile_replica_set(input(&rs, &pods, true));
        assert_eq!(names(&plan.delete), vec!["not-ready"]);
    }

    #[test]
    fn orphans_are_adopted_strays_released_and_others_left_alone() {
        let rs = rs(3);
        let mut stray = pod("stray", Some("rs-uid"), true);
        stray["metadata"]["labels"] = json!({"app": "other"});
        let mut terminating = pod("terminating", Some("rs-uid"), true);
        terminating["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        let pods = [
            pod("orphan", None, true),
            pod("mine", Some("rs-uid"), true),
            pod("theirs", Some("other-uid"), true),
            stray,
            terminating,
        ];
        let plan = reconcile_replica_set(input(&rs, &pods, true));
        assert_eq!(names(&plan.adopt), vec!["orphan"]);
        assert_eq!(names(&plan.release), vec!["stray"]);
        assert!(plan.delete.is_empty());
        assert_eq!(
            plan.create, 1,
            "orphan and mine count; theirs, stray and terminating do not"
        );
    }

    #[test]
    fn a_replica_set_being_deleted_makes_nothing() {
        let mut rs = rs(2);
        rs["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        let plan = reconcile_replica_set(input(&rs, &[], true));
        assert_eq!(plan.create, 0);
    }

    #[test]
    fn ready_pods_waiting_out_min_ready_seconds_requeue() {
        let mut rs = rs(1);
        rs["spec"]["minReadySeconds"] = json!(30);
        let mut fresh = pod("a", Some("rs-uid"), true);
        fresh["status"]["conditions"][0]["lastTransitionTime"] = json!("2024-12-31T23:59:50Z");
        let plan = reconcile_replica_set(input(&rs, std::slice::from_ref(&fresh), true));
        assert_eq!(plan.requeue_after_secs, Some(30));
        assert_eq!(plan.status.unwrap().get("availableReplicas"), None);
    }
}

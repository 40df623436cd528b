//! One sync of a DaemonSet (pkg/controller/daemon/daemon_controller.go
//! `manage`, `updateDaemonSetStatus`; update.go `rollingUpdate`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use keel_scheduler::model::{Node, PodInfo};
use serde_json::{json, Value};

use super::eligible::{add_default_tolerations, pin_to_node, placement, target_node, Placement};
use super::history::{self, HistoryPlan, REVISION_HASH_LABEL};
use crate::deployment::fenceposts::scaled_value;
use crate::pods::{
    controller_ref, created_at, i64_at, is_available, is_being_deleted, is_ready, name_of,
    phase_of, pod_from_template,
};

/// What a sync reads.
#[derive(Debug, Clone, Copy)]
pub struct DaemonSetInput<'a> {
    /// The DaemonSet.
    pub daemon_set: &'a Value,
    /// Every node.
    pub nodes: &'a [Value],
    /// The pods the DaemonSet controls.
    pub pods: &'a [Value],
    /// The ControllerRevisions it controls.
    pub revisions: &'a [Value],
    /// The time now.
    pub now: Timestamp,
}

/// What a sync decides.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSetPlan {
    /// The history's changes (written first: pods carry its hash).
    pub history: HistoryPlan,
    /// The pod to create on each of these nodes: [`pod_for`] of each.
    pub create_on: Vec<String>,
    /// Pods to delete, by name.
    pub delete: Vec<String>,
    /// The status to write.
    pub status: Value,
}

/// The pod the DaemonSet makes for `node`: its template, the current
/// hash label, its default tolerations, pinned to the node.
pub fn pod_for(daemon_set: &Value, node: &str) -> Value {
    let template = daemon_set
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut pod = pod_from_template(
        daemon_set,
        &template,
        controller_ref(daemon_set, "apps/v1", "DaemonSet"),
    );
    pod["metadata"]["labels"][REVISION_HASH_LABEL] = history::current_hash(daemon_set).into();
    let spec = &mut pod["spec"];
    add_default_tolerations(spec);
    pin_to_node(spec, node);
    pod
}

/// How many daemon pods may be down at once during a rolling update
/// (`maxUnavailable`, a count or a percentage of the desired pods rounded
/// up; at least 1 as Kubernetes resolves it with `maxSurge` 0).
fn max_unavailable(daemon_set: &Value, desired: i64) -> i64 {
    let value = daemon_set
        .pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable")
        .cloned()
        .unwrap_or_else(|| json!(1));
    scaled_value(&value, desired, true).unwrap_or(1).max(1)
}

fn hash_of(pod: &Value) -> &str {
    pod.pointer(&format!("/metadata/labels/{REVISION_HASH_LABEL}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Decides one sync of the DaemonSet.
pub fn sync(input: DaemonSetInput<'_>) -> DaemonSetPlan {
    let DaemonSetInput {
        daemon_set,
        nodes,
        pods,
        revisions,
        now,
    } = input;
    let hash = history::current_hash(daemon_set);
    let min_ready = i64_at(daemon_set, "/spec/minReadySeconds").unwrap_or(0);
    let live: Vec<&Value> = pods.iter().filter(|p| !is_being_deleted(p)).collect();
    let live_hashes: Vec<&str> = live.iter().map(|p| hash_of(p)).collect();
    let history = history::plan(daemon_set, revisions, &live_hashes);

    let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for pod in &live {
        if let Some(node) = target_node(pod) {
            by_node.entry(node).or_default().push(pod);
        }
    }
    for pods in by_node.values_mut() {
        // Oldest first: the one kept when there are several.
        pods.sort_by_key(|pod| (created_at(pod), name_of(pod).to_owned()));
    }
    let mut create_on = Vec::new();
    let mut delete = Vec::new();
    let mut status = Counts::default();
    let mut old_available = Vec::new();
    let mut old_unavailable = Vec::new();
    let mut unavailable = 0;
    for node in nodes {
        let name = name_of(node);
        let model = Node::from_node(node);
        let Placement {
            should_run,
            may_stay,
        } = placement(&model, &PodInfo::from_pod(&pod_for(daemon_set, name)));
        let here = by_node.remove(name).unwrap_or_default();
        let (failed, running): (Vec<&Value>, Vec<&Value>) =
            here.iter().partition(|p| phase_of(p) == "Failed");
        if should_run {
            status.desired += 1;
        }
        if !here.is_empty() && !should_run {
            status.misscheduled += 1;
        }
        if !may_stay {
            delete.extend(here.iter().map(|p| name_of(p).to_owned()));
            continue;
        }
        // Failed pods go (and are replaced); of several, the oldest stays.
        delete.extend(failed.iter().map(|p| name_of(p).to_owned()));
        delete.extend(running.iter().skip(1).map(|p| name_of(p).to_owned()));
        let Some(pod) = running.first() else {
            if should_run {
                create_on.push(name.to_owned());
                unavailable += 1;
            }
            continue;
        };
        if should_run {
            status.current += 1;
            status.ready += i64::from(is_ready(pod));
            let available = is_available(pod, min_ready, now);
            status.available += i64::from(available);
            status.updated += i64::from(hash_of(pod) == hash);
            if !available {
                unavailable += 1;
            }
            if hash_of(pod) != hash {
                if available {
                    old_available.push(name_of(pod).to_owned());
                } else {
                    old_unavailable.push(name_of(pod).to_owned());
                }
            }
        }
    }
    // Pods for nodes that are gone (the pod GC's work in Kubernetes).
    for pods in by_node.values() {
        delete.extend(pods.iter().map(|p| name_of(p).to_owned()));
    }
    let rolling = daemon_set
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    if rolling {
        // Old pods already down go at once; available ones as the budget
        // of maxUnavailable allows (update.go `rollingUpdate`, maxSurge 0).
        delete.extend(old_unavailable);
        let budget = max_unavailable(daemon_set, status.desired) - unavailable;
        let take = usize::try_from(budget.max(0)).unwrap_or(0);
        old_available.sort();
        delete.extend(old_available.into_iter().take(take));
    }
    delete.sort();
    delete.dedup();
    DaemonSetPlan {
        history,
        create_on,
        delete,
        status: status.into_status(daemon_set),
    }
}

/// The status counts, per node.
#[derive(Debug, Default)]
struct Counts {
    desired: i64,
    current: i64,
    misscheduled: i64,
    ready: i64,
    available: i64,
    updated: i64,
}

impl Counts {
    fn into_status(self, daemon_set: &Value) -> Value {
        let mut status = json!({
            "currentNumberScheduled": self.current,
            "numberMisscheduled": self.misscheduled,
            "desiredNumberScheduled": self.desired,
            "numberReady": self.ready,
            "observedGeneration": i64_at(daemon_set, "/metadata/generation").unwrap_or(0),
            "updatedNumberScheduled": self.updated,
            "numberAvailable": self.available,
        });
        // Zero counts are left out, as Go's omitempty leaves them.
        let unavailable = self.desired - self.available;
        if unavailable > 0 {
            status["numberUnavailable"] = unavailable.into();
        }
        if let Some(collisions) = daemon_set.pointer("/status/collisionCount") {
            status["collisionCount"] = collisions.clone();
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::at;

    fn daemon_set(image: &str, max_unavailable: &Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "namespace": "default", "uid": "ds-1", "generation": 2},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "updateStrategy": {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": max_unavailable}},
                        "template": {"metadata": {"labels": {"app": "agent"}},
                                     "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    fn node(name: &str, taints: &Value) -> Value {
        json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
               "spec": {"taints": taints},
               "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}})
    }

    /// A running, ready daemon pod of `ds`'s template on `node`.
    fn pod(ds: &Value, name: &str, node: &str, created: &str) -> Value {
        let mut pod = pod_for(ds, node);
        pod["metadata"]["name"] = name.into();
        pod["metadata"]["creationTimestamp"] = created.into();
        pod["spec"]["nodeName"] = node.into();
        pod["status"] = json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        pod
    }

    fn run(ds: &Value, nodes: &[Value], pods: &[Value]) -> DaemonSetPlan {
        sync(DaemonSetInput {
            daemon_set: ds,
            nodes,
            pods,
            revisions: &[],
            now: at("2026-01-01T01:00:00Z"),
        })
    }

    #[test]
    fn one_pod_per_eligible_node() {
        let ds = daemon_set("agent:1", &json!(1));
        let tainted = json!([{"key": "dedicated", "effect": "NoSchedule"}]);
        let nodes = [
            node("a", &json!([])),
            node("b", &json!([])),
            node("c", &tainted),
        ];
        let existing = [pod(&ds, "agent-1", "a", "2026-01-01T00:00:00Z")];
        let plan = run(&ds, &nodes, &existing);
        assert_eq!(plan.create_on, ["b"]);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.status["desiredNumberScheduled"], 2);
        assert_eq!(plan.status["currentNumberScheduled"], 1);
        assert_eq!(plan.status["numberAvailable"], 1);
        assert_eq!(plan.status["numberUnavailable"], 1);
        assert_eq!(plan.status["observedGeneration"], 2);
        let made = pod_for(&ds, "b");
        assert_eq!(made["metadata"]["generateName"], "agent-");
        assert_eq!(target_node(&made), Some("b"));
        assert_eq!(made["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
    }

    #[test]
    fn extra_failed_misplaced_and_orphaned_pods_go() {
        let ds = daemon_set("agent:1", &json!(1));
        let evicting = json!([{"key": "dedicated", "effect": "NoExecute"}]);
        let nodes = [
            node("a", &json!([])),
            node("b", &evicting),
            node("c", &json!([])),
        ];
        let mut failed = pod(&ds, "agent-failed", "c", "2026-01-01T00:00:00Z");
        failed["status"]["phase"] = "Failed".into();
        let pods = [
            pod(&ds, "agent-old", "a", "2026-01-01T00:00:00Z"),
            pod(&ds, "agent-new", "a", "2026-01-01T00:05:00Z"),
            pod(&ds, "agent-b", "b", "2026-01-01T00:00:00Z"),
            failed,
            pod(&ds, "agent-gone", "vanished", "2026-01-01T00:00:00Z"),
        ];
        let plan = run(&ds, &nodes, &pods);
        assert_eq!(
            plan.delete,
            ["agent-b", "agent-failed", "agent-gone", "agent-new"]
        );
        assert_eq!(plan.create_on, ["c"]);
        assert_eq!(plan.status["numberMisscheduled"], 1);
    }

    #[test]
    fn a_rolling_update_replaces_max_unavailable_at_a_time() {
        let old = daemon_set("agent:1", &json!(1));
        let new = daemon_set("agent:2", &json!(1));
        let nodes: Vec<Value> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| node(n, &json!([])))
            .collect();
        let pods: Vec<Value> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| pod(&old, &format!("agent-{n}"), n, "2026-01-01T00:00:00Z"))
            .collect();
        let plan = run(&new, &nodes, &pods);
        assert_eq!(plan.delete, ["agent-a"]);
        assert_eq!(plan.status["updatedNumberScheduled"], 0);
        // One node is down already (its pod deleted): nothing more goes.
        let plan = run(&new, &nodes, &pods[1..]);
        assert_eq!(plan.create_on, ["a"]);
        assert!(plan.delete.is_empty());
        // 50% of 4: two at a time.
        let half = daemon_set("agent:2", &json!("50%"));
        let plan = run(&half, &nodes, &pods);
        assert_eq!(plan.delete, ["agent-a", "agent-b"]);
        // OnDelete: nothing is replaced by the controller.
        let mut on_delete = new.clone();
        on_delete["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        assert!(run(&on_delete, &nodes, &pods).delete.is_empty());
    }
}

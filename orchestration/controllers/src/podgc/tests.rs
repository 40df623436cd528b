//! The pod garbage collector's tables; cases after gc_controller_test.go
//! (Kubernetes 1.33): the threshold with evicted pods first, orphans only
//! after the quarantine and a read, unscheduled terminating pods,
//! out-of-service nodes.

use std::collections::{BTreeMap, BTreeSet};

use keel_api::k8s_openapi::jiff::SignedDuration;
use serde_json::{json, Value};

use super::*;
use crate::test_support::now;

/// A pod named `name` (its uid too), created `age` seconds before the
/// epoch of the table, in `phase`, on `node` ("" unbound).
fn pod(name: &str, phase: &str, node: &str, age: i64) -> Value {
    let created = now() - SignedDuration::from_secs(age);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": name,
                     "creationTimestamp": crate::pods::format_time(created)},
        "spec": {"nodeName": node},
        "status": {"phase": phase},
    })
}

fn terminating(mut pod: Value) -> Value {
    pod["metadata"]["deletionTimestamp"] = json!("2026-12-07T12:00:00Z");
    pod["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    pod
}

fn node(name: &str, ready: &str, taints: &[&str]) -> (String, Value) {
    let taints: Vec<Value> = taints
        .iter()
        .map(|key| json!({"key": key, "effect": "NoExecute"}))
        .collect();
    (
        name.to_owned(),
        json!({"metadata": {"name": name}, "spec": {"taints": taints},
               "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
    )
}

fn collected(plan: &[Collect]) -> Vec<(&str, Why)> {
    plan.iter().map(|c| (c.pod.name.as_str(), c.why)).collect()
}

fn names(nodes: &[&str]) -> BTreeSet<String> {
    nodes.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn finished_pods_beyond_the_threshold_oldest_and_evicted_first() {
    let mut evicted = pod("evicted", "Failed", "n", 1);
    evicted["status"]["reason"] = json!("Evicted");
    let pods = [
        pod("old", "Succeeded", "n", 300),
        pod("older", "Failed", "n", 400),
        pod("new", "Succeeded", "n", 10),
        evicted,
        pod("running", "Running", "n", 900),
        pod("pending", "Pending", "", 900),
    ];
    let nodes = BTreeMap::from([node("n", "True", &[])]);
    // Four finished, two kept: the evicted one, then the oldest.
    let plan = plan(&pods, &nodes, &BTreeSet::new(), 2);
    assert_eq!(
        collected(&plan),
        [("evicted", Why::Terminated), ("older", Why::Terminated)]
    );
    // At the threshold, or with none, nothing goes.
    assert!(super::plan(&pods, &nodes, &BTreeSet::new(), 4).is_empty());
    assert!(super::plan(&pods, &nodes, &BTreeSet::new(), 0).is_empty());
}

#[test]
fn orphans_wait_out_the_quarantine_and_a_read() {
    let quarantine_for = SignedDuration::from_secs(40);
    let pods = [
        pod("lost", "Running", "gone", 60),
        pod("kept", "Running", "here", 60),
        pod("waiting", "Pending", "", 60),
    ];
    let present = names(&["here"]);
    let mut quarantine = Quarantine::default();
    assert!(quarantine
        .pass(&pods, &present, now(), quarantine_for)
        .is_empty());
    assert_eq!(quarantine.nodes().collect::<Vec<_>>(), ["gone"]);
    // Later passes keep the first time it was found missing.
    let almost = now() + SignedDuration::from_secs(39);
    assert!(quarantine
        .pass(&pods, &present, almost, quarantine_for)
        .is_empty());
    let due = now() + SignedDuration::from_secs(40);
    assert_eq!(
        quarantine.pass(&pods, &present, due, quarantine_for),
        ["gone"]
    );
    assert_eq!(
        quarantine.nodes().count(),
        0,
        "due nodes leave for the read"
    );

    // The read said it is gone: its pods go, failed with the condition.
    let nodes = BTreeMap::from([node("here", "True", &[])]);
    let plan = plan(&pods, &nodes, &names(&["gone"]), 0);
    assert_eq!(collected(&plan), [("lost", Why::Orphaned)]);
    let failed = plan[0].failed(&pods[0], now()).expect("not finished");
    assert_eq!(failed["status"]["phase"], "Failed");
    assert_eq!(
        failed["status"]["conditions"],
        json!([{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists", "lastTransitionTime": "2026-12-07T12:00:00Z"}])
    );
}

#[test]
fn a_node_that_comes_back_leaves_the_quarantine() {
    let quarantine_for = SignedDuration::from_secs(40);
    let pods = [pod("p", "Running", "late", 60)];
    let mut quarantine = Quarantine::default();
    assert!(quarantine
        .pass(&pods, &BTreeSet::new(), now(), quarantine_for)
        .is_empty());
    let back = now() + SignedDuration::from_secs(10);
    assert!(quarantine
        .pass(&pods, &names(&["late"]), back, quarantine_for)
        .is_empty());
    assert_eq!(quarantine.nodes().count(), 0);
    // Missing again: a new quarantine from then.
    let again = now() + SignedDuration::from_secs(45);
    assert!(quarantine
        .pass(&pods, &BTreeSet::new(), again, quarantine_for)
        .is_empty());
}

#[test]
fn terminating_pods_never_bound_and_on_out_of_service_nodes() {
    let pods = [
        terminating(pod("unbound", "Pending", "", 5)),
        terminating(pod("stuck", "Running", "down", 5)),
        terminating(pod("draining", "Running", "up", 5)),
        terminating(pod("not-tainted", "Running", "unknown", 5)),
        pod("alive", "Running", "down", 5),
    ];
    let nodes = BTreeMap::from([
        node("down", "False", &["node.kubernetes.io/out-of-service"]),
        node("up", "True", &["node.kubernetes.io/out-of-service"]),
        node("unknown", "Unknown", &["node.kubernetes.io/unreachable"]),
    ]);
    let plan = plan(&pods, &nodes, &BTreeSet::new(), 0);
    assert_eq!(
        collected(&plan),
        [
            ("stuck", Why::OutOfService),
            ("unbound", Why::TerminatingUnscheduled)
        ]
    );
    // Failed, without the orphan's condition.
    let failed = plan[0].failed(&pods[1], now()).expect("not finished");
    assert_eq!(failed["status"]["phase"], "Failed");
    assert!(failed["status"].get("conditions").is_none());
}

#[test]
fn a_pod_is_collected_once_and_finished_ones_keep_their_status() {
    // "old" is beyond the threshold and on a deleted node: collected for
    // the first reason only.
    let pods = [
        pod("old", "Succeeded", "gone", 100),
        pod("new", "Succeeded", "gone", 10),
    ];
    let plan = plan(&pods, &BTreeMap::new(), &names(&["gone"]), 1);
    assert_eq!(
        collected(&plan),
        [("old", Why::Terminated), ("new", Why::Orphaned)]
    );
    assert_eq!(plan[1].failed(&pods[1], now()), None);
}

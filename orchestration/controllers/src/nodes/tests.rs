//! Node lifecycle timing and taint eviction, on a fake clock; the
//! expectations are Kubernetes 1.33's (node_lifecycle_controller.go,
//! tainteviction and their tests): condition reasons and messages, taint
//! keys, tolerationSeconds counting.

#![allow(
    clippy::needless_pass_by_value,
    clippy::type_complexity,
    reason = "table helpers take JSON literals; tables are tuples"
)]

use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Node, Pod, Taint};
use keel_api::k8s_openapi::jiff::SignedDuration;
use serde_json::{json, Value};

use super::*;
use crate::test_support::{ago, now};

fn node(ready: Option<&str>, heartbeat_ago: i64, taints: Value) -> Node {
    let conditions: Vec<Value> = ready
        .map(|status| {
            json!({"type": "Ready", "status": status, "reason": "KubeletReady",
                   "message": "kubelet is posting ready status",
                   "lastHeartbeatTime": ago(heartbeat_ago), "lastTransitionTime": ago(3600)})
        })
        .into_iter()
        .chain([json!({"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": ago(heartbeat_ago)})])
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "creationTimestamp": ago(7200)},
        "spec": {"taints": taints},
        "status": {"conditions": conditions}}))
    .expect("a node")
}

fn lease(renewed_ago: i64) -> Lease {
    let renewed = (now() - SignedDuration::from_secs(renewed_ago))
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string();
    serde_json::from_value(
        json!({"metadata": {"name": "n1", "namespace": "kube-node-lease"},
                                  "spec": {"holderIdentity": "n1", "renewTime": renewed}}),
    )
    .expect("a lease")
}

fn keys(taints: &[Taint]) -> Vec<String> {
    taints
        .iter()
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect()
}

#[test]
fn a_node_renewing_its_lease_stays_ready() {
    let timings = NodeTimings::default();
    // Ready's heartbeat is old (the kubelet reports it every 5 min when
    // nothing changes) but the Lease is fresh.
    let health = node_health(
        &node(Some("True"), 120, json!([])),
        Some(&lease(10)),
        &timings,
        now(),
    );
    assert_eq!(health.conditions, None);
    assert_eq!(health.taints, None);
    assert!(!health.mark_pods_not_ready);
    assert_eq!(health.requeue_after, Some(SignedDuration::from_secs(40)));
}

#[test]
fn a_silent_node_goes_unknown_and_unreachable_after_the_grace_period() {
    let timings = NodeTimings::default();
    for (silent, unknown) in [(49, false), (50, false), (51, true)] {
        let health = node_health(
            &node(Some("True"), 300, json!([])),
            Some(&lease(silent)),
            &timings,
            now(),
        );
        assert_eq!(
            health.conditions.is_some(),
            unknown,
            "silent for {silent} s"
        );
    }
    let health = node_health(
        &node(Some("True"), 300, json!([])),
        Some(&lease(51)),
        &timings,
        now(),
    );
    let conditions = health.conditions.expect("changed");
    let ready = conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("ready");
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    assert_eq!(ready.last_transition_time.as_ref().expect("set").0, now());
    assert_eq!(
        ready
            .last_heartbeat_time
            .as_ref()
            .expect("kept")
            .0
            .to_string(),
        ago(300)
    );
    let memory = conditions
        .iter()
        .find(|c| c.type_ == "MemoryPressure")
        .expect("memory");
    assert_eq!(memory.status, "Unknown");
    // Conditions the kubelet never reported appear as never updated.
    let disk = conditions
        .iter()
        .find(|c| c.type_ == "DiskPressure")
        .expect("added");
    assert_eq!(disk.reason.as_deref(), Some("NodeStatusNeverUpdated"));
    assert_eq!(
        disk.message.as_deref(),
        Some("Kubelet never posted node status.")
    );
    assert!(
        !conditions.iter().any(|c| c.type_ == "NetworkUnavailable"),
        "not the controller's"
    );
    let taints = health.taints.expect("tainted");
    assert_eq!(
        keys(&taints),
        [
            "node.kubernetes.io/unreachable:NoSchedule",
            "node.kubernetes.io/unreachable:NoExecute"
        ]
    );
    assert!(taints
        .iter()
        .all(|t| t.time_added.as_ref().map(|t| t.0) == Some(now())));
    assert!(health.mark_pods_not_ready);
    assert_eq!(
        health.events,
        vec![crate::events::Notice::normal(
            "NodeNotReady",
            "Node n1 status is now: NodeNotReady"
        )]
    );
    // Short grace periods, as tests set them.
    let quick = NodeTimings {
        monitor_grace: SignedDuration::from_secs(2),
        ..timings
    };
    assert!(node_health(
        &node(Some("True"), 300, json!([])),
        Some(&lease(3)),
        &quick,
        now()
    )
    .conditions
    .is_some());
}

#[test]
fn a_not_ready_node_gets_the_not_ready_taints_and_loses_unreachable() {
    let old = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": ago(30)},
                     {"key": "example.com/gpu", "effect": "NoSchedule"}]);
    let health = node_health(
        &node(Some("False"), 5, old),
        Some(&lease(5)),
        &NodeTimings::default(),
        now(),
    );
    assert_eq!(health.conditions, None, "the kubelet's own report stands");
    let taints = health.taints.expect("changed");
    assert_eq!(
        keys(&taints),
        [
            "example.com/gpu:NoSchedule",
            "node.kubernetes.io/not-ready:NoSchedule",
            "node.kubernetes.io/not-ready:NoExecute"
        ]
    );
}

#[test]
fn a_ready_node_loses_the_controllers_taints_but_keeps_others() {
    let old = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": ago(30)},
                     {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": ago(30)},
                     {"key": "example.com/gpu", "effect": "NoExecute"}]);
    let health = node_health(
        &node(Some("True"), 1, old),
        None,
        &NodeTimings::default(),
        now(),
    );
    assert_eq!(
        keys(&health.taints.expect("changed")),
        ["example.com/gpu:NoExecute"]
    );
    // A kept taint keeps its time.
    let kept = json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": ago(30)},
                      {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": ago(30)}]);
    let health = node_health(
        &node(Some("False"), 1, kept),
        None,
        &NodeTimings::default(),
        now(),
    );
    assert_eq!(health.taints, None);
}

#[test]
fn a_cordoned_node_is_tainted_unschedulable() {
    let mut cordoned = node(Some("True"), 1, json!([]));
    cordoned.spec.as_mut().expect("spec").unschedulable = Some(true);
    let health = node_health(&cordoned, None, &NodeTimings::default(), now());
    assert_eq!(
        keys(&health.taints.expect("tainted")),
        ["node.kubernetes.io/unschedulable:NoSchedule"]
    );
}

#[test]
fn a_node_that_never_reported_gets_the_startup_grace() {
    let fresh: Node =
        serde_json::from_value(json!({"metadata": {"name": "n1", "creationTimestamp": ago(59)}}))
            .expect("a node");
    assert_eq!(
        node_health(&fresh, None, &NodeTimings::default(), now()).conditions,
        None
    );
    let stale: Node =
        serde_json::from_value(json!({"metadata": {"name": "n1", "creationTimestamp": ago(61)}}))
            .expect("a node");
    let conditions = node_health(&stale, None, &NodeTimings::default(), now())
        .conditions
        .expect("unknown");
    assert_eq!(conditions.len(), 4);
    assert!(conditions
        .iter()
        .all(|c| c.reason.as_deref() == Some("NodeStatusNeverUpdated")));
}

#[test]
fn pods_on_a_failed_node_are_marked_not_ready() {
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
    .expect("a pod");
    let status = pod_marked_not_ready(&pod, now()).expect("changed");
    let ready = status.conditions.expect("conditions")[0].clone();
    assert_eq!(
        (
            ready.status.as_str(),
            ready.last_transition_time.map(|t| t.0)
        ),
        ("False", Some(now()))
    );
    let already: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}}))
    .expect("a pod");
    assert_eq!(pod_marked_not_ready(&already, now()), None);
}

fn pod_tolerating(tolerations: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"},
                                  "spec": {"containers": [], "tolerations": tolerations}}))
    .expect("a pod")
}

fn taints(value: Value) -> Vec<Taint> {
    serde_json::from_value(value).expect("taints")
}

#[test]
fn eviction_waits_for_the_shortest_matching_toleration() {
    let at = |seconds: i64| Eviction::At(now() + SignedDuration::from_secs(seconds));
    let unreachable = taints(
        json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute",
                                     "timeAdded": ago(100)}]),
    );
    let default_tolerations = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
    let cases: Vec<(&str, Value, Eviction)> = vec![
        ("no tolerations", json!([]), Eviction::Now),
        (
            "the default 300 s, tainted 100 s ago",
            default_tolerations,
            at(200),
        ),
        (
            "tolerated for ever",
            json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]),
            Eviction::Keep,
        ),
        (
            "everything for ever",
            json!([{"operator": "Exists"}]),
            Eviction::Keep,
        ),
        (
            "expired",
            json!([{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]),
            Eviction::Now,
        ),
        (
            "zero",
            json!([{"operator": "Exists", "tolerationSeconds": 0}]),
            Eviction::Now,
        ),
        (
            "the shortest of two",
            json!([{"operator": "Exists", "tolerationSeconds": 1000},
                                       {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                        "tolerationSeconds": 400}]),
            at(300),
        ),
        (
            "another key",
            json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]),
            Eviction::Now,
        ),
        (
            "NoSchedule only",
            json!([{"operator": "Exists", "effect": "NoSchedule"}]),
            Eviction::Now,
        ),
    ];
    for (case, tolerations, expected) in cases {
        assert_eq!(
            taint_eviction(&pod_tolerating(tolerations), &unreachable, now()),
            expected,
            "{case}"
        );
    }
    let no_execute_free =
        taints(json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]));
    assert_eq!(
        taint_eviction(&pod_tolerating(json!([])), &no_execute_free, now()),
        Eviction::Keep
    );
}

#[test]
fn tolerations_match_by_operator_and_value() {
    let taint =
        taints(json!([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}])).remove(0);
    let matches =
        |toleration: Value| tolerates(&serde_json::from_value(toleration).expect("t"), &taint);
    assert!(
        matches(json!({"key": "dedicated", "value": "gpu"})),
        "Equal is the default"
    );
    assert!(!matches(
        json!({"key": "dedicated", "operator": "Equal", "value": "cpu"})
    ));
    assert!(matches(json!({"key": "dedicated", "operator": "Exists"})));
    assert!(!matches(
        json!({"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"})
    ));
    assert!(
        !matches(json!({"operator": "Equal", "value": "gpu"})),
        "an empty key wants Exists"
    );
}

#[test]
fn an_evicted_pod_is_marked_and_noted() {
    let condition = disruption_condition(now());
    assert_eq!(condition.type_, "DisruptionTarget");
    assert_eq!(condition.reason.as_deref(), Some("DeletionByTaintManager"));
    assert_eq!(
        condition.message.as_deref(),
        Some("Taint manager: deleting due to NoExecute taint")
    );
    let notice = eviction_notice(&pod_tolerating(json!([])));
    assert_eq!(notice.reason, "TaintManagerEviction");
    assert_eq!(notice.message, "Marking for deletion Pod default/p");
}

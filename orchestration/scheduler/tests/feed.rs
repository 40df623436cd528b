//! The adapter's pure part: what watch events do to the cluster and the
//! queue (`run::feed`), without keel.

mod support;

use std::time::Duration;

use keel_scheduler::queue::Location;
use keel_scheduler::run::feed::{pod_updated, State};
use keel_scheduler::{PodKey, QueueConfig};
use serde_json::{json, Value};
use support::{merged, node_json, pod_json};

fn key(name: &str) -> PodKey {
    PodKey::new("default", name)
}

fn at(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn state() -> State {
    let mut state = State::new("default-scheduler", QueueConfig::default());
    state.node_upserted(None, &node_json("n1", "1", "1Gi", 10), at(0));
    state
}

fn bound(pod: &Value, node: &str) -> Value {
    merged(pod.clone(), &json!({"spec": {"nodeName": node}}))
}

#[test]
fn pending_pods_of_this_scheduler_are_queued_and_others_are_not() {
    let mut state = state();
    let cases = [
        ("mine", json!({}), Some(Location::Active)),
        (
            "named",
            json!({"spec": {"schedulerName": "default-scheduler"}}),
            Some(Location::Active),
        ),
        ("other", json!({"spec": {"schedulerName": "custom"}}), None),
        (
            "deleting",
            json!({"metadata": {"name": "deleting", "namespace": "default",
                                "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
            None,
        ),
        ("done", json!({"status": {"phase": "Succeeded"}}), None),
    ];
    for (name, patch, want) in cases {
        let mut pod = pod_json(name, &json!({}));
        for (field, value) in patch.as_object().unwrap() {
            for (k, v) in value.as_object().unwrap() {
                pod[field][k] = v.clone();
            }
        }
        state.pod_upserted(None, &pod, at(1)).unwrap();
        assert_eq!(state.queue.location(&key(name)), want, "{name}");
    }
}

#[test]
fn a_bound_pod_counts_on_its_node_and_leaves_the_queue() {
    let mut state = state();
    let pod = pod_json("p", &json!({"cpu": "500m"}));
    state.pod_upserted(None, &pod, at(1)).unwrap();
    assert!(state.queue.location(&key("p")).is_some());
    state
        .pod_upserted(Some(&pod), &bound(&pod, "n1"), at(2))
        .unwrap();
    assert_eq!(state.queue.location(&key("p")), None);
    assert_eq!(state.cluster.node_of(&key("p")), Some("n1"));
    assert_eq!(state.cluster.node("n1").unwrap().requested.milli_cpu, 500);
}

#[test]
fn an_assumed_pods_late_pending_versions_leave_it_in_flight() {
    let mut state = state();
    let pod = pod_json("p", &json!({}));
    state.pod_upserted(None, &pod, at(1)).unwrap();
    assert_eq!(state.queue.pop(at(1)), Some(key("p")));
    let info = keel_scheduler::PodInfo::from_pod(&pod);
    state.cluster.assume(&info, "n1").unwrap();
    state.pod_upserted(Some(&pod), &pod, at(2)).unwrap();
    assert_eq!(state.queue.location(&key("p")), Some(Location::InFlight));
    assert!(
        !state.wants(&info),
        "an assumed pod is not searched for again"
    );
}

#[test]
fn only_changes_that_may_help_move_unschedulable_pods() {
    let mut state = state();
    let pod = pod_json("p", &json!({"cpu": "2"}));
    state.pod_upserted(None, &pod, at(0)).unwrap();
    state.queue.pop(at(0));
    state.queue.unschedulable(&key("p"), at(0));
    let unschedulable = |state: &State| state.queue.location(&key("p"));
    assert_eq!(unschedulable(&state), Some(Location::Unschedulable));

    // The scheduler's own condition write: status and resourceVersion only.
    let mut conditioned = pod.clone();
    conditioned["metadata"]["resourceVersion"] = "9".into();
    conditioned["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False"}]);
    assert!(!pod_updated(&pod, &conditioned));
    state.pod_upserted(Some(&pod), &conditioned, at(5)).unwrap();
    assert_eq!(unschedulable(&state), Some(Location::Unschedulable));

    // A node's status heartbeat changes nothing the filters read.
    let node = node_json("n1", "1", "1Gi", 10);
    let mut beat = node.clone();
    beat["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    state.node_upserted(Some(&node), &beat, at(5));
    assert_eq!(unschedulable(&state), Some(Location::Unschedulable));

    // A label on the pod may: it moves on (its backoff is over by then).
    let mut labelled = conditioned.clone();
    labelled["metadata"]["labels"] = json!({"tier": "web"});
    assert!(pod_updated(&conditioned, &labelled));
    state
        .pod_upserted(Some(&conditioned), &labelled, at(5))
        .unwrap();
    assert_eq!(unschedulable(&state), Some(Location::Active));
}

#[test]
fn freed_resources_and_new_nodes_move_unschedulable_pods() {
    let mut state = state();
    let pending = pod_json("pending", &json!({"cpu": "2"}));
    state.pod_upserted(None, &pending, at(0)).unwrap();
    let running = bound(&pod_json("running", &json!({"cpu": "1"})), "n1");
    state.pod_upserted(None, &running, at(0)).unwrap();
    let park = |state: &mut State| {
        state.queue.pop(at(100));
        state.queue.unschedulable(&key("pending"), at(100));
        assert_eq!(
            state.queue.location(&key("pending")),
            Some(Location::Unschedulable)
        );
    };
    let moved = |state: &State| state.queue.location(&key("pending")) == Some(Location::Backoff);

    park(&mut state);
    let finished = merged(running.clone(), &json!({"status": {"phase": "Succeeded"}}));
    state
        .pod_upserted(Some(&running), &finished, at(100))
        .unwrap();
    assert!(moved(&state), "a terminal pod frees its resources");
    assert_eq!(state.cluster.node("n1").unwrap().requested.milli_cpu, 0);

    let mut state = self::state();
    state.pod_upserted(None, &pending, at(0)).unwrap();
    state.pod_upserted(None, &running, at(0)).unwrap();
    park(&mut state);
    state.pod_deleted(&running, at(100));
    assert!(moved(&state), "a deleted pod frees its resources");

    let mut state = self::state();
    state.pod_upserted(None, &pending, at(0)).unwrap();
    park(&mut state);
    state.node_upserted(None, &node_json("n2", "4", "8Gi", 10), at(100));
    assert!(moved(&state), "a new node");
    state.queue.flush_backoff(at(200));
    state.node_deleted(&node_json("n2", "4", "8Gi", 10));
    assert_eq!(state.cluster.node_count(), 1);
}

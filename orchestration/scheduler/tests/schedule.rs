//! One decision end to end: the sample size, the round-robin start, the
//! tie-break, and the FailedScheduling message.

mod support;

use keel_scheduler::diagnosis::{unschedulable_condition, Diagnosis, UNSCHEDULABLE_REASON};
use keel_scheduler::filters::{Reason, Resource};
use keel_scheduler::sample::num_feasible_nodes_to_find;
use keel_scheduler::schedule::pick_highest;
use keel_scheduler::{schedule, Cluster, Random, SearchState, SplitMix64};
use serde_json::json;
use support::{node, node_with, pod};

#[test]
fn sample_sizes() {
    // schedule_one.go numFeasibleNodesToFind with percentageOfNodesToScore unset.
    let cases = [
        (10, 10), // fewer than 100: all
        (99, 99),
        (100, 100),    // 50 % of 100 = 50, raised to the minimum of 100
        (1_000, 420),  // 50 − 8 = 42 %
        (5_000, 500),  // 50 − 40 = 10 %
        (10_000, 500), // 50 − 80 < 5: 5 %
    ];
    for (nodes, want) in cases {
        assert_eq!(num_feasible_nodes_to_find(nodes, 0), want, "{nodes} nodes");
    }
    assert_eq!(
        num_feasible_nodes_to_find(1_000, 100),
        1_000,
        "a configured 100 %"
    );
    assert_eq!(num_feasible_nodes_to_find(1_000, 1), 100, "never below 100");
}

fn cluster_of(count: usize) -> Cluster {
    let mut cluster = Cluster::new();
    for at in 0..count {
        cluster.upsert_node(node(&format!("n{at:04}"), "4", "8Gi", 110));
    }
    cluster
}

#[test]
fn the_search_stops_at_the_sample_and_resumes_where_it_stopped() {
    let cluster = cluster_of(1_000);
    let mut state = SearchState::default();
    let mut random = SplitMix64::new(7);
    let first = schedule(&cluster, &pod("a", &json!({})), &mut state, &mut random).expect("fits");
    assert_eq!((first.evaluated_nodes, first.feasible_nodes), (420, 420));
    assert_eq!(state.next_start_index, 420);
    let second = schedule(&cluster, &pod("b", &json!({})), &mut state, &mut random).expect("fits");
    assert_eq!(second.feasible_nodes, 420);
    assert_eq!(state.next_start_index, 840);
    schedule(&cluster, &pod("c", &json!({})), &mut state, &mut random).expect("fits");
    assert_eq!(
        state.next_start_index, 260,
        "wraps around: (840 + 420) mod 1000"
    );
}

#[test]
fn the_best_node_wins_and_ties_are_fair() {
    let mut cluster = Cluster::new();
    cluster.upsert_node(node("small", "1", "1Gi", 110));
    cluster.upsert_node(node("big", "8", "16Gi", 110));
    let mut state = SearchState::default();
    let decision = schedule(
        &cluster,
        &pod("p", &json!({"cpu": "500m", "memory": "512Mi"})),
        &mut state,
        &mut SplitMix64::new(1),
    )
    .expect("fits");
    assert_eq!(
        decision.node_name, "big",
        "least allocated prefers the emptier node"
    );

    // Equal scores: each of the tied positions is picked about as often.
    let mut random = SplitMix64::new(42);
    let mut picks = [0_u32; 4];
    for _ in 0..4_000 {
        picks[pick_highest([5, 9, 9, 9], &mut random)] += 1;
    }
    assert_eq!(picks[0], 0);
    for count in &picks[1..] {
        assert!((1_100..1_570).contains(count), "{picks:?}");
    }
}

/// A random source that always answers 0: the tie-break then keeps the
/// last tied node it saw.
struct Zero;
impl Random for Zero {
    fn below(&mut self, _bound: usize) -> usize {
        0
    }
}

#[test]
fn the_tie_break_comes_from_the_seam() {
    assert_eq!(pick_highest([3, 7, 7, 1, 7], &mut Zero), 4);
    assert_eq!(pick_highest([3, 7, 2], &mut Zero), 1);
}

#[test]
fn failed_scheduling_message() {
    // 2 nodes too small for the pod, 3 unreachable: the example of issue 17.
    let mut cluster = Cluster::new();
    for name in ["a", "b"] {
        cluster.upsert_node(node(name, "1", "8Gi", 110));
    }
    for name in ["c", "d", "e"] {
        cluster.upsert_node(node_with(
            name,
            &json!({"spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]}}),
        ));
    }
    let diagnosis = schedule(
        &cluster,
        &pod("p", &json!({"cpu": "2"})),
        &mut SearchState::default(),
        &mut Zero,
    )
    .expect_err("fits nowhere");
    assert_eq!(
        diagnosis.message(),
        "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."
    );

    // A node with several reasons counts in each; entries sort as strings.
    let mut diagnosis = Diagnosis::new(12);
    diagnosis.record(&[
        Reason::Insufficient(Resource::Cpu),
        Reason::Insufficient(Resource::Memory),
    ]);
    diagnosis.record(&[Reason::Insufficient(Resource::Cpu)]);
    for _ in 0..10 {
        diagnosis.record(&[Reason::Unschedulable]);
    }
    assert_eq!(
        diagnosis.message(),
        "0/12 nodes are available: 1 Insufficient memory, 10 node(s) were unschedulable, 2 Insufficient cpu."
    );

    let empty = schedule(
        &Cluster::new(),
        &pod("p", &json!({})),
        &mut SearchState::default(),
        &mut Zero,
    )
    .expect_err("no nodes");
    assert_eq!(empty.message(), "no nodes available to schedule pods");

    let condition = unschedulable_condition(
        "0/1 nodes are available: 1 Too many pods.",
        "2025-01-01T00:00:00Z",
    );
    assert_eq!(condition["type"], "PodScheduled");
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], UNSCHEDULABLE_REASON);
    assert_eq!(UNSCHEDULABLE_REASON, "Unschedulable");
}

#[test]
fn a_cordoned_node_gets_nothing() {
    let mut cluster = Cluster::new();
    cluster.upsert_node(node_with(
        "cordoned",
        &json!({"spec": {"unschedulable": true}}),
    ));
    cluster.upsert_node(node("open", "1", "1Gi", 110));
    let mut state = SearchState::default();
    for at in 0..20 {
        let decision = schedule(
            &cluster,
            &pod(&format!("p{at}"), &json!({})),
            &mut state,
            &mut SplitMix64::new(at),
        )
        .expect("fits");
        assert_eq!(decision.node_name, "open");
    }
}

//! Every score, as a table: raw scores, normalisation and weights as
//! kube-scheduler computes them (`pkg/scheduler/framework/plugins/*`).

mod support;

use keel_scheduler::model::NodeInfo;
use keel_scheduler::scores::{self, PluginScores};
use serde_json::{json, Value};
use support::{node, node_info, node_with, pod, pod_with};

fn owned_by(uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true}]}})
}

#[test]
fn least_allocated() {
    // least_allocated_test.go "nothing scheduled, resources requested,
    // differently sized nodes": cpu (4000−3000)/4000 = 25, memory 50 → 37;
    // cpu (6000−3000)/6000 = 50, memory 50 → 50.
    let incoming = pod("p", &json!({"cpu": "3000m", "memory": "5000"}));
    let cases: [(&str, NodeInfo, &keel_scheduler::PodInfo, i64); 4] = [
        (
            "small node",
            node_info(node("n1", "4000m", "10000", 110), vec![]),
            &incoming,
            37,
        ),
        (
            "large node",
            node_info(node("n2", "6000m", "10000", 110), vec![]),
            &incoming,
            50,
        ),
        // Pods without requests count as 100m / 200Mi on both sides:
        // cpu (1000−200)/1000 = 80, memory (1000Mi−400Mi)/1000Mi = 60 → 70.
        (
            "non-zero defaults",
            node_info(
                node("n3", "1000m", "1000Mi", 110),
                vec![pod("old", &json!({}))],
            ),
            &pod("q", &json!({})),
            70,
        ),
        (
            "over capacity scores 0",
            node_info(node("n4", "1000m", "10000", 110), vec![]),
            &incoming,
            25,
        ),
    ];
    for (name, info, pod, want) in cases {
        assert_eq!(scores::least_allocated(&info, pod), want, "{name}");
    }
}

#[test]
fn balanced_allocation() {
    // balanced_allocation_test.go: fractions 0.75 and 0.5 → std 0.125 → 87;
    // 0.5 and 0.5 → 100.
    let incoming = pod("p", &json!({"cpu": "3000m", "memory": "5000"}));
    let cases = [
        (
            "unbalanced",
            node_info(node("n1", "4000m", "10000", 110), vec![]),
            87,
        ),
        (
            "balanced",
            node_info(node("n2", "6000m", "10000", 110), vec![]),
            100,
        ),
        // Existing requests count as they are: cpu (1000+3000)/6000, memory (5000+5000)/10000 = 1.
        // std = (1 − 0.6667)/2 = 0.1667 → 83.
        (
            "with a pod on it",
            node_info(
                node("n3", "6000m", "10000", 110),
                vec![pod("old", &json!({"cpu": "1000m", "memory": "5000"}))],
            ),
            83,
        ),
        // Fractions are capped at 1: cpu 3000/2000 → 1, memory 0.5 → 75.
        (
            "capped fraction",
            node_info(node("n4", "2000m", "10000", 110), vec![]),
            75,
        ),
    ];
    for (name, info, want) in cases {
        assert_eq!(
            scores::balanced_allocation(&info, &incoming),
            want,
            "{name}"
        );
    }
    assert!(scores::balanced_allocation_skips(&pod(
        "best-effort",
        &json!({})
    )));
    assert!(!scores::balanced_allocation_skips(&incoming));
}

#[test]
fn node_affinity_preferred_terms() {
    let incoming = pod_with(
        "p",
        &json!({"spec": {"containers": [{"name": "c"}], "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 2, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
            {"weight": 0, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}},
        ]}}}}),
    );
    let labelled = |name: &str, labels: Value| {
        node_with(name, &json!({"metadata": {"name": name, "labels": labels}}))
    };
    let nodes = [
        labelled("n1", json!({"zone": "a"})),
        labelled("n2", json!({"zone": "a", "disk": "ssd"})),
        labelled("n3", json!({"zone": "b"})),
    ];
    let mut raw: Vec<i64> = nodes
        .iter()
        .map(|n| scores::node_affinity_raw(n, &incoming))
        .collect();
    assert_eq!(raw, [2, 7, 0]);
    scores::default_normalize(&mut raw, false);
    // 2 × 100 / 7 = 28 (integer division), 100, 0.
    assert_eq!(raw, [28, 100, 0]);
}

#[test]
fn taint_toleration_prefer_no_schedule() {
    let incoming = pod_with(
        "p",
        &json!({"spec": {"containers": [{"name": "c"}], "tolerations": [
            {"key": "tolerated", "operator": "Exists", "effect": "PreferNoSchedule"},
            {"key": "hard-only", "operator": "Exists", "effect": "NoSchedule"},
        ]}}),
    );
    let tainted = |name: &str, taints: Value| node_with(name, &json!({"spec": {"taints": taints}}));
    let soft = |key: &str| json!({"key": key, "effect": "PreferNoSchedule"});
    let nodes = [
        tainted("n1", json!([soft("tolerated")])),
        tainted("n2", json!([soft("a"), soft("tolerated")])),
        // A NoSchedule toleration does not count for PreferNoSchedule taints.
        tainted("n3", json!([soft("a"), soft("hard-only")])),
        tainted("n4", json!([{"key": "b", "effect": "NoSchedule"}])),
    ];
    let mut raw: Vec<i64> = nodes
        .iter()
        .map(|n| scores::taint_toleration_raw(n, &incoming))
        .collect();
    assert_eq!(raw, [0, 1, 2, 0]);
    scores::default_normalize(&mut raw, true);
    assert_eq!(raw, [100, 50, 0, 100]);
    let mut none = vec![0, 0];
    scores::default_normalize(&mut none, true);
    assert_eq!(none, [100, 100], "no untolerated taint anywhere: all 100");
    let mut zero = vec![0, 0];
    scores::default_normalize(&mut zero, false);
    assert_eq!(zero, [0, 0]);
}

#[test]
fn owner_spread_on_hostname() {
    let incoming = pod_with("p", &owned_by("rs-1"));
    let mine = |name: &str| pod_with(name, &owned_by("rs-1"));
    let terminating = support::merged(
        owned_by("rs-1"),
        &json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}}),
    );
    let other_namespace = support::merged(
        owned_by("rs-1"),
        &json!({"metadata": {"namespace": "elsewhere"}}),
    );
    let infos = [
        node_info(
            node("n1", "4", "8Gi", 110),
            vec![
                pod_with("x", &owned_by("rs-2")),
                pod_with("t", &terminating),
                pod_with("o", &other_namespace),
            ],
        ),
        node_info(node("n2", "4", "8Gi", 110), vec![mine("a")]),
        node_info(
            node("n3", "4", "8Gi", 110),
            vec![mine("b"), mine("c"), mine("d")],
        ),
    ];
    let counts: Vec<i64> = infos
        .iter()
        .map(|i| scores::spread_count(i, &incoming))
        .collect();
    assert_eq!(counts, [0, 1, 3]);
    // 3 nodes: weight ln(3 + 2); raw = count × weight + (maxSkew 3 − 1), rounded: 2, 4, 7.
    let weight = scores::topology_normalizing_weight(3);
    assert!((weight - 5_f64.ln()).abs() < 1e-12);
    let mut raw: Vec<i64> = counts
        .iter()
        .map(|&c| scores::spread_raw(c, weight))
        .collect();
    assert_eq!(raw, [2, 4, 7]);
    // 100 × (max + min − score) / max: 100, 500/7 = 71, 200/7 = 28.
    scores::spread_normalize(&mut raw);
    assert_eq!(raw, [100, 71, 28]);
}

#[test]
fn weights_are_the_default_profile() {
    let parts = PluginScores {
        taint_toleration: 1,
        node_affinity: 10,
        spread: 100,
        least_allocated: 1000,
        balanced_allocation: 10000,
    };
    // TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, Fit 1, Balanced 1.
    assert_eq!(parts.total(), 3 + 20 + 200 + 1000 + 10000);
}

#[test]
fn score_nodes_puts_it_together() {
    // Two equal nodes but one already runs a pod of the same owner: the
    // spread score prefers the other; without an owner they tie.
    let nodes = vec![
        node_info(
            node("n1", "4", "8Gi", 110),
            vec![pod_with("a", &owned_by("rs-1"))],
        ),
        node_info(
            node("n2", "4", "8Gi", 110),
            vec![pod_with("b", &owned_by("rs-9"))],
        ),
    ];
    let owned = pod_with("p", &owned_by("rs-1"));
    let got = scores::score_nodes(&nodes, &[0, 1], &owned);
    assert!(got[1].total() > got[0].total(), "{got:?}");
    assert_eq!(got[1].spread, 100);
    let orphan = pod("q", &json!({"cpu": "1"}));
    let got = scores::score_nodes(&nodes, &[0, 1], &orphan);
    assert_eq!(got[0].total(), got[1].total(), "{got:?}");
    assert_eq!(got[0].spread, 0, "a pod without an owner skips spreading");
}

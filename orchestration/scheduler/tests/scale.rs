//! The benchmark's shape, for correctness only: 10,000 pods scheduled one
//! after another onto 5,000 nodes through the cluster's assume cache.
//! Every pod must be placed and no node may hold more than it offers.
//! (The elapsed time is printed for a manual `--release --nocapture` run;
//! nothing asserts on it.)

#![allow(
    clippy::disallowed_methods,
    reason = "prints the elapsed time of a manual run"
)]

mod support;

use std::time::Instant;

use keel_scheduler::model::PodChange;
use keel_scheduler::{schedule, Cluster, PodInfo, SearchState, SplitMix64};
use serde_json::json;
use support::{merged, node, pod_json};

const NODES: usize = 5_000;
const PODS: usize = 10_000;

fn pod_of_replica_set(at: usize) -> PodInfo {
    // 100 ReplicaSets of 100 pods, with a few sizes of request.
    let requests = match at % 3 {
        0 => json!({"cpu": "500m", "memory": "1Gi"}),
        1 => json!({"cpu": "250m", "memory": "512Mi"}),
        _ => json!({}),
    };
    let owner = at % 100;
    PodInfo::from_pod(&merged(
        pod_json(&format!("p{at:05}"), &requests),
        &json!({"metadata": {"name": format!("p{at:05}"), "namespace": "default",
                             "labels": {"app": format!("rs{owner}")},
                             "ownerReferences": [{"kind": "ReplicaSet", "name": format!("rs{owner}"),
                                                  "uid": format!("uid-rs{owner}"), "controller": true}]}}),
    ))
}

#[test]
fn ten_thousand_pods_on_five_thousand_nodes() {
    let mut cluster = Cluster::new();
    for at in 0..NODES {
        // Small nodes, so that resources and pod counts bind: 1 cpu, 2Gi, 4 pods.
        cluster.upsert_node(node(&format!("node-{at:04}"), "1", "2Gi", 4));
    }
    let pods: Vec<PodInfo> = (0..PODS).map(pod_of_replica_set).collect();
    let mut state = SearchState::default();
    let mut random = SplitMix64::new(2025);
    let started = Instant::now();
    for pod in &pods {
        let decision = schedule(&cluster, pod, &mut state, &mut random)
            .unwrap_or_else(|d| panic!("{} fits nowhere: {}", pod.key, d.message()));
        cluster.assume(pod, &decision.node_name).expect("assumed");
    }
    let elapsed = started.elapsed();
    println!(
        "{PODS} pods on {NODES} nodes: {elapsed:?}, {:.0} pods/s",
        PODS as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(cluster.assumed_count(), PODS);

    // No node over what it offers.
    for info in cluster.nodes() {
        let offered = info.node.allocatable;
        assert!(
            info.pods.len() as i64 <= offered.pods,
            "{}: {} pods",
            info.name(),
            info.pods.len()
        );
        assert!(
            info.requested.milli_cpu <= offered.resources.milli_cpu,
            "{}",
            info.name()
        );
        assert!(
            info.requested.memory <= offered.resources.memory,
            "{}",
            info.name()
        );
        let recount: i64 = info.pods.iter().map(|p| p.requests.milli_cpu).sum();
        assert_eq!(
            recount,
            info.requested.milli_cpu,
            "{}: totals follow the pods",
            info.name()
        );
    }

    // The binds come back through the watch: every pod is confirmed in place.
    for pod in &pods {
        let mut seen = pod.clone();
        seen.node_name = cluster.node_of(&pod.key).map(str::to_owned);
        assert_eq!(cluster.upsert_pod(seen), PodChange::Confirmed);
    }
    assert_eq!(cluster.assumed_count(), 0);
    assert_eq!(cluster.pod_count(), PODS);
}

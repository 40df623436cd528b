//! The cluster's accounting: bound and assumed pods count on their node,
//! assume / confirm / forget / expire, nodes coming and going.

mod support;

use std::time::Duration;

use keel_scheduler::model::{AssumeError, PodChange, Resources};
use keel_scheduler::{Cluster, PodInfo, PodKey};
use serde_json::json;
use support::{node, pod, pod_json};

fn bound(name: &str, node_name: &str, requests: &serde_json::Value) -> PodInfo {
    let mut json = pod_json(name, requests);
    json["spec"]["nodeName"] = json!(node_name);
    PodInfo::from_pod(&json)
}

fn requested(cluster: &Cluster, node_name: &str) -> (i64, i64, usize) {
    let info = cluster.node(node_name).expect("node");
    (
        info.requested.milli_cpu,
        info.non_zero_requested.milli_cpu,
        info.pods.len(),
    )
}

#[test]
fn assume_confirm_forget() {
    let mut cluster = Cluster::new();
    cluster.upsert_node(node("n1", "4", "8Gi", 110));
    cluster.upsert_node(node("n2", "4", "8Gi", 110));
    let p = pod("p", &json!({"cpu": "1"}));

    cluster.assume(&p, "n1").expect("assumed");
    assert!(cluster.is_assumed(&p.key));
    assert_eq!(
        requested(&cluster, "n1"),
        (1000, 1000, 1),
        "the next pod sees it at once"
    );
    assert_eq!(
        cluster.assume(&p, "n2"),
        Err(AssumeError::AlreadyPlaced(p.key.clone(), "n1".to_owned()))
    );
    assert_eq!(
        cluster.assume(&pod("q", &json!({})), "nowhere"),
        Err(AssumeError::UnknownNode("nowhere".to_owned()))
    );

    // The watch still shows the pod unbound: it stays assumed.
    assert_eq!(cluster.upsert_pod(p.clone()), PodChange::Ignored);
    assert!(cluster.is_assumed(&p.key));
    // The bind is seen: confirmed, counted once.
    assert_eq!(
        cluster.upsert_pod(bound("p", "n1", &json!({"cpu": "1"}))),
        PodChange::Confirmed
    );
    assert!(!cluster.is_assumed(&p.key));
    assert_eq!(requested(&cluster, "n1"), (1000, 1000, 1));
    assert!(!cluster.forget(&p.key), "a confirmed pod is not forgotten");

    // A failed bind: forget gives the resources back.
    let q = pod("q", &json!({"cpu": "2"}));
    cluster.assume(&q, "n2").expect("assumed");
    assert_eq!(requested(&cluster, "n2"), (2000, 2000, 1));
    assert!(cluster.forget(&q.key));
    assert_eq!(requested(&cluster, "n2"), (0, 0, 0));
    assert_eq!(cluster.node_of(&q.key), None);

    // Another scheduler bound it elsewhere: the assumed pod moves.
    cluster.assume(&q, "n2").expect("assumed");
    assert_eq!(
        cluster.upsert_pod(bound("q", "n1", &json!({"cpu": "2"}))),
        PodChange::Moved
    );
    assert_eq!(requested(&cluster, "n1"), (3000, 3000, 2));
    assert_eq!(requested(&cluster, "n2"), (0, 0, 0));
}

#[test]
fn assumed_pods_expire_only_after_binding_finished_and_the_ttl() {
    let mut cluster = Cluster::with_assumed_ttl(Duration::from_secs(30));
    cluster.upsert_node(node("n1", "4", "8Gi", 110));
    let p = pod("p", &json!({"cpu": "1"}));
    cluster.assume(&p, "n1").expect("assumed");
    assert!(
        cluster
            .expire_assumed(Duration::from_secs(1_000))
            .is_empty(),
        "binding not finished"
    );
    assert!(cluster.finish_binding(&p.key, Duration::from_secs(10)));
    assert!(cluster.expire_assumed(Duration::from_secs(39)).is_empty());
    assert_eq!(
        cluster.expire_assumed(Duration::from_secs(40)),
        vec![p.key.clone()]
    );
    assert_eq!(requested(&cluster, "n1"), (0, 0, 0));

    // Without a TTL (kube-scheduler 1.33's default) nothing expires.
    let mut forever = Cluster::new();
    forever.upsert_node(node("n1", "4", "8Gi", 110));
    forever.assume(&p, "n1").expect("assumed");
    forever.finish_binding(&p.key, Duration::ZERO);
    assert!(forever
        .expire_assumed(Duration::from_secs(86_400))
        .is_empty());
}

#[test]
fn bound_pods_updates_deletes_and_terminal_phases() {
    let mut cluster = Cluster::new();
    cluster.upsert_node(node("n1", "4", "8Gi", 110));
    assert_eq!(
        cluster.upsert_pod(bound("a", "n1", &json!({"cpu": "500m"}))),
        PodChange::Added
    );
    assert_eq!(
        cluster.upsert_pod(bound("a", "n1", &json!({"cpu": "700m"}))),
        PodChange::Updated
    );
    assert_eq!(requested(&cluster, "n1"), (700, 700, 1));
    assert_eq!(
        cluster.upsert_pod(pod("pending", &json!({"cpu": "1"}))),
        PodChange::Ignored
    );
    assert_eq!(requested(&cluster, "n1"), (700, 700, 1));

    let mut finished = pod_json("a", &json!({"cpu": "700m"}));
    finished["spec"]["nodeName"] = json!("n1");
    finished["status"]["phase"] = json!("Succeeded");
    assert_eq!(
        cluster.upsert_pod(PodInfo::from_pod(&finished)),
        PodChange::Removed
    );
    assert_eq!(requested(&cluster, "n1"), (0, 0, 0));

    cluster.upsert_pod(bound("b", "n1", &json!({})));
    assert_eq!(
        requested(&cluster, "n1"),
        (0, 100, 1),
        "no request: 0 for fit, 100m for scores"
    );
    assert!(cluster.remove_pod(&PodKey::new("default", "b")));
    assert!(!cluster.remove_pod(&PodKey::new("default", "b")));
    assert_eq!(requested(&cluster, "n1"), (0, 0, 0));
}

#[test]
fn pods_of_unknown_nodes_wait_for_their_node() {
    let mut cluster = Cluster::new();
    assert_eq!(
        cluster.upsert_pod(bound("early", "n1", &json!({"cpu": "1"}))),
        PodChange::Added
    );
    assert_eq!(cluster.node_count(), 0);
    cluster.upsert_node(node("n1", "4", "8Gi", 110));
    assert_eq!(requested(&cluster, "n1"), (1000, 1000, 1));

    // A deleted node's pods are kept aside and come back with it.
    cluster.upsert_node(node("n2", "4", "8Gi", 110));
    assert!(cluster.remove_node("n1"));
    assert_eq!(cluster.node_count(), 1);
    assert_eq!(
        cluster.node("n2").map(keel_scheduler::NodeInfo::name),
        Some("n2"),
        "the index follows the moved node"
    );
    cluster.upsert_node(node("n1", "8", "8Gi", 110));
    assert_eq!(requested(&cluster, "n1"), (1000, 1000, 1));
    // A node update keeps the pods and totals.
    cluster.upsert_node(node("n1", "2", "8Gi", 110));
    assert_eq!(requested(&cluster, "n1"), (1000, 1000, 1));
    assert_eq!(
        cluster
            .node("n1")
            .expect("n1")
            .node
            .allocatable
            .resources
            .milli_cpu,
        2000
    );
    assert!(cluster.remove_pod(&PodKey::new("default", "early")));
    assert_eq!(
        cluster.node("n1").expect("n1").requested,
        Resources::default()
    );
}

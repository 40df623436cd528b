//! The DaemonSet controller against a real keeld, on simulated nodes:
//!
//! ```text
//!   daemon_set_follows_nodes_and_rolls
//!     3 nodes: 3 daemon pods, one per node, Ready, and the status says so;
//!     a 4th node comes: a 4th pod; a node is deleted: its pod goes; a new
//!     image: every pod is replaced, never more than maxUnavailable (1)
//!     node without an available pod; a ControllerRevision per template
//! ```
//!
//! The scheduler is not part of this test: a small binder binds each
//! daemon pod to the node its affinity pins it to, as the scheduler would.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Cluster, PATIENCE};
use keel_api::k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources::of;
use keel_client::Client;
use keel_controllers::daemonset::eligible::target_node;
use keel_controllers::manager::ManagerOptions;
use keel_runtime::{Event, ListOptions, SharedInformer, Store, StoreError};
use keel_tests::eventually;
use serde_json::{json, Value};

/// Binds each pending pod to the node its affinity names.
async fn binder(client: Client) {
    let store = Store::new(client.clone());
    let pods = SharedInformer::start(&client, of::<Pod>(), "")
        .await
        .unwrap();
    let mut events = pods.subscribe();
    loop {
        let event = events.recv().await.unwrap();
        let candidates = match event {
            Event::Added(pod) | Event::Modified { new: pod, .. } => vec![pod],
            Event::Listed { .. } => pods.cache().list(),
            Event::Deleted(_) => vec![],
        };
        for pod in candidates {
            let bound = pod.pointer("/spec/nodeName").is_some_and(|n| n != "");
            if bound || pod.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            if let Some(node) = target_node(&pod) {
                let ns = pod["metadata"]["namespace"].as_str().unwrap();
                let name = pod["metadata"]["name"].as_str().unwrap();
                let uid = pod["metadata"]["uid"].as_str();
                match store.bind(ns, name, node, uid).await {
                    Ok(_) | Err(StoreError::Bind { .. } | StoreError::NotFound { .. }) => {}
                    Err(error) => panic!("binding {name}: {error}"),
                }
            }
        }
    }
}

/// The DaemonSet's live pods by node.
async fn pods_by_node(store: &Store) -> BTreeMap<String, Vec<Value>> {
    let list = store
        .list(of::<Pod>(), "default", &ListOptions::default())
        .await
        .unwrap();
    let mut by_node: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for pod in list.items {
        if pod.pointer("/metadata/deletionTimestamp").is_none() {
            let node = target_node(&pod).unwrap_or("").to_owned();
            by_node.entry(node).or_default().push(pod);
        }
    }
    by_node
}

fn running_ready(pod: &Value) -> bool {
    pod.pointer("/status/phase") == Some(&json!("Running"))
}

fn image_of(pod: &Value) -> &str {
    pod.pointer("/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap()
}

/// Waits until every node in `nodes` runs exactly one Ready daemon pod of
/// `image` and no other node has one.
async fn settled(store: &Store, nodes: &[&str], image: &str) {
    eventually(
        &format!("one {image} pod on each of {nodes:?}"),
        PATIENCE,
        || async {
            let by_node = pods_by_node(store).await;
            let keys: Vec<&str> = by_node.keys().map(String::as_str).collect();
            let each = by_node.values().all(|pods| {
                pods.len() == 1 && running_ready(&pods[0]) && image_of(&pods[0]) == image
            });
            (keys == nodes && each).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_set_follows_nodes_and_rolls() {
    let mut cluster = Cluster::start(ManagerOptions::default()).await;
    let store = cluster.store.clone();
    let _nodes = cluster.sim_nodes("n", 3);
    cluster.keep(tokio::spawn(binder(cluster.client.clone())));
    cluster.run_manager();

    let daemon_set = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "c", "image": "agent:1"}]}}}});
    let daemon_sets = of::<DaemonSet>();
    store
        .create(daemon_sets, "default", daemon_set)
        .await
        .unwrap();
    settled(&store, &["n-0", "n-1", "n-2"], "agent:1").await;
    eventually("the status to count 3 ready", PATIENCE, || async {
        let ds = store.get(daemon_sets, "default", "agent").await.unwrap();
        let status = &ds["status"];
        (status["desiredNumberScheduled"] == 3
            && status["numberReady"] == 3
            && status["updatedNumberScheduled"] == 3)
            .then_some(())
    })
    .await;

    // A node comes, a node goes.
    let _late = cluster.sim_nodes("late", 1);
    settled(&store, &["late-0", "n-0", "n-1", "n-2"], "agent:1").await;
    store.delete(of::<Node>(), "", "n-2", None).await.unwrap();
    settled(&store, &["late-0", "n-0", "n-1"], "agent:1").await;

    // A new image rolls one node at a time.
    store
        .update_with(daemon_sets, "default", "agent", |ds, _| {
            let mut ds = ds.clone();
            ds["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2".into();
            Ok::<_, StoreError>(ds)
        })
        .await
        .unwrap();
    let worst = std::sync::Arc::new(AtomicUsize::new(0));
    eventually("every pod on agent:2", PATIENCE, || {
        let store = store.clone();
        let worst = std::sync::Arc::clone(&worst);
        async move {
            let by_node = pods_by_node(&store).await;
            let nodes = ["late-0", "n-0", "n-1"];
            let down = nodes
                .iter()
                .filter(|node| {
                    !by_node
                        .get(**node)
                        .is_some_and(|pods| pods.iter().any(running_ready))
                })
                .count();
            worst.fetch_max(down, Ordering::SeqCst);
            let done = nodes.iter().all(|node| {
                by_node.get(*node).is_some_and(|pods| {
                    pods.len() == 1 && image_of(&pods[0]) == "agent:2" && running_ready(&pods[0])
                })
            });
            done.then_some(())
        }
    })
    .await;
    let worst = worst.load(Ordering::SeqCst);
    assert!(
        worst <= 1,
        "{worst} nodes were without a running daemon pod at once"
    );
    let revisions = store
        .list(
            of::<ControllerRevision>(),
            "default",
            &ListOptions::default(),
        )
        .await
        .unwrap();
    let mut numbers: Vec<i64> = revisions
        .items
        .iter()
        .map(|r| r["revision"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2]);

    cluster.stop().await;
}

//! The node lifecycle, taint eviction and node IPAM controllers against a
//! real keeld, with simulated nodes in this process and a 2 s grace
//! period:
//!
//! ```text
//!   nodes_lose_heartbeats_and_their_pods_are_evicted
//!     three nodes get distinct podCIDRs from 10.244.0.0/16 (/24 each);
//!     the heartbeats of a-0 and a-1 stop ─► Ready (and the pressures)
//!     Unknown after about the grace period, the unreachable NoSchedule and
//!     NoExecute taints, a NodeNotReady event, their pods' Ready False;
//!     on a-0 a pod tolerating 0 s is evicted at once (DisruptionTarget,
//!     then a graceful delete), one tolerating 2 s goes after 2 s, one
//!     tolerating for ever stays; b-0, still heartbeating, is untouched;
//!     b-0 then reporting Ready False gets the not-ready taints instead;
//!     a's kubelets back, Ready again: the taints go
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::time::Duration;

use keel_api::k8s_openapi::api::core::v1::{Event, Node, Pod};
use keel_api::resources::of;
use keel_controllers::{ipam, nodes};
use keel_runtime::{ListOptions, Part, Store, StoreError};
use serde_json::{json, Value};
use tokio::time::Instant;

use common::{short_options, Cluster, PATIENCE};
use keel_tests::eventually;

fn pod(name: &str, node: &str, tolerations: &Value, grace: i64) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"nodeName": node, "tolerations": tolerations,
                    "terminationGracePeriodSeconds": grace,
                    "containers": [{"name": "main", "image": "busybox"}]}})
}

fn toleration(key: &str, seconds: Option<i64>) -> Value {
    let mut toleration = json!({"key": key, "operator": "Exists", "effect": "NoExecute"});
    if let Some(seconds) = seconds {
        toleration["tolerationSeconds"] = seconds.into();
    }
    toleration
}

async fn node(store: &Store, name: &str) -> Value {
    store.get(of::<Node>(), "", name).await.unwrap()
}

fn condition<'v>(object: &'v Value, kind: &str) -> Option<&'v str> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?["status"]
        .as_str()
}

/// The node's taints as (key, effect).
fn taints(node: &Value) -> Vec<(String, String)> {
    let mut taints: Vec<(String, String)> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["effect"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    taints.sort();
    taints
}

fn pair(key: &str, effect: &str) -> (String, String) {
    (key.to_owned(), effect.to_owned())
}

async fn get_pod(store: &Store, name: &str) -> Option<Value> {
    match store.get(of::<Pod>(), "default", name).await {
        Ok(pod) => Some(pod),
        Err(StoreError::NotFound { .. }) => None,
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_lose_heartbeats_and_their_pods_are_evicted() {
    let mut cluster = Cluster::start(short_options()).await;
    let store = cluster.store.clone();
    let a = cluster.sim_nodes("a", 2);
    let _b = cluster.sim_nodes("b", 1);
    cluster.run(&[
        nodes::run::start_node_lifecycle,
        nodes::run::start_taint_eviction,
        ipam::run::start,
    ]);

    // Node IPAM: three distinct /24s of the cluster CIDR.
    let cidrs = eventually("every node's podCIDR", PATIENCE, || async {
        let mut cidrs = Vec::new();
        for name in ["a-0", "a-1", "b-0"] {
            let node = store.get(of::<Node>(), "", name).await.ok()?;
            let cidr = node.pointer("/spec/podCIDR")?.as_str()?.to_owned();
            assert_eq!(node["spec"]["podCIDRs"], json!([cidr]));
            cidrs.push(cidr);
        }
        Some(cidrs)
    })
    .await;
    let mut distinct = cidrs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{cidrs:?}");
    for cidr in &cidrs {
        assert!(
            cidr.starts_with("10.244.") && cidr.ends_with(".0/24"),
            "{cidr}"
        );
    }

    let unreachable = nodes::TAINT_UNREACHABLE;
    let not_ready = nodes::TAINT_NOT_READY;
    let pods = of::<Pod>();
    for (name, node, tolerations, grace) in [
        (
            "intolerant",
            "a-0",
            json!([toleration(unreachable, Some(0))]),
            30,
        ),
        (
            "tolerant",
            "a-0",
            json!([toleration(unreachable, Some(2))]),
            0,
        ),
        ("forever", "a-0", json!([toleration(unreachable, None)]), 30),
        ("elsewhere", "b-0", json!([toleration(not_ready, None)]), 30),
    ] {
        store
            .create(pods, "default", pod(name, node, &tolerations, grace))
            .await
            .unwrap();
    }
    for name in ["intolerant", "tolerant", "forever", "elsewhere"] {
        eventually(&format!("{name} to be Ready"), PATIENCE, || async {
            let pod = get_pod(&store, name).await?;
            (condition(&pod, "Ready") == Some("True")).then_some(())
        })
        .await;
    }
    assert!(taints(&node(&store, "a-0").await).is_empty());

    // a's heartbeats stop.
    let stopped = Instant::now();
    a.stop().await;
    eventually("a-0 and a-1 to be Unknown", PATIENCE, || async {
        for name in ["a-0", "a-1"] {
            let node = node(&store, name).await;
            for kind in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
                if condition(&node, kind) != Some("Unknown") {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
    let unknown_after = stopped.elapsed();
    assert!(
        unknown_after >= Duration::from_millis(1500) && unknown_after < Duration::from_secs(5),
        "Unknown after {unknown_after:?} (grace 2 s)"
    );
    let node_a0 = eventually("the unreachable taints", PATIENCE, || async {
        let node = node(&store, "a-0").await;
        (taints(&node).len() == 2).then_some(node)
    })
    .await;
    let tainted = Instant::now();
    assert_eq!(
        taints(&node_a0),
        [
            pair(unreachable, "NoExecute"),
            pair(unreachable, "NoSchedule")
        ]
    );
    let message = node_a0
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()["message"]
        .clone();
    assert_eq!(message, nodes::STOPPED_POSTING_MESSAGE);

    // Pods: the intolerant one is evicted at once, gracefully. (A pod
    // naming no toleration of these taints would get 300 s ones from the
    // DefaultTolerationSeconds admission.)
    let evicted = eventually("intolerant to be evicted", PATIENCE, || async {
        let pod = get_pod(&store, "intolerant").await?;
        pod.pointer("/metadata/deletionTimestamp")?;
        Some(pod)
    })
    .await;
    assert_eq!(condition(&evicted, "DisruptionTarget"), Some("True"));
    assert_eq!(evicted["metadata"]["deletionGracePeriodSeconds"], 30);
    // The tolerant one goes 2 s after the taint (timeAdded is in whole
    // seconds, so up to 1 s sooner than the taint was seen).
    eventually("tolerant to be gone", PATIENCE, || async {
        get_pod(&store, "tolerant").await.is_none().then_some(())
    })
    .await;
    let tolerated = tainted.elapsed();
    assert!(
        tolerated >= Duration::from_millis(900) && tolerated < Duration::from_secs(5),
        "tolerant evicted {tolerated:?} after the taint"
    );
    // Marked not ready (MarkPodsNotReady), and kept.
    for name in ["forever", "intolerant"] {
        eventually(
            &format!("{name} to be marked not ready"),
            PATIENCE,
            || async {
                let pod = get_pod(&store, name).await.unwrap();
                (condition(&pod, "Ready") == Some("False")).then_some(())
            },
        )
        .await;
    }
    let forever = get_pod(&store, "forever").await.unwrap();
    assert!(forever.pointer("/metadata/deletionTimestamp").is_none());
    let elsewhere = get_pod(&store, "elsewhere").await.unwrap();
    assert_eq!(condition(&elsewhere, "Ready"), Some("True"));
    assert!(taints(&node(&store, "b-0").await).is_empty());
    assert_eq!(condition(&node(&store, "b-0").await, "Ready"), Some("True"));

    eventually("a NodeNotReady event for a-0", PATIENCE, || async {
        let events = store
            .list(of::<Event>(), "default", &ListOptions::default())
            .await
            .unwrap();
        events
            .items
            .iter()
            .any(|e| {
                e["reason"] == "NodeNotReady"
                    && e["involvedObject"]["name"] == "a-0"
                    && e["message"] == "Node a-0 status is now: NodeNotReady"
            })
            .then_some(())
    })
    .await;

    // b-0 reports NotReady (its Lease still renewed): not-ready taints.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    store
        .update_part_with(of::<Node>(), "", "b-0", Part::Status, |current, _| {
            let mut new = current.clone();
            for condition in new["status"]["conditions"].as_array_mut().unwrap() {
                if condition["type"] == "Ready" {
                    condition["status"] = "False".into();
                    condition["reason"] = "KubeletNotReady".into();
                    condition["lastHeartbeatTime"] = now.clone().into();
                    condition["lastTransitionTime"] = now.clone().into();
                }
            }
            Ok::<_, StoreError>(new)
        })
        .await
        .unwrap();
    let node_b0 = eventually("the not-ready taints", PATIENCE, || async {
        let node = node(&store, "b-0").await;
        (!taints(&node).is_empty()).then_some(node)
    })
    .await;
    assert_eq!(
        taints(&node_b0),
        [pair(not_ready, "NoExecute"), pair(not_ready, "NoSchedule")]
    );
    assert_eq!(condition(&node_b0, "Ready"), Some("False"));
    // Tolerated for ever: the pod there stays.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let elsewhere = get_pod(&store, "elsewhere").await.unwrap();
    assert!(elsewhere.pointer("/metadata/deletionTimestamp").is_none());

    // a's kubelets come back (reporting Ready): the taints go, and the
    // evicted pod's deletion is finished by its kubelet.
    let _a = cluster.sim_nodes("a", 2);
    eventually("a-0 Ready and untainted", PATIENCE, || async {
        let node = node(&store, "a-0").await;
        (condition(&node, "Ready") == Some("True") && taints(&node).is_empty()).then_some(())
    })
    .await;
    eventually("intolerant to be gone", PATIENCE, || async {
        get_pod(&store, "intolerant").await.is_none().then_some(())
    })
    .await;
    cluster.stop().await;
}

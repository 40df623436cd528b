//! The Endpoints controller against a real keeld, with a simulated node
//! running the pods:
//!
//! ```text
//!   endpoints_follow_pod_readiness
//!     a Service selecting app=web (port 80 ─► the container port named
//!     "web") gets Endpoints of its two Ready pods' IPs, port 8080, their
//!     node and pod; a pod of another app is not in them; a pod's Ready
//!     turned False by a status write moves it to notReadyAddresses within
//!     a second, and back within a second; a pod being deleted leaves; the
//!     Service deleted, its Endpoints go
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::time::Duration;

use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use keel_api::resources::of;
use keel_controllers::endpoints;
use keel_runtime::{Part, Store, StoreError};
use serde_json::{json, Value};
use tokio::time::Instant;

use common::{delete_as_client, short_options, Cluster, PATIENCE};
use keel_tests::eventually;

/// How soon the Endpoints must follow a readiness change.
const FOLLOW_WITHIN: Duration = Duration::from_secs(1);

fn pod(name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
           "spec": {"nodeName": "n-0",
                    "containers": [{"name": "main", "image": "nginx",
                                    "ports": [{"name": "web", "containerPort": 8080}]}]}})
}

/// The pod names in the Endpoints' ready and not-ready addresses.
fn names(endpoints: &Value) -> (Vec<String>, Vec<String>) {
    let mut lists = (Vec::new(), Vec::new());
    for subset in endpoints["subsets"].as_array().into_iter().flatten() {
        for (field, list) in [
            ("addresses", &mut lists.0),
            ("notReadyAddresses", &mut lists.1),
        ] {
            for address in subset[field].as_array().into_iter().flatten() {
                list.push(address["targetRef"]["name"].as_str().unwrap().to_owned());
            }
        }
    }
    lists.0.sort();
    lists.1.sort();
    lists
}

async fn wait_for(store: &Store, ready: &[&str], not_ready: &[&str]) -> Value {
    eventually(
        &format!("Endpoints {ready:?} / {not_ready:?}"),
        PATIENCE,
        || async {
            let found = store.get(of::<Endpoints>(), "default", "web").await.ok()?;
            (names(&found) == (owned(ready), owned(not_ready))).then_some(found)
        },
    )
    .await
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Writes the pod's Ready condition.
async fn set_ready(store: &Store, name: &str, ready: &str) {
    store
        .update_part_with(of::<Pod>(), "default", name, Part::Status, |current, _| {
            let mut new = current.clone();
            for condition in new["status"]["conditions"].as_array_mut().unwrap() {
                if condition["type"] == "Ready" {
                    condition["status"] = ready.into();
                }
            }
            Ok::<_, StoreError>(new)
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_follow_pod_readiness() {
    let mut cluster = Cluster::start(short_options()).await;
    let store = cluster.store.clone();
    let _node = cluster.sim_nodes("n", 1);
    cluster.run(&[endpoints::run::start]);
    let pods = of::<Pod>();
    for (name, app) in [("web-0", "web"), ("web-1", "web"), ("other", "other")] {
        store.create(pods, "default", pod(name, app)).await.unwrap();
    }
    let service = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}});
    store
        .create(of::<Service>(), "default", service)
        .await
        .unwrap();

    let found = wait_for(&store, &["web-0", "web-1"], &[]).await;
    assert_eq!(found["metadata"]["labels"], json!({"tier": "front"}));
    let subsets = found["subsets"].as_array().unwrap();
    assert_eq!(subsets.len(), 1);
    assert_eq!(
        subsets[0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    for address in subsets[0]["addresses"].as_array().unwrap() {
        let name = address["targetRef"]["name"].as_str().unwrap();
        let pod = store.get(pods, "default", name).await.unwrap();
        assert_eq!(address["ip"], pod["status"]["podIP"]);
        assert_eq!(address["nodeName"], "n-0");
        assert_eq!(address["targetRef"]["kind"], "Pod");
        assert_eq!(address["targetRef"]["uid"], pod["metadata"]["uid"]);
    }

    // Readiness flips, followed within a second each way.
    for (ready, expected) in [
        ("False", (&["web-0"][..], &["web-1"][..])),
        ("True", (&["web-0", "web-1"][..], &[][..])),
    ] {
        let flipped = Instant::now();
        set_ready(&store, "web-1", ready).await;
        wait_for(&store, expected.0, expected.1).await;
        let took = flipped.elapsed();
        assert!(
            took < FOLLOW_WITHIN,
            "Ready={ready} followed after {took:?}"
        );
    }

    // A pod being deleted leaves at once (before its kubelet removes it).
    delete_as_client(&store, pods, "default", "web-0", &DeleteOptions::default()).await;
    wait_for(&store, &["web-1"], &[]).await;

    store
        .delete(of::<Service>(), "default", "web", None)
        .await
        .unwrap();
    eventually("the Endpoints to go", PATIENCE, || async {
        matches!(
            store.get(of::<Endpoints>(), "default", "web").await,
            Err(StoreError::NotFound { .. })
        )
        .then_some(())
    })
    .await;
    cluster.stop().await;
}

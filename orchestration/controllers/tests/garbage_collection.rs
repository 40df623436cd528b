//! The garbage collector and the namespace controller against a real
//! keeld (objects made by hand: no ReplicaSet or Deployment controller
//! runs), and `kubectl delete` through the HTTP front:
//!
//! ```text
//!   background_deletes_dependents .. a ReplicaSet deleted (Background) ─►
//!                                    its pods go; a pod whose owner never
//!                                    existed goes; a pod of a live owner stays
//!   orphan_keeps_dependents ........ deleted with Orphan ─► the ReplicaSet
//!                                    goes, its pods stay without ownerReferences
//!   foreground_waits_for_dependents  deleted with Foreground ─► its pods are
//!                                    deleted first; one held by a finalizer
//!                                    keeps the ReplicaSet until it goes
//!   namespace_is_emptied ........... a namespace deleted through the Store
//!                                    is Terminating, emptied (a ConfigMap, a
//!                                    ReplicaSet and its pod), then gone
//!   kubectl_delete_cascades ........ kubectl delete deployment --cascade=
//!                                    background | orphan | foreground, and
//!                                    kubectl delete namespace
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::time::Duration;

use keel_api::deletion::{DeleteOptions, Propagation};
use keel_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use keel_api::k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use keel_api::resources::{of, ResourceInfo};
use keel_controllers::gc;
use keel_runtime::{ListOptions, Store, StoreError};
use serde_json::{json, Value};

use common::{delete_as_client, short_options, Cluster, PATIENCE};
use keel_tests::eventually;

fn replica_set(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "main", "image": "nginx"}]}}}})
}

fn deployment(name: &str) -> Value {
    let mut object = replica_set(name);
    object["kind"] = "Deployment".into();
    object
}

/// A reference to `owner` as its controller, blocking its foreground
/// deletion.
fn owned_by(owner: &Value) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
           "controller": true, "blockOwnerDeletion": true})
}

fn pod(name: &str, owners: &[Value]) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "ownerReferences": owners},
           "spec": {"containers": [{"name": "main", "image": "nginx"}]}})
}

async fn create(store: &Store, namespace: &str, object: Value) -> Value {
    let resource = keel_api::resources::by_kind(
        object["apiVersion"].as_str().unwrap(),
        object["kind"].as_str().unwrap(),
    )
    .unwrap();
    store.create(resource, namespace, object).await.unwrap()
}

/// Deletes as a client would, with `propagation`.
async fn delete(
    store: &Store,
    resource: &'static ResourceInfo,
    namespace: &str,
    name: &str,
    propagation: Propagation,
) {
    let options = DeleteOptions {
        propagation: Some(propagation),
        ..DeleteOptions::default()
    };
    delete_as_client(store, resource, namespace, name, &options).await;
}

async fn get(
    store: &Store,
    resource: &'static ResourceInfo,
    namespace: &str,
    name: &str,
) -> Option<Value> {
    match store.get(resource, namespace, name).await {
        Ok(object) => Some(object),
        Err(StoreError::NotFound { .. }) => None,
        Err(error) => panic!("{error}"),
    }
}

async fn wait_gone(store: &Store, resource: &'static ResourceInfo, namespace: &str, name: &str) {
    eventually(
        &format!("{} {name} to go", resource.kind),
        PATIENCE,
        || async {
            get(store, resource, namespace, name)
                .await
                .is_none()
                .then_some(())
        },
    )
    .await;
}

async fn collecting() -> Cluster {
    let mut cluster = Cluster::start(short_options()).await;
    cluster.run(&[gc::run::start_garbage_collector, gc::run::start_namespace]);
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_deletes_dependents() {
    let cluster = collecting().await;
    let store = &cluster.store;
    let owner = create(store, "default", replica_set("bg")).await;
    let kept_owner = create(store, "default", replica_set("kept")).await;
    for name in ["bg-0", "bg-1"] {
        create(store, "default", pod(name, &[owned_by(&owner)])).await;
    }
    create(store, "default", pod("kept-0", &[owned_by(&kept_owner)])).await;
    let mut ghost = owned_by(&owner);
    ghost["name"] = "ghost".into();
    ghost["uid"] = "no-such-uid".into();
    create(store, "default", pod("ghost-0", &[ghost])).await;

    delete(
        store,
        of::<ReplicaSet>(),
        "default",
        "bg",
        Propagation::Background,
    )
    .await;
    assert!(get(store, of::<ReplicaSet>(), "default", "bg")
        .await
        .is_none());
    for name in ["bg-0", "bg-1", "ghost-0"] {
        wait_gone(store, of::<Pod>(), "default", name).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(get(store, of::<Pod>(), "default", "kept-0").await.is_some());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_keeps_dependents() {
    let cluster = collecting().await;
    let store = &cluster.store;
    let owner = create(store, "default", replica_set("or")).await;
    for name in ["or-0", "or-1"] {
        create(store, "default", pod(name, &[owned_by(&owner)])).await;
    }
    delete(
        store,
        of::<ReplicaSet>(),
        "default",
        "or",
        Propagation::Orphan,
    )
    .await;
    wait_gone(store, of::<ReplicaSet>(), "default", "or").await;
    for name in ["or-0", "or-1"] {
        let pod = get(store, of::<Pod>(), "default", name).await.unwrap();
        assert!(pod.pointer("/metadata/ownerReferences").is_none(), "{pod}");
        assert!(pod.pointer("/metadata/deletionTimestamp").is_none());
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_waits_for_dependents() {
    let cluster = collecting().await;
    let store = &cluster.store;
    let pods = of::<Pod>();
    let owner = create(store, "default", replica_set("fg")).await;
    create(store, "default", pod("fg-0", &[owned_by(&owner)])).await;
    let mut held = pod("fg-held", &[owned_by(&owner)]);
    held["metadata"]["finalizers"] = json!(["keel.dev/hold"]);
    create(store, "default", held).await;

    delete(
        store,
        of::<ReplicaSet>(),
        "default",
        "fg",
        Propagation::Foreground,
    )
    .await;
    wait_gone(store, pods, "default", "fg-0").await;
    eventually("fg-held to be deleting", PATIENCE, || async {
        get(store, pods, "default", "fg-held")
            .await?
            .pointer("/metadata/deletionTimestamp")
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = get(store, of::<ReplicaSet>(), "default", "fg")
        .await
        .unwrap();
    assert_eq!(
        waiting["metadata"]["finalizers"],
        json!(["foregroundDeletion"])
    );
    assert!(waiting.pointer("/metadata/deletionTimestamp").is_some());

    // Its last dependent goes: so does the owner.
    store
        .update_with(pods, "default", "fg-held", |current, _| {
            let mut new = current.clone();
            new["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("finalizers");
            Ok::<_, StoreError>(new)
        })
        .await
        .unwrap();
    wait_gone(store, pods, "default", "fg-held").await;
    wait_gone(store, of::<ReplicaSet>(), "default", "fg").await;
    cluster.stop().await;
}

/// Whether `namespace` holds no pods, ReplicaSets or ConfigMaps.
async fn empty(store: &Store, namespace: &str) -> bool {
    for resource in [of::<Pod>(), of::<ReplicaSet>(), of::<ConfigMap>()] {
        let list = store
            .list(resource, namespace, &ListOptions::default())
            .await
            .unwrap();
        if !list.items.is_empty() {
            return false;
        }
    }
    true
}

/// A namespace with a ConfigMap, a ReplicaSet and its pod.
async fn fill(store: &Store, namespace: &str) {
    create(
        store,
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .await;
    create(
        store,
        namespace,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
               "data": {"a": "b"}}),
    )
    .await;
    let owner = create(store, namespace, replica_set("web")).await;
    create(store, namespace, pod("web-0", &[owned_by(&owner)])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_is_emptied() {
    let cluster = collecting().await;
    let store = &cluster.store;
    fill(store, "shop").await;
    let namespaces = of::<Namespace>();
    let created = get(store, namespaces, "", "shop").await.unwrap();
    assert_eq!(
        created["spec"]["finalizers"],
        json!([gc::NAMESPACE_FINALIZER])
    );
    let marked = delete_as_client(store, namespaces, "", "shop", &DeleteOptions::default()).await;
    assert!(!marked.gone);
    assert_eq!(marked.object["status"]["phase"], "Terminating");
    wait_gone(store, namespaces, "", "shop").await;
    assert!(empty(store, "shop").await);
    cluster.stop().await;
}

/// Runs kubectl 1.33 against the front at `address`; answers its stdout.
async fn kubectl(address: &str, cache: &std::path::Path, args: &[&str]) -> String {
    let mut command = std::process::Command::new(keel_tests::binaries::kubectl(33));
    command.args([
        "--kubeconfig=/dev/null".to_owned(),
        format!("--server=http://{address}"),
        format!("--cache-dir={}", cache.display()),
        "--request-timeout=20s".to_owned(),
    ]);
    command.args(args);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kubectl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A Deployment, its ReplicaSet and the ReplicaSet's pod, by hand.
async fn deployment_tree(store: &Store, name: &str) {
    let owner = create(store, "default", deployment(name)).await;
    let mut set = replica_set(&format!("{name}-rs"));
    set["metadata"]["ownerReferences"] = json!([owned_by(&owner)]);
    let set = create(store, "default", set).await;
    create(
        store,
        "default",
        pod(&format!("{name}-pod"), &[owned_by(&set)]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_cascades() {
    let cluster = collecting().await;
    let store = &cluster.store;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(keel_apiserver::serve(listener, store.clone()));
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let (deployments, sets, pods) = (of::<Deployment>(), of::<ReplicaSet>(), of::<Pod>());
    for name in ["bg", "or", "fg"] {
        deployment_tree(store, name).await;
    }

    let out = kubectl(
        &address,
        cache,
        &["delete", "deployment", "bg", "--cascade=background"],
    )
    .await;
    assert_eq!(out, "deployment.apps \"bg\" deleted\n");
    wait_gone(store, sets, "default", "bg-rs").await;
    wait_gone(store, pods, "default", "bg-pod").await;

    kubectl(
        &address,
        cache,
        &["delete", "deployment", "or", "--cascade=orphan"],
    )
    .await;
    assert!(get(store, deployments, "default", "or").await.is_none());
    let orphan = get(store, sets, "default", "or-rs").await.unwrap();
    assert!(
        orphan.pointer("/metadata/ownerReferences").is_none(),
        "{orphan}"
    );
    let pod = get(store, pods, "default", "or-pod").await.unwrap();
    assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], "or-rs");

    // kubectl waits for the Deployment to be gone; it goes last.
    kubectl(
        &address,
        cache,
        &["delete", "deployment", "fg", "--cascade=foreground"],
    )
    .await;
    assert!(get(store, deployments, "default", "fg").await.is_none());
    assert!(get(store, sets, "default", "fg-rs").await.is_none());
    assert!(get(store, pods, "default", "fg-pod").await.is_none());

    fill(store, "shop").await;
    let out = kubectl(&address, cache, &["delete", "namespace", "shop"]).await;
    assert_eq!(out, "namespace \"shop\" deleted\n");
    assert!(get(store, of::<Namespace>(), "", "shop").await.is_none());
    assert!(empty(store, "shop").await);
    cluster.stop().await;
}

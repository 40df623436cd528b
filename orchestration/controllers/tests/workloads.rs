//! The ReplicaSet and Job controllers at work against a real keeld, with
//! simulated nodes and a test binder (one keeld for the file):
//!
//! ```text
//!   replica_sets_and_jobs
//!     a ReplicaSet of 3 makes 3 Ready pods and reports them; scaled to 5,
//!     then to 3, the two pods made not Ready go first; never more pods
//!     than asked for
//!     a ReplicaSet adopts a matching orphan instead of making a pod
//!     a Job of completions 3 / parallelism 2 (pods that succeed after 1 s)
//!     is Complete with 3 succeeded pods, never more than 2 at once
//!     a Job whose pods fail (backoffLimit 1) is Failed, BackoffLimitExceeded
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{condition, options, pods_labelled, Cluster, PATIENCE};
use keel_api::k8s_openapi::api::apps::v1::ReplicaSet;
use keel_api::k8s_openapi::api::batch::v1::Job;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_controllers::pods::{controller_of, is_active, is_ready, name_of, uid_of};
use keel_runtime::{Part, Store, StoreError};
use keel_tests::eventually;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_and_jobs() {
    let mut cluster = Cluster::start(options()).await;
    cluster.bound_sim_nodes(3);
    cluster.run_manager();
    let store = &cluster.store;
    tokio::join!(
        replica_set_scales(store),
        replica_set_adopts(store),
        job_completes(store),
        job_fails(store),
    );
}

fn replica_set(name: &str, app: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app}},
                                 "spec": {"containers": [{"name": "main", "image": "web:1"}]}}}})
}

/// Waits until `app` has exactly `count` active pods, all Ready, and the
/// ReplicaSet `name` reports them; answers the pods.
async fn settled(store: &Store, name: &str, app: &str, count: usize) -> Vec<Value> {
    eventually(
        &format!("{count} ready pods of {name}"),
        PATIENCE,
        || async {
            let pods: Vec<Value> = pods_labelled(store, "default", "app", app)
                .await
                .into_iter()
                .filter(is_active)
                .collect();
            let rs = store.get(of::<ReplicaSet>(), "default", name).await.ok()?;
            let reported = rs.pointer("/status/readyReplicas").and_then(Value::as_i64)
                == Some(count as i64)
                && rs["status"]["replicas"] == json!(count);
            (pods.len() == count && pods.iter().all(is_ready) && reported).then_some(pods)
        },
    )
    .await
}

async fn scale(store: &Store, name: &str, replicas: i64) {
    store
        .update_with(of::<ReplicaSet>(), "default", name, |current, _| {
            let mut new = current.clone();
            new["spec"]["replicas"] = replicas.into();
            Ok::<_, StoreError>(new)
        })
        .await
        .unwrap();
}

async fn replica_set_scales(store: &Store) {
    store
        .create(of::<ReplicaSet>(), "default", replica_set("web", "web", 3))
        .await
        .unwrap();
    let pods = settled(store, "web", "web", 3).await;
    let rs = store
        .get(of::<ReplicaSet>(), "default", "web")
        .await
        .unwrap();
    for pod in &pods {
        let owner = controller_of(pod).unwrap();
        assert_eq!(owner["uid"], rs["metadata"]["uid"]);
        assert_eq!(owner["kind"], "ReplicaSet");
    }
    scale(store, "web", 5).await;
    let pods = settled(store, "web", "web", 5).await;

    // Two pods turn not Ready: they are the least valuable.
    let doomed: BTreeSet<String> = pods[..2].iter().map(|p| name_of(p).to_owned()).collect();
    for name in &doomed {
        store
            .update_part_with(of::<Pod>(), "default", name, Part::Status, |current, _| {
                let mut new = current.clone();
                for condition in new["status"]["conditions"].as_array_mut().unwrap() {
                    if condition["type"] == "Ready" {
                        condition["status"] = "False".into();
                    }
                }
                Ok::<_, StoreError>(new)
            })
            .await
            .unwrap();
    }
    eventually("the not-ready pods counted", PATIENCE, || async {
        let rs = store.get(of::<ReplicaSet>(), "default", "web").await.ok()?;
        (rs.pointer("/status/readyReplicas") == Some(&json!(3))).then_some(())
    })
    .await;
    scale(store, "web", 3).await;
    let kept = settled(store, "web", "web", 3).await;
    let kept: BTreeSet<String> = kept.iter().map(|p| name_of(p).to_owned()).collect();
    assert!(
        kept.is_disjoint(&doomed),
        "kept {kept:?}, the not-ready were {doomed:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let active = pods_labelled(store, "default", "app", "web")
        .await
        .into_iter()
        .filter(is_active)
        .count();
    assert_eq!(active, 3, "no pod made twice");
}

async fn replica_set_adopts(store: &Store) {
    let orphan = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "labels": {"app": "adopted"}},
        "spec": {"containers": [{"name": "main", "image": "web:1"}]}});
    store.create(of::<Pod>(), "default", orphan).await.unwrap();
    let rs = store
        .create(
            of::<ReplicaSet>(),
            "default",
            replica_set("adopter", "adopted", 1),
        )
        .await
        .unwrap();
    let pods = settled(store, "adopter", "adopted", 1).await;
    assert_eq!(name_of(&pods[0]), "orphan", "adopted, not replaced");
    assert_eq!(controller_of(&pods[0]).unwrap()["uid"], uid_of(&rs));
}

fn job(
    name: &str,
    completions: i64,
    parallelism: i64,
    annotations: &Value,
    backoff_limit: i64,
) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": name},
           "spec": {"completions": completions, "parallelism": parallelism, "backoffLimit": backoff_limit,
                    "template": {"metadata": {"annotations": annotations},
                                 "spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "main", "image": "busybox"}]}}}})
}

/// The pods the Job `uid` controls.
async fn job_pods(store: &Store, uid: &str) -> Vec<Value> {
    pods_labelled(store, "default", "batch.kubernetes.io/controller-uid", uid).await
}

async fn job_completes(store: &Store) {
    let annotations = json!({"sim.keel.dev/duration": "1s"});
    let created = store
        .create(of::<Job>(), "default", job("done", 3, 2, &annotations, 6))
        .await
        .unwrap();
    let uid = uid_of(&created).to_owned();
    let most_active = std::sync::atomic::AtomicUsize::new(0);
    let job = eventually("the Job to complete", PATIENCE, || async {
        let active = job_pods(store, &uid).await.iter().filter(is_active).count();
        most_active.fetch_max(active, std::sync::atomic::Ordering::Relaxed);
        let job = store.get(of::<Job>(), "default", "done").await.ok()?;
        (condition(&job, "Complete")?["status"] == "True").then_some(job)
    })
    .await;
    assert_eq!(job["status"]["succeeded"], 3, "{job}");
    let most_active = most_active.into_inner();
    assert!(most_active <= 2, "parallelism 2, saw {most_active} active");
    assert!(job["status"].get("failed").is_none(), "{job}");
    assert!(job["status"]["completionTime"].is_string(), "{job}");
    let pods = job_pods(store, &uid).await;
    assert_eq!(pods.len(), 3, "one pod per completion");
    for pod in &pods {
        assert_eq!(pod["status"]["phase"], "Succeeded");
        assert!(
            pod["metadata"]
                .get("finalizers")
                .is_none_or(|f| f == &json!([])),
            "{pod}"
        );
    }
}

async fn job_fails(store: &Store) {
    let annotations = json!({"sim.keel.dev/duration": "500ms", "sim.keel.dev/exit-code": "1"});
    store
        .create(of::<Job>(), "default", job("broken", 1, 1, &annotations, 1))
        .await
        .unwrap();
    let job = eventually("the Job to fail", PATIENCE, || async {
        let job = store.get(of::<Job>(), "default", "broken").await.ok()?;
        (condition(&job, "Failed")?["status"] == "True").then_some(job)
    })
    .await;
    let failed = condition(&job, "Failed").unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded", "{job}");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    assert_eq!(
        job["status"]["failed"], 2,
        "backoffLimit 1: the second failure ends it"
    );
}

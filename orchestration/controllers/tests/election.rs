//! Two controller managers at once against a real keeld: exactly one
//! acts, and killing it hands over within the lease's TTL.
//!
//! ```text
//!   two_managers_one_acts
//!     manager "a" leads; "b" waits
//!     a ReplicaSet of 4 gets exactly 4 pods (two acting managers would
//!     each make them: neither sees the other's creations as awaited)
//!     "a" is killed (its task dropped: no resign, no more renewals)
//!     "b" leads within the TTL and scales the ReplicaSet to 6
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::time::{Duration, Instant};

use common::{options, pods_labelled, Cluster, Task, PATIENCE};
use keel_api::k8s_openapi::api::apps::v1::ReplicaSet;
use keel_api::resources::of;
use keel_client::Client;
use keel_controllers::manager::{run_elected, ELECTION};
use keel_controllers::pods::{is_active, is_ready};
use keel_runtime::{LeaderElector, Store, StoreError};
use keel_tests::eventually;
use serde_json::json;

/// The lease TTL of both managers.
const TTL_SECS: i64 = 2;

fn elected(client: &Client, identity: &'static str) -> Task {
    let client = client.clone();
    Task(tokio::spawn(async move {
        let mut elector = LeaderElector::new(&client, ELECTION, identity, TTL_SECS)
            .await
            .unwrap();
        run_elected(&client, &mut elector, &options(), std::future::pending()).await;
    }))
}

async fn leader(client: &Client) -> Option<String> {
    LeaderElector::leader(client, ELECTION).await.unwrap()
}

/// Waits until `app=web` has `count` pods, all active and Ready, and
/// stays so for half a second.
async fn exactly(store: &Store, count: usize) {
    for _ in 0..2 {
        eventually(&format!("{count} ready pods"), PATIENCE, || async {
            let pods = pods_labelled(store, "default", "app", "web").await;
            (pods.len() == count && pods.iter().all(|p| is_active(p) && is_ready(p))).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pods = pods_labelled(store, "default", "app", "web").await;
    assert_eq!(pods.len(), count, "no pod made twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_one_acts() {
    let mut cluster = Cluster::start(options()).await;
    cluster.bound_sim_nodes(2);
    let (client, store) = (&cluster.client, &cluster.store);
    let first = elected(client, "a");
    eventually("a to lead", PATIENCE, || async {
        (leader(client).await? == "a").then_some(())
    })
    .await;
    let _second = elected(client, "b");

    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "main", "image": "web:1"}]}}}});
    store
        .create(of::<ReplicaSet>(), "default", rs)
        .await
        .unwrap();
    exactly(store, 4).await;
    assert_eq!(leader(client).await.as_deref(), Some("a"));

    drop(first);
    let killed = Instant::now();
    eventually("b to lead", PATIENCE, || async {
        (leader(client).await? == "b").then_some(())
    })
    .await;
    let handover = killed.elapsed();
    assert!(
        handover <= Duration::from_secs(TTL_SECS as u64 + 2),
        "b led {handover:?} after a was killed"
    );
    store
        .update_with(of::<ReplicaSet>(), "default", "web", |current, _| {
            let mut new = current.clone();
            new["spec"]["replicas"] = 6.into();
            Ok::<_, StoreError>(new)
        })
        .await
        .unwrap();
    exactly(store, 6).await;
}

//! What the controllers' integration tests share: a real keeld, simulated
//! nodes, a test-only binder (the scheduler is not in this crate), the
//! controller manager in this process, and a patient wait.
//!
//! ```text
//!   Cluster::start(nodes) ── keeld (subprocess) + keel_sim_nodes::run + binder task
//!   cluster.manager(options) ── manager::run(Context::start(..)) until dropped
//!   eventually(what, read) ── polls read every 50 ms for PATIENCE
//! ```

#![allow(dead_code, reason = "each test file uses a part of this module")]

use std::future::Future;
use std::time::Duration;

use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_client::{Client, ClientOptions};
use keel_controllers::manager::{self, Context, ManagerOptions};
use keel_runtime::{Event, Informer, Store};
use keel_sim_nodes::{Capacity, Options};
use keel_tests::{Flavor, Server};
use serde_json::Value;
use tokio::task::JoinHandle;

/// How long anything a test waits for may take.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The simulated nodes' name prefix.
pub const NODE_PREFIX: &str = "sim";

/// A task aborted when dropped.
pub struct Task(pub JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// keeld, simulated nodes and a binder.
pub struct Cluster {
    pub client: Client,
    pub store: Store,
    tasks: Vec<Task>,
    pub keeld: Server,
}

pub async fn connect(url: &str) -> Client {
    Client::connect(vec![url.to_owned()], ClientOptions::new())
        .await
        .unwrap()
}

/// Manager options with short timings.
pub fn options() -> ManagerOptions {
    ManagerOptions {
        job_pod_failure_backoff: Duration::from_millis(200),
        ..ManagerOptions::default()
    }
}

impl Cluster {
    /// keeld with `nodes` simulated nodes and a binder placing every
    /// unbound pod on them round-robin.
    pub async fn start(nodes: usize) -> Self {
        let keeld = Server::start(Flavor::Keeld);
        let client = connect(&keeld.client_url()).await;
        let sim = Options {
            prefix: NODE_PREFIX.into(),
            count: nodes,
            capacity: Capacity {
                cpu: "32".into(),
                memory: "64Gi".into(),
                pods: 110,
                ephemeral_storage: "100Gi".into(),
            },
            lease_duration_secs: 40,
            renew_interval: Duration::from_secs(1),
            pod_workers: 8,
        };
        let sim_client = client.clone();
        let sim_nodes = tokio::spawn(async move {
            keel_sim_nodes::run(&sim_client, &sim, std::future::pending())
                .await
                .unwrap();
        });
        let names = (0..nodes).map(|i| format!("{NODE_PREFIX}-{i}")).collect();
        let binder = tokio::spawn(bind_round_robin(client.clone(), names));
        Self {
            store: Store::new(client.clone()),
            client,
            tasks: vec![Task(sim_nodes), Task(binder)],
            keeld,
        }
    }

    /// The controller manager in this process, until the task is dropped.
    pub async fn manager(&self, options: ManagerOptions) -> Task {
        let context = Context::start(&self.client, options).await.unwrap();
        Task(tokio::spawn(manager::run(context, std::future::pending())))
    }
}

/// The test's scheduler: binds every pod without a node to the next of
/// `nodes`.
async fn bind_round_robin(client: Client, nodes: Vec<String>) {
    let store = Store::new(client.clone());
    let mut informer = Informer::start(&client, of::<Pod>(), "").await.unwrap();
    let mut next = 0;
    loop {
        let pod = match informer.next().await {
            Ok(Event::Added(pod) | Event::Modified { new: pod, .. }) => pod,
            Ok(_) => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let unbound = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty();
        let deleting = pod.pointer("/metadata/deletionTimestamp").is_some();
        if !unbound || deleting {
            continue;
        }
        let text = |pointer: &str| {
            pod.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let node = &nodes[next % nodes.len()];
        next += 1;
        let _ = store
            .bind(
                &text("/metadata/namespace"),
                &text("/metadata/name"),
                node,
                Some(&text("/metadata/uid")),
            )
            .await;
    }
}

/// Waits until `read` answers `Some`, checking every 50 ms.
pub async fn eventually<T, F, Fut>(what: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = read().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pods of `namespace` whose labels include `label` = `value`.
pub async fn pods_labelled(store: &Store, namespace: &str, label: &str, value: &str) -> Vec<Value> {
    store
        .list(
            of::<Pod>(),
            namespace,
            &keel_runtime::ListOptions::default(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"].get(label).and_then(Value::as_str) == Some(value))
        .collect()
}

/// Whether the pod is active: not finished, not being deleted.
pub fn is_active(pod: &Value) -> bool {
    keel_controllers::pods::is_active(pod)
}

/// The status of the object's condition `kind`.
pub fn condition<'v>(object: &'v Value, kind: &str) -> Option<&'v Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

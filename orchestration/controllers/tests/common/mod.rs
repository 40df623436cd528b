//! What the controllers' integration tests share: a real keeld, the
//! manager's context over it, simulated nodes, a test-only binder (the
//! scheduler is not in this crate), and some or all of the controllers
//! running in this process.
//!
//! ```text
//!   Cluster::start(options) ─► keeld (subprocess) + client + store + Context
//!   cluster.run(&[start, ...]) ─► those controllers  ┐ until cluster.stop()
//!   cluster.run_manager()      ─► every controller   ┘ (or the test's end)
//!   cluster.sim_nodes(prefix, count) ─► keel_sim_nodes::run, stoppable
//!   cluster.bound_sim_nodes(count) ─► sim-0.. and a round-robin binder
//! ```
//!
//! Waiting is `keel_tests::eventually(what, PATIENCE, check)`. Each test
//! file compiles its own copy and uses a part of it.

#![allow(dead_code, reason = "each test file uses a part of this module")]

use std::sync::Arc;
use std::time::Duration;

use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::{of, ResourceInfo};
use keel_client::{Client, ClientOptions};
use keel_controllers::manager::{self, Context, ManagerOptions, Start, Stop};
use keel_controllers::pods::{name_of, namespace_of, uid_of};
use keel_runtime::{Deleted, Event, Informer, ListOptions, Store};
use keel_sim_nodes::{Capacity, Options};
use keel_tests::{Flavor, Server};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long anything a test waits for may take.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The name prefix of [`Cluster::bound_sim_nodes`]' nodes.
pub const NODE_PREFIX: &str = "sim";

/// A task aborted when dropped.
pub struct Task(pub JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// keeld, a client, the manager's context, and what runs over them.
pub struct Cluster {
    /// The keel client.
    pub client: Client,
    /// A store over it.
    pub store: Store,
    /// The controllers' context.
    pub context: Arc<Context>,
    stop: watch::Sender<bool>,
    signal: Stop,
    running: Vec<JoinHandle<()>>,
    helpers: Vec<Task>,
    nodes: Vec<SimNodes>,
    _keeld: Server,
}

/// Manager options with a short Job backoff.
pub fn options() -> ManagerOptions {
    ManagerOptions {
        job_pod_failure_backoff: Duration::from_millis(200),
        ..ManagerOptions::default()
    }
}

/// Short node timings: a node is Unknown 2 s after its last heartbeat,
/// and looked at every 200 ms; node IPAM on.
pub fn short_options() -> ManagerOptions {
    ManagerOptions {
        node_monitor_grace_period: Duration::from_secs(2),
        node_monitor_period: Duration::from_millis(200),
        node_startup_grace_period: Duration::from_secs(2),
        cluster_cidr: Some("10.244.0.0/16".into()),
        node_cidr_mask_size: 24,
        ..ManagerOptions::default()
    }
}

/// A client of `url`.
pub async fn connect(url: &str) -> Client {
    Client::connect(vec![url.to_owned()], ClientOptions::new())
        .await
        .unwrap()
}

impl Cluster {
    /// Starts keeld and the context over it (inside a tokio runtime).
    pub async fn start(options: ManagerOptions) -> Self {
        let keeld = Server::start(Flavor::Keeld);
        let client = connect(&keeld.client_url()).await;
        let context = Context::start(&client, options).await.unwrap();
        let (stop, signal) = Stop::new();
        Self {
            store: Store::new(client.clone()),
            client,
            context,
            stop,
            signal,
            running: Vec::new(),
            helpers: Vec::new(),
            nodes: Vec::new(),
            _keeld: keeld,
        }
    }

    /// Runs these controllers until the cluster stops.
    pub fn run(&mut self, controllers: &[Start]) {
        for start in controllers {
            let future = start(Arc::clone(&self.context), self.signal.clone());
            self.running.push(tokio::spawn(future));
        }
    }

    /// Runs the whole controller manager until the cluster stops.
    pub fn run_manager(&mut self) {
        let running = manager::run(Arc::clone(&self.context), self.signal.clone().wait());
        self.running.push(tokio::spawn(running));
    }

    /// Keeps `task` running until the cluster is dropped.
    pub fn keep(&mut self, task: JoinHandle<()>) {
        self.helpers.push(Task(task));
    }

    /// Stops the controllers and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for running in self.running {
            running.await.unwrap();
        }
    }

    /// Runs `count` simulated nodes `<prefix>-<i>` (renewing every
    /// 200 ms); dropping or sending on the answer stops them.
    pub fn sim_nodes(&self, prefix: &str, count: usize) -> SimNodes {
        let options = Options {
            prefix: prefix.into(),
            count,
            capacity: Capacity {
                cpu: "32".into(),
                memory: "64Gi".into(),
                pods: 110,
                ephemeral_storage: "100Gi".into(),
            },
            lease_duration_secs: 40,
            renew_interval: Duration::from_millis(200),
            pod_workers: 8,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let client = self.client.clone();
        let running = tokio::spawn(async move {
            keel_sim_nodes::run(&client, &options, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        SimNodes { stop, running }
    }

    /// `count` simulated nodes [`NODE_PREFIX`]`-<i>` and a binder placing
    /// every unbound pod on them round-robin, both until the cluster is
    /// dropped.
    pub fn bound_sim_nodes(&mut self, count: usize) {
        self.nodes.push(self.sim_nodes(NODE_PREFIX, count));
        let names = (0..count).map(|i| format!("{NODE_PREFIX}-{i}")).collect();
        self.keep(tokio::spawn(bind_round_robin(self.client.clone(), names)));
    }
}

/// Simulated nodes at work.
pub struct SimNodes {
    stop: oneshot::Sender<()>,
    running: JoinHandle<()>,
}

impl SimNodes {
    /// Stops them: no more heartbeats, no kubelet.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.running.await.unwrap();
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
        let node = &nodes[next % nodes.len()];
        next += 1;
        let _ = store
            .bind(namespace_of(&pod), name_of(&pod), node, Some(uid_of(&pod)))
            .await;
    }
}

/// Deletes as a client's DELETE does (keel-api's deletion plan) with
/// `options`.
pub async fn delete_as_client(
    store: &Store,
    resource: &'static ResourceInfo,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Deleted {
    store
        .delete_as_planned(resource, namespace, name, options, jiff::Timestamp::now())
        .await
        .unwrap()
}

/// The pods of `namespace` whose labels include `label` = `value`.
pub async fn pods_labelled(store: &Store, namespace: &str, label: &str, value: &str) -> Vec<Value> {
    store
        .list(of::<Pod>(), namespace, &ListOptions::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|pod| pod["metadata"]["labels"].get(label).and_then(Value::as_str) == Some(value))
        .collect()
}

/// The status of the object's condition `kind`.
pub fn condition<'v>(object: &'v Value, kind: &str) -> Option<&'v Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

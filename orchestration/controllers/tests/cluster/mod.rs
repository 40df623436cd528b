//! What the controllers' integration tests share: a keeld, the manager's
//! context over it with short timings, some of the controllers running in
//! this process, and waiting for something to come true.
//!
//! ```text
//!   Cluster::start(options) ─► keeld (subprocess) + client + Context
//!   cluster.run(&[start, ...]) ─► those controllers, stopped with the Cluster
//!   cluster.sim_nodes(prefix, count) ─► keel_sim_nodes::run, stoppable
//!   eventually(what, read) ─► polls until Some, or fails after PATIENCE
//! ```
//!
//! Each test file compiles its own copy and uses a part of it.

#![allow(dead_code, reason = "each test file uses a part of this module")]

use std::sync::Arc;
use std::time::Duration;

use keel_api::deletion::{self, DeleteOptions};
use keel_api::resources::ResourceInfo;
use keel_client::{Client, ClientOptions};
use keel_controllers::manager::{Context, ManagerOptions, Start, Stop};
use keel_runtime::{Deleted, Store};
use keel_sim_nodes::{Capacity, Options};
use keel_tests::{Flavor, Server};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long anything a test waits for may take.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(25);

/// keeld, a client, and the manager's context.
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
    _keeld: Server,
}

/// Short timings: a node is Unknown 2 s after its last heartbeat, and
/// looked at every 200 ms.
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

impl Cluster {
    /// Starts keeld and the context over it (inside a tokio runtime).
    pub async fn start(options: ManagerOptions) -> Self {
        let keeld = Server::start(Flavor::Keeld);
        let client = Client::connect([keeld.client_url()], ClientOptions::new())
            .await
            .unwrap();
        let context = Context::start(&client, options).await.unwrap();
        let (stop, signal) = Stop::new();
        Self {
            store: Store::new(client.clone()),
            client,
            context,
            stop,
            signal,
            running: Vec::new(),
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
                cpu: "4".into(),
                memory: "8Gi".into(),
                pods: 20,
                ephemeral_storage: "100Gi".into(),
            },
            lease_duration_secs: 40,
            renew_interval: Duration::from_millis(200),
            pod_workers: 4,
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

/// Deletes as a client's DELETE does (keel-api's deletion plan) with
/// `options`.
pub async fn delete_as_client(
    store: &Store,
    resource: &'static ResourceInfo,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Deleted {
    let now = jiff::Timestamp::now();
    store
        .delete_with(resource, namespace, name, |current, revision| {
            Ok(deletion::plan(resource, current, revision, options, now)?)
        })
        .await
        .unwrap()
}

/// Waits until `read` answers `Some`, checking every 25 ms.
pub async fn eventually<T, F, Fut>(what: &str, mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
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
        tokio::time::sleep(POLL).await;
    }
}

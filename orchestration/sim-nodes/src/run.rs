//! The simulated nodes at work: registration, the Lease renewals, and the
//! pods' stages written back to keel.
//!
//! ```text
//!   register: N × (create Node | refresh its status) + create Lease   (32 at a time)
//!   renew:    every interval, every Lease put in Txns of LEASES_PER_TXN_MAX
//!   pods:     informer of pods ─► controller runner ─► step(pod, now)
//!               Start  → status Running (IP from the node's podCIDR)
//!               Finish → status Succeeded/Failed
//!               Remove → the final delete (grace 0, the pod's uid)
//! ```
//!
//! The wall clock is read here and only here ([`wall_clock`]); the
//! decisions in [`crate::node`] and [`crate::pod`] take it as an argument.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::object;
use keel_api::resources;
use keel_client::{Client, Txn, TxnOp};
use keel_runtime::controller::{self, Action, ControllerOptions};
use keel_runtime::{Informer, ObjectKey, Part, Store, StoreError};
use serde_json::Value;

use crate::address;
use crate::node::{self, Capacity};
use crate::pod::{self, Step};

/// Lease puts per Txn: etcd's default `--max-txn-ops` (128), so the same
/// renewals work against etcd.
pub const LEASES_PER_TXN_MAX: usize = 128;
/// Registrations under way at once.
pub const REGISTRATIONS_CONCURRENT_MAX: usize = 32;
/// Pods written at once (the runner's workers).
pub const POD_WORKERS_DEFAULT: usize = 16;

/// How the simulated nodes are made and behave.
#[derive(Debug, Clone)]
pub struct Options {
    /// Node names are `<prefix>-<index>`.
    pub prefix: String,
    /// How many nodes.
    pub count: usize,
    /// What each node offers.
    pub capacity: Capacity,
    /// The Leases' `leaseDurationSeconds`.
    pub lease_duration_secs: i64,
    /// How often the Leases are renewed (a kubelet: 10 s, a quarter of
    /// the duration).
    pub renew_interval: Duration,
    /// Pods written at once.
    pub pod_workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            prefix: "sim-node".into(),
            count: 1,
            capacity: Capacity::default(),
            lease_duration_secs: node::LEASE_DURATION_SECS_DEFAULT,
            renew_interval: Duration::from_secs(10),
            pod_workers: POD_WORKERS_DEFAULT,
        }
    }
}

/// Why the simulated nodes stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A read or write of an object failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// keel failed to answer.
    #[error(transparent)]
    Keel(#[from] keel_client::Error),
    /// The pods or nodes could not be listed.
    #[error(transparent)]
    Informer(#[from] keel_runtime::InformerError),
}

/// The wall clock: the one place the simulated nodes read the time.
pub fn wall_clock() -> Timestamp {
    Timestamp::now()
}

/// A simulated node: its name, index and address.
#[derive(Debug, Clone)]
struct SimNode {
    index: u32,
    address: String,
}

/// Registers the nodes, then renews their Leases and runs their pods until
/// `stop` resolves. Call it within a Tokio runtime.
pub async fn run(
    client: &Client,
    options: &Options,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), SimError> {
    let store = Store::new(client.clone());
    let nodes = names(options);
    let leases = register(&store, options, &nodes).await?;
    tracing::info!(nodes = nodes.len(), "simulated nodes registered");
    let renewing = tokio::spawn(renew(client.clone(), leases, options.renew_interval));
    let result = run_pods(client, &store, options, nodes, stop).await;
    renewing.abort();
    result
}

/// The nodes' names, indexes and addresses.
fn names(options: &Options) -> HashMap<String, SimNode> {
    (0..options.count)
        .map(|index| {
            let index = u32::try_from(index).expect("fewer than 2^32 nodes");
            let sim = SimNode {
                index,
                address: address::node_address(index),
            };
            (format!("{}-{index}", options.prefix), sim)
        })
        .collect()
}

/// Creates every node and its Lease (or brings a node left from an
/// earlier run back to healthy); answers the Leases as stored.
async fn register(
    store: &Store,
    options: &Options,
    nodes: &HashMap<String, SimNode>,
) -> Result<Vec<(String, Value)>, SimError> {
    // The futures made first, not in a `map` over the stream: a closure
    // there would make the future's lifetimes too general to be `Send`.
    let registrations: Vec<_> = nodes
        .iter()
        .map(|(name, sim)| register_one(store, options, name, sim))
        .collect();
    stream::iter(registrations)
        .buffer_unordered(REGISTRATIONS_CONCURRENT_MAX)
        .try_collect()
        .await
}

async fn register_one(
    store: &Store,
    options: &Options,
    name: &str,
    sim: &SimNode,
) -> Result<(String, Value), SimError> {
    let now = wall_clock();
    let fresh = node::node_object(name, &sim.address, &options.capacity, now);
    let nodes = resources::of::<Node>();
    match store.create(nodes, "", fresh.clone()).await {
        Ok(_) => {}
        Err(StoreError::AlreadyExists { .. }) => {
            store
                .update_part_with(nodes, "", name, Part::Status, |current, _| {
                    let mut healthy = current.clone();
                    healthy["status"] = fresh["status"].clone();
                    Ok::<_, StoreError>(healthy)
                })
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    let leases = resources::of::<Lease>();
    let lease = node::lease_object(name, options.lease_duration_secs, now);
    let stored = match store.create(leases, node::LEASE_NAMESPACE, lease).await {
        Ok(stored) => stored,
        Err(StoreError::AlreadyExists { .. }) => {
            store.get(leases, node::LEASE_NAMESPACE, name).await?
        }
        Err(error) => return Err(error.into()),
    };
    Ok((
        resources::of::<Lease>().key(node::LEASE_NAMESPACE, name),
        stored,
    ))
}

/// Renews every Lease each `interval`, many to a Txn. A failed round is
/// logged and the next one tries again: a missed renewal is what a real
/// kubelet's hiccup looks like too.
async fn renew(client: Client, leases: Vec<(String, Value)>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = wall_clock();
        for batch in leases.chunks(LEASES_PER_TXN_MAX) {
            let puts = batch.iter().map(|(key, lease)| {
                TxnOp::put(
                    key.as_str(),
                    object::to_stored(&node::renewed(lease, now)),
                    None,
                )
            });
            if let Err(error) = client.txn(Txn::new().and_then(puts)).await {
                tracing::warn!(%error, "renewing simulated nodes' Leases failed");
                break;
            }
        }
    }
}

/// Moves the pods bound to the simulated nodes through their stages until
/// `stop` resolves.
async fn run_pods(
    client: &Client,
    store: &Store,
    options: &Options,
    nodes: HashMap<String, SimNode>,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), SimError> {
    let node_informer = Informer::start(client, resources::of::<Node>(), "").await?;
    let node_cache = node_informer.cache();
    let following = tokio::spawn(follow(node_informer));
    let pods = Informer::start(client, resources::of::<Pod>(), "").await?;
    let kubelet = Arc::new(Kubelet {
        store: store.clone(),
        nodes,
        node_cache,
        handed_out: Mutex::new(HashMap::new()),
    });
    let reconcile = move |key: ObjectKey, pod: Option<Value>| {
        let kubelet = Arc::clone(&kubelet);
        async move { kubelet.reconcile(&key, pod).await }
    };
    let options = ControllerOptions {
        workers: options.pod_workers.max(1),
        ..ControllerOptions::default()
    };
    controller::run(pods, reconcile, options, stop).await;
    following.abort();
    Ok(())
}

/// Keeps an informer's cache current.
async fn follow(mut informer: Informer) {
    loop {
        if let Err(error) = informer.next().await {
            tracing::warn!(%error, "following the simulated nodes failed; listing again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The pods' side of the simulated kubelets.
struct Kubelet {
    store: Store,
    nodes: HashMap<String, SimNode>,
    node_cache: keel_runtime::Cache,
    /// Per node, how many pod addresses were handed out.
    handed_out: Mutex<HashMap<String, u32>>,
}

impl Kubelet {
    async fn reconcile(&self, key: &ObjectKey, pod: Option<Value>) -> Result<Action, StoreError> {
        let Some(pod) = pod else {
            return Ok(Action::Done);
        };
        let node_name = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(sim) = self.nodes.get(node_name) else {
            return Ok(Action::Done);
        };
        let pods = resources::of::<Pod>();
        match pod::step(&pod, wall_clock()) {
            Step::Nothing => Ok(Action::Done),
            Step::BadAnnotation(message) => {
                tracing::warn!(pod = %key, "{message}");
                Ok(Action::Done)
            }
            Step::WaitFor(left) => Ok(Action::RequeueAfter(left)),
            Step::Start => {
                let pod_ip = self.pod_address(node_name, sim);
                self.write_status(key, &pod, |current| {
                    (pod::step(current, wall_clock()) == Step::Start)
                        .then(|| pod::running_status(current, wall_clock(), &sim.address, &pod_ip))
                })
                .await
            }
            Step::Finish(_) => {
                self.write_status(key, &pod, |current| {
                    match pod::step(current, wall_clock()) {
                        Step::Finish(status) => Some(status),
                        _ => None,
                    }
                })
                .await
            }
            Step::Remove => {
                let options = DeleteOptions {
                    grace_period_seconds: Some(0),
                    uid: uid_of(&pod).map(str::to_owned),
                    ..DeleteOptions::default()
                };
                let deleted = self
                    .store
                    .delete_as_planned(pods, &key.namespace, &key.name, &options, wall_clock())
                    .await;
                match deleted {
                    Ok(_) => Ok(Action::Done),
                    // Gone already, or a new pod of the same name.
                    Err(StoreError::NotFound { .. } | StoreError::Precondition(_)) => {
                        Ok(Action::Done)
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// Writes the status `make` makes of the pod as it is now, if it is
    /// still the pod `seen` (same uid) and `make` still wants to.
    async fn write_status(
        &self,
        key: &ObjectKey,
        seen: &Value,
        make: impl Fn(&Value) -> Option<Value>,
    ) -> Result<Action, StoreError> {
        let pods = resources::of::<Pod>();
        let written = self
            .store
            .update_part_with(
                pods,
                &key.namespace,
                &key.name,
                Part::Status,
                |current, _| {
                    let mut new = current.clone();
                    if uid_of(current) == uid_of(seen) {
                        if let Some(status) = make(current) {
                            new["status"] = status;
                        }
                    }
                    Ok::<_, StoreError>(new)
                },
            )
            .await;
        match written {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(Action::Done),
            Err(error) => Err(error),
        }
    }

    /// The next pod address on `node_name`: in its `spec.podCIDR` once the
    /// node IPAM controller gave it one, else in the simulation's own range.
    fn pod_address(&self, node_name: &str, sim: &SimNode) -> String {
        let mut handed_out = self.handed_out.lock().expect("not poisoned");
        let count = handed_out.entry(node_name.to_owned()).or_insert(0);
        *count = count.wrapping_add(1);
        let pod_cidr = self.node_cache.get("", node_name).and_then(|node| {
            node.pointer("/spec/podCIDR")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        address::pod_address(pod_cidr.as_deref(), sim.index, *count)
    }
}

fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

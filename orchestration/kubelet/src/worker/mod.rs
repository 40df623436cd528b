//! The kubelet at work against keel and the runtime.
//!
//! ```text
//!   run: register the Node and its Lease ─► heartbeat task (Lease every
//!        renew interval, the Node's conditions when they change or every minute)
//!        runtime.recover() ─► runs by pod uid
//!        informer of pods ─► one PodWorker per pod bound to this node (pod.rs)
//! ```
//!
//! - [`containers`]: the container's argv, environment, mounts and limits (pure).
//! - [`volumes`]: the pod's volumes made on the node.
//! - [`probes`]: one probe or hook run (exec, httpGet, tcpSocket).
//! - `pod`: a pod's worker.

#![allow(
    clippy::disallowed_methods,
    reason = "the kubelet's adapter is the seam: it makes the pods' directories and times stops in real time"
)]

pub mod containers;
mod pod;
pub mod probes;
pub mod statics;
pub mod volumes;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources;
use keel_client::Client;
use keel_runtime::events::{Notice, Source};
use keel_runtime::{Event, Informer, ObjectKey, Part, Recorder, Store, StoreError};
use serde_json::Value;
use tokio::sync::watch;

use crate::node::{self, Machine, Pressure};
use crate::pods::eviction::{self, Candidate};
use crate::pods::{BackoffPolicy, Run};
use crate::runtime::{ContainerRuntime, Mount, State};
use containers::ImageInfo;
use pod::{Adopted, PodWorker};
use statics::StaticPod;

/// Where the kubelet finds images (the node's image store).
pub trait Images: Send + Sync {
    /// The image `reference` names; `Err` says why there is none, as the
    /// pod's `ErrImagePull` shows it.
    fn resolve(&self, reference: &str) -> Result<ImageInfo, String>;
}

/// How pods get their network.
#[async_trait]
pub trait Networks: Send + Sync {
    /// The pod's network namespace and address (made once, the same
    /// after a restart).
    async fn attach(&self, pod_uid: &str) -> Result<(PathBuf, String), String>;
    /// Frees the pod's network (no error if it has none).
    async fn detach(&self, pod_uid: &str) -> Result<(), String>;
}

/// How the kubelet runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Node's name.
    pub node_name: String,
    /// The node's address (its InternalIP, and the pods' hostIP).
    pub node_ip: String,
    /// The port of the kubelet's own endpoint (logs, exec).
    pub port: u16,
    /// Where the kubelet keeps pods' volumes and logs.
    pub root_dir: PathBuf,
    /// The containers' restart back-off.
    pub backoff: BackoffPolicy,
    /// The back-off of an image that is not there.
    pub image_backoff: BackoffPolicy,
    /// The node Lease's `leaseDurationSeconds`.
    pub lease_duration_secs: i64,
    /// How often the Lease is renewed.
    pub renew_interval: Duration,
    /// How often the Node's status is written when nothing changed.
    pub status_report_interval: Duration,
    /// Processes per container at most.
    pub pod_pids_max: Option<u64>,
    /// Stop every container when the kubelet stops (`keel up`).
    pub stop_pods_on_exit: bool,
    /// The hard eviction thresholds (pressure conditions).
    pub thresholds: node::Thresholds,
    /// Where static pods' manifests are (`--pod-manifest-path`).
    pub pod_manifest_path: Option<PathBuf>,
    /// How often the manifest directory is read again.
    pub file_check_frequency: Duration,
    /// How often memory pressure is checked (and one pod evicted under it).
    pub eviction_interval: Duration,
}

impl Options {
    /// Kubernetes' defaults for node `node_name` at `node_ip`.
    pub fn new(node_name: &str, node_ip: &str, root_dir: PathBuf) -> Self {
        Self {
            node_name: node_name.to_owned(),
            node_ip: node_ip.to_owned(),
            port: 10250,
            root_dir,
            backoff: BackoffPolicy::default(),
            image_backoff: BackoffPolicy::default(),
            lease_duration_secs: keel_sim_nodes::node::LEASE_DURATION_SECS_DEFAULT,
            renew_interval: Duration::from_secs(10),
            status_report_interval: Duration::from_secs(60),
            pod_pids_max: Some(4096),
            stop_pods_on_exit: false,
            thresholds: node::Thresholds::default(),
            pod_manifest_path: None,
            file_check_frequency: Duration::from_secs(20),
            eviction_interval: Duration::from_secs(10),
        }
    }
}

/// Why the kubelet stopped.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// A read or write of an object failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pods could not be listed.
    #[error(transparent)]
    Informer(#[from] keel_runtime::InformerError),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// What every pod worker shares.
pub(crate) struct Kubelet {
    pub(crate) store: Store,
    pub(crate) runtime: Arc<dyn ContainerRuntime>,
    pub(crate) images: Arc<dyn Images>,
    pub(crate) networks: Arc<dyn Networks>,
    pub(crate) options: Options,
    recorder: Recorder,
}

impl Kubelet {
    /// The memory each pod's running containers use, by worker key.
    async fn memory_by_pod(&self) -> HashMap<String, u64> {
        let mut usage = HashMap::new();
        let Ok(known) = self.runtime.recover().await else {
            return usage;
        };
        for container in known {
            if matches!(container.state, State::Running { .. }) {
                let used = self
                    .runtime
                    .stats(&container.spec.id)
                    .await
                    .map_or(0, |s| s.memory_bytes);
                *usage.entry(container.spec.pod.uid.clone()).or_insert(0) += used;
            }
        }
        usage
    }

    /// Deletes `pod` at once (no grace period), and only the incarnation
    /// of it that `pod` is (its uid as a precondition): the kubelet's final
    /// delete, and a stale or orphaned mirror's.
    pub(crate) async fn delete_at_once(&self, pod: &Value) -> Result<(), StoreError> {
        let key = ObjectKey::of(pod);
        let options = DeleteOptions {
            grace_period_seconds: Some(0),
            uid: uid_of(pod).map(str::to_owned),
            ..DeleteOptions::default()
        };
        self.store
            .delete_as_planned(
                resources::of::<Pod>(),
                &key.namespace,
                &key.name,
                &options,
                Timestamp::now(),
            )
            .await
            .map(drop)
    }

    /// Records an event about `pod`.
    pub(crate) fn record(&self, pod: &Value, notice: Notice) {
        self.recorder.record(pod, notice);
    }

    /// Where pod `uid`'s volumes and files live.
    pub(crate) fn pod_dir(&self, uid: &str) -> PathBuf {
        self.options.root_dir.join("pods").join(uid)
    }

    /// Where a pod's logs live (`<ns>_<name>_<uid>`, as /var/log/pods).
    pub(crate) fn pod_logs_dir(&self, namespace: &str, name: &str, uid: &str) -> PathBuf {
        self.options
            .root_dir
            .join("logs")
            .join(format!("{namespace}_{name}_{uid}"))
    }

    /// The log file of run `attempt` of a container.
    pub(crate) fn log_path(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        container: &str,
        attempt: u32,
    ) -> PathBuf {
        self.pod_logs_dir(namespace, name, uid)
            .join(container)
            .join(format!("{attempt}.log"))
    }

    /// The pod's /etc/hosts and /etc/hostname, as the kubelet writes
    /// them, mounted into each container.
    pub(crate) fn etc_files(
        pod_dir: &Path,
        hostname: &str,
        pod_ip: &str,
    ) -> Result<Vec<Mount>, String> {
        let mut hosts = String::from(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        );
        if !pod_ip.is_empty() {
            hosts.push_str(pod_ip);
            hosts.push('\t');
            hosts.push_str(hostname);
            hosts.push('\n');
        }
        let files = [
            ("etc-hosts", "/etc/hosts", hosts),
            ("etc-hostname", "/etc/hostname", format!("{hostname}\n")),
        ];
        std::fs::create_dir_all(pod_dir)
            .map_err(|e| format!("creating {}: {e}", pod_dir.display()))?;
        files
            .into_iter()
            .map(|(file, destination, text)| {
                let path = pod_dir.join(file);
                std::fs::write(&path, text)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                Ok(Mount {
                    source: path,
                    destination: destination.into(),
                    read_only: false,
                })
            })
            .collect()
    }
}

/// How long after its deletion a static pod's mirror is made again.
const MIRROR_RECREATE_AFTER: Duration = Duration::from_secs(1);

/// The memory a pod's containers request, in bytes.
fn memory_request(pod: &Value) -> u64 {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.pointer("/resources/requests/memory")
                .and_then(Value::as_str)
        })
        .filter_map(keel_api::validation::quantity::Quantity::parse)
        .map(|q| u64::try_from(q.value()).unwrap_or(0))
        .sum()
}

/// A pod worker's handle: its pod channel.
struct WorkerHandle {
    pod: watch::Sender<Option<Value>>,
    waker: tokio::sync::mpsc::Sender<pod::Wake>,
}

/// Registers the node, then runs the pods bound to it until `stop`
/// resolves. Call it within a Tokio runtime.
pub async fn run(
    client: &Client,
    runtime: Arc<dyn ContainerRuntime>,
    images: Arc<dyn Images>,
    networks: Arc<dyn Networks>,
    options: Options,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), KubeletError> {
    let store = Store::new(client.clone());
    std::fs::create_dir_all(&options.root_dir).map_err(|source| {
        crate::runtime::RuntimeError::Io {
            what: format!("creating {}", options.root_dir.display()),
            source,
        }
    })?;
    let machine = Machine::read(&options.root_dir);
    register(&store, &options, &machine).await?;
    tracing::info!(node = %options.node_name, address = %options.node_ip, "node registered");
    let heartbeat = tokio::spawn(heartbeat(store.clone(), options.clone()));
    let recorder = Recorder::new(
        store.clone(),
        Source {
            component: "kubelet".into(),
            host: options.node_name.clone(),
        },
    );
    let stop_pods = options.stop_pods_on_exit;
    let kubelet = Arc::new(Kubelet {
        store,
        runtime,
        images,
        networks,
        options,
        recorder,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let node_uid = kubelet
        .store
        .get(resources::of::<Node>(), "", &kubelet.options.node_name)
        .await
        .ok()
        .and_then(|node| uid_of(&node).map(str::to_owned));
    let mut workers = Workers {
        kubelet: Arc::clone(&kubelet),
        handles: HashMap::new(),
        tasks: tokio::task::JoinSet::new(),
        shutdown: shutdown_rx,
        recovered: recovered_runs(&kubelet).await?,
        statics: HashMap::new(),
        node_uid,
    };
    let mut informer = Informer::start(client, resources::of::<Pod>(), "").await?;
    workers.sync_statics(&informer.cache()).await;
    for pod in informer.cache().list() {
        workers.dispatch(&pod);
    }
    // Containers of pods keel no longer has (and that are not static pods
    // whose mirrors are on their way): stopped and removed.
    let leftovers: Vec<(String, Vec<Adopted>)> = workers
        .recovered
        .iter()
        .filter(|(key, _)| !workers.statics.contains_key(*key))
        .map(|(key, runs)| (key.clone(), runs.clone()))
        .collect();
    for (key, runs) in leftovers {
        workers.recovered.remove(&key);
        workers.spawn(key, None, runs);
    }
    let mut pressure = tokio::time::interval(kubelet.options.eviction_interval);
    pressure.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut manifests = tokio::time::interval(kubelet.options.file_check_frequency);
    manifests.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            () = &mut stop => break Ok(()),
            event = informer.next() => match event {
                Ok(Event::Added(pod) | Event::Modified { new: pod, .. }) => workers.dispatch(&pod),
                Ok(Event::Deleted(pod)) => {
                    if workers.gone(&pod) {
                        // A deleted mirror comes back in a moment, as on a
                        // kubelet's next sync (at once would race clients
                        // waiting for the deletion, `kubectl delete --wait`).
                        manifests.reset_after(MIRROR_RECREATE_AFTER.min(kubelet.options.file_check_frequency));
                    }
                }
                Ok(Event::Listed { .. }) => {
                    let cache = informer.cache();
                    let present: Vec<String> = cache
                        .list()
                        .iter()
                        .filter_map(worker_key)
                        .map(str::to_owned)
                        .collect();
                    workers.forget_absent(&present);
                }
                Err(error) => {
                    tracing::warn!(%error, "following the pods failed; listing again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = manifests.tick(), if kubelet.options.pod_manifest_path.is_some() => {
                workers.sync_statics(&informer.cache()).await;
            }
            _ = pressure.tick() => workers.evict_if_short(&informer.cache()).await,
            Some(_) = workers.tasks.join_next() => {}
        }
    };
    heartbeat.abort();
    if stop_pods {
        tracing::info!("stopping the pods");
        shutdown.send_replace(true);
        while workers.tasks.join_next().await.is_some() {}
    }
    result
}

/// The runs the runtime has, by pod uid.
async fn recovered_runs(kubelet: &Kubelet) -> Result<HashMap<String, Vec<Adopted>>, KubeletError> {
    let mut by_pod: HashMap<String, Vec<Adopted>> = HashMap::new();
    for known in kubelet.runtime.recover().await? {
        let image_id = kubelet
            .images
            .resolve(&known.spec.image)
            .map(|image| image.id)
            .unwrap_or_default();
        let running = matches!(known.state, State::Running { .. });
        tracing::info!(container = %known.spec.id, running, "adopting a container");
        by_pod
            .entry(known.spec.pod.uid.clone())
            .or_default()
            .push(Adopted {
                container: known.spec.name,
                run: Run {
                    id: known.spec.id,
                    attempt: known.spec.attempt,
                    state: known.state,
                    image_id,
                },
            });
    }
    Ok(by_pod)
}

fn uid_of(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/uid").and_then(Value::as_str)
}

/// The pod workers, by pod uid.
struct Workers {
    kubelet: Arc<Kubelet>,
    handles: HashMap<String, WorkerHandle>,
    tasks: tokio::task::JoinSet<()>,
    shutdown: watch::Receiver<bool>,
    /// Runs found at start, by pod, not yet handed to a worker.
    recovered: HashMap<String, Vec<Adopted>>,
    /// The static pods the manifest directory holds now, by hash.
    statics: HashMap<String, StaticPod>,
    /// The Node's uid (the mirrors' owner).
    node_uid: Option<String>,
}

/// The key of a pod's worker: a static pod's hash for its mirror, else
/// the pod's uid.
fn worker_key(pod: &Value) -> Option<&str> {
    statics::mirror_hash(pod).or_else(|| uid_of(pod))
}

impl Workers {
    /// Hands `pod` to its worker, starting one for a pod newly bound here.
    fn dispatch(&mut self, pod: &Value) {
        let ours = pod.pointer("/spec/nodeName").and_then(Value::as_str)
            == Some(self.kubelet.options.node_name.as_str());
        let Some(key) = worker_key(pod) else {
            return;
        };
        if !ours {
            return;
        }
        if let Some(handle) = self.handles.get(key) {
            drop(handle.pod.send(Some(pod.clone())));
            return;
        }
        let runs = self.recovered.remove(key).unwrap_or_default();
        self.spawn(key.to_owned(), Some(pod.clone()), runs);
    }

    fn spawn(&mut self, key: String, pod: Option<Value>, runs: Vec<Adopted>) {
        let (sender, receiver) = watch::channel(pod);
        let worker = PodWorker::new(
            Arc::clone(&self.kubelet),
            key.clone(),
            receiver,
            self.shutdown.clone(),
            runs,
        );
        let waker = worker.waker();
        self.tasks.spawn(worker.run());
        self.handles
            .insert(key, WorkerHandle { pod: sender, waker });
    }

    /// Stops the worker of `key`, if there is one.
    fn stop(&mut self, key: &str) {
        if let Some(handle) = self.handles.remove(key) {
            drop(handle.pod.send(None));
        }
    }

    /// The pod is gone from keel: its worker stops what is left, unless it
    /// is the mirror of a static pod, which is made again. Answers whether
    /// the static pods need a sync.
    fn gone(&mut self, pod: &Value) -> bool {
        if statics::mirror_hash(pod).is_some_and(|hash| self.statics.contains_key(hash)) {
            return true;
        }
        if let Some(key) = worker_key(pod).map(str::to_owned) {
            self.stop(&key);
        }
        false
    }

    /// After a list: workers whose pods are absent (and are not static
    /// pods) stop.
    fn forget_absent(&mut self, present: &[String]) {
        let absent: Vec<String> = self
            .handles
            .keys()
            .filter(|key| !present.contains(key) && !self.statics.contains_key(*key))
            .cloned()
            .collect();
        for key in absent {
            self.stop(&key);
        }
    }

    /// Under memory pressure, evicts one pod: the first of the eviction
    /// ranking among the running pods of the cache.
    async fn evict_if_short(&self, cache: &keel_runtime::Cache) {
        let thresholds = self.kubelet.options.thresholds;
        let available = Pressure::read(&self.kubelet.options.root_dir).memory_available_bytes;
        if available >= thresholds.memory_available_bytes {
            return;
        }
        let usage = self.kubelet.memory_by_pod().await;
        let node = self.kubelet.options.node_name.as_str();
        let candidates: Vec<Candidate> = cache
            .list()
            .iter()
            .filter(|pod| pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
            .filter(|pod| pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
            .filter(|pod| {
                !crate::pods::plan::is_deleting(pod) && statics::mirror_hash(pod).is_none()
            })
            .filter_map(|pod| {
                let key = worker_key(pod)?.to_owned();
                Some(Candidate {
                    usage_bytes: usage.get(&key).copied().unwrap_or(0),
                    request_bytes: memory_request(pod),
                    qos_class: pod
                        .pointer("/status/qosClass")
                        .and_then(Value::as_str)
                        .unwrap_or("BestEffort")
                        .to_owned(),
                    key,
                })
            })
            .collect();
        let Some(victim) = eviction::victim(&candidates) else {
            return;
        };
        tracing::warn!(pod = %victim.key, available, "the node is short of memory: evicting a pod");
        if let Some(handle) = self.handles.get(&victim.key) {
            let message = eviction::message(thresholds.memory_available_bytes, available);
            // A worker with its queue full hears of it next round.
            drop(handle.waker.try_send(pod::Wake::Evict { message }));
        }
    }

    /// Reads the manifest directory and makes keel's mirrors match it:
    /// a mirror made for each static pod (a stale pod of its name goes
    /// first), and the mirrors of removed manifests deleted, their
    /// containers stopped.
    async fn sync_statics(&mut self, cache: &keel_runtime::Cache) {
        let Some(dir) = &self.kubelet.options.pod_manifest_path else {
            return;
        };
        let node = self.kubelet.options.node_name.clone();
        let now = Timestamp::now();
        self.statics = statics::read_dir(dir, &node, self.node_uid.as_deref(), now)
            .into_iter()
            .map(|pod| (pod.hash.clone(), pod))
            .collect();
        let kubelet = Arc::clone(&self.kubelet);
        let store = &kubelet.store;
        let pods = resources::of::<Pod>();
        for wanted in self.statics.values() {
            let key = ObjectKey::of(&wanted.mirror);
            let existing = cache.get(&key.namespace, &key.name);
            let current = existing.as_ref().is_some_and(|pod| {
                statics::mirror_hash(pod) == Some(wanted.hash.as_str())
                    && !crate::pods::plan::is_deleting(pod)
            });
            if current {
                continue;
            }
            if let Some(stale) = &existing {
                drop(kubelet.delete_at_once(stale).await);
            }
            match store
                .create(pods, &key.namespace, wanted.mirror.clone())
                .await
            {
                Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(error) => tracing::warn!(pod = %key, %error, "creating a mirror pod failed"),
            }
        }
        let removed: Vec<Value> = cache
            .list()
            .into_iter()
            .filter(|pod| {
                pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node.as_str())
            })
            .filter(|pod| {
                statics::mirror_hash(pod).is_some_and(|hash| !self.statics.contains_key(hash))
            })
            .collect();
        for mirror in removed {
            drop(kubelet.delete_at_once(&mirror).await);
            if let Some(hash) = statics::mirror_hash(&mirror) {
                self.stop(hash);
            }
        }
    }
}

/// Creates the Node (or refreshes a Node left from before) and its Lease.
async fn register(store: &Store, options: &Options, machine: &Machine) -> Result<(), KubeletError> {
    let now = Timestamp::now();
    let pressure = Pressure::read(&options.root_dir);
    let fresh = node::node_object(
        &options.node_name,
        &options.node_ip,
        options.port,
        machine,
        &pressure,
        &options.thresholds,
        now,
    );
    let nodes = resources::of::<Node>();
    match store.create(nodes, "", fresh.clone()).await {
        Ok(_) => {}
        Err(StoreError::AlreadyExists { .. }) => {
            store
                .update_part_with(nodes, "", &options.node_name, Part::Status, |current, _| {
                    let mut refreshed = current.clone();
                    refreshed["status"] = fresh["status"].clone();
                    Ok::<_, StoreError>(refreshed)
                })
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    let lease =
        keel_sim_nodes::node::lease_object(&options.node_name, options.lease_duration_secs, now);
    match store
        .create(
            resources::of::<Lease>(),
            keel_sim_nodes::node::LEASE_NAMESPACE,
            lease,
        )
        .await
    {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Renews the Lease every interval, and writes the Node's conditions
/// when they change (or every report interval). Failures are logged and
/// tried again next time, as a kubelet does.
async fn heartbeat(store: Store, options: Options) {
    let mut ticks = tokio::time::interval(options.renew_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_report = std::time::Instant::now();
    let mut last_conditions: Option<Vec<(String, String)>> = None;
    loop {
        ticks.tick().await;
        let now = Timestamp::now();
        let renewed = store
            .update_with(
                resources::of::<Lease>(),
                keel_sim_nodes::node::LEASE_NAMESPACE,
                &options.node_name,
                |lease, _| Ok::<_, StoreError>(keel_sim_nodes::node::renewed(lease, now)),
            )
            .await;
        if let Err(error) = renewed {
            tracing::warn!(%error, "renewing the node's Lease failed");
            if matches!(error, StoreError::NotFound { .. }) {
                let lease = keel_sim_nodes::node::lease_object(
                    &options.node_name,
                    options.lease_duration_secs,
                    now,
                );
                drop(
                    store
                        .create(
                            resources::of::<Lease>(),
                            keel_sim_nodes::node::LEASE_NAMESPACE,
                            lease,
                        )
                        .await,
                );
            }
        }
        let fresh = node::conditions(&Pressure::read(&options.root_dir), &options.thresholds, now);
        let summary: Vec<(String, String)> = fresh
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["type"].to_string(), c["status"].to_string()))
            .collect();
        if last_conditions.as_ref() == Some(&summary)
            && last_report.elapsed() < options.status_report_interval
        {
            continue;
        }
        let written = store
            .update_part_with(
                resources::of::<Node>(),
                "",
                &options.node_name,
                Part::Status,
                |current, _| {
                    let mut node = current.clone();
                    node["status"]["conditions"] =
                        node::refreshed_conditions(&current["status"]["conditions"], &fresh);
                    Ok::<_, StoreError>(node)
                },
            )
            .await;
        match written {
            Ok(_) => {
                last_conditions = Some(summary);
                last_report = std::time::Instant::now();
            }
            Err(error) => tracing::warn!(%error, "writing the node's status failed"),
        }
    }
}

//! One pod's worker: a task per pod, as the kubelet's pod workers are. It
//! owns what is known of the pod's containers, carries out
//! [`crate::pods::plan`]'s actions against the runtime, follows the
//! containers' exits and probes, and writes the pod's status.
//!
//! ```text
//!   pod (watch channel) ─┐
//!   exits, probe results ├─► loop: plan ─► start / stop / remove
//!   back-off timers     ─┘          status ─► keel (when it changed)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keel_api::k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use keel_api::resources;
use keel_runtime::events::Notice;
use keel_runtime::{ObjectKey, Part, StoreError};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::containers::{self, Lookup};
use super::{probes, volumes, Kubelet};
use crate::pods::probe::{ProbeKind, Tally, Timing};
use crate::pods::{self, Action, ContainerRecord, Placement, Run, Waiting};
use crate::runtime::{ContainerId, ContainerSpec, Exit, PodRef, State};

/// How long an image that could not be found shows `ErrImagePull`
/// before `ImagePullBackOff`.
const ERR_IMAGE_PULL_SHOWN: Duration = Duration::from_secs(1);
/// How long to wait before trying again when keel or the pod network
/// failed.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(2);
/// The wakes a worker's queue holds: a worker busy for longer holds its
/// probers back (each waits to hand in its result), and the kubelet's
/// eviction is asked again next round.
const WAKES_MAX: usize = 16;

/// What wakes a pod worker besides its pod.
#[derive(Debug)]
pub(crate) enum Wake {
    /// The kubelet evicts the pod (the node is short of memory): its
    /// containers are killed and it fails with this message.
    Evict { message: String },
    /// A container run ended.
    Exited {
        name: String,
        attempt: u32,
        exit: Exit,
    },
    /// A probe answered.
    Probe {
        name: String,
        attempt: u32,
        kind: ProbeKind,
        result: Result<(), String>,
    },
}

/// A run the runtime still had when the kubelet started: the container
/// it is a run of (by the name it was started with), and the run.
#[derive(Clone)]
pub(crate) struct Adopted {
    pub(crate) container: String,
    pub(crate) run: Run,
}

/// The ConfigMaps and Secrets a pod refers to, read from keel before a
/// container starts.
struct Fetched {
    config_maps: HashMap<String, Value>,
    secrets: HashMap<String, Value>,
}

impl Lookup for Fetched {
    fn config_map(&self, name: &str) -> Option<Value> {
        self.config_maps.get(name).cloned()
    }
    fn secret(&self, name: &str) -> Option<Value> {
        self.secrets.get(name).cloned()
    }
}

/// A pod's worker.
pub(crate) struct PodWorker {
    kubelet: Arc<Kubelet>,
    uid: String,
    pod: watch::Receiver<Option<Value>>,
    shutdown: watch::Receiver<bool>,
    wakes: mpsc::Receiver<Wake>,
    waker: mpsc::Sender<Wake>,
    records: BTreeMap<String, ContainerRecord>,
    tallies: HashMap<(String, ProbeKind), Tally>,
    probers: HashMap<String, Vec<JoinHandle<()>>>,
    /// The pod's network namespace and address, once attached.
    network: Option<(Option<PathBuf>, String)>,
    volumes: Option<BTreeMap<String, PathBuf>>,
    /// When to look again regardless (back-offs, a retry).
    wake_at: Option<Timestamp>,
    /// The last pod seen (its grace period when it is gone from keel).
    last_seen: Option<Value>,
    /// Adopted running containers whose probes are not started yet.
    unprobed: Vec<String>,
    /// Why the kubelet evicted the pod, once it has.
    evicted: Option<String>,
}

impl PodWorker {
    pub(crate) fn new(
        kubelet: Arc<Kubelet>,
        uid: String,
        pod: watch::Receiver<Option<Value>>,
        shutdown: watch::Receiver<bool>,
        recovered: Vec<Adopted>,
    ) -> Self {
        let (waker, wakes) = mpsc::channel(WAKES_MAX);
        let mut worker = Self {
            kubelet,
            uid,
            pod,
            shutdown,
            wakes,
            waker,
            records: BTreeMap::new(),
            tallies: HashMap::new(),
            probers: HashMap::new(),
            network: None,
            volumes: None,
            wake_at: None,
            last_seen: None,
            unprobed: Vec::new(),
            evicted: None,
        };
        worker.adopt(recovered);
        worker
    }

    /// A sender of wakes to this worker (the kubelet's evictions).
    pub(crate) fn waker(&self) -> mpsc::Sender<Wake> {
        self.waker.clone()
    }

    /// Takes over the runs a restarted kubelet found: the latest of each
    /// container is its current run, the one before its previous.
    fn adopt(&mut self, mut runs: Vec<Adopted>) {
        runs.sort_by_key(|adopted| adopted.run.attempt);
        for Adopted {
            container: name,
            run,
        } in runs
        {
            let record = self.records.entry(name.clone()).or_default();
            if let Some(older) = record.previous.take() {
                let runtime = Arc::clone(&self.kubelet.runtime);
                tokio::spawn(async move { drop(runtime.remove(&older.id).await) });
            }
            record.previous = record.current.take();
            record.current = Some(run.clone());
            if run.is_running() {
                self.watch_exit(&name, &run);
                self.unprobed.push(name);
            }
        }
    }

    /// Runs until the pod is removed (or the kubelet shuts down).
    pub(crate) async fn run(mut self) {
        loop {
            let pod = self.pod.borrow_and_update().clone();
            if let Some(pod) = &pod {
                self.last_seen = Some(pod.clone());
            }
            let shutting_down = *self.shutdown.borrow();
            let done = match pod {
                None => self.gone().await,
                Some(pod) if shutting_down => self.shut_down(&pod).await,
                Some(pod) => self.sync(&pod).await,
            };
            if done {
                return;
            }
            let sleep = self.wake_at.map(|at| {
                let left = at.duration_since(Timestamp::now());
                Duration::try_from(left).unwrap_or_default()
            });
            tokio::select! {
                changed = self.pod.changed() => {
                    if changed.is_err() {
                        // The kubelet has gone: the pod stays as it is.
                        return;
                    }
                }
                _ = self.shutdown.changed() => {}
                Some(wake) = self.wakes.recv() => self.on_wake(wake),
                () = tokio::time::sleep(sleep.unwrap_or(Duration::MAX)), if sleep.is_some() => {}
            }
            // Take what else is queued before planning again.
            while let Ok(wake) = self.wakes.try_recv() {
                self.on_wake(wake);
            }
        }
    }

    /// One pass over a pod that exists: plan, act, report. Answers whether
    /// the worker is done.
    async fn sync(&mut self, pod: &Value) -> bool {
        let now = Timestamp::now();
        self.wake_at = None;
        self.flip_image_waits(now);
        if super::statics::mirror_hash(pod).is_some() && pods::plan::is_deleting(pod) {
            // A mirror deleted through the API: it goes at once and the
            // kubelet makes it again; the static pod runs on.
            self.remove(pod).await;
            return false;
        }
        if self.evicted.is_some() {
            self.evict_now().await;
        }
        let finishing = pods::plan::is_deleting(pod) || pods::plan::is_terminal(pod);
        if self.network.is_none() && !finishing {
            if let Err(message) = self.attach(pod).await {
                tracing::warn!(pod = %ObjectKey::of(pod), %message, "the pod network could not be set up");
                self.kubelet
                    .record(pod, Notice::warning("FailedCreatePodSandBox", &message));
                self.retry_in(RETRY_AFTER_ERROR);
                return false;
            }
        }
        self.probe_adopted(pod);
        let plan = pods::plan(pod, &self.records, &self.kubelet.options.backoff, now);
        if let Some(at) = plan.wake_at {
            self.wake_in_at(at);
        }
        for action in plan.actions {
            match action {
                Action::Start { name } => self.start(pod, &name).await,
                Action::Stop { name, grace } => self.stop(pod, &name, grace),
                Action::Remove => {
                    self.clean_up().await;
                    self.remove(pod).await;
                    return true;
                }
            }
        }
        if let Err(error) = self.write_status(pod).await {
            tracing::warn!(pod = %ObjectKey::of(pod), %error, "writing the pod's status failed");
            self.retry_in(RETRY_AFTER_ERROR);
        }
        false
    }

    /// Kills every running container of an evicted pod at once (a hard
    /// threshold gives no grace period).
    async fn evict_now(&mut self) {
        let running: Vec<(String, ContainerId, u32)> = self
            .records
            .iter()
            .filter_map(|(name, r)| {
                r.current
                    .as_ref()
                    .filter(|run| run.is_running())
                    .map(|run| (name.clone(), run.id.clone(), run.attempt))
            })
            .collect();
        for (name, id, attempt) in running {
            self.stop_probers(&name);
            if let Ok(exit) = self.kubelet.runtime.stop(&id, Duration::ZERO).await {
                self.on_exit(&name, attempt, exit);
            }
        }
    }

    /// The pod is gone from keel (deleted at once, or never ours): its
    /// containers are stopped and forgotten.
    async fn gone(&mut self) -> bool {
        let grace = self
            .last_seen
            .as_ref()
            .map_or(Duration::ZERO, pods::plan::grace_period)
            .min(Duration::from_secs(2));
        let running: Vec<String> = self
            .records
            .iter()
            .filter(|(_, r)| r.is_running())
            .map(|(n, _)| n.clone())
            .collect();
        for name in running {
            if let Some(id) = self.current_id(&name) {
                drop(self.kubelet.runtime.stop(&id, grace).await);
            }
        }
        self.clean_up().await;
        true
    }

    /// The kubelet is stopping its pods (`keel up`'s Ctrl-C): every
    /// container stopped within its grace, the pod left in keel.
    async fn shut_down(&mut self, pod: &Value) -> bool {
        let grace = pods::plan::grace_period(pod);
        let stops: Vec<_> = self
            .records
            .iter()
            .filter(|(_, r)| r.is_running())
            .filter_map(|(name, _)| self.current_id(name))
            .map(|id| {
                let runtime = Arc::clone(&self.kubelet.runtime);
                async move { drop(runtime.stop(&id, grace).await) }
            })
            .collect();
        futures::future::join_all(stops).await;
        true
    }

    fn retry_in(&mut self, after: Duration) {
        let at = Timestamp::now()
            .saturating_add(SignedDuration::try_from(after).unwrap_or_default())
            .unwrap_or_else(|_| Timestamp::now());
        self.wake_in_at(at);
    }

    fn wake_in_at(&mut self, at: Timestamp) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    fn current_id(&self, name: &str) -> Option<ContainerId> {
        self.records
            .get(name)
            .and_then(|r| r.current.as_ref())
            .map(|run| run.id.clone())
    }

    /// `ErrImagePull` turns into `ImagePullBackOff` once shown a moment.
    fn flip_image_waits(&mut self, now: Timestamp) {
        let mut next = None;
        for record in self.records.values_mut() {
            let Some(waiting) = &mut record.waiting else {
                continue;
            };
            if waiting.reason != "ErrImagePull" {
                continue;
            }
            let shown_until = record
                .failed_start_backoff
                .map(|b| b.last_start)
                .and_then(|at| {
                    at.checked_add(SignedDuration::try_from(ERR_IMAGE_PULL_SHOWN).ok()?)
                        .ok()
                });
            match shown_until {
                Some(until) if until > now => {
                    next = Some(next.map_or(until, |n: Timestamp| n.min(until)));
                }
                _ => {
                    waiting.reason = "ImagePullBackOff".into();
                    waiting.message = format!("Back-off pulling image: {}", waiting.message);
                }
            }
        }
        if let Some(at) = next {
            self.wake_in_at(at);
        }
    }

    async fn attach(&mut self, pod: &Value) -> Result<(), String> {
        let host_network = pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true);
        self.network = Some(if host_network {
            (None, self.kubelet.options.node_ip.clone())
        } else {
            let (namespace, ip) = self.kubelet.networks.attach(&self.uid).await?;
            (Some(namespace), ip)
        });
        Ok(())
    }

    /// Adopted running containers keep the readiness keel last had for
    /// them, and their probes start.
    fn probe_adopted(&mut self, pod: &Value) {
        for name in std::mem::take(&mut self.unprobed) {
            let Some(spec) = container_spec(pod, &name) else {
                continue;
            };
            let was_ready = ["containerStatuses", "initContainerStatuses"]
                .iter()
                .any(|list| {
                    pod.pointer(&format!("/status/{list}"))
                        .and_then(Value::as_array)
                        .is_some_and(|l| {
                            l.iter()
                                .any(|s| s["name"] == name.as_str() && s["ready"] == true)
                        })
                });
            let Some(record) = self.records.get_mut(&name) else {
                continue;
            };
            record.started = spec.get("startupProbe").is_none() || was_ready;
            record.ready = record.started && (spec.get("readinessProbe").is_none() || was_ready);
            let kinds = if record.started {
                [ProbeKind::Liveness, ProbeKind::Readiness].to_vec()
            } else {
                [ProbeKind::Startup].to_vec()
            };
            self.start_probers(pod, &name, &kinds);
        }
    }

    fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Evict { message } => {
                if self.evicted.is_none() {
                    if let Some(pod) = &self.last_seen {
                        self.kubelet
                            .record(pod, Notice::warning("Evicted", &message));
                    }
                    self.evicted = Some(message);
                }
            }
            Wake::Exited {
                name,
                attempt,
                exit,
            } => self.on_exit(&name, attempt, exit),
            Wake::Probe {
                name,
                attempt,
                kind,
                result,
            } => self.on_probe(&name, attempt, kind, &result),
        }
    }

    fn on_exit(&mut self, name: &str, attempt: u32, exit: Exit) {
        let Some(record) = self.records.get_mut(name) else {
            return;
        };
        let Some(run) = record.current.as_mut().filter(|run| run.attempt == attempt) else {
            return;
        };
        if let State::Running { started_at } = run.state {
            run.state = State::Exited { started_at, exit };
        }
        record.stopping = false;
        record.ready = false;
        record.started = false;
        self.stop_probers(name);
    }

    fn on_probe(&mut self, name: &str, attempt: u32, kind: ProbeKind, result: &Result<(), String>) {
        let Some(pod) = self.last_seen.clone() else {
            return;
        };
        let Some(record) = self.records.get(name) else {
            return;
        };
        if record
            .current
            .as_ref()
            .is_none_or(|r| r.attempt != attempt || !r.is_running())
            || record.stopping
        {
            return;
        }
        let Some(spec) = container_spec(&pod, name) else {
            return;
        };
        let timing = Timing::of(&spec[kind.field()]);
        if let Err(message) = result {
            let text = format!("{} probe failed: {message}", kind.title());
            self.kubelet
                .record(&pod, Notice::warning("Unhealthy", &text));
        }
        let tally = self.tallies.entry((name.to_owned(), kind)).or_default();
        let Some(verdict) = tally.record(result.is_ok(), &timing) else {
            return;
        };
        let record = self.records.get_mut(name).expect("checked above");
        match (kind, verdict) {
            (ProbeKind::Readiness, ready) => record.ready = ready,
            (ProbeKind::Startup, true) => {
                record.started = true;
                record.ready = spec.get("readinessProbe").is_none();
                self.stop_probers(name);
                self.start_probers(&pod, name, &[ProbeKind::Liveness, ProbeKind::Readiness]);
            }
            (ProbeKind::Startup | ProbeKind::Liveness, false) => {
                let what = if kind == ProbeKind::Startup {
                    "startup"
                } else {
                    "liveness"
                };
                let text = format!("Container {name} failed {what} probe, will be restarted");
                self.kubelet.record(&pod, Notice::normal("Killing", &text));
                let grace = spec[kind.field()]
                    .get("terminationGracePeriodSeconds")
                    .and_then(Value::as_u64)
                    .map_or_else(|| pods::plan::grace_period(&pod), Duration::from_secs);
                self.stop(&pod, name, grace);
            }
            (ProbeKind::Liveness, true) => {}
        }
    }

    /// Starts the next run of container `name`, or records why it cannot.
    async fn start(&mut self, pod: &Value, name: &str) {
        let now = Timestamp::now();
        let Some(spec) = container_spec(pod, name) else {
            return;
        };
        let reference = spec
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let image = match self.kubelet.images.resolve(&reference) {
            Ok(image) => image,
            Err(message) => {
                let text = format!("Failed to pull image \"{reference}\": {message}");
                self.kubelet.record(pod, Notice::warning("Failed", &text));
                self.failed_start(
                    name,
                    "ErrImagePull",
                    message,
                    &self.kubelet.options.image_backoff.clone(),
                    now,
                );
                self.wake_in_at(
                    now.saturating_add(
                        SignedDuration::try_from(ERR_IMAGE_PULL_SHOWN).unwrap_or_default(),
                    )
                    .unwrap_or(now),
                );
                return;
            }
        };
        let made = self.make_spec(pod, &spec, name, &image).await;
        let container = match made {
            Ok(container) => container,
            Err(message) => {
                self.kubelet
                    .record(pod, Notice::warning("Failed", &format!("Error: {message}")));
                let policy = self.kubelet.options.backoff;
                self.failed_start(name, "CreateContainerConfigError", message, &policy, now);
                return;
            }
        };
        if let Some(parent) = container.log_path.parent() {
            drop(std::fs::create_dir_all(parent));
        }
        self.kubelet.record(
            pod,
            Notice::normal(
                "Pulled",
                &format!("Container image \"{reference}\" already present on machine"),
            ),
        );
        match self.kubelet.runtime.start(&container).await {
            Err(error) => {
                let message = error.to_string();
                self.kubelet
                    .record(pod, Notice::warning("Failed", &format!("Error: {message}")));
                let policy = self.kubelet.options.backoff;
                self.failed_start(name, "RunContainerError", message, &policy, now);
            }
            Ok(started_at) => {
                self.kubelet.record(
                    pod,
                    Notice::normal("Started", &format!("Started container {name}")),
                );
                let policy = self.kubelet.options.backoff;
                let record = self.records.entry(name.to_owned()).or_default();
                if let Some(finished) = record.current.as_ref().and_then(Run::finished_at) {
                    record.backoff = Some(policy.next(record.backoff.as_ref(), finished, now));
                }
                if let Some(older) = record.previous.take() {
                    drop(self.kubelet.runtime.remove(&older.id).await);
                }
                record.previous = record.current.take();
                let run = Run {
                    id: container.id.clone(),
                    attempt: container.attempt,
                    state: State::Running { started_at },
                    image_id: image.id.clone(),
                };
                record.current = Some(run.clone());
                record.waiting = None;
                record.retry_at = None;
                record.failed_start_backoff = None;
                record.stopping = false;
                record.started = spec.get("startupProbe").is_none();
                record.ready = record.started && spec.get("readinessProbe").is_none();
                self.tallies.retain(|(n, _), _| n != name);
                self.watch_exit(name, &run);
                let first = if spec.get("startupProbe").is_some() {
                    vec![ProbeKind::Startup]
                } else {
                    vec![ProbeKind::Liveness, ProbeKind::Readiness]
                };
                self.start_probers(pod, name, &first);
            }
        }
    }

    fn failed_start(
        &mut self,
        name: &str,
        reason: &str,
        message: String,
        policy: &pods::BackoffPolicy,
        now: Timestamp,
    ) {
        let record = self.records.entry(name.to_owned()).or_default();
        let since = record.retry_at.unwrap_or(now);
        let backoff = policy.next(record.failed_start_backoff.as_ref(), since, now);
        record.retry_at = now
            .checked_add(SignedDuration::try_from(backoff.delay).unwrap_or_default())
            .ok();
        record.failed_start_backoff = Some(backoff);
        record.waiting = Some(Waiting {
            reason: reason.to_owned(),
            message,
        });
        if let Some(at) = record.retry_at {
            self.wake_in_at(at);
        }
    }

    /// The runtime's spec for the next run of container `name`.
    async fn make_spec(
        &mut self,
        pod: &Value,
        spec: &Value,
        name: &str,
        image: &containers::ImageInfo,
    ) -> Result<ContainerSpec, String> {
        let fetched = self.fetch(pod).await?;
        let pod_dir = self.kubelet.pod_dir(&self.uid);
        if self.volumes.is_none() {
            self.volumes = Some(volumes::prepare(pod, &pod_dir, &fetched)?);
        }
        let (namespace_path, pod_ip) = self.network.clone().unwrap_or_default();
        let host_ip = self.kubelet.options.node_ip.clone();
        let text = |pointer: &str| {
            pod.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let hostname = match text("/spec/hostname") {
            h if h.is_empty() => text("/metadata/name"),
            h => h,
        };
        let env =
            containers::environment(pod, spec, image, &fetched, &hostname, &pod_ip, &host_ip)?;
        let argv = containers::argv(spec, image, &env)?;
        let mut mounts = containers::mounts(spec, self.volumes.as_ref().expect("prepared"))?;
        mounts.extend(super::Kubelet::etc_files(&pod_dir, &hostname, &pod_ip)?);
        let attempt = self
            .records
            .get(name)
            .and_then(|r| r.current.as_ref())
            .map_or(0, |run| run.attempt + 1);
        let namespace = text("/metadata/namespace");
        let pod_name = text("/metadata/name");
        let working_dir = spec
            .get("workingDir")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map_or_else(|| image.working_dir.clone(), str::to_owned);
        Ok(ContainerSpec {
            id: ContainerId::new(&self.uid, name, attempt),
            pod: PodRef {
                namespace: namespace.clone(),
                name: pod_name.clone(),
                uid: self.uid.clone(),
            },
            name: name.to_owned(),
            attempt,
            image: spec
                .get("image")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            rootfs: image.rootfs.clone(),
            argv,
            env,
            working_dir,
            hostname,
            mounts,
            limits: containers::limits(spec, self.kubelet.options.pod_pids_max),
            network_namespace: namespace_path,
            log_path: self
                .kubelet
                .log_path(&namespace, &pod_name, &self.uid, name, attempt),
        })
    }

    /// Reads the ConfigMaps and Secrets the pod refers to.
    async fn fetch(&self, pod: &Value) -> Result<Fetched, String> {
        let namespace = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (config_maps, secrets) = volumes::references(pod);
        let mut fetched = Fetched {
            config_maps: HashMap::new(),
            secrets: HashMap::new(),
        };
        let store = &self.kubelet.store;
        for name in config_maps {
            match store
                .get(resources::of::<ConfigMap>(), namespace, &name)
                .await
            {
                Ok(object) => drop(fetched.config_maps.insert(name, object)),
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(format!("reading configmap \"{name}\": {error}")),
            }
        }
        for name in secrets {
            match store.get(resources::of::<Secret>(), namespace, &name).await {
                Ok(object) => drop(fetched.secrets.insert(name, object)),
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(format!("reading secret \"{name}\": {error}")),
            }
        }
        Ok(fetched)
    }

    /// Tells the worker when the run ends.
    fn watch_exit(&self, name: &str, run: &Run) {
        let runtime = Arc::clone(&self.kubelet.runtime);
        let waker = self.waker.clone();
        let (name, id, attempt) = (name.to_owned(), run.id.clone(), run.attempt);
        tokio::spawn(async move {
            match runtime.wait(&id).await {
                Ok(exit) => drop(
                    waker
                        .send(Wake::Exited {
                            name,
                            attempt,
                            exit,
                        })
                        .await,
                ),
                Err(error) => {
                    tracing::warn!(container = %id, %error, "waiting for a container failed");
                }
            }
        });
    }

    fn start_probers(&mut self, pod: &Value, name: &str, kinds: &[ProbeKind]) {
        let Some(spec) = container_spec(pod, name) else {
            return;
        };
        let Some(run) = self.records.get(name).and_then(|r| r.current.clone()) else {
            return;
        };
        let pod_ip = self
            .network
            .as_ref()
            .map(|n| n.1.clone())
            .unwrap_or_default();
        for kind in kinds {
            let Some(handler) = spec.get(kind.field()).cloned() else {
                continue;
            };
            let timing = Timing::of(&handler);
            let target = probes::Target {
                runtime: Arc::clone(&self.kubelet.runtime),
                id: run.id.clone(),
                pod_ip: pod_ip.clone(),
                container: spec.clone(),
            };
            let waker = self.waker.clone();
            let (container, attempt, kind) = (name.to_owned(), run.attempt, *kind);
            let task = tokio::spawn(async move {
                tokio::time::sleep(timing.initial_delay).await;
                loop {
                    let result = probes::run(&handler, &target, timing.timeout).await;
                    let wake = Wake::Probe {
                        name: container.clone(),
                        attempt,
                        kind,
                        result,
                    };
                    // A busy worker holds the next probe back.
                    if waker.send(wake).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(timing.period).await;
                }
            });
            self.probers.entry(name.to_owned()).or_default().push(task);
        }
    }

    fn stop_probers(&mut self, name: &str) {
        for task in self.probers.remove(name).unwrap_or_default() {
            task.abort();
        }
    }

    /// Stops container `name`: its preStop hook, then the runtime's stop
    /// with what is left of `grace`; the exit comes back as a wake.
    fn stop(&mut self, pod: &Value, name: &str, grace: Duration) {
        let Some(spec) = container_spec(pod, name) else {
            return;
        };
        let Some(record) = self.records.get_mut(name) else {
            return;
        };
        let Some(run) = record.current.clone().filter(Run::is_running) else {
            return;
        };
        record.stopping = true;
        self.stop_probers(name);
        self.kubelet.record(
            pod,
            Notice::normal("Killing", &format!("Stopping container {name}")),
        );
        let hook = spec.pointer("/lifecycle/preStop").cloned();
        let target = probes::Target {
            runtime: Arc::clone(&self.kubelet.runtime),
            id: run.id.clone(),
            pod_ip: self
                .network
                .as_ref()
                .map(|n| n.1.clone())
                .unwrap_or_default(),
            container: spec,
        };
        let waker = self.waker.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let began = std::time::Instant::now();
            if let Some(hook) = hook {
                if let Err(message) =
                    probes::run(&hook, &target, grace.max(Duration::from_secs(1))).await
                {
                    tracing::warn!(container = %target.id, %message, "the preStop hook failed");
                }
            }
            let left = grace.saturating_sub(began.elapsed());
            match target.runtime.stop(&target.id, left).await {
                Ok(exit) => drop(
                    waker
                        .send(Wake::Exited {
                            name,
                            attempt: run.attempt,
                            exit,
                        })
                        .await,
                ),
                Err(error) => {
                    tracing::warn!(container = %target.id, %error, "stopping a container failed");
                }
            }
        });
    }

    /// Writes the pod's status if it differs from what keel has.
    async fn write_status(&self, pod: &Value) -> Result<(), StoreError> {
        let placement = Placement {
            host_ip: self.kubelet.options.node_ip.clone(),
            pod_ip: self.network.as_ref().map(|n| n.1.clone()),
        };
        let policy = self.kubelet.options.backoff;
        let evicted = self.evicted.clone();
        let made = |pod: &Value| {
            let mut status =
                pods::status(pod, &self.records, &placement, &policy, Timestamp::now());
            if let Some(message) = &evicted {
                status["phase"] = "Failed".into();
                status["reason"] = "Evicted".into();
                status["message"] = message.clone().into();
            }
            status
        };
        let fresh = made(pod);
        if pod.get("status") == Some(&fresh) {
            return Ok(());
        }
        let key = ObjectKey::of(pod);
        // The API's uid of the pod (a static pod's mirror has its own).
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let written = self
            .kubelet
            .store
            .update_part_with(
                resources::of::<Pod>(),
                &key.namespace,
                &key.name,
                Part::Status,
                |current, _| {
                    let mut new = current.clone();
                    if current.pointer("/metadata/uid").and_then(Value::as_str)
                        == Some(uid.as_str())
                    {
                        new["status"] = made(current);
                    }
                    Ok::<_, StoreError>(new)
                },
            )
            .await;
        match written {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Forgets every container of the pod and its network, volumes and logs.
    async fn clean_up(&mut self) {
        let names: Vec<String> = self.probers.keys().cloned().collect();
        for name in names {
            self.stop_probers(&name);
        }
        for record in self.records.values() {
            for run in record.current.iter().chain(&record.previous) {
                // Its monitor finishes (exit.json written) before its
                // state goes.
                drop(self.kubelet.runtime.wait(&run.id).await);
                if let Err(error) = self.kubelet.runtime.remove(&run.id).await {
                    tracing::warn!(container = %run.id, %error, "removing a container failed");
                }
            }
        }
        if let Err(message) = self.kubelet.networks.detach(&self.uid).await {
            tracing::warn!(uid = %self.uid, %message, "detaching the pod's network failed");
        }
        let pod_dir = self.kubelet.pod_dir(&self.uid);
        drop(std::fs::remove_dir_all(&pod_dir));
        if let Some(pod) = &self.last_seen {
            let key = ObjectKey::of(pod);
            drop(std::fs::remove_dir_all(self.kubelet.pod_logs_dir(
                &key.namespace,
                &key.name,
                &self.uid,
            )));
        }
    }

    /// The kubelet's final delete of a pod whose containers have stopped.
    async fn remove(&self, pod: &Value) {
        let key = ObjectKey::of(pod);
        match self.kubelet.delete_at_once(pod).await {
            Ok(()) | Err(StoreError::NotFound { .. } | StoreError::Precondition(_)) => {}
            Err(error) => tracing::warn!(pod = %key, %error, "the final delete of a pod failed"),
        }
    }
}

/// The spec of container (or init container) `name` of `pod`.
pub(crate) fn container_spec(pod: &Value, name: &str) -> Option<Value> {
    ["initContainers", "containers"].iter().find_map(|list| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .cloned()
    })
}

//! What the kubelet asks of a container runtime, as a trait, so that
//! other runtimes can be added beside the default [`linux`] one.
//!
//! A *container* here is one run of one container of a pod: a restart is
//! a new container with the next `attempt`. The kubelet decides what to
//! run ([`ContainerSpec`]: the argv already resolved from the image's
//! entrypoint and the pod's command and args, the environment already
//! resolved from ConfigMaps and Secrets, volumes as host paths); the
//! runtime runs it, confined, and tells when and how it ended ([`Exit`]).
//!
//! Containers outlive the kubelet: a kubelet that restarts finds them
//! again through [`ContainerRuntime::recover`] and adopts them, running or
//! exited, instead of starting them again.

pub mod linux;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One run of one container: `<pod uid>_<container name>_<attempt>`.
/// Unique on a node, readable in `ls`, and safe as a file name (a pod uid
/// is a UUID and a container name a DNS label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerId(pub String);

impl ContainerId {
    /// The id of run `attempt` of container `name` of the pod `pod_uid`.
    pub fn new(pod_uid: &str, name: &str, attempt: u32) -> Self {
        Self(format!("{pod_uid}_{name}_{attempt}"))
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which pod a container belongs to, kept with it so that a restarted
/// kubelet can tell (and `recover` can answer) without keel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid.
    pub uid: String,
}

/// A directory of the host shown inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The host path (a volume's directory, or a file).
    pub source: PathBuf,
    /// Where it appears in the container (absolute).
    pub destination: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The limits of a container's cgroup, from its `resources`. `None` is
/// no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `resources.limits.memory`, in bytes.
    pub memory_bytes: Option<u64>,
    /// `resources.limits.cpu`, in millicores (a CFS quota per 100 ms).
    pub cpu_millis: Option<u64>,
    /// `resources.requests.cpu`, in millicores (the cgroup's CPU weight).
    pub cpu_request_millis: Option<u64>,
    /// Processes at most (the kubelet's `podPidsLimit`).
    pub pids: Option<u64>,
}

/// Everything a runtime needs to start one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// This run's id.
    pub id: ContainerId,
    /// The pod it belongs to.
    pub pod: PodRef,
    /// The container's name in the pod.
    pub name: String,
    /// Which run of the container this is (0 first; the restart count).
    pub attempt: u32,
    /// The image's reference as the pod names it (`busybox:1.36`).
    pub image: String,
    /// The image's unpacked root filesystem; the runtime gives the
    /// container its own writable layer over it.
    pub rootfs: PathBuf,
    /// The program and its arguments (never empty).
    pub argv: Vec<String>,
    /// The environment, in order (later entries win).
    pub env: Vec<(String, String)>,
    /// The working directory inside the container (`/` when empty).
    pub working_dir: String,
    /// The container's host name (the pod's name, or its `hostname`).
    pub hostname: String,
    /// Volumes and other host paths shown inside the container.
    pub mounts: Vec<Mount>,
    /// The cgroup limits.
    pub limits: Limits,
    /// The pod's network namespace (a path such as `/run/netns/x`);
    /// `None` shares the node's (`hostNetwork: true`).
    pub network_namespace: Option<PathBuf>,
    /// Where the container's output goes, in the CRI log format
    /// (`<RFC 3339 nanos> stdout|stderr F|P <line>`).
    pub log_path: PathBuf,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The exit code as Kubernetes reports it: the process's code, or
    /// 128 + the signal that killed it.
    pub code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended it (its cgroup's memory limit).
    pub oom_killed: bool,
    /// When it ended.
    pub finished_at: Timestamp,
}

/// Where a container is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Its process runs (since `started_at`).
    Running {
        /// When its process started.
        started_at: Timestamp,
    },
    /// It ended.
    Exited {
        /// When its process started.
        started_at: Timestamp,
        /// How it ended.
        exit: Exit,
    },
}

/// A container a runtime knows of: what it was started with, and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// What it was started with.
    pub spec: ContainerSpec,
    /// Where it is now.
    pub state: State,
}

/// What a container uses now (from its cgroup).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Memory in use, in bytes (the working set where known).
    pub memory_bytes: u64,
    /// CPU time used since it started, in nanoseconds.
    pub cpu_nanos: u64,
    /// Processes in it.
    pub pids: u64,
}

/// Why a runtime could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No container has this id.
    #[error("no container {0}")]
    NotFound(ContainerId),
    /// The runtime cannot run containers here (not root, no cgroup
    /// controller it needs, ...); says what is missing.
    #[error("the container runtime cannot run here: {0}")]
    Unsupported(String),
    /// The container could not be started: says why, as the pod's
    /// container status will show it.
    #[error("{0}")]
    Start(String),
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A container runtime. Every method may be called from any task; the
/// runtime keeps its own state on disk so that it survives the kubelet.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Starts a container; answers when its process runs (or failed to).
    async fn start(&self, spec: &ContainerSpec) -> Result<Timestamp, RuntimeError>;

    /// Waits until the container has ended, and tells how. Answers at once
    /// for a container that has already ended.
    async fn wait(&self, id: &ContainerId) -> Result<Exit, RuntimeError>;

    /// Sends `signal` (a Linux signal number) to the container's main
    /// process.
    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), RuntimeError>;

    /// Stops the container: SIGTERM, then SIGKILL once `grace` has passed
    /// (at once for a zero grace); answers how it ended.
    async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<Exit, RuntimeError>;

    /// A command that, run by the caller (who picks its stdin, stdout and
    /// stderr, pipes or a terminal), runs `argv` inside the running
    /// container: its namespaces, root, cgroup and environment. Its exit
    /// status is the command's.
    fn exec(
        &self,
        id: &ContainerId,
        argv: &[String],
        tty: bool,
    ) -> Result<tokio::process::Command, RuntimeError>;

    /// Every container this runtime has started and not removed, running
    /// or ended: what a restarted kubelet adopts.
    async fn recover(&self) -> Result<Vec<Known>, RuntimeError>;

    /// What the running container uses now.
    async fn stats(&self, id: &ContainerId) -> Result<Stats, RuntimeError>;

    /// Forgets an ended container: its writable layer, cgroup and state
    /// (not its log file, which the kubelet removes with the pod).
    async fn remove(&self, id: &ContainerId) -> Result<(), RuntimeError>;
}

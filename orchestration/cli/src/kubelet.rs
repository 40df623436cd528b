//! `keel kubelet`: the node agent for this machine (and the kubelet `keel
//! up` runs), and `keel container-init`, the helper its runtime re-runs
//! to set each container up.
//!
//! ```text
//!   keel kubelet ─► LinuxRuntime (root only) + ImageStore + NodeNetworks
//!                 ─► keel_kubelet::worker::run until Ctrl-C / SIGTERM
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use keel_kubelet::agent::{NetworkSetup, NodeNetworks};
use keel_kubelet::images::ImageStore;
use keel_kubelet::pods::BackoffPolicy;
use keel_kubelet::runtime::linux::{LinuxOptions, LinuxRuntime};
use keel_kubelet::server::ServerState;
use keel_kubelet::worker::{self, Options};
use keel_runtime::Store;

use crate::{connect, duration};

/// `keel kubelet`'s command line.
#[derive(Args)]
pub struct Kubelet {
    /// keel's client URLs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// The kubelet's flags.
    #[command(flatten)]
    flags: KubeletFlags,
}

/// What a kubelet is told, by `keel kubelet` or `keel up`.
#[derive(Args, Clone)]
pub struct KubeletFlags {
    /// The Node's name (default: this machine's host name).
    #[arg(long)]
    node_name: Option<String>,
    /// The node's address, its InternalIP (default: the address of the
    /// route to a private network, else 127.0.0.1).
    #[arg(long)]
    node_ip: Option<String>,
    /// The port of the kubelet's endpoint (logs, exec), on the node's
    /// address. It has no authentication yet: anyone who reaches it can
    /// exec into the pods.
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// Where the kubelet keeps pods' volumes and logs (default:
    /// /var/lib/keel/kubelet; `keel up`: <data-dir>/kubelet).
    #[arg(long)]
    kubelet_dir: Option<PathBuf>,
    /// The node's image store (`keel image import` writes it).
    #[arg(long, env = "KEEL_IMAGES_DIR", default_value = keel_kubelet::images::IMAGES_DIR_DEFAULT)]
    images_dir: PathBuf,
    /// Where the container runtime keeps each container's state.
    #[arg(long, default_value = "/run/keel/containers")]
    runtime_dir: PathBuf,
    /// The cgroup pods' cgroups go under, in each hierarchy.
    #[arg(long, default_value = "keel")]
    cgroup_parent: String,
    /// The pod network's bridge (the pods' network namespaces are named
    /// <bridge>-<pod>).
    #[arg(long, default_value = "keel0")]
    bridge: String,
    /// The pods' addresses (default: the Node's spec.podCIDR, which the
    /// controllers' node IPAM assigns from --cluster-cidr).
    #[arg(long)]
    pod_cidr: Option<String>,
    /// The first wait before a crashed container restarts (then doubling).
    #[arg(long, default_value = "10s", value_parser = duration)]
    restart_backoff_base: Duration,
    /// The longest wait before a crashed container restarts.
    #[arg(long, default_value = "300s", value_parser = duration)]
    restart_backoff_max: Duration,
    /// The first wait before a missing image is looked for again.
    #[arg(long, default_value = "10s", value_parser = duration)]
    image_backoff_base: Duration,
    /// The node Lease's leaseDurationSeconds.
    #[arg(long, default_value_t = keel_sim_nodes::node::LEASE_DURATION_SECS_DEFAULT)]
    node_lease_duration_secs: i64,
    /// The hard eviction thresholds, as the kubelet's flag reads them:
    /// under them the node reports MemoryPressure or DiskPressure.
    #[arg(long, default_value = "memory.available<100Mi,nodefs.available<10%", value_parser = keel_kubelet::node::Thresholds::parse)]
    eviction_hard: keel_kubelet::node::Thresholds,
    /// How often memory pressure is checked; under it, one pod is evicted
    /// each time (BestEffort first).
    #[arg(long, default_value = "10s", value_parser = duration)]
    housekeeping_interval: Duration,
    /// A directory of static pod manifests (YAML or JSON): pods this
    /// kubelet runs on its own, mirrored into keel as <name>-<node>.
    #[arg(long)]
    pod_manifest_path: Option<PathBuf>,
    /// How often the static pod manifests are read again.
    #[arg(long, default_value = "20s", value_parser = duration)]
    file_check_frequency: Duration,
    /// How often the node's Lease is renewed.
    #[arg(long, default_value = "10s", value_parser = duration)]
    node_renew_interval: Duration,
}

impl KubeletFlags {
    /// These flags with the kubelet's directory in `data_dir` unless one
    /// was given (`keel up`).
    pub fn in_data_dir(&self, data_dir: &std::path::Path) -> Self {
        let mut flags = self.clone();
        flags
            .kubelet_dir
            .get_or_insert_with(|| data_dir.join("kubelet"));
        flags
    }

    fn kubelet_dir(&self) -> PathBuf {
        absolute(
            self.kubelet_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/var/lib/keel/kubelet")),
        )
    }

    /// The node's name.
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            nix::unistd::gethostname().map_or_else(
                |_| "keel-node".into(),
                |h| h.to_string_lossy().to_lowercase(),
            )
        })
    }
}

/// `path` made absolute (the runtime mounts and chroots by these paths).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// The address this machine reaches a private network from (no packet
/// is sent), else loopback.
fn default_node_ip() -> String {
    let probe = || -> std::io::Result<String> {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0")?;
        socket.connect("10.255.255.254:9")?;
        Ok(socket.local_addr()?.ip().to_string())
    };
    probe().unwrap_or_else(|_| "127.0.0.1".into())
}

/// Runs a kubelet with `flags` against keel at `endpoints` until `stop`.
pub async fn run_with(
    endpoints: &[String],
    flags: &KubeletFlags,
    stop_pods_on_exit: bool,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Result<(), String> {
    let node_name = flags.node_name();
    let helper = vec![
        std::env::current_exe()
            .map_err(|error| format!("cannot find keel's own program: {error}"))?
            .into_os_string(),
        OsString::from("container-init"),
    ];
    let runtime = LinuxRuntime::new(LinuxOptions {
        state_dir: absolute(flags.runtime_dir.clone()),
        helper,
        cgroup_parent: flags.cgroup_parent.clone(),
    })
    .map_err(|error| format!("the kubelet refuses to run pods: {error}"))?;
    tracing::info!(cgroups = ?runtime.cgroups(), "container runtime ready");
    let images =
        ImageStore::open(&absolute(flags.images_dir.clone())).map_err(|error| error.to_string())?;
    let client = connect(endpoints).await?;
    let networks = NodeNetworks::new(
        NetworkSetup {
            bridge: flags.bridge.clone(),
            pod_cidr: flags.pod_cidr.clone(),
            state_dir: flags.kubelet_dir().join("network"),
            namespace_prefix: format!("{}-", flags.bridge),
            node_name: node_name.clone(),
        },
        Store::new(client.clone()),
    );
    let node_ip = flags.node_ip.clone().unwrap_or_else(default_node_ip);
    let mut options = Options::new(&node_name, &node_ip, flags.kubelet_dir());
    options.port = flags.kubelet_port;
    options.backoff = BackoffPolicy {
        base: flags.restart_backoff_base,
        max: flags.restart_backoff_max.max(flags.restart_backoff_base),
    };
    options.image_backoff = BackoffPolicy {
        base: flags.image_backoff_base,
        max: flags.restart_backoff_max.max(flags.image_backoff_base),
    };
    options.lease_duration_secs = flags.node_lease_duration_secs;
    options.renew_interval = flags.node_renew_interval;
    options.stop_pods_on_exit = stop_pods_on_exit;
    options.thresholds = flags.eviction_hard;
    options.pod_manifest_path = flags.pod_manifest_path.clone().map(absolute);
    options.file_check_frequency = flags.file_check_frequency;
    options.eviction_interval = flags.housekeeping_interval;
    let runtime: Arc<dyn keel_kubelet::runtime::ContainerRuntime> = Arc::new(runtime);
    let listen = (node_ip.as_str(), flags.kubelet_port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| {
            format!(
                "the kubelet cannot listen on {node_ip}:{}: {error}",
                flags.kubelet_port
            )
        })?;
    let state = ServerState {
        root_dir: options.root_dir.clone(),
        runtime: Arc::clone(&runtime),
    };
    let serving = tokio::spawn(keel_kubelet::server::serve(listener, state));
    tracing::info!(address = %node_ip, port = flags.kubelet_port, "the kubelet serves logs and exec");
    let ran = worker::run(
        &client,
        runtime,
        Arc::new(images),
        Arc::new(networks),
        options,
        stop,
    )
    .await
    .map_err(|error| format!("the kubelet stopped: {error}"));
    serving.abort();
    ran
}

/// `keel kubelet`.
pub async fn run(args: Kubelet) -> Result<(), String> {
    run_with(
        &args.endpoints,
        &args.flags,
        false,
        crate::shutdown_signal(),
    )
    .await
}

//! `keel`: the orchestration half's command.
//!
//! ```text
//!   keel up          one-member keeld, the HTTP front, the scheduler, the
//!                    controllers and a kubelet; a kubeconfig written, each
//!                    component's log lines prefixed by its name
//!   keel up --join   only a kubelet, joining an existing keel
//!   keel apiserver   the HTTP front against any keel cluster
//!   keel kubeconfig  prints a kubeconfig for a front
//!   keel sim-nodes   simulated nodes (kwok-like) for tests and benchmarks
//!   keel controllers kube-controller-manager's controllers, leader-elected
//!   keel scheduler   places pending pods on nodes, leader-elected
//!   keel image       the node's image store: import | ls | rm
//!   keel kubelet     the node agent: runs the pods bound to this machine
//! ```

mod scheduler;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod controllers;
mod image;
mod kubelet;
mod startup;

use clap::{Args, Parser, Subcommand};
use keel_client::{Client, ClientOptions};
use keel_runtime::Store;
use tracing::Instrument;

/// keel's orchestration layer: Kubernetes' objects in keel, for kubectl.
#[derive(Parser)]
#[command(name = "keel", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole stack on this machine: a one-member keeld, the
    /// Kubernetes HTTP front, the scheduler, the controllers and a kubelet;
    /// writes a kubeconfig. Says on stderr what it waits for, then prints on
    /// stdout "keel is up: ...", the KUBECONFIG to export and where its data
    /// and log (<data-dir>/logs/keel.log, beside stderr) are. With --join, only a kubelet
    /// that joins an existing keel. Stops on Ctrl-C.
    Up(Box<Up>),
    /// Runs the Kubernetes HTTP front against a keel (or etcd) cluster.
    Apiserver(Apiserver),
    /// Simulated nodes, in the manner of kwok: registers --count Ready
    /// nodes named <prefix>-<i>, renews their Leases, and moves the pods
    /// bound to them through a kubelet's stages without running anything:
    /// a pod runs and is Ready at once; a pod whose restartPolicy is not
    /// Always and that has the annotation sim.keel.dev/duration (5s, 1m30s)
    /// exits then with sim.keel.dev/exit-code (default 0). Stops on Ctrl-C;
    /// the nodes stay, and go NotReady once their Leases run out.
    SimNodes(SimNodes),
    /// Runs the controllers (kube-controller-manager's part), leader-elected
    /// so that several copies can run: one acts. Stops on Ctrl-C.
    Controllers(controllers::Controllers),
    /// The scheduler: places each pending pod (schedulerName
    /// default-scheduler) on a node as kube-scheduler does (filters,
    /// scores, a sample of the nodes at scale), binds it, and gives a pod
    /// that fits nowhere the PodScheduled=False condition and a
    /// FailedScheduling event, retrying it with backoff. Several copies may
    /// run: one leads (election "kube-scheduler"), the others wait to take
    /// over. Stops on Ctrl-C.
    Scheduler(scheduler::Scheduler),
    /// The node's image store: `keel image import FILE...`, `keel image
    /// ls`, `keel image rm REF...`.
    Image(image::Image),
    /// The node agent: registers this machine as a Node, renews its Lease,
    /// and runs the pods bound to it, each container a process in its own
    /// namespaces and cgroups, chrooted into its image (from `keel image
    /// import`), on a pod network of the node. Needs root. Containers keep
    /// running when it stops; a kubelet started again adopts them. Stops
    /// on Ctrl-C or SIGTERM.
    Kubelet(kubelet::Kubelet),
    /// Prints a kubeconfig for the HTTP front at --server.
    Kubeconfig {
        /// The front's URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
    },
}

#[derive(Args)]
struct Up {
    /// Where keeld keeps its data (and `keel up` its kubeconfig).
    #[arg(long, default_value = "keel-data")]
    data_dir: PathBuf,
    /// keeld's client URL (etcd clients and the front connect to it).
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    client_url: String,
    /// keeld's peer URL.
    #[arg(long, default_value = "http://127.0.0.1:2380")]
    peer_url: String,
    /// Where the HTTP front listens. Plain HTTP without authentication
    /// (TLS and credentials come later): keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The controllers' flags, as `keel controllers` takes them.
    #[command(flatten)]
    manager: controllers::ManagerFlags,
    /// Whether the scheduler runs (`--scheduler=false`: pods stay pending
    /// unless another scheduler binds them).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    scheduler: bool,
    /// Whether a kubelet runs for this machine (`--kubelet=false`: no
    /// node, unless one joins). Without --cluster-cidr, nodes get their
    /// pod networks from 10.244.0.0/16.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    kubelet: bool,
    /// Joins an existing keel instead (its client URLs, comma-separated):
    /// runs only a kubelet for this machine, with the kubelet flags below,
    /// so that a second machine (or network namespace) becomes a second
    /// node; no keeld, no front, no scheduler, no controllers. Its
    /// directory defaults to <data-dir>/kubelet; Ctrl-C stops its pods
    /// gracefully, as `keel up`'s does (`keel kubelet` leaves them
    /// running).
    #[arg(
        long,
        value_name = "ENDPOINTS",
        value_delimiter = ',',
        conflicts_with_all = ["client_url", "peer_url", "listen", "scheduler", "kubelet"],
    )]
    join: Vec<String>,
    /// The kubelet's flags, as `keel kubelet` takes them (its directory
    /// defaults to <data-dir>/kubelet).
    #[command(flatten)]
    kubelet_flags: kubelet::KubeletFlags,
}

#[derive(Args)]
struct Apiserver {
    /// keel's client URLs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// Where the HTTP front listens. Plain HTTP without authentication
    /// (TLS and credentials come later): keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

#[derive(Args)]
struct SimNodes {
    /// keel's client URLs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// How many nodes.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Node names are <prefix>-<index>, from 0.
    #[arg(long, default_value = "sim-node")]
    prefix: String,
    /// Each node's cpu (a Kubernetes quantity).
    #[arg(long, default_value = "32", value_parser = quantity)]
    cpu: String,
    /// Each node's memory.
    #[arg(long, default_value = "256Gi", value_parser = quantity)]
    memory: String,
    /// Each node's ephemeral storage.
    #[arg(long, default_value = "1Ti", value_parser = quantity)]
    ephemeral_storage: String,
    /// How many pods each node takes (a kubelet's maxPods).
    #[arg(long, default_value_t = 110)]
    pods: u32,
    /// The Leases' leaseDurationSeconds.
    #[arg(long, default_value_t = keel_sim_nodes::node::LEASE_DURATION_SECS_DEFAULT)]
    lease_duration_secs: i64,
    /// How often the Leases are renewed (10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = duration)]
    renew_interval: std::time::Duration,
    /// How many pod status writes run at once.
    #[arg(long, default_value_t = keel_sim_nodes::run::POD_WORKERS_DEFAULT)]
    pod_workers: usize,
}

/// A Kubernetes quantity, checked.
fn quantity(text: &str) -> Result<String, String> {
    keel_api::validation::quantity::Quantity::parse(text)
        .filter(|q| !q.is_negative())
        .map(|_| text.to_owned())
        .ok_or_else(|| format!("{text:?} is not a quantity such as 4, 500m or 16Gi"))
}

/// A positive duration such as 10s, 500ms or 1m30s.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<jiff::SignedDuration>()
        .ok()
        .filter(jiff::SignedDuration::is_positive)
        .map(jiff::SignedDuration::unsigned_abs)
        .ok_or_else(|| format!("{text:?} is not a duration such as 10s, 500ms or 1m30s"))
}

/// A kubeconfig (JSON, which kubectl reads as YAML) for the front at
/// `server`, as the current context.
fn kubeconfig(server: &str) -> String {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "keel", "cluster": {"server": server}}],
        "users": [{"name": "keel", "user": {}}],
        "contexts": [{"name": "keel", "context": {"cluster": "keel", "user": "keel",
                                                   "namespace": "default"}}],
        "current-context": "keel",
    });
    serde_json::to_string_pretty(&config).expect("JSON serializes")
}

/// How long the front waits for keel to answer when it starts (a keeld
/// starting beside it, or a cluster electing its first leader).
const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client of keel at `endpoints`, waiting up to [`CONNECT_WAIT`] for it.
async fn connect(endpoints: &[String]) -> Result<Client, String> {
    let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
    loop {
        match Client::connect(endpoints.to_vec(), ClientOptions::new()).await {
            Ok(client) => return Ok(client),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "cannot reach keel at {}: {error}",
                    endpoints.join(",")
                ))
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

async fn front(endpoints: Vec<String>, listen: &str) -> Result<(), String> {
    let client = connect(&endpoints).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    tracing::info!(address = %listen, "serving the Kubernetes API");
    keel_apiserver::serve(listener, Store::new(client))
        .await
        .map_err(|error| format!("the HTTP front stopped: {error}"))
}

async fn apiserver(args: Apiserver) -> Result<(), String> {
    tokio::select! {
        served = front(args.endpoints, &args.listen) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn sim_nodes(args: SimNodes) -> Result<(), String> {
    let client = connect(&args.endpoints).await?;
    let options = keel_sim_nodes::Options {
        prefix: args.prefix,
        count: args.count,
        capacity: keel_sim_nodes::Capacity {
            cpu: args.cpu,
            memory: args.memory,
            pods: args.pods,
            ephemeral_storage: args.ephemeral_storage,
        },
        lease_duration_secs: args.lease_duration_secs,
        renew_interval: args.renew_interval,
        pod_workers: args.pod_workers,
    };
    let stop = async {
        // Ctrl-C that cannot be listened for stops at once.
        let _ = tokio::signal::ctrl_c().await;
    };
    keel_sim_nodes::run(&client, &options, stop)
        .await
        .map_err(|error| format!("the simulated nodes stopped: {error}"))
}

#[allow(
    clippy::disallowed_methods,
    reason = "the kubeconfig is a user's file beside keeld's data, not keel's storage"
)]
fn write_kubeconfig(data_dir: &Path, server: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
    let path = std::path::absolute(data_dir.join("kubeconfig"))
        .map_err(|error| format!("no absolute path for the kubeconfig: {error}"))?;
    std::fs::write(&path, kubeconfig(server))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(path)
}

async fn up(args: Up) -> Result<(), String> {
    if !args.join.is_empty() {
        return join(&args).await;
    }
    let data = args.data_dir.join("keeld");
    let data = data.to_str().ok_or("the data directory is not UTF-8")?;
    let config = <keel_server::config::Config as Parser>::try_parse_from([
        "keeld",
        "--name=keel",
        &format!("--data-dir={data}"),
        &format!("--listen-client-urls={}", args.client_url),
        &format!("--advertise-client-urls={}", args.client_url),
        &format!("--listen-peer-urls={}", args.peer_url),
        &format!("--initial-advertise-peer-urls={}", args.peer_url),
        &format!("--initial-cluster=keel={}", args.peer_url),
    ])
    .map_err(|error| error.to_string())?;
    let kubeconfig = write_kubeconfig(&args.data_dir, &format!("http://{}", args.listen))?;
    let data_dir = std::path::absolute(&args.data_dir)
        .map_err(|error| format!("no absolute path for the data directory: {error}"))?;
    // keeld stops on Ctrl-C or SIGTERM, once its clients are gone: the
    // front and the components stop on the same signal, and keeld's
    // graceful shutdown then ends.
    let endpoints = vec![args.client_url.clone()];
    let mut options = args.manager.options();
    if args.kubelet && options.cluster_cidr.is_none() {
        options.cluster_cidr = Some(UP_CLUSTER_CIDR.into());
    }
    let kubelet_flags = args.kubelet_flags.in_data_dir(&args.data_dir);
    let keeld = keel_server::server::run(config).instrument(tracing::info_span!("keeld"));
    let mut keeld = std::pin::pin!(keeld);
    let banner = startup::Banner {
        client_url: &args.client_url,
        listen: &args.listen,
        node: args.kubelet.then(|| kubelet_flags.node_name()),
        kubeconfig: &kubeconfig,
        data_dir: &data_dir,
    };
    let serving = async {
        tokio::select! {
            served = front(endpoints.clone(), &args.listen).instrument(tracing::info_span!("front")) => served,
            ran = components(&endpoints, &options, args.scheduler) => ran,
            ran = kubelet::run_with(&endpoints, &kubelet_flags, true, shutdown_signal())
                .instrument(tracing::info_span!("kubelet")), if args.kubelet => ran,
            () = shutdown_signal(), if !args.kubelet => Ok(()),
        }
    };
    let rest = alongside(serving, startup::announce(&endpoints, banner));
    // keeld may finish its own shutdown first; the kubelet still stops
    // its pods (within their grace periods) before `keel up` exits.
    // Listening from now on (a signal before the first poll would be lost).
    let mut signalled = tokio::spawn(shutdown_signal());
    let mut rest = std::pin::pin!(rest);
    let result = tokio::select! {
        stopped = &mut keeld => {
            // keeld stops on the same signal: it was one if it came now.
            let on_signal = tokio::time::timeout(std::time::Duration::from_millis(500), &mut signalled)
                .await
                .is_ok();
            if on_signal {
                (&mut rest).await?;
            }
            stopped.map_err(|error| format!("keeld: {error}"))
        }
        rest = &mut rest => {
            rest?;
            keeld.await.map_err(|error| format!("keeld: {error}"))
        }
    };
    signalled.abort();
    result
}

/// Runs `main` to its end, with `side` beside it until `side` ends.
async fn alongside<T>(
    main: impl std::future::Future<Output = T>,
    side: impl std::future::Future<Output = ()>,
) -> T {
    let mut main = std::pin::pin!(main);
    tokio::select! {
        done = &mut main => done,
        () = side => main.await,
    }
}

/// `keel up --join`: only a kubelet, against the keel at `args.join`.
async fn join(args: &Up) -> Result<(), String> {
    let flags = args.kubelet_flags.in_data_dir(&args.data_dir);
    println!(
        "keel is joining {} as node {}",
        args.join.join(","),
        flags.node_name()
    );
    kubelet::run_with(&args.join, &flags, true, shutdown_signal()).await
}

/// Resolves on Ctrl-C or SIGTERM (as keeld's own shutdown does).
async fn shutdown_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The components `keel up` runs beside keeld and the front, each in the
/// election a separate copy would join (so a `keel controllers` or `keel
/// scheduler` started beside it waits its turn).
async fn components(
    endpoints: &[String],
    options: &keel_controllers::manager::ManagerOptions,
    scheduler: bool,
) -> Result<(), String> {
    let client = connect(endpoints).await?;
    let scheduling = keel_scheduler::run::Options {
        identity: "keel-up".into(),
        lease_ttl_secs: UP_LEASE_TTL_SECS,
        seed: keel_scheduler::run::seed_from_clock(),
        ..keel_scheduler::run::Options::default()
    };
    // With no controller enabled there is no manager to elect: a `keel
    // controllers` beside it leads.
    let managing = keel_controllers::manager::any_enabled(&options.controllers);
    tokio::select! {
        ran = controllers::elected(&client, "keel-up", UP_LEASE_TTL_SECS, options, std::future::pending())
            .instrument(tracing::info_span!("controllers")), if managing => ran,
        ran = keel_scheduler::run::run(&client, &scheduling, std::future::pending())
            .instrument(tracing::info_span!("scheduler")), if scheduler => {
            ran.map_err(|error| format!("the scheduler stopped: {error}"))
        }
        else => std::future::pending().await,
    }
}

/// The pod network `keel up` gives nodes their pod CIDRs from, unless
/// told otherwise: a private range (RFC 1918), Kubernetes' usual one.
const UP_CLUSTER_CIDR: &str = "10.244.0.0/16";

/// How long the leadership of `keel up`'s components outlives it.
const UP_LEASE_TTL_SECS: i64 = 15;

fn main() -> ExitCode {
    // The container runtime's helper: no logging, no async runtime.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|first| first == "container-init") {
        let code = keel_kubelet::runtime::linux::helper::main(args.collect());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let cli = Cli::parse();
    let log_file = match &cli.command {
        Command::Up(up) => match startup::open_log_file(&up.data_dir) {
            Ok(file) => Some(file),
            Err(error) => {
                eprintln!("keel: {error}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    startup::init_logging(log_file);
    let command = match cli.command {
        Command::Kubeconfig { server } => {
            println!("{}", kubeconfig(&server));
            return ExitCode::SUCCESS;
        }
        Command::Image(args) => return finish(image::run(args)),
        command => command,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("keel: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Up(args) => Box::pin(up(*args)).await,
            Command::Apiserver(args) => apiserver(args).await,
            Command::SimNodes(args) => sim_nodes(args).await,
            Command::Controllers(args) => controllers::run(args).await,
            Command::Scheduler(args) => scheduler::run(args).await,
            Command::Kubelet(args) => kubelet::run(args).await,
            Command::Kubeconfig { .. } | Command::Image(_) => Ok(()),
        }
    });
    finish(result)
}

/// The exit code of a command's `result`, its error printed.
fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keel: {error}");
            ExitCode::FAILURE
        }
    }
}

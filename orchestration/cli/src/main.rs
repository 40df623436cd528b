//! `keel`: the orchestration half's command.
//!
//! ```text
//!   keel up          one-member keeld + the HTTP front, a kubeconfig written
//!   keel apiserver   the HTTP front against any keel cluster
//!   keel kubeconfig  prints a kubeconfig for a front
//! ```
//!
//! The scheduler, controllers and kubelet join `keel up` with the issues
//! that build them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use keel_client::{Client, ClientOptions};
use keel_runtime::Store;

/// keel's orchestration layer: Kubernetes' objects in keel, for kubectl.
#[derive(Parser)]
#[command(name = "keel", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the whole stack on this machine: a one-member keeld and the
    /// Kubernetes HTTP front; writes a kubeconfig and prints how to use it.
    /// Stops on Ctrl-C.
    Up(Up),
    /// Runs the Kubernetes HTTP front against a keel (or etcd) cluster.
    Apiserver(Apiserver),
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

async fn front(endpoints: Vec<String>, listen: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
    let client = loop {
        match Client::connect(endpoints.clone(), ClientOptions::new()).await {
            Ok(client) => break client,
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "cannot reach keel at {}: {error}",
                    endpoints.join(",")
                ))
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
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
    println!(
        "keel is up: keeld at {}, the Kubernetes API at http://{}",
        args.client_url, args.listen
    );
    println!("export KUBECONFIG={}", kubeconfig.display());
    // keeld stops on Ctrl-C or SIGTERM; the front stops with it.
    tokio::select! {
        stopped = keel_server::server::run(config) => {
            stopped.map_err(|error| format!("keeld: {error}"))
        }
        served = front(vec![args.client_url.clone()], &args.listen) => served,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    if let Command::Kubeconfig { server } = &cli.command {
        println!("{}", kubeconfig(server));
        return ExitCode::SUCCESS;
    }
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
        match cli.command {
            Command::Up(args) => up(args).await,
            Command::Apiserver(args) => apiserver(args).await,
            Command::Kubeconfig { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keel: {error}");
            ExitCode::FAILURE
        }
    }
}

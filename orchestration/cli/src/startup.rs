//! What `keel up` says while it starts and once it is up, and where its
//! log goes: the lines waiting for keeld, the front and the node on
//! stderr, then the banner on stdout; the log on stderr and in
//! <data-dir>/logs/keel.log.

use std::path::Path;

use keel_client::{Client, ClientOptions};
use keel_runtime::Store;

/// What `keel up` prints on stdout once it is up.
pub struct Banner<'a> {
    /// keeld's client URL.
    pub client_url: &'a str,
    /// Where the front listens.
    pub listen: &'a str,
    /// The node its kubelet registers, if it runs one.
    pub node: Option<String>,
    /// The kubeconfig written.
    pub kubeconfig: &'a Path,
    /// The data directory, absolute.
    pub data_dir: &'a Path,
}

/// Says on stderr what `keel up` waits for while it starts (keeld, the
/// front, its node), then prints the banner on stdout: "keel is up: ..."
/// and "export KUBECONFIG=..." first (scripts and tests read these two
/// lines), then where its data and its log are. Waits as long as it takes:
/// a component that fails ends `keel up` with its error meanwhile.
pub async fn announce(endpoints: &[String], banner: Banner<'_>) {
    eprintln!("keel up: waiting for keeld at {} ...", banner.client_url);
    let client = wait_for_keeld(endpoints).await;
    eprintln!(
        "keel up: waiting for the Kubernetes API at http://{} ...",
        banner.listen
    );
    while tokio::net::TcpStream::connect(banner.listen).await.is_err() {
        tokio::time::sleep(UP_POLL_INTERVAL).await;
    }
    if let Some(node) = &banner.node {
        eprintln!("keel up: waiting for the node {node} to register and be Ready ...");
        wait_for_node_ready(&client, node).await;
    }
    let node = banner
        .node
        .as_ref()
        .map_or_else(String::new, |node| format!(", node {node} Ready"));
    println!(
        "keel is up: keeld at {}, the Kubernetes API at http://{}{node}",
        banner.client_url, banner.listen
    );
    println!("export KUBECONFIG={}", banner.kubeconfig.display());
    println!("data: {}", banner.data_dir.display());
    println!(
        "logs: {} (and stderr)",
        banner.data_dir.join(UP_LOG_FILE).display()
    );
}

/// How often `keel up` looks again at what it waits for.
const UP_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// A client of keeld once it answers a linearizable read (it has a
/// leader).
async fn wait_for_keeld(endpoints: &[String]) -> Client {
    loop {
        if let Ok(client) = Client::connect(endpoints.to_vec(), ClientOptions::new()).await {
            if client
                .get(keel_api::resources::REGISTRY, None)
                .await
                .is_ok()
            {
                return client;
            }
        }
        tokio::time::sleep(UP_POLL_INTERVAL).await;
    }
}

/// Returns once the Node `name` exists with its Ready condition True.
async fn wait_for_node_ready(client: &Client, name: &str) {
    let store = Store::new(client.clone());
    let nodes = keel_api::resources::by_kind("v1", "Node").expect("Node is a resource keel serves");
    loop {
        if let Ok(node) = store.get(nodes, "", name).await {
            let ready = node
                .pointer("/status/conditions")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if ready {
                return;
            }
        }
        tokio::time::sleep(UP_POLL_INTERVAL).await;
    }
}

/// Where `keel up` appends its log, under its data directory.
pub const UP_LOG_FILE: &str = "logs/keel.log";

#[allow(
    clippy::disallowed_methods,
    reason = "the log is a user's file beside keeld's data, not keel's storage"
)]
pub fn open_log_file(data_dir: &Path) -> Result<std::fs::File, String> {
    let path = data_dir.join(UP_LOG_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))
}

/// Logs to stderr, filtered by KEEL_LOG (default info, openraft's
/// warnings), and also to `file` if there is one. Each line names the
/// component it comes from (`keeld:`, `front:`, `scheduler:`,
/// `controllers:`, `kubelet:`) where `keel up` runs several: see
/// [`ComponentFormat`].
pub fn init_logging(file: Option<std::fs::File>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let to_stderr = tracing_subscriber::fmt::layer()
        .event_format(ComponentFormat)
        .with_writer(std::io::stderr);
    let to_file = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .event_format(ComponentFormat)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(to_stderr)
        .with(to_file)
        .init();
}

/// `2026-01-02T03:04:05.678901Z  INFO kubelet: message key=value`: the
/// component is the outermost span the event is in (`keel up` wraps each
/// component's future in one); an event outside any span (a task the
/// component spawned, which tokio does not put in its spawner's span) is
/// named by the crate that logged it.
pub struct ComponentFormat;

/// Which component logs from which crate, for events outside the spans.
const COMPONENT_OF_CRATE: &[(&str, &str)] = &[
    ("keel_server", "keeld"),
    ("keel_mvcc", "keeld"),
    ("keel_raft_log", "keeld"),
    ("keel_lease", "keeld"),
    ("openraft", "keeld"),
    ("keel_apiserver", "front"),
    ("keel_scheduler", "scheduler"),
    ("keel_controllers", "controllers"),
    ("keel_kubelet", "kubelet"),
];

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for ComponentFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_subscriber::fmt::time::FormatTime as _;
        tracing_subscriber::fmt::time::SystemTime.format_time(&mut writer)?;
        write!(writer, " {:>5} ", event.metadata().level())?;
        let span = ctx
            .event_scope()
            .and_then(|scope| scope.from_root().next())
            .map(|span| span.name());
        let crate_name = event.metadata().target().split("::").next();
        let component = span.or_else(|| {
            COMPONENT_OF_CRATE
                .iter()
                .find(|(name, _)| Some(*name) == crate_name)
                .map(|(_, component)| *component)
        });
        if let Some(component) = component {
            write!(writer, "{component}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

//! `keel-bench kube`: keel's Kubernetes HTTP front under load, as kubectl
//! and client libraries reach it (HTTP/1.1 keep-alive connections, JSON
//! pods of about 1.5 KB), against a keeld and a `keel apiserver` the run
//! starts ([`front`]) and in this order:
//!
//! ```text
//!   1. fill bench-list with 10 000 pods (32 clients) ─► RSS of the front and keeld
//!   2. list them: whole, and in pages of 500 (list.rs) ─► RSS again
//!   3. creates in default, closed loop at 1 and 32 clients (creates.rs)
//!   4. creates in default, open loop at 100/s, latency from the scheduled time
//!   5. 100 watchers on bench-watch, 200 creates: answer → ADDED (watch.rs)
//!   procfs: the front's and keeld's RSS and CPU time around each phase
//! ```
//!
//! The front runs as its own process so that its memory is its own (under
//! `keel up` it would share a process with keeld).

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time"
)]

pub mod creates;
pub mod front;
pub mod http;
pub mod list;
pub mod pod;
mod summary;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::load::Report;
use creates::OpenLoopReport;
use front::{Front, FrontBinaries, Samples};
use http::Connection;
use list::{FillReport, ListReport};
use watch::{DeliveryOptions, DeliveryReport};

/// Where the closed and open loops create their pods.
const CREATE_NAMESPACE: &str = "default";
/// The namespace filled for the lists.
const LIST_NAMESPACE: &str = "bench-list";
/// The namespace the watchers watch.
const WATCH_NAMESPACE: &str = "bench-watch";

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    /// The keeld and keel binaries.
    pub binaries: FrontBinaries,
    /// Where keeld keeps its data and the logs go.
    pub dir: PathBuf,
    /// Client counts of the closed-loop creates.
    pub clients: Vec<usize>,
    /// Unmeasured load before each closed loop.
    pub warmup: Duration,
    /// Measured time of each closed loop.
    pub duration: Duration,
    /// The open loop's offered creates per second.
    pub rate_per_sec: f64,
    /// How long the open loop offers it.
    pub rate_duration: Duration,
    /// Pods in the listed namespace.
    pub list_pods: u64,
    /// Clients that create them.
    pub fill_clients: usize,
    /// Lists of each kind (whole, paged).
    pub list_repeats: usize,
    /// Items per page of the paged lists.
    pub page_limit: u64,
    /// The watch delivery run.
    pub delivery: DeliveryOptions,
}

/// One closed loop's figures.
#[derive(Debug, Clone)]
pub struct ClosedLoop {
    /// Clients (connections).
    pub clients: usize,
    /// Throughput and latency.
    pub report: Report,
    /// CPU the front used over the whole loop (warm-up included).
    pub front_cpu: Duration,
    /// CPU keeld used over it.
    pub keeld_cpu: Duration,
    /// Creates answered over the whole loop (warm-up included).
    pub creates: u64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct KubeReport {
    /// Both processes with the front just started.
    pub idle: Samples,
    /// Filling the list namespace.
    pub fill: FillReport,
    /// Both processes with the list namespace filled.
    pub after_fill: Samples,
    /// The lists.
    pub lists: ListReport,
    /// Both processes after the lists.
    pub after_lists: Samples,
    /// The closed loops.
    pub closed: Vec<ClosedLoop>,
    /// The open loop.
    pub open: OpenLoopReport,
    /// CPU of the front and keeld over the open loop.
    pub open_cpu: (Duration, Duration),
    /// Watch delivery.
    pub delivery: DeliveryReport,
    /// Both processes at the end, the watchers still open.
    pub with_watchers: Samples,
}

/// Creates `namespace` through the front.
async fn create_namespace(address: &str, namespace: &str) -> Result<(), String> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    Connection::open(address)
        .await?
        .call(
            Method::POST,
            "/api/v1/namespaces",
            serde_json::to_vec(&body).map_err(|e| e.to_string())?,
        )
        .await?
        .expect(StatusCode::CREATED)
        .map(drop)
}

/// Starts keeld and the front in `options.dir` and runs every phase.
pub async fn run(options: &KubeOptions) -> Result<KubeReport, String> {
    let front = Front::start(&options.binaries, &options.dir).await?;
    let address = front.address().to_string();
    let idle = front.sample()?;
    for namespace in [LIST_NAMESPACE, WATCH_NAMESPACE] {
        create_namespace(&address, namespace).await?;
    }
    eprintln!(
        "kube: filling {LIST_NAMESPACE} with {} pods",
        options.list_pods
    );
    let fill = list::fill(
        &address,
        LIST_NAMESPACE,
        "listed",
        options.list_pods,
        options.fill_clients,
    )
    .await?;
    let after_fill = front.sample()?;
    eprintln!("kube: {fill:?}; listing");
    let lists = list::measure_lists(
        &address,
        LIST_NAMESPACE,
        options.list_pods as usize,
        options.list_repeats,
        options.page_limit,
    )
    .await?;
    let after_lists = front.sample()?;
    let mut closed = Vec::new();
    for &clients in &options.clients {
        eprintln!("kube: creates, {clients} clients");
        let before = front.sample()?;
        let prefix = format!("closed{clients}");
        let report = creates::closed_loop(
            &address,
            CREATE_NAMESPACE,
            &prefix,
            clients,
            options.warmup,
            options.duration,
        )
        .await?;
        let (front_cpu, keeld_cpu) = front.sample()?.cpu_since(&before);
        let creates = count_pods(&address, CREATE_NAMESPACE, &prefix).await?;
        closed.push(ClosedLoop {
            clients,
            report,
            front_cpu,
            keeld_cpu,
            creates,
        });
    }
    eprintln!("kube: creates, open loop at {}/s", options.rate_per_sec);
    let before = front.sample()?;
    let open = creates::open_loop(
        &address,
        CREATE_NAMESPACE,
        "open",
        options.rate_per_sec,
        options.rate_duration,
    )
    .await?;
    let open_cpu = front.sample()?.cpu_since(&before);
    eprintln!("kube: watch delivery");
    let delivery = watch::measure_delivery(&address, WATCH_NAMESPACE, &options.delivery).await?;
    let with_watchers = front.sample()?;
    Ok(KubeReport {
        idle,
        fill,
        after_fill,
        lists,
        after_lists,
        closed,
        open,
        open_cpu,
        delivery,
        with_watchers,
    })
}

/// How many pods in `namespace` are named `<prefix>-*`, listed in pages
/// of 500 (a whole list of tens of thousands of pods would itself raise
/// the front's RSS, which the run reports).
async fn count_pods(address: &str, namespace: &str, prefix: &str) -> Result<u64, String> {
    let mut connection = Connection::open(address).await?;
    let prefix = format!("{prefix}-");
    let (mut count, mut continue_token) = (0, String::new());
    loop {
        let path = format!(
            "{}?limit=500&continue={}",
            creates::pods_path(namespace),
            list::query_escape(&continue_token)
        );
        let answer = connection
            .call(Method::GET, &path, Vec::new())
            .await?
            .expect(StatusCode::OK)?;
        let page: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        count += page["items"]
            .as_array()
            .ok_or("a list without items")?
            .iter()
            .filter(|pod| {
                pod["metadata"]["name"]
                    .as_str()
                    .is_some_and(|name| name.starts_with(&prefix))
            })
            .count() as u64;
        match page["metadata"]["continue"].as_str() {
            Some(token) if !token.is_empty() => continue_token = token.to_string(),
            _ => return Ok(count),
        }
    }
}

//! `keel-bench schedule`: how fast the scheduler binds pending pods, as
//! kube-scheduler's scheduler_perf measures it (`SchedulingBasic`: 5,000
//! nodes, 10,000 pods; 680 pods/s required).
//!
//! ```text
//!   per round: keeld (fresh, or --endpoints)
//!     nodes: N simulated nodes ─ registered here (pod stages off), or by
//!            `keel sim-nodes` (stages on: every bound pod then Running)
//!     pods:  M pending pods created CREATES_IN_FLIGHT at a time
//!     watch: pods from here on ─► the time of each first bind
//!     start: `keel scheduler` (its own process: RSS, CPU) or in process
//!            (its counters: where its time goes)
//!     until M binds seen: binds/s = (M − 1) / (last bind − first bind)
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time and starts processes"
)]

mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources::of;
use keel_client::Client;
use keel_controllers::adapter::resource_version_of;
use keel_runtime::{ObjectEvent, Store};
use keel_scheduler::run::Metrics;
use serde_json::{json, Value};

use crate::orchestration::{connect, wait_for_ready_nodes};
use crate::processes::{load_average, sample_while, Process, Sampler};
use crate::servers::{Kind, Server};
pub use summary::summary;

/// Creates (of nodes and pods) under way at once.
const CREATES_IN_FLIGHT: usize = 64;
/// How long a round may wait for its binds, and for its nodes.
const BIND_WAIT: Duration = Duration::from_secs(600);
/// The namespace of the pods.
const NAMESPACE: &str = "default";

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// keeld (started fresh each round unless `endpoints` is given).
    pub keeld: PathBuf,
    /// keel (its `scheduler` and `sim-nodes` commands).
    pub keel: PathBuf,
    /// keel's client URLs instead of a fresh keeld per round.
    pub endpoints: Option<String>,
    /// Where keeld's data and the logs go.
    pub dir: PathBuf,
    /// Simulated nodes.
    pub nodes: usize,
    /// Pending pods.
    pub pods: usize,
    /// Rounds.
    pub rounds: usize,
    /// Run the simulated nodes' pod stages (`keel sim-nodes`).
    pub pod_stages: bool,
    /// Run the scheduler in this process instead of `keel scheduler`.
    pub in_process: bool,
    /// The scheduler's binds in flight.
    pub binds_in_flight: usize,
    /// Read each pod before its bind (in process only), to compare with
    /// the bind at the cached version.
    pub bind_reads_first: bool,
}

/// What one round measured.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// The 1-minute load average when the round began.
    pub load_before: f64,
    /// Time to register the nodes.
    pub register: Duration,
    /// Time to create the pods.
    pub create: Duration,
    /// From the scheduler's start to the first bind seen.
    pub first_bind: Duration,
    /// From the first bind to the last.
    pub binding: Duration,
    /// Binds seen.
    pub binds: usize,
    /// The scheduler's peak RSS (its own process only).
    pub scheduler_rss_bytes: u64,
    /// CPU the scheduler used from its start to the last bind (its own
    /// process only).
    pub scheduler_cpu: Duration,
    /// CPU keeld used over the same time (a fresh keeld only).
    pub keeld_cpu: Duration,
    /// The in-process scheduler's counters.
    pub counters: Option<Counters>,
}

impl Round {
    /// Pods bound per second, first bind to last.
    pub fn binds_per_sec(&self) -> f64 {
        if self.binds < 2 || self.binding.is_zero() {
            return 0.0;
        }
        (self.binds - 1) as f64 / self.binding.as_secs_f64()
    }
}

/// Where an in-process scheduler's time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// Pods searched for.
    pub attempts: u64,
    /// Binds that failed.
    pub bind_failures: u64,
    /// Time in `schedule()` (filters and scores).
    pub schedule: Duration,
    /// Time applying watch events.
    pub feed: Duration,
    /// Watch events applied.
    pub events: u64,
    /// Binds' round trips, summed.
    pub bind: Duration,
}

/// Runs every round.
pub async fn run(options: &ScheduleOptions) -> Result<Vec<Round>, String> {
    let mut rounds = Vec::new();
    for at in 0..options.rounds {
        eprintln!("schedule: round {} of {}", at + 1, options.rounds);
        let round = run_round(options, &options.dir.join(format!("round-{at}"))).await?;
        eprintln!(
            "schedule: {} binds in {:.2} s: {:.0}/s",
            round.binds,
            round.binding.as_secs_f64(),
            round.binds_per_sec()
        );
        rounds.push(round);
    }
    Ok(rounds)
}

async fn run_round(options: &ScheduleOptions, dir: &Path) -> Result<Round, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut round = Round {
        load_before: load_average(),
        ..Round::default()
    };
    let keeld = match &options.endpoints {
        Some(_) => None,
        None => Some(Server::start(Kind::Keeld, &options.keeld, &dir.join("keeld")).await?),
    };
    let endpoint = match (&keeld, &options.endpoints) {
        (Some(keeld), _) => format!("http://{}", keeld.endpoint()),
        (None, Some(endpoints)) => endpoints.clone(),
        (None, None) => unreachable!("one of the two"),
    };
    let (client, store) = connect(&endpoint).await?;

    let started = Instant::now();
    let _sim_nodes = if options.pod_stages {
        let args = [
            "sim-nodes".to_owned(),
            format!("--endpoints={endpoint}"),
            format!("--count={}", options.nodes),
        ];
        let process = Process::start(&options.keel, &args, &dir.join("sim-nodes.log"))?;
        wait_for_ready_nodes(&store, options.nodes, BIND_WAIT).await?;
        Some(process)
    } else {
        register_nodes(&store, options.nodes).await?;
        None
    };
    round.register = started.elapsed();
    eprintln!("schedule: {} nodes in {:?}", options.nodes, round.register);

    let started = Instant::now();
    let revision = create_pods(&store, options.pods).await?;
    round.create = started.elapsed();
    eprintln!("schedule: {} pods in {:?}", options.pods, round.create);

    let watching = tokio::spawn(watch_binds(store.clone(), revision, options.pods));
    let mut sampler = Sampler::new(keeld.iter().map(|k| ("keeld", k.pid())));
    sampler.mark();
    let started = Instant::now();
    let (first, last, count) = if options.in_process {
        let metrics = Arc::new(Metrics::default());
        let scheduler = start_in_process(&client, options, Arc::clone(&metrics));
        let binds = sample_while(&mut sampler, wait_for(watching)).await?;
        scheduler.abort();
        round.counters = Some(counters(&metrics));
        binds
    } else {
        let args = [
            "scheduler".to_owned(),
            format!("--endpoints={endpoint}"),
            "--seed=1".to_owned(),
            format!("--binds-in-flight={}", options.binds_in_flight),
        ];
        let scheduler = Process::start(&options.keel, &args, &dir.join("scheduler.log"))?;
        sampler.add("scheduler", scheduler.pid());
        sample_while(&mut sampler, wait_for(watching)).await?
    };
    if let Some(scheduler) = sampler.usage_of("scheduler") {
        round.scheduler_rss_bytes = scheduler.peak_rss_bytes;
        round.scheduler_cpu = scheduler.cpu;
    }
    if let Some(keeld) = sampler.usage_of("keeld") {
        round.keeld_cpu = keeld.cpu;
    }
    round.binds = count;
    round.first_bind = first.saturating_duration_since(started);
    round.binding = last.saturating_duration_since(first);
    Ok(round)
}

/// Registers `count` Ready nodes as keel's simulated nodes do, without
/// their kubelets.
async fn register_nodes(store: &Store, count: usize) -> Result<(), String> {
    let capacity = keel_sim_nodes::Capacity::default();
    let now = jiff::Timestamp::now();
    let nodes: Vec<Value> = (0..count)
        .map(|at| {
            let index = u32::try_from(at).expect("fewer than 2^32 nodes");
            let address = keel_sim_nodes::address::node_address(index);
            keel_sim_nodes::node::node_object(&format!("sim-node-{at}"), &address, &capacity, now)
        })
        .collect();
    stream::iter(nodes)
        .map(|node| async move { store.create(of::<Node>(), "", node).await.map(drop) })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_collect::<()>()
        .await
        .map_err(|e| e.to_string())
}

/// A pending pod as a ReplicaSet's would be: 100m cpu, 128Mi, owned by
/// one of 100 ReplicaSets (so the spreading score has owners to spread).
fn pod(at: usize) -> Value {
    let owner = at % 100;
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("bench-{at}"), "labels": {"app": format!("rs-{owner}")},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                             "name": format!("rs-{owner}"),
                                             "uid": format!("00000000-0000-0000-0000-{owner:012}"),
                                             "controller": true}]},
           "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}})
}

/// Creates `count` pending pods; answers the revision after the last.
async fn create_pods(store: &Store, count: usize) -> Result<i64, String> {
    let revisions: Vec<i64> = stream::iter((0..count).map(pod))
        .map(|pod| async move {
            let created = store.create(of::<Pod>(), NAMESPACE, pod).await?;
            Ok::<_, keel_runtime::StoreError>(resource_version_of(&created))
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(revisions.into_iter().max().unwrap_or(0))
}

/// Watches the pods after `revision` until `count` were bound; answers
/// the first and last bind's times and the count.
async fn watch_binds(
    store: Store,
    revision: i64,
    count: usize,
) -> Result<(Instant, Instant, usize), String> {
    let mut watch = store.watch(of::<Pod>(), NAMESPACE, revision);
    let (mut first, mut last, mut seen) = (None, Instant::now(), 0);
    while seen < count {
        let event = match watch.next().await {
            Some(event) => event.map_err(|e| e.to_string())?,
            None => return Err("the watch ended".into()),
        };
        let ObjectEvent::Modified { object, previous } = event else {
            continue;
        };
        let bound = |pod: &Value| pod.pointer("/spec/nodeName").is_some_and(|n| n != "");
        if bound(&object) && !bound(&previous) {
            last = Instant::now();
            first.get_or_insert(last);
            seen += 1;
        }
    }
    Ok((first.unwrap_or(last), last, seen))
}

type Binds = (Instant, Instant, usize);

async fn wait_for(
    watching: tokio::task::JoinHandle<Result<Binds, String>>,
) -> Result<Binds, String> {
    match tokio::time::timeout(BIND_WAIT, watching).await {
        Ok(Ok(binds)) => binds,
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("not every pod was bound within {BIND_WAIT:?}")),
    }
}

fn start_in_process(
    client: &Client,
    options: &ScheduleOptions,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    let options = keel_scheduler::run::Options {
        identity: "bench".into(),
        seed: 1,
        binds_in_flight: options.binds_in_flight,
        bind_reads_first: options.bind_reads_first,
        metrics,
        ..keel_scheduler::run::Options::default()
    };
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) =
            keel_scheduler::run::run(&client, &options, std::future::pending()).await
        {
            eprintln!("schedule: the scheduler stopped: {error}");
        }
    })
}

fn counters(metrics: &Metrics) -> Counters {
    let nanos = |counter| Duration::from_nanos(Metrics::get(counter));
    Counters {
        attempts: Metrics::get(&metrics.attempts),
        bind_failures: Metrics::get(&metrics.bind_failures),
        schedule: nanos(&metrics.schedule_nanos),
        feed: nanos(&metrics.feed_nanos),
        events: Metrics::get(&metrics.events),
        bind: nanos(&metrics.bind_nanos),
    }
}

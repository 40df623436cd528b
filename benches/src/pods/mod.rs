//! `keel-bench pods`: pod start-up latency on one real node, and what the
//! kubelet costs with the pods running (issue 18 item 7). Kubernetes' SLO
//! (sig-scalability's pod start-up latency): p99 ≤ 5 s from the pod's
//! creation to it running, seen by a watch, image pulls excluded.
//!
//! ```text
//!   once: scripts/busybox-image.sh + keel image import ─► <dir>/images (busybox:1.36)
//!   per round (fresh, names unique to it: keel_tests::node::Node of BENCH):
//!     keel up --kubelet=false --cluster-cidr=10.2xx.0.0/16    (keeld, front, scheduler,
//!                                                              controllers: node IPAM)
//!     keel kubelet (own process, own images/kubelet/runtime dirs, bridge kb<tag>,
//!                   cgroups keel-bench-<tag>, --eviction-hard=nodefs.available<1%)
//!     wait: the node Ready; SETTLE
//!     watch pods ─► Ledger;  create N busybox `sleep 3600` pods at once (no probes)
//!       latency = create answered → watch shows Running with Ready True
//!     quiet: QUIET seconds with N pods running: the kubelet's CPU and RSS;
//!            each container monitor's RSS and PSS
//!     clean-up: delete the pods (gracefully) and see them gone; SIGTERM the
//!               kubelet and keel up; the guard removes what is left
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time and starts processes"
)]

mod ledger;
pub mod monitors;
mod summary;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_runtime::{ListOptions, Store};
use keel_tests::node::{Node, BENCH};
use keel_tests::ports::free_port;
use serde_json::{json, Value};

use crate::orchestration::{connect, wait_for_ready_nodes};
use crate::processes::{load_average, sample_while, with_exits, Process, Sampler, Usage};
use crate::procfs;
pub use ledger::{Latencies, Ledger, Steps};
pub use summary::summary;

/// The namespace of the pods.
const NAMESPACE: &str = "default";
/// The image the pods run, built by scripts/busybox-image.sh.
pub const IMAGE: &str = "busybox:1.36";
/// How long keel up may take to answer, and the node to be Ready.
const START_WAIT: Duration = Duration::from_secs(180);
/// How often keel up is asked whether it answers yet.
const CONNECT_POLL: Duration = Duration::from_millis(200);
/// A pause after the node is Ready, for the kubelet's and the
/// scheduler's informers to settle.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the pods may take to be gone once deleted.
const DELETE_WAIT: Duration = Duration::from_secs(300);
/// How long keel up and the kubelet may take to stop on SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(20);
/// How often a wait looks at its deadline and the children.
const TICK: Duration = Duration::from_secs(1);
/// The pods' grace period: `sleep` as a container's pid 1 ignores
/// SIGTERM, so each is killed when it ends.
const GRACE_SECS: i64 = 1;

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct PodsOptions {
    /// keel (`up`, `kubelet`, `image import`).
    pub keel: PathBuf,
    /// scripts/busybox-image.sh.
    pub image_script: PathBuf,
    /// Where the images, the data and the logs go (a directory per round).
    pub dir: PathBuf,
    /// Pods created at once.
    pub count: usize,
    /// Rounds, each on a fresh keel up and kubelet.
    pub rounds: usize,
    /// The quiet window over which the kubelet's CPU is counted.
    pub quiet: Duration,
    /// How long the pods may take to be Running and Ready.
    pub wait: Duration,
}

/// What one round measured.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// The 1-minute load average when the round began.
    pub load_before: f64,
    /// From the processes' start to the node Ready.
    pub node_ready: Duration,
    /// From the first create sent to the last answered.
    pub creates: Duration,
    /// From the first create sent to every pod Running and Ready; `None`
    /// when not within the wait.
    pub all_ready: Option<Duration>,
    /// Each pod's steps and their percentiles.
    pub latencies: Latencies,
    /// The slowest pods: name and create → Ready.
    pub slowest: Vec<(String, Duration)>,
    /// CPU and peak RSS of the kubelet and keel up during the start-up.
    pub startup: Vec<Usage>,
    /// CPU and peak RSS of the kubelet and keel up in the quiet window.
    pub quiet: Vec<Usage>,
    /// The kubelet's PSS at the end of the quiet window.
    pub kubelet_pss_bytes: u64,
    /// Container monitors running in the quiet window.
    pub monitors: usize,
    /// Their mean RSS.
    pub monitor_rss_bytes: u64,
    /// Their mean PSS (shared pages split among the sharers).
    pub monitor_pss_bytes: u64,
    /// From the deletes sent to every pod gone; `None` when not within
    /// the wait.
    pub deleted: Option<Duration>,
    /// Processes, network namespaces left by the kubelet once its pods
    /// were gone and it stopped (the guard then removes them).
    pub left_by_kubelet: (usize, usize),
}

/// Builds the image once, then runs every round.
pub async fn run(options: &PodsOptions) -> Result<Vec<Round>, String> {
    std::fs::create_dir_all(&options.dir)
        .map_err(|e| format!("creating {}: {e}", options.dir.display()))?;
    let images = keel_tests::node::busybox_images(
        &options.keel,
        &options.image_script,
        &options.dir,
        &[IMAGE],
    )?;
    let mut rounds = Vec::new();
    for at in 0..options.rounds {
        eprintln!("pods: round {} of {}", at + 1, options.rounds);
        let dir = options.dir.join(format!("round-{at}"));
        let round = run_round(options, &images, &dir).await?;
        eprintln!(
            "pods: p50 {:.2} s, p99 {:.2} s, max {:.2} s to Running and Ready ({} of {})",
            round.latencies.ready.p50.as_secs_f64(),
            round.latencies.ready.p99.as_secs_f64(),
            round.latencies.ready.max.as_secs_f64(),
            round.latencies.ready_count,
            options.count
        );
        rounds.push(round);
    }
    Ok(rounds)
}

/// keel up and the kubelet of one round.
struct Children {
    up: Process,
    kubelet: Process,
    endpoint: String,
}

impl Children {
    fn start(
        options: &PodsOptions,
        node: &Node,
        images: &Path,
        dir: &Path,
    ) -> Result<Self, String> {
        let endpoint = format!("http://127.0.0.1:{}", free_port());
        let up = [
            "up".to_owned(),
            format!("--data-dir={}", dir.join("keel-data").display()),
            format!("--client-url={endpoint}"),
            format!("--peer-url=http://127.0.0.1:{}", free_port()),
            format!("--listen=127.0.0.1:{}", free_port()),
            "--kubelet=false".to_owned(),
            format!("--cluster-cidr={}", node.cluster_cidr),
        ];
        let kubelet = [
            "kubelet".to_owned(),
            format!("--endpoints={endpoint}"),
            format!("--node-name={}", node.name),
            format!("--kubelet-port={}", free_port()),
            format!("--kubelet-dir={}", dir.join("kubelet").display()),
            format!("--images-dir={}", images.display()),
            format!("--runtime-dir={}", runtime_dir(dir).display()),
            format!("--cgroup-parent={}", node.cgroup_parent),
            format!("--bridge={}", node.bridge),
            // Build trees fill the disk; the benchmark is not about it.
            "--eviction-hard=nodefs.available<1%".to_owned(),
        ];
        let up = Process::start(&options.keel, &up, &dir.join("up.log"))?;
        let kubelet = Process::start(&options.keel, &kubelet, &dir.join("kubelet.log"))?;
        Ok(Self {
            up,
            kubelet,
            endpoint,
        })
    }

    /// Those that have stopped, and why.
    fn exited(&mut self) -> Vec<String> {
        [&mut self.up, &mut self.kubelet]
            .into_iter()
            .filter_map(Process::exited)
            .collect()
    }
}

/// Where the kubelet's runtime keeps its containers' state in `dir`.
fn runtime_dir(dir: &Path) -> PathBuf {
    dir.join("run")
}

async fn run_round(options: &PodsOptions, images: &Path, dir: &Path) -> Result<Round, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let node = Node::new(&BENCH);
    let mut round = Round {
        load_before: load_average(),
        ..Round::default()
    };
    let started = Instant::now();
    let mut children = Children::start(options, &node, images, dir)?;
    let mut sampler = Sampler::new([
        ("kubelet", children.kubelet.pid()),
        ("keel up", children.up.pid()),
    ]);
    let store = sample_while(&mut sampler, answering(&children.endpoint)).await?;
    let ready = sample_while(&mut sampler, wait_for_ready_nodes(&store, 1, START_WAIT)).await;
    ready.map_err(|error| with_exits(error, &children.exited()))?;
    round.node_ready = started.elapsed();
    eprintln!(
        "pods: node {} Ready in {:.1} s",
        node.name,
        round.node_ready.as_secs_f64()
    );
    sample_while(&mut sampler, tokio::time::sleep(SETTLE)).await;

    sampler.mark();
    let mut ledger = Ledger::default();
    let started = sample_while(
        &mut sampler,
        start_pods(&store, options, &mut children, &mut ledger, &mut round),
    )
    .await;
    round.startup = sampler.usage();
    round.latencies = ledger.latencies();
    round.slowest = slowest(&ledger, SLOWEST_SHOWN);
    let revision = started.map_err(|error| with_exits(error, &children.exited()))?;

    sampler.mark();
    sample_while(&mut sampler, tokio::time::sleep(options.quiet)).await;
    round.quiet = sampler.usage();
    round.kubelet_pss_bytes = procfs::pss_bytes(children.kubelet.pid()).unwrap_or(0);
    measure_monitors(&runtime_dir(dir), &mut round);

    round.deleted = delete_pods(&store, options, revision, &mut ledger).await?;
    children.kubelet.terminate(STOP_WAIT);
    round.left_by_kubelet = (node.processes().len(), node.namespaces().len());
    children.up.terminate(STOP_WAIT);
    drop(node);
    Ok(round)
}

/// How many of the slowest pods a round names.
const SLOWEST_SHOWN: usize = 3;

/// The `count` pods slowest to Ready, slowest first.
fn slowest(ledger: &Ledger, count: usize) -> Vec<(String, Duration)> {
    let mut pods: Vec<(String, Duration)> = ledger
        .steps()
        .filter_map(|(name, steps)| {
            Some((name.to_owned(), steps.ready?.saturating_sub(steps.created?)))
        })
        .collect();
    pods.sort_by_key(|pod| std::cmp::Reverse(pod.1));
    pods.truncate(count);
    pods
}

/// A store over keel up's keeld, once it answers.
async fn answering(endpoint: &str) -> Result<Store, String> {
    let deadline = Instant::now() + START_WAIT;
    loop {
        let tried = match connect(endpoint).await {
            Ok((_, store)) => store
                .list(of::<Pod>(), NAMESPACE, &ListOptions::default())
                .await
                .map(|_| store)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error),
        };
        match tried {
            Ok(store) => return Ok(store),
            Err(error) if Instant::now() > deadline => {
                return Err(format!("keel up did not answer at {endpoint}: {error}"));
            }
            Err(_) => tokio::time::sleep(CONNECT_POLL).await,
        }
    }
}

/// Pod `index`: busybox `sleep 3600`, no probes, no requests.
fn pod(index: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("bench-{index:04}"), "namespace": NAMESPACE,
                        "labels": {"app": "bench"}},
           "spec": {"terminationGracePeriodSeconds": GRACE_SECS,
                    "containers": [{"name": "main", "image": IMAGE,
                                    "command": ["sleep", "3600"]}]}})
}

/// Creates the pods at once and watches them until each is Running and
/// Ready, or until the wait is over; answers the revision the watch
/// started after.
async fn start_pods(
    store: &Store,
    options: &PodsOptions,
    children: &mut Children,
    ledger: &mut Ledger,
    round: &mut Round,
) -> Result<i64, String> {
    let revision = store
        .list(of::<Pod>(), NAMESPACE, &ListOptions::default())
        .await
        .map_err(|e| format!("listing the pods: {e}"))?
        .resource_version;
    let mut pods = store.watch(of::<Pod>(), NAMESPACE, revision);
    let started = Instant::now();
    let mut creates: FuturesUnordered<_> = (0..options.count)
        .map(|index| async move {
            let created = store.create(of::<Pod>(), NAMESPACE, pod(index)).await;
            (index, created, started.elapsed())
        })
        .collect();
    let mut tick = tokio::time::interval(TICK);
    while ledger.ready_count() < options.count {
        tokio::select! {
            Some((index, created, at)) = creates.next(), if !creates.is_empty() => {
                created.map_err(|e| format!("creating pod {index}: {e}"))?;
                ledger.created(&format!("bench-{index:04}"), at);
                round.creates = at;
            }
            event = pods.next() => match event {
                Some(Ok(event)) => ledger.observe(&event, started.elapsed()),
                Some(Err(error)) => return Err(format!("watching the pods: {error}")),
                None => return Err("the pods' watch ended".into()),
            },
            _ = tick.tick() => {
                let exited = children.exited();
                if !exited.is_empty() {
                    return Err(with_exits("the pods' start stopped".into(), &exited));
                }
                if started.elapsed() > options.wait {
                    eprintln!("pods: {} of {} Ready within {:?}",
                              ledger.ready_count(), options.count, options.wait);
                    return Ok(revision);
                }
            }
        }
    }
    round.all_ready = Some(started.elapsed());
    Ok(revision)
}

/// Notes the container monitors' count and mean RSS and PSS.
fn measure_monitors(runtime_dir: &Path, round: &mut Round) {
    let pids = monitors::under(runtime_dir);
    let (mut rss, mut pss) = (0, 0);
    for pid in &pids {
        rss += procfs::sample(*pid).map_or(0, |sample| sample.rss_bytes);
        pss += procfs::pss_bytes(*pid).unwrap_or(0);
    }
    round.monitors = pids.len();
    let count = pids.len().max(1) as u64;
    round.monitor_rss_bytes = rss / count;
    round.monitor_pss_bytes = pss / count;
}

/// Deletes the pods gracefully, as `kubectl delete` does, and watches
/// until each is gone; answers how long that took, or `None` when not
/// within DELETE_WAIT.
async fn delete_pods(
    store: &Store,
    options: &PodsOptions,
    revision: i64,
    ledger: &mut Ledger,
) -> Result<Option<Duration>, String> {
    let mut pods = store.watch(of::<Pod>(), NAMESPACE, revision);
    let started = Instant::now();
    let deletes = (0..options.count).map(|index| async move {
        let name = format!("bench-{index:04}");
        store
            .delete_as_planned(
                of::<Pod>(),
                NAMESPACE,
                &name,
                &DeleteOptions::default(),
                jiff::Timestamp::now(),
            )
            .await
            .map_err(|e| format!("deleting {name}: {e}"))
    });
    for deleted in futures::future::join_all(deletes).await {
        deleted?;
    }
    while ledger.deleted_count() < options.count {
        let left = DELETE_WAIT.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, pods.next()).await {
            Err(_) => return Ok(None),
            Ok(Some(Ok(event))) => ledger.observe(&event, started.elapsed()),
            Ok(Some(Err(error))) => return Err(format!("watching the deletes: {error}")),
            Ok(None) => return Err("the deletes' watch ended".into()),
        }
    }
    Ok(Some(started.elapsed()))
}

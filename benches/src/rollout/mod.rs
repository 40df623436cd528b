//! `keel-bench rollout`: how long a Deployment of N replicas takes to be
//! all Ready on M simulated nodes, with keel's scheduler and controllers as
//! their own processes, and how much memory and CPU each process takes
//! (issue 17: the controllers' memory at 5,000 nodes and 10,000 pods).
//!
//! ```text
//!   per round: keeld (fresh)
//!     start: `keel sim-nodes --count M` (pod stages on: a bound pod is
//!            written Running and Ready), `keel scheduler`, `keel controllers`
//!            (each its own process; logs in the round's directory)
//!     wait:  M nodes Ready, both elections led, SETTLE
//!     create: Deployment "bench", N replicas of 10m cpu, 16Mi
//!     watch: the Deployment ─► readyReplicas = availableReplicas = N: the time
//!            its pods       ─► first/last created, bound, Ready
//!     sample: RSS and CPU of keeld, sim-nodes, scheduler, controllers and
//!             this process every 250 ms (peak RSS over the round; CPU from
//!             the create to the rollout's end)
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time and starts processes"
)]

mod progress;
mod summary;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_api::k8s_openapi::api::apps::v1::Deployment;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_controllers::adapter::resource_version_of;
use keel_runtime::{ObjectEvent, Store};
use serde_json::{json, Value};

use crate::orchestration::{connect, wait_for_leaders, wait_for_ready_nodes};
use crate::processes::{load_average, sample_while, with_exits, Process, Sampler, Usage};
use crate::servers::{Kind, Server};
pub use progress::{Milestones, Replicas, Span};
pub use summary::summary;

/// The namespace of the Deployment.
const NAMESPACE: &str = "default";
/// The Deployment's name.
const DEPLOYMENT: &str = "bench";
/// How long the simulated nodes may take to be Ready, and the elections
/// to be led.
const START_WAIT: Duration = Duration::from_secs(600);
/// A pause after the nodes are Ready and both leaders elected, for the
/// leaders' informers to finish their first lists.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the pod watch may lag behind the Deployment's status once
/// the rollout is over (its events are written before the status that
/// counts them, so it lags only by its delivery).
const POD_WATCH_GRACE: Duration = Duration::from_secs(30);
/// How often the rollout's wait looks at its deadline and the children.
const TICK: Duration = Duration::from_secs(1);

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct RolloutOptions {
    /// keeld, started fresh each round.
    pub keeld: PathBuf,
    /// keel (its `sim-nodes`, `scheduler` and `controllers` commands).
    pub keel: PathBuf,
    /// Where keeld's data and the logs go (a directory per round).
    pub dir: PathBuf,
    /// Simulated nodes.
    pub nodes: usize,
    /// The Deployment's replicas.
    pub replicas: usize,
    /// Rounds.
    pub rounds: usize,
    /// How long a round waits for the rollout before it reports how far
    /// it got.
    pub wait: Duration,
    /// More flags for `keel controllers` ("--node-monitor-grace-period=10m").
    pub controllers_args: Vec<String>,
}

/// What one round measured.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// The 1-minute load average when the round began.
    pub load_before: f64,
    /// From the processes' start to every node Ready.
    pub nodes_ready: Duration,
    /// From the Deployment's create to every replica ready and available;
    /// `None` when not within the wait.
    pub rolled_out: Option<Duration>,
    /// The Deployment's counts when the wait ended.
    pub replicas: Replicas,
    /// The pods' steps.
    pub pods: Milestones,
    /// Each process's peak RSS over the round and CPU during the rollout.
    pub usage: Vec<Usage>,
    /// Children that stopped during the round ("keel controllers exited: ...").
    pub exited: Vec<String>,
}

/// Runs every round.
pub async fn run(options: &RolloutOptions) -> Result<Vec<Round>, String> {
    let mut rounds = Vec::new();
    for at in 0..options.rounds {
        eprintln!("rollout: round {} of {}", at + 1, options.rounds);
        let round = run_round(options, &options.dir.join(format!("round-{at}"))).await?;
        match round.rolled_out {
            Some(took) => eprintln!(
                "rollout: {} replicas ready and available in {:.2} s",
                options.replicas,
                took.as_secs_f64()
            ),
            None => eprintln!(
                "rollout: not rolled out within {:?}: {} of {} ready",
                options.wait, round.replicas.ready, options.replicas
            ),
        }
        rounds.push(round);
    }
    Ok(rounds)
}

/// The children of a round, in the order they are sampled.
struct Children {
    sim_nodes: Process,
    scheduler: Process,
    controllers: Process,
}

impl Children {
    fn start(options: &RolloutOptions, endpoint: &str, dir: &Path) -> Result<Self, String> {
        let keel = |command: &str, more: &[String]| {
            let mut args = vec![command.to_owned(), format!("--endpoints={endpoint}")];
            args.extend_from_slice(more);
            Process::start(&options.keel, &args, &dir.join(format!("{command}.log")))
        };
        Ok(Self {
            sim_nodes: keel("sim-nodes", &[format!("--count={}", options.nodes)])?,
            scheduler: keel("scheduler", &["--seed=1".to_owned()])?,
            controllers: keel("controllers", &options.controllers_args)?,
        })
    }

    fn sampled(&self) -> [(&'static str, u32); 3] {
        [
            ("sim-nodes", self.sim_nodes.pid()),
            ("scheduler", self.scheduler.pid()),
            ("controllers", self.controllers.pid()),
        ]
    }

    /// Those that have stopped, and why.
    fn exited(&mut self) -> Vec<String> {
        [
            &mut self.sim_nodes,
            &mut self.scheduler,
            &mut self.controllers,
        ]
        .into_iter()
        .filter_map(Process::exited)
        .collect()
    }
}

async fn run_round(options: &RolloutOptions, dir: &Path) -> Result<Round, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut round = Round {
        load_before: load_average(),
        ..Round::default()
    };
    let keeld = Server::start(Kind::Keeld, &options.keeld, &dir.join("keeld")).await?;
    let endpoint = format!("http://{}", keeld.endpoint());
    let (client, store) = connect(&endpoint).await?;

    let started = Instant::now();
    let mut children = Children::start(options, &endpoint, dir)?;
    let mut sampler = Sampler::new([("keeld", keeld.pid())]);
    for (name, pid) in children.sampled() {
        sampler.add(name, pid);
    }
    sampler.add("keel-bench", std::process::id());
    let elections = [
        keel_scheduler::run::ELECTION_NAME,
        keel_controllers::manager::ELECTION,
    ];
    let ready = async {
        wait_for_ready_nodes(&store, options.nodes, START_WAIT).await?;
        wait_for_leaders(&client, &elections, START_WAIT).await
    };
    if let Err(error) = sample_while(&mut sampler, ready).await {
        return Err(with_exits(error, &children.exited()));
    }
    round.nodes_ready = started.elapsed();
    eprintln!(
        "rollout: {} nodes Ready in {:.1} s",
        options.nodes,
        round.nodes_ready.as_secs_f64()
    );
    sample_while(&mut sampler, tokio::time::sleep(SETTLE)).await;

    sampler.mark();
    let rolled = sample_while(
        &mut sampler,
        roll_out(&store, options, &mut children, &mut round),
    )
    .await;
    round.usage = sampler.usage();
    round.exited = children.exited();
    rolled.map_err(|error| with_exits(error, &round.exited))?;
    Ok(round)
}

/// The Deployment of `replicas` pods of 10m cpu and 16Mi.
fn deployment(replicas: usize) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE},
           "spec": {"replicas": replicas,
                    "selector": {"matchLabels": {"app": DEPLOYMENT}},
                    "template": {
                        "metadata": {"labels": {"app": DEPLOYMENT}},
                        "spec": {"containers": [{
                            "name": "main", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}})
}

/// Creates the Deployment and watches it and its pods until every
/// replica is ready and available (and the pod watch has seen them
/// Ready, or POD_WATCH_GRACE has passed), or until the wait is over;
/// notes what the watches saw in `round`.
async fn roll_out(
    store: &Store,
    options: &RolloutOptions,
    children: &mut Children,
    round: &mut Round,
) -> Result<(), String> {
    let started = Instant::now();
    let created = store
        .create(of::<Deployment>(), NAMESPACE, deployment(options.replicas))
        .await
        .map_err(|e| format!("creating the Deployment: {e}"))?;
    let revision = resource_version_of(&created);
    let mut deployments = store.watch(of::<Deployment>(), NAMESPACE, revision - 1);
    let mut pods = store.watch(of::<Pod>(), NAMESPACE, revision);
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            event = deployments.next() => {
                let at = started.elapsed();
                match event {
                    Some(Ok(ObjectEvent::Added(object) | ObjectEvent::Modified { object, .. })) => {
                        round.replicas = Replicas::of(&object);
                        if round.rolled_out.is_none() && round.replicas.rolled_out(options.replicas) {
                            round.rolled_out = Some(at);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(format!("watching the Deployment: {error}")),
                    None => return Err("the Deployment's watch ended".into()),
                }
            }
            event = pods.next() => {
                let at = started.elapsed();
                match event {
                    Some(Ok(event)) => round.pods.observe(&event, at),
                    Some(Err(error)) => return Err(format!("watching the pods: {error}")),
                    None => return Err("the pods' watch ended".into()),
                }
            }
            _ = tick.tick() => {
                let exited = children.exited();
                if !exited.is_empty() {
                    return Err(with_exits("the rollout stopped".into(), &exited));
                }
                if started.elapsed() > options.wait {
                    return Ok(());
                }
            }
        }
        if let Some(rolled_out) = round.rolled_out {
            let pods_seen = round.pods.ready.count >= options.replicas;
            if pods_seen || started.elapsed() > rolled_out + POD_WATCH_GRACE {
                return Ok(());
            }
        }
    }
}

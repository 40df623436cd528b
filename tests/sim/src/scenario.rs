//! One simulated run: start a cluster, run the workload and watchers while
//! a nemesis injects faults, heal everything, then check the history, the
//! watches, the replicas' hashes, the Raft invariants and liveness.

use std::sync::Arc;
use std::time::Duration;

use keel_client::Client;
use keel_jepsen::history::{
    Applied, HashKvSample, History, Operation, Outcome, RaftObservation, Request, Response,
    WatchRecord,
};
use keel_jepsen::resolve::Resolved;
use madsim::rand::Rng;

use crate::cluster::{client_options, Cluster};
use crate::nemesis::{self, Nemesis};
use crate::recorder::{Observe, Recorder};
use crate::workload::{self, Drain, Log};

/// How a run is set up.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Founding members (3 or 5).
    pub members: usize,
    /// The faults.
    pub nemesis: Nemesis,
    /// Workload clients.
    pub clients: u64,
    /// How long faults are injected.
    pub faults_for: Duration,
}

impl Plan {
    /// `members` members under `nemesis`, with the suite's defaults.
    pub fn new(members: usize, nemesis: Nemesis) -> Self {
        Self {
            members,
            nemesis,
            clients: 6,
            faults_for: Duration::from_secs(12),
        }
    }
}

/// How long the workload goes on after healing (the must-heal phase).
const HEALED_FOR: Duration = Duration::from_secs(5);
/// How soon after healing the cluster must answer a write again: an
/// election (up to 1.2 election timeouts), a restarted member's catch-up,
/// and the client's retries.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(10);
/// How long the members may take to apply the same last entry after the
/// workload stops.
const QUIESCE_MAX: Duration = Duration::from_secs(20);
/// Watchers per run.
const WATCHERS: u64 = 2;

/// Client ids of the liveness probes (far above the workload's).
const PROBE_CLIENT: u64 = 1 << 40;

/// Why a run failed: the property, and what shows it.
#[derive(Debug)]
pub struct Failure {
    /// The seed that reproduces the run.
    pub seed: u64,
    /// The plan.
    pub plan: String,
    /// The property that does not hold, with the offending operations.
    pub violation: String,
    /// Where the run's history and watch records were saved (JSON).
    pub saved: Option<std::path::PathBuf>,
    /// The linearizability search gave up: a limit of the checker, not a
    /// violation, yet a run no checker decided proves nothing, so it fails.
    pub inconclusive: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "simulation failed: {}", self.plan)?;
        writeln!(f, "{}", self.violation)?;
        if let Some(path) = &self.saved {
            writeln!(f, "history saved to {}", path.display())?;
        }
        write!(
            f,
            "reproduce: MADSIM_TEST_SEED={} RUSTFLAGS=\"--cfg madsim\" cargo test -p keel-sim --release (see docs/testing.md)",
            self.seed
        )
    }
}

/// What a passing run saw (for the test's own sanity assertions).
#[derive(Debug, Default)]
pub struct Summary {
    /// Operations in the history.
    pub operations: usize,
    /// Operations answered Ok.
    pub succeeded: usize,
    /// Watch responses recorded.
    pub watch_responses: usize,
    /// Snapshots members installed after their first start.
    pub snapshot_installs: usize,
    /// Writes of unknown outcome the watches showed to have happened or
    /// not (`keel_jepsen::resolve`).
    pub unknown_writes_settled: usize,
    /// Operations of unknown outcome the search had to leave open.
    pub unknown_left: usize,
}

/// Runs `plan` in the current simulation; the seed is the runtime's.
pub async fn run(plan: Plan) -> Result<Summary, Failure> {
    let seed = madsim::runtime::Handle::current().seed();
    let fail = |violation: String| Failure {
        seed,
        plan: format!("{plan:?}"),
        violation,
        saved: None,
        inconclusive: false,
    };
    let recorder = Recorder::new();
    keel_server::observe::set_observer(Some(Arc::new(Observe(Arc::clone(&recorder)))));
    let on_start = {
        let recorder = Arc::clone(&recorder);
        Arc::new(move |member_id| recorder.starting(member_id))
    };
    let cluster = Cluster::start(plan.members, nemesis::spares(plan.nemesis), on_start);
    let endpoints = cluster.endpoints();
    let client_node = madsim::runtime::Handle::current()
        .create_node()
        .name("client")
        .ip([10, 0, 1, 1].into())
        .build();
    let log = Arc::new(Log::default());
    let start_ns = recorder.now_ns();
    let heal_ns = start_ns + plan.faults_for.as_nanos() as u64;
    let stop_ns = heal_ns + HEALED_FOR.as_nanos() as u64;

    let clients = client_node.spawn(workload::run_clients(
        endpoints.clone(),
        plan.clients,
        Arc::clone(&recorder),
        Arc::clone(&log),
        stop_ns,
    ));
    let drain = Arc::new(Drain::default());
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|watcher| {
            client_node.spawn(workload::run_watcher(
                endpoints.clone(),
                watcher,
                Arc::clone(&recorder),
                Arc::clone(&log),
                stop_ns,
                Arc::clone(&drain),
            ))
        })
        .collect();
    let cluster = Arc::new(tokio::sync::Mutex::new(cluster));
    let members = nemesis::run(
        plan.nemesis,
        Arc::clone(&cluster),
        &client_node,
        Arc::clone(&recorder),
        heal_ns,
    )
    .await;
    cluster.lock().await.heal(&members);
    let probes = client_node
        .spawn(probe_liveness(
            endpoints.clone(),
            Arc::clone(&recorder),
            Arc::clone(&log),
        ))
        .await
        .unwrap_or_default();
    let _ = clients.await;
    let mut cluster = cluster.lock().await;
    let samples = client_node
        .spawn(hash_samples(
            members
                .iter()
                .map(|&i| cluster.members[i].client_url())
                .collect(),
        ))
        .await
        .unwrap_or_default();
    // The watchers go on until they have every event through the revision
    // the members settled on.
    drain.settle(samples.first().map(|sample| sample.revision));
    for watcher in watchers {
        let _ = watcher.await;
    }
    let history = History {
        operations: log.operations.lock().clone(),
    };
    let watches = log.watches.lock().clone();
    let live: Vec<u64> = members
        .iter()
        .map(|&i| cluster.members[i].member_id)
        .collect();
    cluster.stop_all();
    drop(cluster);
    // madsim frees a node's tasks only when its executor next runs them
    // after the kill; a run's tasks left at the end of its runtime are
    // never freed (15 MB a run, 4 GB over a sweep of 200 seeds).
    madsim::runtime::Handle::current().kill(client_node.id());
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;

    let observations = recorder.observations();
    let applied = recorder.applied();
    let checked = check_all(&Checked {
        heal_ns,
        probes: &probes,
        samples: &samples,
        members: members.len(),
        observations: &observations,
        applied: &applied,
        live: &live,
        history: &history,
        watches: &watches,
    });
    let resolved = match checked {
        Ok(resolved) => resolved,
        Err(unchecked) => {
            keel_server::observe::set_observer(None);
            let (violation, inconclusive) = match unchecked {
                Unchecked::Violation(violation) => (violation, false),
                Unchecked::Inconclusive(resolved) => (
                    format!(
                        "linearizability inconclusive: the search gave up with {} operations \
                         of unknown outcome left open ({resolved:?})",
                        resolved.unknown
                    ),
                    true,
                ),
            };
            let mut failure = fail(violation);
            failure.saved = save(seed, &plan, &history, &watches);
            failure.inconclusive = inconclusive;
            return Err(failure);
        }
    };
    keel_server::observe::set_observer(None);
    if std::env::var_os("KEEL_SIM_SAVE_ALL").is_some() {
        save(seed, &plan, &history, &watches);
    }
    Ok(Summary {
        operations: history.operations.len(),
        succeeded: history
            .operations
            .iter()
            .filter(|op| matches!(op.outcome, keel_jepsen::history::Outcome::Ok(_)))
            .count(),
        watch_responses: watches.iter().map(|w| w.responses.len()).sum(),
        snapshot_installs: applied
            .iter()
            .filter(|a| {
                matches!(a, keel_jepsen::history::Applied::Snapshot { incarnation, .. } if *incarnation >= 1)
            })
            .count(),
        unknown_writes_settled: resolved.happened + resolved.dropped,
        unknown_left: resolved.unknown,
    })
}

/// What the checkers read at the end of a run.
struct Checked<'a> {
    heal_ns: u64,
    probes: &'a [(u64, u64, bool)],
    samples: &'a [HashKvSample],
    members: usize,
    observations: &'a [RaftObservation],
    applied: &'a [Applied],
    live: &'a [u64],
    history: &'a History,
    watches: &'a [WatchRecord],
}

/// Why [`check_all`] did not pass a run.
enum Unchecked {
    /// A property does not hold.
    Violation(String),
    /// The linearizability search gave up, after settling this much.
    Inconclusive(Resolved),
}

impl From<String> for Unchecked {
    fn from(violation: String) -> Self {
        Self::Violation(violation)
    }
}

/// Runs every checker in order; answers how many unknown outcomes were
/// settled before the linearizability search, or why the run fails.
fn check_all(c: &Checked<'_>) -> Result<Resolved, Unchecked> {
    keel_jepsen::liveness::check(c.heal_ns, c.probes, LIVENESS_BOUND.as_nanos() as u64)
        .map_err(|v| v.to_string())?;
    if c.samples.len() != c.members {
        return Err(format!(
            "quiesce: {} of {} members answered HashKV at one revision within {QUIESCE_MAX:?}",
            c.samples.len(),
            c.members
        )
        .into());
    }
    keel_jepsen::raft::check(c.observations, c.applied).map_err(|v| v.to_string())?;
    keel_jepsen::raft::check_final_applied(c.applied, c.live).map_err(|v| v.to_string())?;
    keel_jepsen::agreement::check(c.samples).map_err(|v| v.to_string())?;
    keel_jepsen::watch::check(c.history, c.watches).map_err(|v| v.to_string())?;
    // Unknown writes the watches settle are settled first: with them all
    // left open the search can grow past its budget.
    let (settled, resolved) = keel_jepsen::resolve::resolve(c.history, c.watches);
    match keel_jepsen::linearizability::check(&settled) {
        keel_jepsen::linearizability::Verdict::Linearizable => Ok(resolved),
        keel_jepsen::linearizability::Verdict::Inconclusive => {
            Err(Unchecked::Inconclusive(resolved))
        }
        keel_jepsen::linearizability::Verdict::Violation(v) => Err(v.to_string().into()),
    }
}

/// Saves a failed run's history and watch records as JSON, for study and
/// for checking again (`KEEL_SIM_SAVE_DIR`, else the temporary directory);
/// with `KEEL_SIM_SAVE_ALL` set, every run's.
fn save(
    seed: u64,
    plan: &Plan,
    history: &History,
    watches: &[WatchRecord],
) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("KEEL_SIM_SAVE_DIR").map_or_else(std::env::temp_dir, Into::into);
    let path = dir.join(format!(
        "keel-sim-{:?}-{}-seed{seed}.json",
        plan.nemesis, plan.members
    ));
    let json = serde_json::to_vec(&(history, watches)).ok()?;
    std::fs::write(&path, json).ok()?;
    Some(path)
}

/// After healing: writes until one succeeds, recording each attempt as
/// `(call_ns, return_ns, ok)`. The writes go into the history too (they
/// raise the revision the workload sees).
async fn probe_liveness(
    endpoints: Vec<String>,
    recorder: Arc<Recorder>,
    log: Arc<Log>,
) -> Vec<(u64, u64, bool)> {
    let mut probes = Vec::new();
    let deadline = recorder.now_ns() + 2 * LIVENESS_BOUND.as_nanos() as u64;
    while recorder.now_ns() < deadline {
        let call_ns = recorder.now_ns();
        let value = format!("{call_ns}");
        let outcome = match Client::connect(endpoints.clone(), client_options()).await {
            Ok(client) => match client.put("probe", value.clone(), None).await {
                Ok(response) => Outcome::Ok(Response::Put {
                    revision: response.header.map_or(0, |h| h.revision),
                }),
                Err(_) => Outcome::Unknown,
            },
            Err(_) => Outcome::Failed,
        };
        let ok = matches!(outcome, Outcome::Ok(_));
        log.operations.lock().push(Operation {
            client: PROBE_CLIENT + probes.len() as u64,
            call_ns,
            return_ns: recorder.now_ns(),
            request: Request::Put {
                key: "probe".into(),
                value,
                lease: 0,
            },
            outcome,
        });
        probes.push((call_ns, recorder.now_ns(), ok));
        if ok {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probes
}

/// Once every member has applied the same revision, each member's HashKV
/// at it. Empty if they do not get there within [`QUIESCE_MAX`].
async fn hash_samples(urls: Vec<String>) -> Vec<HashKvSample> {
    let started = std::time::Instant::now();
    let mut clients = Vec::new();
    for url in &urls {
        while clients.len() < urls.len() {
            match Client::connect([url.clone()], client_options()).await {
                Ok(client) => {
                    clients.push(client);
                    break;
                }
                Err(_) if started.elapsed() < QUIESCE_MAX => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(_) => return Vec::new(),
            }
        }
    }
    while started.elapsed() < QUIESCE_MAX {
        let mut revisions = Vec::new();
        for client in &clients {
            if let Ok(status) = client.status().await {
                revisions.push((
                    status.header.map_or(0, |h| h.revision),
                    status.raft_applied_index,
                ));
            }
        }
        let settled =
            revisions.len() == clients.len() && revisions.windows(2).all(|w| w[0] == w[1]);
        if settled {
            let revision = revisions[0].0;
            let mut samples = Vec::new();
            for (client, url) in clients.iter().zip(&urls) {
                if let Ok(answer) = client.hash_kv(revision).await {
                    samples.push(HashKvSample {
                        member: answer.header.as_ref().map_or(0, |h| h.member_id),
                        revision,
                        compact_revision: answer.compact_revision,
                        hash: answer.hash,
                    });
                } else {
                    tracing::warn!(%url, "HashKV failed");
                }
            }
            return samples;
        }
        let pause = madsim::rand::thread_rng().gen_range(100..300);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    Vec::new()
}

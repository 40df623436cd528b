//! The scheduler at work: the thin adapter between keel and the pure
//! core, run by `keel scheduler` (and by `keel up`).
//!
//! ```text
//!   run ─► LeaderElector "kube-scheduler" ─► lead: while leading ─┐
//!                                                                 ▼
//!   leading::Scheduler (built anew each time it leads, dropped when it stops)
//!     SharedInformer pods ─┐
//!     SharedInformer nodes ┴─► feed::State { Cluster, SchedulingQueue }
//!     loop: pop ─► schedule() ─► Ok:  cluster.assume ─► writes::bind (task) ─┐
//!                               └► Err: FailedScheduling event,              │
//!                                       writes::unschedulable (task),       │
//!                                       queue.unschedulable                 │
//!           Outcome ◄──────────── at most binds_in_flight tasks ◄───────────┘
//!             Bound: Scheduled event      BindFailed: forget, backoff or leave
//!     the bind seen through the watch ─► cluster.upsert_pod confirms it
//! ```
//!
//! - [`feed`]: watch events into the cluster and the queue (pure).
//! - [`writes`]: the bind and the condition, and what their failures mean.
//! - [`leading`]: the loop of one term of leadership.
//!
//! One task owns the state: events, decisions and outcomes take turns, so
//! nothing is locked. The clock ([`Clock`], [`wall_clock`]) and the seed
//! are read here and passed in as values.

pub mod feed;
mod leading;
pub mod writes;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keel_client::Client;
use keel_runtime::{election, ElectionError, LeaderElector};

use crate::queue::QueueConfig;

/// The election the scheduler's copies run, named as kube-scheduler's
/// Lease is (`kube-system/kube-scheduler`).
pub const ELECTION_NAME: &str = "kube-scheduler";
/// The scheduler kube-scheduler's default profile is: the
/// `spec.schedulerName` of the pods it places (also the empty one).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Binds (and condition writes) under way at once. Each is a read and a
/// compare-and-swap of one pod; 64 keep keel busy on a small machine
/// without a long tail of tasks, and kube-scheduler's binding goroutines
/// are just as unbounded in principle but as few in practice (its client
/// allows 50 QPS).
pub const BINDS_IN_FLIGHT_MAX: usize = 64;
/// The lease of the scheduler's leadership, as kube-scheduler's
/// `--leader-elect-lease-duration` (15 s).
pub const LEASE_TTL_SECS_DEFAULT: i64 = 15;

/// How the scheduler runs; every timing a field, so tests set short ones.
#[derive(Debug, Clone)]
pub struct Options {
    /// This copy's name in the election (its host name, say).
    pub identity: String,
    /// How long the leadership outlives a copy that stops renewing it.
    pub lease_ttl_secs: i64,
    /// The pause before campaigning again after keel failed to answer.
    pub election_retry: Duration,
    /// Backoffs and the queue's bound.
    pub queue: QueueConfig,
    /// `percentageOfNodesToScore`; 0 for kube-scheduler's adaptive one.
    pub percentage_of_nodes_to_score: u32,
    /// The seed of the tie-breaks among equally scored nodes.
    pub seed: u64,
    /// The `spec.schedulerName` of the pods this scheduler places.
    pub scheduler_name: String,
    /// Binds and condition writes under way at once.
    pub binds_in_flight: usize,
    /// Read each pod before its bind's compare-and-swap, as the
    /// `pods/binding` subresource does, instead of swapping at the version
    /// the cache holds (one round trip fewer). Off but for comparisons.
    pub bind_reads_first: bool,
    /// Counters of what the scheduler did, shared with the caller.
    pub metrics: Arc<Metrics>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            identity: "keel-scheduler".into(),
            lease_ttl_secs: LEASE_TTL_SECS_DEFAULT,
            election_retry: Duration::from_secs(1),
            queue: QueueConfig::default(),
            percentage_of_nodes_to_score: 0,
            seed: 0,
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            binds_in_flight: BINDS_IN_FLIGHT_MAX,
            bind_reads_first: false,
            metrics: Arc::default(),
        }
    }
}

/// What the scheduler did, counted as it goes (for tests, benchmarks and
/// a profile of where the time goes).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Terms of leadership begun.
    pub terms: AtomicU64,
    /// Pods taken from the queue and searched for.
    pub attempts: AtomicU64,
    /// Pods bound.
    pub binds: AtomicU64,
    /// Binds that failed.
    pub bind_failures: AtomicU64,
    /// Searches that found no node.
    pub unschedulable: AtomicU64,
    /// Nanoseconds spent in `schedule()` (filters and scores).
    pub schedule_nanos: AtomicU64,
    /// Nanoseconds spent applying watch events to the state.
    pub feed_nanos: AtomicU64,
    /// Watch events applied.
    pub events: AtomicU64,
    /// Nanoseconds from a bind's start to its outcome, summed.
    pub bind_nanos: AtomicU64,
}

impl Metrics {
    /// The counter's value now.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }
}

/// Why the scheduler could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not join the election.
    #[error(transparent)]
    Election(#[from] ElectionError),
}

/// Campaigns for the leadership and schedules while leading, until `stop`
/// resolves; then resigns, so that another copy leads at once. Call it
/// within a Tokio runtime.
pub async fn run(
    client: &Client,
    options: &Options,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let mut elector = LeaderElector::new(
        client,
        ELECTION_NAME,
        &options.identity,
        options.lease_ttl_secs,
    )
    .await?;
    tracing::info!(identity = %options.identity, seed = options.seed, "scheduler started");
    let work = |ended| leading::lead_term(client.clone(), options.clone(), ended);
    election::lead(&mut elector, options.election_retry, work, stop).await;
    Ok(())
}

/// The scheduler's monotonic clock: time since its start, as the pure
/// core takes it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The instant `at` (time since the start) is.
    pub fn instant(&self, at: Duration) -> tokio::time::Instant {
        self.origin + at
    }
}

/// The wall clock in RFC 3339 to the second, for conditions.
pub fn wall_clock() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A seed from the wall clock, for runs that name none.
pub fn seed_from_clock() -> u64 {
    jiff::Timestamp::now().as_nanosecond() as u64
}

//! keeld's Prometheus metrics and `/health`, served on
//! `--listen-metrics-urls` as etcd serves them, under etcd's names, types,
//! labels and help texts, so etcd's dashboards and alerts work unchanged.
//!
//! ```text
//!  raft/log_store.rs   run_flusher ──── time_wal_fsync ─────────────────┐
//!  raft/state_machine.rs store writes ─ time_backend_commit ────────────┤
//!  raft/network.rs     heartbeats ───── record_peer_rtt / _send_failure ┤
//!  node.rs   propose ── start_proposal (guard), proposal_failed ────────┤
//!  member.rs follow_raft: openraft's RaftMetrics ── set_leader,         ├──► Metrics
//!            set_committed, set_applied; every second set_db_size ──────┘    (atomics, one per
//!                                                                             member, in an Arc)
//!  http.rs (not under madsim) ── GET /metrics ── respond.rs ── render() ◄────────┤
//!                             ── GET /health  ── respond.rs ── health.rs judge(member.rs facts)
//! ```
//!
//! | metric (etcd's name) | type | what it says | recorded by |
//! |---|---|---|---|
//! | `etcd_server_has_leader` | gauge | 1 while the member knows a leader | [`Metrics::set_leader`] |
//! | `etcd_server_is_leader` | gauge | 1 while the member is the leader | [`Metrics::set_leader`] |
//! | `etcd_server_leader_changes_seen_total` | counter | times a (new) leader became known | [`Metrics::set_leader`] |
//! | `etcd_server_proposals_committed_total` | gauge | the committed Raft index | [`Metrics::set_committed`] |
//! | `etcd_server_proposals_applied_total` | gauge | the applied Raft index | [`Metrics::set_applied`] |
//! | `etcd_server_proposals_pending` | gauge | proposals waiting to be applied | [`Metrics::start_proposal`] |
//! | `etcd_server_proposals_failed_total` | counter | proposals Raft refused or lost | [`Metrics::proposal_failed`] |
//! | `etcd_disk_wal_fsync_duration_seconds` | histogram | one group-commit fsync of the Raft log | [`Metrics::time_wal_fsync`] |
//! | `etcd_disk_backend_commit_duration_seconds` | histogram | one atomic store batch (an applied entry) | [`Metrics::time_backend_commit`] |
//! | `etcd_mvcc_db_total_size_in_bytes` | gauge | the store's size on disk | [`Metrics::set_db_size`] |
//! | `etcd_server_quota_backend_bytes` | gauge | `--quota-backend-bytes` in force | [`Metrics::set_quota_backend_bytes`] |
//! | `etcd_network_peer_round_trip_time_seconds{To}` | histogram | heartbeat round trip to a peer | [`Metrics::record_peer_rtt`] |
//! | `etcd_network_peer_sent_failures_total{To}` | counter | peer calls that failed | [`Metrics::record_peer_send_failure`] |
//! | `etcd_server_health_success`, `etcd_server_health_failures` | counter | `/health` answers | [`Metrics::record_health`] |
//! | `etcd_server_id{server_id}` | gauge | always 1; the label is the member ID in hex | [`Metrics::new`] |
//! | `etcd_server_version{server_version}` | gauge | always 1; the etcd API version keel speaks | [`Metrics::new`] |
//! | `keel_build_info{version}` | gauge | always 1; keeld's own version | [`Metrics::new`] |
//!
//! Like etcd, "committed" and "applied" are Raft indexes (openraft's
//! `local_committed` and `last_applied`), which is why etcd types these
//! `_total`s as gauges. The exposition is Prometheus' text format 0.0.4 as
//! etcd's Go client writes it (`# TYPE x_total counter`, families sorted by
//! name, empty label families left out), not OpenMetrics, whose counter
//! families drop the `_total` etcd's names carry.
//!
//! [`Metrics`] is plain atomics and compiles under `--cfg madsim`; only the
//! listener in [`http`] needs real sockets and is compiled out there.

pub mod health;
#[cfg(not(madsim))]
pub mod http;
pub mod member;
pub mod respond;

use std::time::Duration;

use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use health::Health;

/// The `Content-Type` of `/metrics`: etcd's (Prometheus' text format 0.0.4).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// etcd's disk latency buckets: 1 ms doubling up to 8.192 s.
pub const DISK_BUCKETS_START_SECS: f64 = 0.001;
/// Number of etcd's disk latency buckets (the last is 8.192 s).
pub const DISK_BUCKETS_COUNT: usize = 14;
/// etcd's peer round-trip buckets: 0.1 ms doubling up to 3.2768 s.
pub const PEER_RTT_BUCKETS_START_SECS: f64 = 0.0001;
/// Number of etcd's peer round-trip buckets (the last is 3.2768 s).
pub const PEER_RTT_BUCKETS_COUNT: usize = 16;

/// etcd's help texts, word for word (from etcd 3.4.23's `/metrics`).
mod help {
    pub const HAS_LEADER: &str = "Whether or not a leader exists. 1 is existence, 0 is not.";
    pub const IS_LEADER: &str = "Whether or not this member is a leader. 1 if is, 0 otherwise.";
    pub const LEADER_CHANGES: &str = "The number of leader changes seen.";
    pub const COMMITTED: &str = "The total number of consensus proposals committed.";
    pub const APPLIED: &str = "The total number of consensus proposals applied.";
    pub const PENDING: &str = "The current number of pending proposals to commit.";
    pub const FAILED: &str = "The total number of failed proposals seen.";
    pub const WAL_FSYNC: &str = "The latency distributions of fsync called by WAL.";
    pub const BACKEND_COMMIT: &str = "The latency distributions of commit called by backend.";
    pub const DB_SIZE: &str =
        "Total size of the underlying database physically allocated in bytes.";
    pub const QUOTA: &str = "Current backend storage quota size in bytes.";
    pub const PEER_RTT: &str = "Round-Trip-Time histogram between peers";
    pub const PEER_FAILURES: &str = "The total number of send failures from peers.";
    pub const HEALTH_SUCCESS: &str = "The total number of successful health checks";
    pub const HEALTH_FAILURES: &str = "The total number of failed health checks";
    pub const SERVER_ID: &str =
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.";
    pub const SERVER_VERSION: &str =
        "Which version is running. 1 for 'server_version' label with current version.";
    /// keel's own; phrased as etcd phrases its info gauges.
    pub const KEEL_BUILD: &str =
        "Which keel version is running. 1 for 'version' label with current version.";
}

/// `count` bucket upper bounds from `start`, each `factor` times the one
/// before: Go's `prometheus.ExponentialBuckets`, computed the same way
/// (repeated multiplication), so the bounds print exactly as etcd's do.
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    assert!(start > 0.0, "buckets start above zero");
    assert!(factor > 1.0, "buckets grow");
    let mut bounds = Vec::with_capacity(count);
    let mut bound = start;
    for _ in 0..count {
        bounds.push(bound);
        bound *= factor;
    }
    bounds
}

/// Whether a leader report counts as a leader change, by etcd's rule: a
/// leader is known now and it is not the one known before (losing the
/// leader is not a change; finding one again, even the same, is).
pub fn is_leader_change(previous: Option<u64>, current: Option<u64>) -> bool {
    current.is_some() && current != previous
}

/// The member ID as etcd prints it in labels: lowercase hex, no padding.
pub fn member_id_label(id: u64) -> String {
    format!("{id:x}")
}

/// Measures how long something took, on tokio's clock (the simulator's
/// under madsim, so simulated runs stay reproducible). The one place the
/// metrics take time from.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    started: tokio::time::Instant,
}

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Self {
            started: tokio::time::Instant::now(),
        }
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// A proposal counted in `etcd_server_proposals_pending` until dropped
/// (answered, failed, or abandoned by a client that went away).
#[must_use = "the proposal counts as pending only while this guard lives"]
#[derive(Debug)]
pub struct PendingProposal<'a> {
    pending: &'a IntGauge,
}

impl Drop for PendingProposal<'_> {
    fn drop(&mut self) {
        self.pending.dec();
    }
}

/// One member's metrics. Recording is a few atomic operations; rendering
/// gathers them into Prometheus' text format. Created once per member and
/// shared as `Arc<Metrics>` (several members share a process in tests and
/// in the simulator, so there is no global registry).
pub struct Metrics {
    registry: Registry,
    member_id: u64,
    /// The leader last reported to [`Metrics::set_leader`].
    last_leader: Mutex<Option<u64>>,
    has_leader: IntGauge,
    is_leader: IntGauge,
    leader_changes_seen: IntCounter,
    proposals_committed: IntGauge,
    proposals_applied: IntGauge,
    proposals_pending: IntGauge,
    proposals_failed: IntCounter,
    wal_fsync_duration: Histogram,
    backend_commit_duration: Histogram,
    db_total_size: IntGauge,
    quota_backend_bytes: IntGauge,
    peer_round_trip_time: HistogramVec,
    peer_sent_failures: IntCounterVec,
    health_success: IntCounter,
    health_failures: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("member_id", &format_args!("{:x}", self.member_id))
            .finish_non_exhaustive()
    }
}

/// A metric's name or help text is wrong: a bug in this file (the tests
/// construct and render every metric).
const INVALID_METRIC: &str = "keel's metric definitions are valid and registered once";

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect(INVALID_METRIC);
    collector
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    register(registry, IntGauge::new(name, help).expect(INVALID_METRIC))
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    register(registry, IntCounter::new(name, help).expect(INVALID_METRIC))
}

fn histogram(registry: &Registry, name: &str, help: &str) -> Histogram {
    let buckets = exponential_buckets(DISK_BUCKETS_START_SECS, 2.0, DISK_BUCKETS_COUNT);
    let opts = HistogramOpts::new(name, help).buckets(buckets);
    register(registry, Histogram::with_opts(opts).expect(INVALID_METRIC))
}

/// An info-style gauge: one series, value 1, the information in a label.
fn info(registry: &Registry, name: &str, help: &str, label: &str, value: &str) {
    let vec = register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), &[label]).expect(INVALID_METRIC),
    );
    vec.with_label_values(&[value]).set(1);
}

impl Metrics {
    /// The metrics of member `member_id`, every value at zero.
    pub fn new(member_id: u64) -> Self {
        let registry = Registry::new();
        let r = &registry;
        info(
            r,
            "etcd_server_id",
            help::SERVER_ID,
            "server_id",
            &member_id_label(member_id),
        );
        info(
            r,
            "etcd_server_version",
            help::SERVER_VERSION,
            "server_version",
            crate::api::ETCD_API_VERSION,
        );
        info(
            r,
            "keel_build_info",
            help::KEEL_BUILD,
            "version",
            env!("CARGO_PKG_VERSION"),
        );
        let rtt_buckets =
            exponential_buckets(PEER_RTT_BUCKETS_START_SECS, 2.0, PEER_RTT_BUCKETS_COUNT);
        let peer_round_trip_time = register(
            r,
            HistogramVec::new(
                HistogramOpts::new("etcd_network_peer_round_trip_time_seconds", help::PEER_RTT)
                    .buckets(rtt_buckets),
                &["To"],
            )
            .expect(INVALID_METRIC),
        );
        let peer_sent_failures = register(
            r,
            IntCounterVec::new(
                Opts::new("etcd_network_peer_sent_failures_total", help::PEER_FAILURES),
                &["To"],
            )
            .expect(INVALID_METRIC),
        );
        Self {
            member_id,
            last_leader: Mutex::new(None),
            has_leader: gauge(r, "etcd_server_has_leader", help::HAS_LEADER),
            is_leader: gauge(r, "etcd_server_is_leader", help::IS_LEADER),
            leader_changes_seen: counter(
                r,
                "etcd_server_leader_changes_seen_total",
                help::LEADER_CHANGES,
            ),
            proposals_committed: gauge(r, "etcd_server_proposals_committed_total", help::COMMITTED),
            proposals_applied: gauge(r, "etcd_server_proposals_applied_total", help::APPLIED),
            proposals_pending: gauge(r, "etcd_server_proposals_pending", help::PENDING),
            proposals_failed: counter(r, "etcd_server_proposals_failed_total", help::FAILED),
            wal_fsync_duration: histogram(
                r,
                "etcd_disk_wal_fsync_duration_seconds",
                help::WAL_FSYNC,
            ),
            backend_commit_duration: histogram(
                r,
                "etcd_disk_backend_commit_duration_seconds",
                help::BACKEND_COMMIT,
            ),
            db_total_size: gauge(r, "etcd_mvcc_db_total_size_in_bytes", help::DB_SIZE),
            quota_backend_bytes: gauge(r, "etcd_server_quota_backend_bytes", help::QUOTA),
            peer_round_trip_time,
            peer_sent_failures,
            health_success: counter(r, "etcd_server_health_success", help::HEALTH_SUCCESS),
            health_failures: counter(r, "etcd_server_health_failures", help::HEALTH_FAILURES),
            registry,
        }
    }

    /// The member these metrics describe.
    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    /// Reports the leader the member knows now (`None`: no leader). Sets
    /// `has_leader` and `is_leader`, and counts a leader change by
    /// [`is_leader_change`]. Reporting the same leader again changes nothing.
    pub fn set_leader(&self, leader: Option<u64>) {
        let mut last = self.last_leader.lock();
        if is_leader_change(*last, leader) {
            self.leader_changes_seen.inc();
        }
        *last = leader;
        self.has_leader.set(i64::from(leader.is_some()));
        self.is_leader
            .set(i64::from(leader == Some(self.member_id)));
    }

    /// Leader changes counted so far.
    pub fn leader_changes_seen(&self) -> u64 {
        self.leader_changes_seen.get()
    }

    /// The committed Raft index.
    pub fn set_committed(&self, index: u64) {
        self.proposals_committed.set(index as i64);
    }

    /// The applied Raft index.
    pub fn set_applied(&self, index: u64) {
        self.proposals_applied.set(index as i64);
    }

    /// Counts a proposal as pending until the returned guard is dropped.
    pub fn start_proposal(&self) -> PendingProposal<'_> {
        self.proposals_pending.inc();
        PendingProposal {
            pending: &self.proposals_pending,
        }
    }

    /// Proposals pending now.
    pub fn proposals_pending(&self) -> i64 {
        self.proposals_pending.get()
    }

    /// Counts a proposal Raft refused or lost (not leader, leader changed,
    /// stopped); a proposal that was applied and answered with an error
    /// (a failed compare, NOSPACE) is not a failed proposal.
    pub fn proposal_failed(&self) {
        self.proposals_failed.inc();
    }

    /// Records one fsync of the Raft log.
    pub fn record_wal_fsync(&self, took: Duration) {
        self.wal_fsync_duration.observe(took.as_secs_f64());
    }

    /// Runs `fsync` (a Raft log sync) and records how long it took.
    pub fn time_wal_fsync<T>(&self, fsync: impl FnOnce() -> T) -> T {
        let stopwatch = Stopwatch::start();
        let outcome = fsync();
        self.record_wal_fsync(stopwatch.elapsed());
        outcome
    }

    /// Records one commit of a store batch.
    pub fn record_backend_commit(&self, took: Duration) {
        self.backend_commit_duration.observe(took.as_secs_f64());
    }

    /// Runs `commit` (one atomic store write) and records how long it took.
    pub fn time_backend_commit<T>(&self, commit: impl FnOnce() -> T) -> T {
        let stopwatch = Stopwatch::start();
        let outcome = commit();
        self.record_backend_commit(stopwatch.elapsed());
        outcome
    }

    /// The store's size on disk.
    pub fn set_db_size(&self, bytes: u64) {
        self.db_total_size.set(bytes as i64);
    }

    /// The backend quota in force.
    pub fn set_quota_backend_bytes(&self, bytes: u64) {
        self.quota_backend_bytes.set(bytes as i64);
    }

    /// Records one round trip to peer `to` (a heartbeat: no entries, so
    /// the time is the network's and the peer's, not the payload's).
    pub fn record_peer_rtt(&self, to: u64, took: Duration) {
        self.peer_round_trip_time
            .with_label_values(&[member_id_label(to)])
            .observe(took.as_secs_f64());
    }

    /// Counts a call to peer `to` that failed.
    pub fn record_peer_send_failure(&self, to: u64) {
        self.peer_sent_failures
            .with_label_values(&[member_id_label(to)])
            .inc();
    }

    /// Drops peer `to`'s series (it left the cluster), so the label set
    /// stays bounded by the membership.
    pub fn forget_peer(&self, to: u64) {
        let label = [member_id_label(to)];
        // Absent series (a peer never measured) are fine to forget.
        let _ = self.peer_round_trip_time.remove_label_values(&label);
        let _ = self.peer_sent_failures.remove_label_values(&label);
    }

    /// Counts one `/health` answer.
    pub fn record_health(&self, health: &Health) {
        match health {
            Health::Healthy => self.health_success.inc(),
            Health::Unhealthy(_) => self.health_failures.inc(),
        }
    }

    /// Every metric in Prometheus' text format ([`TEXT_CONTENT_TYPE`]).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text)?;
        Ok(text)
    }
}

impl Default for Metrics {
    /// Metrics of member 0: for tests and tools that record but never serve.
    fn default() -> Self {
        Self::new(0)
    }
}

#[cfg(test)]
mod tests;

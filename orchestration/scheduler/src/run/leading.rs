//! One term of leadership: informers started, the state built from their
//! first lists, then one loop taking turns between watch events, write
//! outcomes, timers and scheduling, until the term ends; everything is
//! dropped then (binds under way are aborted: the next leader reads
//! whatever keel holds).
//!
//! ```text
//!   start: SharedInformer nodes, pods ─► first Listed of each ─► State
//!   loop:  schedule while binds in flight < max and a pod is ready
//!          then wait for one of: the end of the term, a node event, pod
//!          events (up to EVENTS_PER_TURN_MAX at once), a write's outcome,
//!          the next backoff's end, the flush of leftover unschedulable pods
//! ```

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources;
use keel_client::Client;
use keel_runtime::events::{Notice, Source};
use keel_runtime::{Cache, Event, InformerError, Recorder, SharedInformer, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::feed::{namespace_and_name, State};
use super::writes::{self, BindFailure, Outcome};
use super::{Clock, Metrics, Options};
use crate::diagnosis::FAILED_SCHEDULING_EVENT_REASON;
use crate::model::{PodInfo, PodKey};
use crate::random::SplitMix64;
use crate::schedule::{schedule, SearchState};

/// Watch events applied in one turn before the loop schedules again: a
/// burst (a relist, thousands of new pods) is taken in large bites
/// without starving the binds.
const EVENTS_PER_TURN_MAX: usize = 256;
/// How often pods left unschedulable too long are tried again
/// (kube-scheduler's `flushUnschedulablePodsLeftover` runs every 30 s).
const UNSCHEDULABLE_FLUSH_INTERVAL: Duration = Duration::from_secs(30);
/// The reason of the event of a pod bound (`Scheduled`).
const SCHEDULED_EVENT_REASON: &str = "Scheduled";

/// Runs the scheduler until `ended` resolves (the term is over).
pub(super) async fn lead_term(client: Client, options: Options, mut ended: oneshot::Receiver<()>) {
    Metrics::add(&options.metrics.terms, 1);
    let started = tokio::select! {
        started = Scheduler::start(&client, options) => started,
        _ = &mut ended => return,
    };
    match started {
        Ok(scheduler) => scheduler.run(ended).await,
        Err(error) => tracing::warn!(%error, "the scheduler's informers could not start"),
    }
}

/// The scheduler of one term.
struct Scheduler {
    state: State,
    /// Kept so that their caches and events live as long as the term.
    _informers: [SharedInformer; 2],
    node_events: mpsc::Receiver<Event>,
    pod_events: mpsc::Receiver<Event>,
    node_cache: Cache,
    pod_cache: Cache,
    store: Store,
    recorder: Recorder,
    writes: JoinSet<Outcome>,
    search: SearchState,
    random: SplitMix64,
    clock: Clock,
    options: Options,
}

impl Scheduler {
    async fn start(client: &Client, options: Options) -> Result<Self, InformerError> {
        let nodes = SharedInformer::start(client, resources::of::<Node>(), "").await?;
        let pods = SharedInformer::start(client, resources::of::<Pod>(), "").await?;
        let store = Store::new(client.clone());
        let recorder = Recorder::new(
            store.clone(),
            Source {
                component: options.scheduler_name.clone(),
                host: String::new(),
            },
        );
        Ok(Self {
            state: State::new(&options.scheduler_name, options.queue.clone()),
            node_events: nodes.subscribe(),
            pod_events: pods.subscribe(),
            node_cache: nodes.cache(),
            pod_cache: pods.cache(),
            _informers: [nodes, pods],
            store,
            recorder,
            writes: JoinSet::new(),
            search: SearchState {
                next_start_index: 0,
                percentage_of_nodes_to_score: options.percentage_of_nodes_to_score,
            },
            random: SplitMix64::new(options.seed),
            clock: Clock::start(),
            options,
        })
    }

    async fn run(mut self, mut ended: oneshot::Receiver<()>) {
        let mut flush = tokio::time::interval(UNSCHEDULABLE_FLUSH_INTERVAL);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Each subscription begins with a Listed: the nodes first, so the
        // first pods are searched for on every node.
        self.sync_first_lists().await;
        tracing::info!(
            nodes = self.state.cluster.node_count(),
            pending = self.state.queue.len(),
            "scheduling"
        );
        loop {
            self.schedule_ready();
            let backoff_end = self
                .state
                .queue
                .next_backoff_expiry()
                .map(|at| self.clock.instant(at));
            tokio::select! {
                biased;
                _ = &mut ended => break,
                Some(done) = self.writes.join_next(), if !self.writes.is_empty() => {
                    match done {
                        Ok(outcome) => self.settle(outcome),
                        Err(error) => tracing::error!(%error, "a scheduler write panicked"),
                    }
                }
                Some(event) = self.node_events.recv() => self.apply_node(event),
                Some(event) = self.pod_events.recv() => {
                    self.apply_pod(event);
                    for _ in 1..EVENTS_PER_TURN_MAX {
                        let Ok(event) = self.pod_events.try_recv() else { break };
                        self.apply_pod(event);
                    }
                }
                () = sleep_until(backoff_end) => {}
                _ = flush.tick() => {
                    let now = self.clock.now();
                    self.state.queue.flush_unschedulable_leftover(now);
                }
            }
        }
        tracing::info!("the term ended; the scheduler stops");
    }

    async fn sync_first_lists(&mut self) {
        if let Some(event) = self.node_events.recv().await {
            self.apply_node(event);
        }
        if let Some(event) = self.pod_events.recv().await {
            self.apply_pod(event);
        }
    }

    fn timed(&self, counter: &AtomicU64, since: Duration) {
        let spent = self.clock.now().saturating_sub(since);
        Metrics::add(counter, spent.as_nanos() as u64);
    }

    fn apply_node(&mut self, event: Event) {
        let now = self.clock.now();
        match event {
            Event::Added(node) => self.state.node_upserted(None, &node, now),
            Event::Modified { old, new } => self.state.node_upserted(Some(&old), &new, now),
            Event::Deleted(node) => self.state.node_deleted(&node),
            Event::Listed { .. } => {
                for node in self.node_cache.list() {
                    self.state.node_upserted(None, &node, now);
                }
            }
        }
        Metrics::add(&self.options.metrics.events, 1);
        self.timed(&self.options.metrics.feed_nanos, now);
    }

    fn apply_pod(&mut self, event: Event) {
        let now = self.clock.now();
        let queued = match event {
            Event::Added(pod) => self.state.pod_upserted(None, &pod, now),
            Event::Modified { old, new } => self.state.pod_upserted(Some(&old), &new, now),
            Event::Deleted(pod) => {
                self.state.pod_deleted(&pod, now);
                Ok(())
            }
            Event::Listed { .. } => self
                .pod_cache
                .list()
                .iter()
                .try_for_each(|pod| self.state.pod_upserted(None, pod, now)),
        };
        if let Err(error) = queued {
            tracing::warn!(%error, "a pending pod is left out");
        }
        Metrics::add(&self.options.metrics.events, 1);
        self.timed(&self.options.metrics.feed_nanos, now);
    }

    /// Schedules pods while any is ready and writes may start.
    fn schedule_ready(&mut self) {
        while self.writes.len() < self.options.binds_in_flight.max(1) {
            let now = self.clock.now();
            let Some(key) = self.state.queue.pop(now) else {
                return;
            };
            self.schedule_one(key, now);
        }
    }

    fn schedule_one(&mut self, key: PodKey, now: Duration) {
        let (namespace, name) = namespace_and_name(&key);
        let Some(pod) = self.pod_cache.get(namespace, name) else {
            self.state.queue.remove(&key);
            return;
        };
        let info = PodInfo::from_pod(&pod);
        if !self.state.wants(&info) {
            self.state.queue.remove(&key);
            return;
        }
        let metrics = &self.options.metrics;
        Metrics::add(&metrics.attempts, 1);
        let decided = schedule(
            &self.state.cluster,
            &info,
            &mut self.search,
            &mut self.random,
        );
        self.timed(&self.options.metrics.schedule_nanos, now);
        match decided {
            Ok(decision) => {
                if let Err(error) = self.state.cluster.assume(&info, &decision.node_name) {
                    tracing::warn!(%error, "a placed pod could not be assumed");
                    self.state.queue.remove(&key);
                    return;
                }
                // The pod stays in flight in the queue until its bind ends.
                let store = self.store.clone();
                let started = self.clock;
                let metrics = std::sync::Arc::clone(&self.options.metrics);
                let read_first = self.options.bind_reads_first;
                self.writes.spawn(async move {
                    let at = started.now();
                    let node = decision.node_name;
                    let outcome = writes::bind(store, key, pod, node, read_first).await;
                    Metrics::add(
                        &metrics.bind_nanos,
                        started.now().saturating_sub(at).as_nanos() as u64,
                    );
                    outcome
                });
            }
            Err(diagnosis) => {
                Metrics::add(&self.options.metrics.unschedulable, 1);
                let message = diagnosis.message();
                tracing::debug!(pod = %key, %message, "unschedulable");
                self.recorder.record(
                    &pod,
                    Notice::warning(FAILED_SCHEDULING_EVENT_REASON, &message),
                );
                self.state.queue.unschedulable(&key, now);
                let current = writes::with_unschedulable_condition(&pod, &message, "");
                if current.is_some() {
                    let store = self.store.clone();
                    self.writes
                        .spawn(writes::unschedulable(store, key, info.uid, message));
                }
            }
        }
    }

    /// A write ended.
    fn settle(&mut self, outcome: Outcome) {
        let now = self.clock.now();
        let metrics = &self.options.metrics;
        match outcome {
            Outcome::Bound { key, node, pod } => {
                Metrics::add(&metrics.binds, 1);
                self.state.queue.done(&key);
                self.state.cluster.finish_binding(&key, now);
                let (namespace, name) = namespace_and_name(&key);
                let message = format!("Successfully assigned {namespace}/{name} to {node}");
                self.recorder
                    .record(&pod, Notice::normal(SCHEDULED_EVENT_REASON, &message));
            }
            Outcome::BindFailed { key, node, error } => {
                Metrics::add(&metrics.bind_failures, 1);
                self.state.cluster.forget(&key);
                match writes::bind_failure(&error) {
                    BindFailure::Settled => {
                        tracing::debug!(pod = %key, %node, %error, "bind settled elsewhere");
                        self.state.queue.remove(&key);
                    }
                    BindFailure::Retry => {
                        tracing::warn!(pod = %key, %node, %error, "bind failed; backing off");
                        self.state.queue.error(&key, now);
                        let (namespace, name) = namespace_and_name(&key);
                        if let Some(pod) = self.pod_cache.get(namespace, name) {
                            let message = format!("Binding rejected: {error}");
                            self.recorder.record(
                                &pod,
                                Notice::warning(FAILED_SCHEDULING_EVENT_REASON, &message),
                            );
                        }
                    }
                }
            }
            Outcome::ConditionWritten { key, result } => {
                if let Err(error) = result {
                    tracing::debug!(pod = %key, %error, "the PodScheduled condition was not written");
                }
            }
        }
    }
}

/// Sleeps until `at`, or for ever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

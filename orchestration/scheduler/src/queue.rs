//! The scheduling queue: which pending pod to try next, and when a pod
//! that fit nowhere is tried again (kube-scheduler's `PriorityQueue`,
//! `pkg/scheduler/backend/queue/scheduling_queue.go`), as plain data over
//! time passed in.
//!
//! ```text
//!   add ─► active (highest priority first, then oldest) ─► pop ─► in flight
//!                ▲                       ▲                        │ done: leaves the queue
//!                │ backoff over          │ event (node add/update, │ unschedulable
//!            backoff ◄───────────────── unschedulable ◄───────────┘
//!                         event, backoff not over
//! ```
//!
//! - A pod that fit nowhere waits in *unschedulable* until something
//!   happens that could change the answer: any node added or updated, or
//!   any pod deleted (kept simple: kube-scheduler asks each plugin's
//!   queueing hints; here every such event moves every unschedulable pod).
//!   It then goes to *active* if its backoff is over, else to *backoff*.
//!   If the event came while the pod was being scheduled, the pod goes
//!   straight to backoff when it fails (the event may already help).
//! - Backoff is 1 s after the first failure, doubling per failure up to
//!   10 s (`podInitialBackoffSeconds`, `podMaxBackoffSeconds`); both are
//!   fields of [`QueueConfig`].
//! - A pod left unschedulable longer than `max_in_unschedulable` (5 min)
//!   is tried again anyway ([`SchedulingQueue::flush_unschedulable_leftover`]).
//! - Bound and deleted pods leave the queue ([`SchedulingQueue::remove`]).
//! - The queue holds at most [`QueueConfig::capacity`] pods.
//!
//! Time is a [`Duration`] since an origin the caller chooses.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::model::PodKey;

/// The default bound on queued pods: ten times the 10,000 pending pods of
/// the benchmark the scheduler is sized for; a queue entry is ~100 bytes,
/// so a full queue stays around 10 MB.
pub const PENDING_PODS_MAX: usize = 100_000;

/// The queue's timings and bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Backoff after the first failure (`podInitialBackoffSeconds`, 1 s).
    pub initial_backoff: Duration,
    /// The longest backoff (`podMaxBackoffSeconds`, 10 s).
    pub max_backoff: Duration,
    /// How long a pod may stay unschedulable before it is tried again
    /// without an event (`podMaxInUnschedulablePodsDuration`, 5 min).
    pub max_in_unschedulable: Duration,
    /// The most pods the queue holds.
    pub capacity: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: Duration::from_secs(300),
            capacity: PENDING_PODS_MAX,
        }
    }
}

/// Why a pod could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue holds `capacity` pods already.
    #[error("the scheduling queue is full ({0} pods)")]
    Full(usize),
}

/// Where a queued pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Ready to be tried.
    Active,
    /// Waiting for its backoff to end.
    Backoff,
    /// Waiting for an event that could change the answer.
    Unschedulable,
    /// Popped, being scheduled.
    InFlight,
}

#[derive(Debug, Clone)]
struct Entry {
    priority: i32,
    /// When it last entered the queue (orders pods of equal priority).
    timestamp: Duration,
    /// Ties of equal timestamps in arrival order.
    sequence: u64,
    /// Failed attempts so far.
    failures: u32,
    backoff_expiry: Duration,
    location: Location,
    /// The scheduling cycle it was popped in.
    cycle: u64,
}

type ActiveKey = (Reverse<i32>, Duration, u64, PodKey);
type BackoffKey = (Duration, u64, PodKey);

/// The scheduling queue.
#[derive(Debug, Clone, Default)]
pub struct SchedulingQueue {
    config: QueueConfig,
    entries: HashMap<PodKey, Entry>,
    active: BTreeSet<ActiveKey>,
    backoff: BTreeSet<BackoffKey>,
    unschedulable: HashSet<PodKey>,
    next_sequence: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// How many pods are queued (in flight included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no pod is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the pod is, if queued.
    pub fn location(&self, key: &PodKey) -> Option<Location> {
        self.entries.get(key).map(|e| e.location)
    }

    /// The backoff after `failures` failed attempts: initial, doubled per
    /// further failure, capped (`calculateBackoffDuration`).
    pub fn backoff_duration(&self, failures: u32) -> Duration {
        let mut duration = self.config.initial_backoff;
        for _ in 1..failures {
            if duration >= self.config.max_backoff.saturating_sub(duration) {
                return self.config.max_backoff;
            }
            duration += duration;
        }
        duration.min(self.config.max_backoff)
    }

    /// A pending pod was seen (added, or updated: its priority may have
    /// changed). An update of an unschedulable pod may make it fit, so it
    /// moves on as an event would move it.
    pub fn add(&mut self, key: &PodKey, priority: i32, now: Duration) -> Result<(), QueueError> {
        if let Some(entry) = self.entries.get(key) {
            let location = entry.location;
            if entry.priority != priority {
                self.detach(key);
                self.entries.get_mut(key).expect("present").priority = priority;
                self.attach(key, location);
            }
            if location == Location::Unschedulable {
                self.move_out_of_unschedulable(key, now);
            }
            return Ok(());
        }
        if self.entries.len() >= self.config.capacity {
            return Err(QueueError::Full(self.config.capacity));
        }
        let sequence = self.sequence();
        self.entries.insert(
            key.clone(),
            Entry {
                priority,
                timestamp: now,
                sequence,
                failures: 0,
                backoff_expiry: now,
                location: Location::Active,
                cycle: 0,
            },
        );
        self.attach(key, Location::Active);
        Ok(())
    }

    /// The pod was bound or deleted: it leaves the queue. Returns whether
    /// it was queued.
    pub fn remove(&mut self, key: &PodKey) -> bool {
        if !self.entries.contains_key(key) {
            return false;
        }
        self.detach(key);
        self.entries.remove(key);
        true
    }

    /// The next pod to schedule (after moving the pods whose backoff is
    /// over to active); it is in flight until `done`, `unschedulable` or
    /// `remove`.
    pub fn pop(&mut self, now: Duration) -> Option<PodKey> {
        self.flush_backoff(now);
        let first = self.active.pop_first()?;
        let key = first.3;
        self.scheduling_cycle += 1;
        let entry = self
            .entries
            .get_mut(&key)
            .expect("an active pod has an entry");
        entry.location = Location::InFlight;
        entry.cycle = self.scheduling_cycle;
        Some(key)
    }

    /// The pod was placed (assumed): it leaves the queue.
    pub fn done(&mut self, key: &PodKey) {
        self.remove(key);
    }

    /// The pod fit nowhere at `now`: its backoff grows, and it waits for an
    /// event (or, if an event came while it was in flight, for its backoff).
    pub fn unschedulable(&mut self, key: &PodKey, now: Duration) {
        let moved_since_pop = self.move_request_cycle;
        let Some(entry) = self.count_failure(key, now) else {
            return;
        };
        let location = if moved_since_pop >= entry.cycle {
            if entry.backoff_expiry <= now {
                Location::Active
            } else {
                Location::Backoff
            }
        } else {
            Location::Unschedulable
        };
        self.attach(key, location);
    }

    /// The pod failed by an error, not by a filter (its bind failed): its
    /// backoff grows and it waits for it, not for an event, as
    /// kube-scheduler sends a pod that no plugin found unschedulable to
    /// its backoff queue (`AddUnschedulableIfNotPresent`).
    pub fn error(&mut self, key: &PodKey, now: Duration) {
        if self.count_failure(key, now).is_some() {
            self.attach(key, Location::Backoff);
        }
    }

    /// Takes a queued pod out of its place and counts a failure at `now`
    /// (its backoff grows); the caller puts it where it goes next.
    fn count_failure(&mut self, key: &PodKey, now: Duration) -> Option<&Entry> {
        let failures = self.entries.get(key)?.failures + 1;
        let backoff = self.backoff_duration(failures);
        self.detach(key);
        let sequence = self.sequence();
        let entry = self.entries.get_mut(key).expect("present");
        entry.failures = failures;
        entry.timestamp = now;
        entry.sequence = sequence;
        entry.backoff_expiry = now + backoff;
        Some(entry)
    }

    /// Something that could make unschedulable pods fit happened (a node
    /// added or updated, a pod deleted): every unschedulable pod moves to
    /// active, or to backoff while its backoff lasts.
    pub fn move_all_to_active_or_backoff(&mut self, now: Duration) {
        self.move_request_cycle = self.scheduling_cycle;
        let keys: Vec<PodKey> = self.unschedulable.iter().cloned().collect();
        for key in keys {
            self.move_out_of_unschedulable(&key, now);
        }
    }

    /// Moves the pods whose backoff is over by `now` to active.
    pub fn flush_backoff(&mut self, now: Duration) {
        while let Some(first) = self.backoff.first() {
            if first.0 > now {
                break;
            }
            let key = first.2.clone();
            self.detach(&key);
            self.attach(&key, Location::Active);
        }
    }

    /// Moves the pods unschedulable for longer than `max_in_unschedulable`
    /// on (kube-scheduler does this every 30 s).
    pub fn flush_unschedulable_leftover(&mut self, now: Duration) {
        let limit = self.config.max_in_unschedulable;
        let stale: Vec<PodKey> = self
            .unschedulable
            .iter()
            .filter(|key| self.entries[*key].timestamp + limit <= now)
            .cloned()
            .collect();
        for key in stale {
            self.move_out_of_unschedulable(&key, now);
        }
    }

    /// When the next backoff ends, for the caller's timer.
    pub fn next_backoff_expiry(&self) -> Option<Duration> {
        self.backoff.first().map(|first| first.0)
    }

    fn move_out_of_unschedulable(&mut self, key: &PodKey, now: Duration) {
        let expiry = self.entries[key].backoff_expiry;
        self.detach(key);
        let location = if expiry <= now {
            Location::Active
        } else {
            Location::Backoff
        };
        self.attach(key, location);
    }

    fn sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// Takes the pod out of the structure of its location.
    fn detach(&mut self, key: &PodKey) {
        let entry = &self.entries[key];
        let found = match entry.location {
            Location::Active => self.active.remove(&(
                Reverse(entry.priority),
                entry.timestamp,
                entry.sequence,
                key.clone(),
            )),
            Location::Backoff => {
                self.backoff
                    .remove(&(entry.backoff_expiry, entry.sequence, key.clone()))
            }
            Location::Unschedulable => self.unschedulable.remove(key),
            Location::InFlight => true,
        };
        assert!(found, "a queued pod is where its entry says");
    }

    /// Puts the pod into the structure of `location`.
    fn attach(&mut self, key: &PodKey, location: Location) {
        let entry = self.entries.get_mut(key).expect("attach a queued pod");
        entry.location = location;
        match location {
            Location::Active => {
                self.active.insert((
                    Reverse(entry.priority),
                    entry.timestamp,
                    entry.sequence,
                    key.clone(),
                ));
            }
            Location::Backoff => {
                self.backoff
                    .insert((entry.backoff_expiry, entry.sequence, key.clone()));
            }
            Location::Unschedulable => {
                self.unschedulable.insert(key.clone());
            }
            Location::InFlight => {}
        }
    }
}

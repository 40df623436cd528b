//! A controller's work queue: which keys to reconcile, and when. Pure data
//! over time passed in (`now`, a [`Duration`] since an origin the caller
//! picks) and a seeded generator for jitter, so every rule is tested
//! without a clock. The runner in [`crate::controller`] drives it.
//!
//! ```text
//!            add(key, at) ─┐ (deduped: a waiting key keeps its earliest time)
//!                          ▼
//!   waiting ─ pop(now): earliest due key ─► running ─ done(key, outcome, now)
//!      ▲                                       │  Done            ─► forget failures
//!      │  add(key) while running: "again" ─────┤  RequeueAfter(d) ─► waiting at now + d
//!      └───────────────────────────────────────┘  Failed          ─► waiting at now + backoff
//! ```
//!
//! The rules are client-go's workqueue (util/workqueue/queue.go: a key is
//! queued once however often it is added, and a key added while being
//! processed is processed again only after `Done`) with its delaying and
//! rate-limiting layers folded in (delaying_queue.go,
//! default_rate_limiters.go: `ItemExponentialFailureRateLimiter(5ms,
//! 1000s)`), and kube-runtime's scheduler (runtime/src/scheduler.rs: a
//! message scheduled twice runs at the earlier time; messages for a key
//! being reconciled are held until it finishes).
//!
//! The queue is bounded: it knows at most [`QueueOptions::keys_max`] keys,
//! waiting and running together. Adding a new key to a full queue is
//! refused with [`QueueFull`] and the key is not remembered; a key the
//! queue already knows is never refused (a requeue after an error or a
//! delay, or a change while running, takes no new room). The runner answers
//! a refusal by reconciling every cached object once there is room again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How many keys a queue knows when not told otherwise: a cluster's worth
/// of pods (Kubernetes supports 150,000 pods per cluster) fits, and a key
/// costs little.
pub const QUEUE_KEYS_MAX_DEFAULT: usize = 150_000;

/// How long to wait before retrying after failures: exponential, bounded,
/// with jitter.
///
/// After the `n`th failure in a row (n ≥ 1) the delay is
/// `d = min(base · 2^(n−1), max)`, made smaller by a random part of at
/// most `jitter_percent`% of itself: it lies in `[d − d·jitter/100, d]`.
/// Jitter only shortens, so the delay never passes `max`, and with jitter
/// under 50% each delay is longer than the one before until `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How much of a delay jitter may take off, in percent (0 to 100).
    pub jitter_percent: u32,
}

impl Default for Backoff {
    /// client-go's default per-item limiter (5 ms doubling to 1000 s), with
    /// 10% jitter so that keys failing together do not retry together.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(5),
            max: Duration::from_secs(1000),
            jitter_percent: 10,
        }
    }
}

impl Backoff {
    /// The delay before the next try after `failures` failures in a row
    /// (at least 1), with jitter drawn from `rng`.
    pub fn delay(&self, failures: u32, rng: &mut JitterRng) -> Duration {
        assert!(failures >= 1, "a backoff follows a failure");
        assert!(self.jitter_percent <= 100, "jitter is a percentage");
        let full = self.undithered(failures);
        let span = full.as_nanos() * u128::from(self.jitter_percent) / 100;
        let cut = if span == 0 {
            0
        } else {
            u128::from(rng.next_u64()) % (span + 1)
        };
        // At most `full`'s nanoseconds.
        duration_from_nanos(full.as_nanos() - cut)
    }

    /// The delay after `failures` failures, before jitter.
    pub fn undithered(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1);
        let delay_nanos = 1u128
            .checked_shl(doublings)
            .and_then(|factor| self.base.as_nanos().checked_mul(factor))
            .map_or(self.max.as_nanos(), |nanos| nanos.min(self.max.as_nanos()));
        // At most `max`'s nanoseconds.
        duration_from_nanos(delay_nanos)
    }
}

/// The duration of `nanos` nanoseconds, which are at most some
/// Duration's (so its seconds fit a u64).
fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    Duration::new(
        (nanos / NANOS_PER_SEC) as u64,
        (nanos % NANOS_PER_SEC) as u32,
    )
}

/// A small seeded generator (SplitMix64) for jitter: one seed, one
/// sequence, on every machine.
#[derive(Debug, Clone)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }
}

/// How a queue behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// The most keys the queue knows, waiting and running together.
    pub keys_max: usize,
    /// The delays after failures.
    pub backoff: Backoff,
    /// The seed of the jitter generator.
    pub jitter_seed: u64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            keys_max: QUEUE_KEYS_MAX_DEFAULT,
            backoff: Backoff::default(),
            jitter_seed: 0,
        }
    }
}

/// How a reconcile ended, as the queue needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded; nothing more to do until the key is added again.
    Done,
    /// It succeeded and asked to run again after this long.
    RequeueAfter(Duration),
    /// It failed: run again after the backoff.
    Failed,
}

/// A new key was refused: the queue knows [`QueueOptions::keys_max`] keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the work queue is full ({keys_max} keys)")]
pub struct QueueFull {
    /// The queue's bound.
    pub keys_max: usize,
}

/// The work queue: keys waiting (each with the time it is due), keys
/// running, and failure counts.
#[derive(Debug, Clone)]
pub struct WorkQueue<K: Ord + Clone> {
    options: QueueOptions,
    /// Each waiting key's due time and the sequence number it was queued
    /// with (which breaks ties in first-come order).
    waiting: BTreeMap<K, (Duration, u64)>,
    /// The waiting keys by (due, sequence).
    due_order: BTreeSet<(Duration, u64, K)>,
    /// The running keys, each with when it must run again once done (set
    /// when it was added while running).
    running: BTreeMap<K, Option<Duration>>,
    /// Failures in a row, for keys that failed last time they ran.
    failures: BTreeMap<K, u32>,
    sequence: u64,
    rng: JitterRng,
}

impl<K: Ord + Clone> WorkQueue<K> {
    /// An empty queue.
    pub fn new(options: QueueOptions) -> Self {
        assert!(options.keys_max > 0, "a queue holds at least one key");
        Self {
            options,
            waiting: BTreeMap::new(),
            due_order: BTreeSet::new(),
            running: BTreeMap::new(),
            failures: BTreeMap::new(),
            sequence: 0,
            rng: JitterRng::new(options.jitter_seed),
        }
    }

    /// Asks for `key` to be reconciled at `at` (pass `now` for "as soon as
    /// possible"). A key already waiting keeps the earlier of its times; a
    /// running key runs again once done, at the earliest time asked.
    pub fn add(&mut self, key: K, at: Duration) -> Result<(), QueueFull> {
        if let Some(again) = self.running.get_mut(&key) {
            *again = Some(again.map_or(at, |again| again.min(at)));
            return Ok(());
        }
        if !self.waiting.contains_key(&key) && self.len() >= self.options.keys_max {
            return Err(QueueFull {
                keys_max: self.options.keys_max,
            });
        }
        self.wait(key, at);
        Ok(())
    }

    /// Puts a key that is not running in the waiting set at `at`, or
    /// earlier if it already waits for an earlier time.
    fn wait(&mut self, key: K, at: Duration) {
        debug_assert!(!self.running.contains_key(&key), "a key waits or runs");
        if let Some(&(due, sequence)) = self.waiting.get(&key) {
            if due <= at {
                return;
            }
            self.due_order.remove(&(due, sequence, key.clone()));
        }
        self.sequence += 1;
        self.waiting.insert(key.clone(), (at, self.sequence));
        self.due_order.insert((at, self.sequence, key));
    }

    /// Takes the waiting key due first, if it is due by `now`, and marks
    /// it running.
    pub fn pop(&mut self, now: Duration) -> Option<K> {
        let first = self.due_order.first()?;
        if first.0 > now {
            return None;
        }
        let (_, _, key) = self.due_order.pop_first()?;
        self.waiting.remove(&key);
        let before = self.running.insert(key.clone(), None);
        assert!(before.is_none(), "a waiting key is not running");
        Some(key)
    }

    /// Records that `key`'s reconcile ended with `outcome` at `now`, and
    /// answers when the key is due again, if it is.
    ///
    /// Panics if `key` is not running: the caller lost track of its keys.
    pub fn done(&mut self, key: &K, outcome: Outcome, now: Duration) -> Option<Duration> {
        let again = self
            .running
            .remove(key)
            .expect("done is called once for each key popped");
        let next = match outcome {
            Outcome::Done => {
                self.failures.remove(key);
                again
            }
            Outcome::RequeueAfter(delay) => {
                self.failures.remove(key);
                Some(earliest(again, now + delay))
            }
            Outcome::Failed => {
                let failures = self.failures.entry(key.clone()).or_insert(0);
                *failures = failures.saturating_add(1);
                let delay = self.options.backoff.delay(*failures, &mut self.rng);
                Some(earliest(again, now + delay))
            }
        };
        if let Some(at) = next {
            self.wait(key.clone(), at);
        }
        next
    }

    /// When the first waiting key is due, if any waits.
    pub fn next_due(&self) -> Option<Duration> {
        self.due_order.first().map(|(due, _, _)| *due)
    }

    /// How many keys the queue knows, waiting and running.
    pub fn len(&self) -> usize {
        self.waiting.len() + self.running.len()
    }

    /// Whether it knows no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys are running.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Whether `key` is running.
    pub fn is_running(&self, key: &K) -> bool {
        self.running.contains_key(key)
    }

    /// When `key` is due, if it waits.
    pub fn due(&self, key: &K) -> Option<Duration> {
        self.waiting.get(key).map(|(due, _)| *due)
    }

    /// How many times in a row `key` failed.
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }

    /// The bound on [`WorkQueue::len`].
    pub fn keys_max(&self) -> usize {
        self.options.keys_max
    }
}

/// The earlier of an optional time and a time.
fn earliest(again: Option<Duration>, at: Duration) -> Duration {
    again.map_or(at, |again| again.min(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn queue(keys_max: usize) -> WorkQueue<&'static str> {
        WorkQueue::new(QueueOptions {
            keys_max,
            ..QueueOptions::default()
        })
    }

    #[test]
    fn a_key_added_many_times_is_reconciled_once() {
        let mut queue = queue(10);
        for _ in 0..5 {
            queue.add("a", Duration::ZERO).unwrap();
        }
        queue.add("b", Duration::ZERO).unwrap();
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop(Duration::ZERO), Some("a"), "first come first");
        assert_eq!(queue.pop(Duration::ZERO), Some("b"));
        assert_eq!(queue.pop(Duration::ZERO), None);
    }

    #[test]
    fn a_key_changed_while_running_runs_again_after_and_never_twice_at_once() {
        let mut queue = queue(10);
        queue.add("a", Duration::ZERO).unwrap();
        assert_eq!(queue.pop(Duration::ZERO), Some("a"));
        queue.add("a", MS).unwrap();
        queue.add("a", 2 * MS).unwrap();
        assert!(queue.is_running(&"a"));
        assert_eq!(queue.pop(10 * MS), None, "not while it runs");
        assert_eq!(queue.len(), 1, "a running key takes one place");

        assert_eq!(queue.done(&"a", Outcome::Done, 3 * MS), Some(MS));
        assert_eq!(queue.pop(3 * MS), Some("a"), "again, once");
        assert_eq!(queue.done(&"a", Outcome::Done, 4 * MS), None);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_key_keeps_its_earliest_time() {
        let mut queue = queue(10);
        queue.add("a", 50 * MS).unwrap();
        queue.add("a", 80 * MS).unwrap();
        assert_eq!(queue.due(&"a"), Some(50 * MS));
        queue.add("a", 20 * MS).unwrap();
        assert_eq!(queue.next_due(), Some(20 * MS));
        assert_eq!(queue.pop(19 * MS), None);
        assert_eq!(queue.pop(20 * MS), Some("a"));
    }

    #[test]
    fn a_requested_delay_requeues_and_forgets_failures() {
        let mut queue = queue(10);
        queue.add("a", Duration::ZERO).unwrap();
        queue.pop(Duration::ZERO);
        queue.done(&"a", Outcome::Failed, Duration::ZERO);
        assert_eq!(queue.failures(&"a"), 1);
        let due = queue.next_due().unwrap();
        queue.pop(due);
        let again = queue.done(&"a", Outcome::RequeueAfter(30 * MS), 100 * MS);
        assert_eq!(again, Some(130 * MS));
        assert_eq!(queue.failures(&"a"), 0);
        // A change before then moves it earlier.
        queue.add("a", 110 * MS).unwrap();
        assert_eq!(queue.pop(110 * MS), Some("a"));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_bound_within_the_jitter() {
        let backoff = Backoff::default();
        let mut queue = queue(10);
        queue.add("a", Duration::ZERO).unwrap();
        let mut now = Duration::ZERO;
        let mut previous = Duration::ZERO;
        for failures in 1..=40u32 {
            assert_eq!(queue.pop(now), Some("a"));
            let due = queue.done(&"a", Outcome::Failed, now).unwrap();
            let delay = due.checked_sub(now).unwrap();
            let full = (5 * MS * 2u32.pow((failures - 1).min(20))).min(backoff.max);
            assert_eq!(backoff.undithered(failures), full, "failure {failures}");
            assert!(delay <= full, "failure {failures}: {delay:?} > {full:?}");
            assert!(
                delay >= full.checked_sub(full / 10).unwrap(),
                "failure {failures}: {delay:?}"
            );
            if full < backoff.max {
                assert!(delay > previous, "failure {failures}: grows");
            }
            assert_eq!(
                queue.pop(due.checked_sub(Duration::from_nanos(1)).unwrap()),
                None,
                "not before"
            );
            previous = delay;
            now = due;
        }
        assert_eq!(queue.failures(&"a"), 40);
        assert_eq!(queue.pop(now), Some("a"));
        queue.done(&"a", Outcome::Done, now);
        assert_eq!(queue.failures(&"a"), 0, "a success forgets");
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads_out() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(1),
            jitter_percent: 20,
        };
        let mut rng = JitterRng::new(7);
        let delays: BTreeSet<Duration> = (0..1000).map(|_| backoff.delay(1, &mut rng)).collect();
        assert!(delays.first().unwrap() >= &Duration::from_millis(800));
        assert!(delays.last().unwrap() <= &Duration::from_secs(1));
        assert!(delays.len() > 900, "spread: {} distinct", delays.len());
        assert!(
            *delays.first().unwrap() < Duration::from_millis(820),
            "reaches low"
        );
        assert!(
            *delays.last().unwrap() > Duration::from_millis(980),
            "reaches high"
        );

        let none = Backoff {
            jitter_percent: 0,
            ..backoff
        };
        assert_eq!(none.delay(1, &mut rng), Duration::from_secs(1));
    }

    #[test]
    fn one_seed_one_sequence_of_delays() {
        let delays = |seed| {
            let mut rng = JitterRng::new(seed);
            (1..10)
                .map(|failures| Backoff::default().delay(failures, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(3), delays(3));
        assert_ne!(delays(3), delays(4));
    }

    #[test]
    fn a_full_queue_refuses_new_keys_but_not_known_ones() {
        let mut queue = queue(2);
        queue.add("a", Duration::ZERO).unwrap();
        queue.add("b", Duration::ZERO).unwrap();
        assert_eq!(
            queue.add("c", Duration::ZERO),
            Err(QueueFull { keys_max: 2 })
        );
        queue.add("a", Duration::ZERO).unwrap();
        assert_eq!(queue.pop(Duration::ZERO), Some("a"));
        queue.add("a", Duration::ZERO).unwrap();
        assert_eq!(queue.len(), 2);
        // A failure requeues what is already known.
        assert!(queue.done(&"a", Outcome::Failed, Duration::ZERO).is_some());
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop(Duration::ZERO), Some("b"));
        queue.done(&"b", Outcome::Done, Duration::ZERO);
        queue.add("c", Duration::ZERO).unwrap();
        assert_eq!(queue.len(), 2);
    }

    #[test]
    #[should_panic(expected = "done is called once")]
    fn done_for_a_key_not_running_is_a_bug() {
        let mut queue = queue(2);
        queue.done(&"a", Outcome::Done, Duration::ZERO);
    }
}

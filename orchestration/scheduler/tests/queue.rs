//! The scheduling queue: order, backoff timings, retries on events, the
//! bound on its size. Timings are the test's own (short) ones where the
//! defaults would be long.

use std::time::Duration;

use keel_scheduler::queue::{Location, QueueConfig, QueueError, SchedulingQueue};
use keel_scheduler::PodKey;

fn key(name: &str) -> PodKey {
    PodKey::new("default", name)
}

fn secs(value: u64) -> Duration {
    Duration::from_secs(value)
}

#[test]
fn backoff_doubles_from_one_second_to_ten() {
    // scheduling_queue.go calculateBackoffDuration with the defaults.
    let queue = SchedulingQueue::new(QueueConfig::default());
    let got: Vec<u64> = (1..=7)
        .map(|n| queue.backoff_duration(n).as_secs())
        .collect();
    assert_eq!(got, [1, 2, 4, 8, 10, 10, 10]);
    let short = SchedulingQueue::new(QueueConfig {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..QueueConfig::default()
    });
    let got: Vec<u128> = (1..=5)
        .map(|n| short.backoff_duration(n).as_millis())
        .collect();
    assert_eq!(got, [10, 20, 40, 50, 50]);
}

#[test]
fn priority_first_then_arrival() {
    let mut queue = SchedulingQueue::new(QueueConfig::default());
    queue.add(&key("low-early"), 0, secs(1)).expect("room");
    queue.add(&key("high"), 100, secs(2)).expect("room");
    queue.add(&key("low-late"), 0, secs(3)).expect("room");
    queue.add(&key("low-same-time"), 0, secs(3)).expect("room");
    let order: Vec<String> = std::iter::from_fn(|| queue.pop(secs(4)))
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        order,
        [
            "default/high",
            "default/low-early",
            "default/low-late",
            "default/low-same-time"
        ]
    );
}

#[test]
fn an_unschedulable_pod_waits_for_an_event_then_its_backoff() {
    let mut queue = SchedulingQueue::new(QueueConfig::default());
    let p = key("p");
    queue.add(&p, 0, secs(0)).expect("room");
    assert_eq!(queue.pop(secs(0)), Some(p.clone()));
    assert_eq!(queue.location(&p), Some(Location::InFlight));
    queue.unschedulable(&p, secs(10));
    assert_eq!(queue.location(&p), Some(Location::Unschedulable));
    assert_eq!(queue.pop(secs(100)), None, "no event: it waits");

    // An event at 10.5 s: backoff (1 s) not over yet.
    queue.move_all_to_active_or_backoff(Duration::from_millis(10_500));
    assert_eq!(queue.location(&p), Some(Location::Backoff));
    assert_eq!(queue.next_backoff_expiry(), Some(secs(11)));
    assert_eq!(queue.pop(Duration::from_millis(10_900)), None);
    assert_eq!(queue.pop(secs(11)), Some(p.clone()));

    // Second failure: 2 s of backoff; an event after it moves it to active at once.
    queue.unschedulable(&p, secs(20));
    queue.move_all_to_active_or_backoff(secs(23));
    assert_eq!(queue.location(&p), Some(Location::Active));
    assert_eq!(queue.pop(secs(23)), Some(p.clone()));
    queue.done(&p);
    assert!(queue.is_empty());
}

#[test]
fn an_event_during_the_attempt_sends_the_pod_to_backoff() {
    let mut queue = SchedulingQueue::new(QueueConfig::default());
    let p = key("p");
    queue.add(&p, 0, secs(0)).expect("room");
    queue.pop(secs(0));
    // A node was added while the pod was being scheduled.
    queue.move_all_to_active_or_backoff(secs(0));
    queue.unschedulable(&p, secs(1));
    assert_eq!(queue.location(&p), Some(Location::Backoff));
    assert_eq!(queue.pop(secs(2)), Some(p));
}

#[test]
fn leftovers_are_retried_after_the_limit() {
    let mut queue = SchedulingQueue::new(QueueConfig {
        max_in_unschedulable: secs(60),
        ..QueueConfig::default()
    });
    let p = key("p");
    queue.add(&p, 0, secs(0)).expect("room");
    queue.pop(secs(0));
    queue.unschedulable(&p, secs(0));
    queue.flush_unschedulable_leftover(secs(59));
    assert_eq!(queue.location(&p), Some(Location::Unschedulable));
    queue.flush_unschedulable_leftover(secs(60));
    assert_eq!(queue.location(&p), Some(Location::Active));
}

#[test]
fn bound_or_deleted_pods_leave_and_updates_move_them() {
    let mut queue = SchedulingQueue::new(QueueConfig::default());
    let (a, b) = (key("a"), key("b"));
    queue.add(&a, 0, secs(0)).expect("room");
    queue.add(&b, 0, secs(1)).expect("room");
    assert!(queue.remove(&a));
    assert!(!queue.remove(&a));
    assert_eq!(queue.len(), 1);
    // A priority change reorders; an update of an unschedulable pod moves it.
    queue.add(&a, 0, secs(2)).expect("room");
    queue.add(&a, 10, secs(3)).expect("room");
    assert_eq!(queue.pop(secs(3)), Some(a.clone()));
    queue.unschedulable(&a, secs(3));
    queue.add(&a, 10, secs(10)).expect("room");
    assert_eq!(
        queue.location(&a),
        Some(Location::Active),
        "backoff of 1 s long over"
    );
    // A pod deleted while in flight just leaves.
    assert_eq!(queue.pop(secs(10)), Some(a.clone()));
    assert!(queue.remove(&a));
    queue.unschedulable(&a, secs(11));
    assert_eq!(queue.location(&a), None);
}

#[test]
fn the_queue_is_bounded() {
    let mut queue = SchedulingQueue::new(QueueConfig {
        capacity: 2,
        ..QueueConfig::default()
    });
    queue.add(&key("a"), 0, secs(0)).expect("room");
    queue.add(&key("b"), 0, secs(0)).expect("room");
    assert_eq!(queue.add(&key("c"), 0, secs(0)), Err(QueueError::Full(2)));
    queue
        .add(&key("a"), 5, secs(0))
        .expect("an update of a queued pod needs no room");
}

#[test]
fn a_pod_whose_bind_failed_waits_for_its_backoff_not_for_an_event() {
    let mut queue = SchedulingQueue::new(QueueConfig::default());
    let p = key("p");
    queue.add(&p, 0, secs(0)).expect("room");
    queue.pop(secs(0));
    queue.error(&p, secs(5));
    assert_eq!(queue.location(&p), Some(Location::Backoff));
    assert_eq!(queue.next_backoff_expiry(), Some(secs(6)));
    assert_eq!(queue.pop(Duration::from_millis(5_900)), None);
    assert_eq!(queue.pop(secs(6)), Some(p.clone()));
    // The second error backs off twice as long.
    queue.error(&p, secs(10));
    assert_eq!(queue.next_backoff_expiry(), Some(secs(12)));
    queue.error(&key("unknown"), secs(10));
    assert_eq!(queue.len(), 1, "an unknown pod is not queued by an error");
}

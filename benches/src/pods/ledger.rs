//! Each pod's steps as the benchmark saw them, as plain functions over
//! the pod watch's events: when its create returned, and when the watch
//! first showed it bound (`spec.nodeName`), Running, and Running and
//! Ready. Times are offsets from the round's start, so watch events that
//! arrive before their create's answer are kept too.

use std::collections::BTreeMap;
use std::time::Duration;

use keel_runtime::ObjectEvent;
use serde_json::Value;

use crate::load::Percentiles;
use crate::orchestration::condition_is_true;

/// One pod's steps; `None` until seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steps {
    /// Its create was answered.
    pub created: Option<Duration>,
    /// Bound to a node.
    pub bound: Option<Duration>,
    /// `status.phase` Running.
    pub running: Option<Duration>,
    /// Running with its Ready condition True: started, as the
    /// start-up SLI counts it.
    pub ready: Option<Duration>,
    /// Deleted (its key gone).
    pub deleted: Option<Duration>,
}

/// Every pod's steps, by name.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pods: BTreeMap<String, Steps>,
}

/// Percentiles of each step, from each pod's create.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latencies {
    /// Pods Running and Ready (the others are missing from the figures).
    pub ready_count: usize,
    /// Create to bound.
    pub bound: Percentiles,
    /// Create to Running.
    pub running: Percentiles,
    /// Create to Running and Ready: the start-up latency.
    pub ready: Percentiles,
}

impl Ledger {
    /// Notes that `name`'s create was answered at `at`.
    pub fn created(&mut self, name: &str, at: Duration) {
        self.pods.entry(name.to_owned()).or_default().created = Some(at);
    }

    /// Notes what a pod watch's `event`, received at `at`, shows.
    pub fn observe(&mut self, event: &ObjectEvent, at: Duration) {
        let (object, deleted) = match event {
            ObjectEvent::Added(object) | ObjectEvent::Modified { object, .. } => (object, false),
            ObjectEvent::Deleted(object) => (object, true),
            ObjectEvent::Progress { .. } => return,
        };
        let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        let steps = self.pods.entry(name.to_owned()).or_default();
        if deleted {
            steps.deleted.get_or_insert(at);
            return;
        }
        let bound = object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|node| !node.is_empty());
        let running = object.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
        if bound {
            steps.bound.get_or_insert(at);
        }
        if running {
            steps.running.get_or_insert(at);
            if condition_is_true(object, "Ready") {
                steps.ready.get_or_insert(at);
            }
        }
    }

    /// Pods created and seen Running and Ready.
    pub fn ready_count(&self) -> usize {
        self.pods
            .values()
            .filter(|s| s.created.is_some() && s.ready.is_some())
            .count()
    }

    /// Pods seen deleted.
    pub fn deleted_count(&self) -> usize {
        self.pods.values().filter(|s| s.deleted.is_some()).count()
    }

    /// The pods' steps, by name.
    pub fn steps(&self) -> impl Iterator<Item = (&str, &Steps)> {
        self.pods.iter().map(|(name, steps)| (name.as_str(), steps))
    }

    /// The percentiles of each step's latency from the create's answer
    /// (zero for a step seen before the answer came).
    pub fn latencies(&self) -> Latencies {
        let since_created = |step: fn(&Steps) -> Option<Duration>| {
            let mut samples: Vec<Duration> = self
                .pods
                .values()
                .filter_map(|s| Some(step(s)?.saturating_sub(s.created?)))
                .collect();
            Percentiles::of(&mut samples)
        };
        Latencies {
            ready_count: self.ready_count(),
            bound: since_created(|s| s.bound),
            running: since_created(|s| s.running),
            ready: since_created(|s| s.ready),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: &str) -> Value {
        json!({"metadata": {"name": name},
               "spec": {"nodeName": node},
               "status": {"phase": phase,
                          "conditions": [{"type": "Ready", "status": ready}]}})
    }

    fn modified(object: Value) -> ObjectEvent {
        ObjectEvent::Modified {
            previous: object.clone(),
            object,
        }
    }

    #[test]
    fn each_step_is_its_first_sighting_from_the_create() {
        let ms = Duration::from_millis;
        let mut ledger = Ledger::default();
        // The watch may deliver the pod before its create is answered.
        ledger.observe(&ObjectEvent::Added(pod("a", "", "Pending", "False")), ms(5));
        ledger.created("a", ms(10));
        ledger.observe(&modified(pod("a", "n1", "Pending", "False")), ms(30));
        ledger.observe(&modified(pod("a", "n1", "Running", "False")), ms(200));
        ledger.observe(&modified(pod("a", "n1", "Running", "True")), ms(410));
        ledger.observe(&modified(pod("a", "n1", "Running", "True")), ms(900));
        assert_eq!(
            ledger.steps().next(),
            Some((
                "a",
                &Steps {
                    created: Some(ms(10)),
                    bound: Some(ms(30)),
                    running: Some(ms(200)),
                    ready: Some(ms(410)),
                    deleted: None,
                }
            ))
        );
        let latencies = ledger.latencies();
        assert_eq!(latencies.ready_count, 1);
        assert_eq!(latencies.ready.max, ms(400));
        assert_eq!(latencies.running.p50, ms(190));
        assert_eq!(latencies.bound.p99, ms(20));
    }

    #[test]
    fn a_pod_not_ready_is_left_out_and_deletions_are_counted() {
        let ms = Duration::from_millis;
        let mut ledger = Ledger::default();
        ledger.created("a", ms(1));
        ledger.created("b", ms(1));
        ledger.observe(&modified(pod("a", "n1", "Running", "True")), ms(101));
        ledger.observe(&modified(pod("b", "n1", "Pending", "True")), ms(50));
        assert_eq!(ledger.ready_count(), 1);
        assert_eq!(ledger.latencies().ready.p50, ms(100));
        ledger.observe(
            &ObjectEvent::Deleted(pod("a", "n1", "Running", "True")),
            ms(900),
        );
        ledger.observe(&ObjectEvent::Progress { revision: 9 }, ms(901));
        assert_eq!(ledger.deleted_count(), 1);
    }
}

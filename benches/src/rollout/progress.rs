//! A rollout's progress as its watches tell it, as plain functions: when
//! the Deployment's pods were created, bound and became Ready (first and
//! last, from the Deployment's create), and whether the Deployment says
//! every replica is ready and available.
//!
//! ```text
//!   pod events ─► Milestones::observe(event, since create)
//!        Added ─► created;  nodeName set ─► bound;  Ready False → True ─► ready
//!   Deployment events ─► Replicas::of(status) ─► rolled out when ready = available = N
//! ```

use std::time::Duration;

use keel_runtime::ObjectEvent;
use serde_json::Value;

use crate::orchestration::condition_is_true;

/// When a step was taken by the first and the last pod, and by how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// The first time, from the Deployment's create.
    pub first: Duration,
    /// The last time, from the Deployment's create.
    pub last: Duration,
    /// Pods that took the step.
    pub count: usize,
}

impl Span {
    fn note(&mut self, at: Duration) {
        if self.count == 0 {
            self.first = at;
        }
        self.last = at;
        self.count += 1;
    }
}

/// The pods' steps, as a watch of the namespace's pods showed them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Milestones {
    /// Pods created.
    pub created: Span,
    /// Pods bound to a node (`spec.nodeName` set).
    pub bound: Span,
    /// Pods whose Ready condition turned True.
    pub ready: Span,
}

impl Milestones {
    /// Notes what `event`, seen `at` after the create, says of a pod.
    pub fn observe(&mut self, event: &ObjectEvent, at: Duration) {
        let (object, previous) = match event {
            ObjectEvent::Added(object) => {
                self.created.note(at);
                (object, None)
            }
            ObjectEvent::Modified { object, previous } => (object, Some(previous)),
            ObjectEvent::Deleted(_) | ObjectEvent::Progress { .. } => return,
        };
        if is_bound(object) && !previous.is_some_and(is_bound) {
            self.bound.note(at);
        }
        let ready = |pod: &Value| condition_is_true(pod, "Ready");
        if ready(object) && !previous.is_some_and(ready) {
            self.ready.note(at);
        }
    }
}

fn is_bound(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|node| !node.is_empty())
}

/// A Deployment's replica counts, as its status says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replicas {
    /// `status.replicas`.
    pub total: i64,
    /// `status.readyReplicas`.
    pub ready: i64,
    /// `status.availableReplicas`.
    pub available: i64,
}

impl Replicas {
    /// The counts of `deployment`'s status (absent counts are 0).
    pub fn of(deployment: &Value) -> Self {
        let count = |field: &str| {
            deployment
                .pointer(&format!("/status/{field}"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        Self {
            total: count("replicas"),
            ready: count("readyReplicas"),
            available: count("availableReplicas"),
        }
    }

    /// Whether `wanted` replicas are all ready and available.
    pub fn rolled_out(&self, wanted: usize) -> bool {
        let wanted = wanted as i64;
        self.ready == wanted && self.available == wanted
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(node: &str, ready: bool) -> Value {
        let status = if ready { "True" } else { "False" };
        json!({"spec": {"nodeName": node},
               "status": {"conditions": [{"type": "Ready", "status": status}]}})
    }

    fn modified(object: Value, previous: Value) -> ObjectEvent {
        ObjectEvent::Modified { object, previous }
    }

    #[test]
    fn each_pod_step_is_noted_once_at_its_first_and_last_time() {
        let mut milestones = Milestones::default();
        let ms = Duration::from_millis;
        milestones.observe(&ObjectEvent::Added(json!({"spec": {}})), ms(10));
        milestones.observe(&ObjectEvent::Added(json!({"spec": {}})), ms(20));
        milestones.observe(&modified(pod("n1", false), json!({"spec": {}})), ms(30));
        milestones.observe(&modified(pod("n1", true), pod("n1", false)), ms(40));
        // A status write that changes nothing of these steps.
        milestones.observe(&modified(pod("n1", true), pod("n1", true)), ms(45));
        milestones.observe(&modified(pod("n2", false), pod("", false)), ms(50));
        milestones.observe(&modified(pod("n2", true), pod("n2", false)), ms(60));
        milestones.observe(&ObjectEvent::Progress { revision: 9 }, ms(70));
        assert_eq!(
            milestones,
            Milestones {
                created: Span {
                    first: ms(10),
                    last: ms(20),
                    count: 2
                },
                bound: Span {
                    first: ms(30),
                    last: ms(50),
                    count: 2
                },
                ready: Span {
                    first: ms(40),
                    last: ms(60),
                    count: 2
                },
            }
        );
    }

    #[test]
    fn a_deployment_is_rolled_out_when_every_replica_is_ready_and_available() {
        let deployment = |ready: i64, available: i64| json!({"status": {"replicas": 3, "readyReplicas": ready, "availableReplicas": available}});
        assert!(Replicas::of(&deployment(3, 3)).rolled_out(3));
        assert!(!Replicas::of(&deployment(3, 2)).rolled_out(3));
        assert!(!Replicas::of(&deployment(2, 3)).rolled_out(3));
        assert_eq!(Replicas::of(&json!({"status": {}})), Replicas::default());
        assert!(!Replicas::of(&json!({})).rolled_out(1));
    }
}

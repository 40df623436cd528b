//! From watch events to the scheduler's state: what each pod or node
//! event does to the [`Cluster`] and the [`SchedulingQueue`] (kube-
//! scheduler's `eventhandlers.go`), as plain functions over plain data.
//!
//! ```text
//!   pod added/modified ─┬─ bound (spec.nodeName) ─► cluster.upsert_pod, leaves the queue
//!                       │     terminal and counted ─► its resources freed ─► move unschedulable pods
//!                       ├─ pending, ours, alive ───► queue.add (a changed spec moves it on)
//!                       └─ otherwise ──────────────► leaves the queue
//!   pod deleted ─► cluster.remove_pod (counted: move unschedulable pods), leaves the queue
//!   node added, or changed in what scheduling reads ─► cluster.upsert_node ─► move
//!   node deleted ─► cluster.remove_node
//! ```
//!
//! Events may come late or twice (a relist after a broken watch tells
//! every object again), so each is applied as "the object is now like
//! this", never as a delta.

use std::time::Duration;

use serde_json::Value;

use crate::model::{Cluster, Node, PodChange, PodInfo, PodKey};
use crate::queue::{QueueConfig, QueueError, SchedulingQueue};

/// The scheduler's picture of the cluster and its queue of pending pods.
#[derive(Debug, Clone)]
pub struct State {
    /// The nodes and the pods on them (bound and assumed).
    pub cluster: Cluster,
    /// The pending pods this scheduler places.
    pub queue: SchedulingQueue,
    /// The `spec.schedulerName` of the pods it places.
    pub scheduler_name: String,
}

impl State {
    /// An empty state for pods of `scheduler_name`.
    pub fn new(scheduler_name: &str, queue: QueueConfig) -> Self {
        Self {
            cluster: Cluster::new(),
            queue: SchedulingQueue::new(queue),
            scheduler_name: scheduler_name.to_owned(),
        }
    }

    /// Whether `pod` is one to place now: not bound nor assumed, of this
    /// scheduler, neither being deleted nor finished.
    pub fn wants(&self, pod: &PodInfo) -> bool {
        pod.node_name.is_none()
            && pod.scheduler_name == self.scheduler_name
            && !pod.terminating
            && !pod.terminal
            && self.cluster.node_of(&pod.key).is_none()
    }

    /// A pod was added, or changed from `old` (when known) to `new`.
    pub fn pod_upserted(
        &mut self,
        old: Option<&Value>,
        new: &Value,
        now: Duration,
    ) -> Result<(), QueueError> {
        let pod = PodInfo::from_pod(new);
        if pod.node_name.is_some() {
            self.queue.remove(&pod.key);
            if self.cluster.upsert_pod(pod) == PodChange::Removed {
                self.queue.move_all_to_active_or_backoff(now);
            }
            return Ok(());
        }
        if !self.wants(&pod) {
            // An assumed pod's own pending versions (the watch behind the
            // bind) leave it where it is: in flight until its bind ends.
            if self.cluster.node_of(&pod.key).is_none() {
                self.queue.remove(&pod.key);
            }
            return Ok(());
        }
        let queued = self.queue.location(&pod.key).is_some();
        if !queued || old.is_none_or(|old| pod_updated(old, new)) {
            self.queue.add(&pod.key, pod.priority, now)?;
        }
        Ok(())
    }

    /// A pod was deleted.
    pub fn pod_deleted(&mut self, pod: &Value, now: Duration) {
        let key = PodInfo::from_pod(pod).key;
        self.queue.remove(&key);
        if self.cluster.remove_pod(&key) {
            self.queue.move_all_to_active_or_backoff(now);
        }
    }

    /// A node was added, or changed from `old` (when known) to `new`.
    pub fn node_upserted(&mut self, old: Option<&Value>, new: &Value, now: Duration) {
        let node = Node::from_node(new);
        let changed = old.is_none_or(|old| Node::from_node(old) != node)
            || self.cluster.node(&node.name).is_none();
        self.cluster.upsert_node(node);
        if changed {
            self.queue.move_all_to_active_or_backoff(now);
        }
    }

    /// A node was deleted.
    pub fn node_deleted(&mut self, node: &Value) {
        let name = node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.cluster.remove_node(name);
    }
}

/// The namespace and name of the pod `key`.
pub fn namespace_and_name(key: &PodKey) -> (&str, &str) {
    // A PodKey is `namespace/name`, and neither may hold a `/`.
    key.as_str().split_once('/').unwrap_or(("", key.as_str()))
}

/// Whether a pending pod changed in a way that may change where it fits:
/// anything but its status and the fields every write touches
/// (`isPodUpdated` in `pkg/scheduler/backend/queue/scheduling_queue.go`).
/// The scheduler's own PodScheduled=False write is then no reason to try
/// the pod again.
pub fn pod_updated(old: &Value, new: &Value) -> bool {
    const EVERY_WRITE: [&str; 3] = ["resourceVersion", "generation", "managedFields"];
    if old.get("spec") != new.get("spec") {
        return true;
    }
    let (Some(old), Some(new)) = (
        old.get("metadata").and_then(Value::as_object),
        new.get("metadata").and_then(Value::as_object),
    ) else {
        return old.get("metadata") != new.get("metadata");
    };
    let kept = |meta: &serde_json::Map<String, Value>| {
        meta.iter()
            .filter(|(field, _)| !EVERY_WRITE.contains(&field.as_str()))
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect::<serde_json::Map<_, _>>()
    };
    kept(old) != kept(new)
}

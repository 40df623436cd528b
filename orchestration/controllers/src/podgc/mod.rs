//! The pod garbage collector (`pkg/controller/podgc/`, Kubernetes 1.33):
//! it removes the pods nothing else ever would. A pod bound to a node that
//! is gone has no kubelet to finish it, a pod deleted before it was
//! scheduled has nobody to confirm its end, and finished pods pile up.
//!
//! ```text
//!   every period (20 s), over the caches of pods and nodes:
//!     finished pods (Succeeded, Failed) beyond the threshold (12,500)
//!       ─► the oldest, evicted ones first
//!     terminating pods on a NotReady node tainted node.kubernetes.io/out-of-service
//!     pods bound to a node missing from the cache
//!       ─► quarantine(node) for 40 s ─► still missing? ─► a read of keel:
//!          NotFound ─► every pod on it, with DisruptionTarget "DeletionByPodGC"
//!     terminating pods never bound to a node
//!   each collected pod: phase Failed (unless finished), then a delete with
//!   gracePeriodSeconds 0
//! ```
//!
//! The decisions here are plain functions; [`run`] reads the caches,
//! checks the quarantined nodes and writes.

pub mod run;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use keel_api::object::put_condition;

use crate::pods::{
    created_at, format_time, is_being_deleted, is_terminal, name_of, str_at, uid_of, ObjectRef,
};

/// The taint that says a node is out of service, so its terminating pods
/// may go without their kubelet.
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";
/// The DisruptionTarget reason of a pod whose node is gone.
pub const ORPHANED_REASON: &str = "DeletionByPodGC";
/// Its message.
pub const ORPHANED_MESSAGE: &str = "PodGC: node no longer exists";

/// Why a pod is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Finished, and more finished pods than the threshold.
    Terminated,
    /// Terminating on a NotReady, out-of-service node.
    OutOfService,
    /// Bound to a node that no longer exists.
    Orphaned,
    /// Terminating, and never bound to a node.
    TerminatingUnscheduled,
}

/// A pod to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collect {
    /// The pod (the writes are of this uid only).
    pub pod: ObjectRef,
    /// Why.
    pub why: Why,
}

impl Collect {
    /// The pod as it is to be before its delete: Failed, with the
    /// DisruptionTarget condition if it is orphaned; `None` if it
    /// finished already (kept as it is).
    pub fn failed(&self, pod: &Value, now: Timestamp) -> Option<Value> {
        if is_terminal(pod) {
            return None;
        }
        let mut failed = pod.clone();
        failed["status"]["phase"] = "Failed".into();
        if self.why == Why::Orphaned {
            let condition = json!({
                "type": "DisruptionTarget",
                "status": "True",
                "reason": ORPHANED_REASON,
                "message": ORPHANED_MESSAGE,
                "lastTransitionTime": format_time(now),
            });
            put_condition(&mut failed, condition);
        }
        Some(failed)
    }
}

/// Nodes that pods are bound to but the node cache lacks, each with when
/// it was first found missing (the quarantine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quarantine(BTreeMap<String, Timestamp>);

impl Quarantine {
    /// Takes in one pass over the caches: nodes newly missing start their
    /// quarantine at `now`, nodes back or no longer referenced leave it.
    /// Answers the nodes whose quarantine has run out, to be read from
    /// keel; they leave the quarantine (a node read as present is found
    /// missing again on a later pass and waits anew).
    pub fn pass(
        &mut self,
        pods: &[Value],
        nodes: &BTreeSet<String>,
        now: Timestamp,
        quarantine: SignedDuration,
    ) -> Vec<String> {
        let missing: BTreeSet<&str> = pods
            .iter()
            .map(|pod| str_at(pod, "/spec/nodeName"))
            .filter(|node| !node.is_empty() && !nodes.contains(*node))
            .collect();
        self.0.retain(|node, _| missing.contains(node.as_str()));
        for node in &missing {
            self.0.entry((*node).to_owned()).or_insert(now);
        }
        let due: Vec<String> = self
            .0
            .iter()
            .filter(|(_, since)| **since + quarantine <= now)
            .map(|(node, _)| node.clone())
            .collect();
        for node in &due {
            self.0.remove(node);
        }
        due
    }

    /// The nodes in quarantine.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// What one pass collects: finished pods beyond `threshold` (0: none),
/// terminating pods on out-of-service nodes (`nodes`: at least the nodes
/// terminating pods are bound to), pods on the `deleted` nodes
/// (confirmed gone), terminating pods never bound. A pod is collected
/// once, for the first of these reasons.
pub fn plan(
    pods: &[Value],
    nodes: &BTreeMap<String, Value>,
    deleted: &BTreeSet<String>,
    threshold: usize,
) -> Vec<Collect> {
    let mut collect = Vec::new();
    let mut taken = BTreeSet::new();
    let mut take = |pod: &Value, why: Why, collect: &mut Vec<Collect>| {
        if taken.insert(uid_of(pod).to_owned()) {
            collect.push(Collect {
                pod: ObjectRef::to(pod),
                why,
            });
        }
    };

    if threshold > 0 {
        let mut finished: Vec<&Value> = pods.iter().filter(|p| is_terminal(*p)).collect();
        if finished.len() > threshold {
            finished
                .sort_by_key(|pod| (!is_evicted(pod), created_at(pod), name_of(pod).to_owned()));
            let excess = finished.len() - threshold;
            for pod in finished.into_iter().take(excess) {
                take(pod, Why::Terminated, &mut collect);
            }
        }
    }
    for pod in pods.iter().filter(|p| is_being_deleted(p)) {
        let node = nodes.get(str_at(pod, "/spec/nodeName"));
        if node.is_some_and(|n| !node_ready(n) && has_taint(n, OUT_OF_SERVICE_TAINT)) {
            take(pod, Why::OutOfService, &mut collect);
        }
    }
    for pod in pods {
        if deleted.contains(str_at(pod, "/spec/nodeName")) {
            take(pod, Why::Orphaned, &mut collect);
        }
    }
    for pod in pods {
        if is_being_deleted(pod) && str_at(pod, "/spec/nodeName").is_empty() {
            take(pod, Why::TerminatingUnscheduled, &mut collect);
        }
    }
    collect
}

/// Evicted by a kubelet (`eviction.PodIsEvicted`).
fn is_evicted(pod: &Value) -> bool {
    str_at(pod, "/status/phase") == "Failed" && str_at(pod, "/status/reason") == "Evicted"
}

fn node_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn has_taint(node: &Value, key: &str) -> bool {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| t["key"] == key)
}

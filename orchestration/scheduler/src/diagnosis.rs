//! Why a pod fits nowhere, told as kube-scheduler tells it: the
//! FailedScheduling event's message and the PodScheduled=False condition.
//!
//! ```text
//!   per node: reasons of the first filter that rejected it
//!        ─► count nodes per reason ─► "<count> <reason>" sorted as strings
//!        ─► "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {k: v}."
//! ```
//!
//! The message is built as `FitError.Error()` builds it
//! (`pkg/scheduler/framework/types.go`): a node with several reasons
//! counts in each, and the entries are sorted as plain strings (so
//! "10 ..." sorts before "2 ..."). kube-scheduler then appends what
//! preemption found (" preemption: ..."); this scheduler does not preempt
//! and appends nothing.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::filters::Reason;

/// The PodScheduled=False condition's reason (`v1.PodReasonUnschedulable`).
pub const UNSCHEDULABLE_REASON: &str = "Unschedulable";
/// The reason of the event recorded for a pod that fits nowhere.
pub const FAILED_SCHEDULING_EVENT_REASON: &str = "FailedScheduling";
/// The message when the cluster has no node at all (`ErrNoNodesAvailable`).
pub const NO_NODES_MESSAGE: &str = "no nodes available to schedule pods";

/// The outcome of a search that found no feasible node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnosis {
    /// How many nodes the cluster has.
    pub num_all_nodes: usize,
    /// How many nodes were rejected for each reason.
    pub reason_counts: HashMap<Reason, usize>,
}

impl Diagnosis {
    /// A diagnosis over a cluster of `num_all_nodes` nodes, no node yet
    /// rejected.
    pub fn new(num_all_nodes: usize) -> Self {
        Self {
            num_all_nodes,
            reason_counts: HashMap::new(),
        }
    }

    /// Counts one rejected node's reasons.
    pub fn record(&mut self, reasons: &[Reason]) {
        for reason in reasons {
            *self.reason_counts.entry(reason.clone()).or_default() += 1;
        }
    }

    /// The FailedScheduling message (and the condition's message).
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 {
            return NO_NODES_MESSAGE.to_owned();
        }
        let mut entries: Vec<String> = self
            .reason_counts
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        entries.sort();
        let mut message = format!("0/{} nodes are available:", self.num_all_nodes);
        if !entries.is_empty() {
            message.push(' ');
            message.push_str(&entries.join(", "));
            message.push('.');
        }
        message
    }
}

/// The PodScheduled=False condition for the pod's `status.conditions`,
/// with `last_transition_time` in RFC 3339 (the adapter's clock).
pub fn unschedulable_condition(message: &str, last_transition_time: &str) -> Value {
    json!({
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": null,
        "lastTransitionTime": last_transition_time,
        "reason": UNSCHEDULABLE_REASON,
        "message": message,
    })
}

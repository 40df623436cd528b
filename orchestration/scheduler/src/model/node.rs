//! A node as the scheduler sees it, and the running account of what the
//! pods bound or assumed on it take (kube-scheduler's `NodeInfo`,
//! `pkg/scheduler/framework/types.go`).
//!
//! ```text
//!   node JSON ─► Node { name, labels, taints, unschedulable, allocatable }
//!   NodeInfo = Node + pods on it + requested (fit) + non-zero requested (scores)
//!              updated by ± one pod at a time, never recomputed
//! ```

use std::sync::Arc;

use keel_api::validation::quantity::Quantity;
use serde_json::Value;

use super::pod::{NonZeroRequests, PodInfo, PodKey, Resources};
use super::terms::{Labels, Taint};

/// What a node offers to pods: `status.allocatable` (or `status.capacity`
/// when a node reports no allocatable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocatable {
    /// cpu, memory and ephemeral storage.
    pub resources: Resources,
    /// How many pods it takes.
    pub pods: i64,
}

/// A node's scheduling facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// `spec.taints`.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// What it offers.
    pub allocatable: Allocatable,
}

impl Node {
    /// Reads a node in kube-apiserver's JSON form.
    pub fn from_node(node: &Value) -> Self {
        let status = node.get("status");
        let offered = status
            .and_then(|s| s.get("allocatable"))
            .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
            .or_else(|| status.and_then(|s| s.get("capacity")));
        let quantity = |name: &str| match offered.and_then(|o| o.get(name)) {
            Some(Value::String(text)) => Quantity::parse(text),
            Some(Value::Number(number)) => Quantity::parse(&number.to_string()),
            _ => None,
        };
        Self {
            name: node
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            labels: keel_api::selector::labels_of(node),
            taints: node
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Taint::from_json)
                .collect(),
            unschedulable: node
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            allocatable: Allocatable {
                resources: Resources {
                    milli_cpu: quantity("cpu").map_or(0, Quantity::milli_value),
                    memory: quantity("memory").map_or(0, Quantity::value),
                    ephemeral_storage: quantity("ephemeral-storage").map_or(0, Quantity::value),
                },
                pods: quantity("pods").map_or(0, Quantity::value),
            },
        }
    }
}

/// A node and the pods bound or assumed on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node.
    pub node: Node,
    /// The pods on it (bound and assumed).
    pub pods: Vec<Arc<PodInfo>>,
    /// The sum of their fit requests.
    pub requested: Resources,
    /// The sum of their non-zero requests.
    pub non_zero_requested: NonZeroRequests,
    /// How many of them carry required anti-affinity terms (so that the
    /// common case, none, skips the check).
    pub pods_with_required_anti_affinity: usize,
    /// How many of them ask for host ports.
    pub pods_with_host_ports: usize,
}

impl NodeInfo {
    /// A node with no pods yet.
    pub fn new(node: Node) -> Self {
        Self {
            node,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: NonZeroRequests::default(),
            pods_with_required_anti_affinity: 0,
            pods_with_host_ports: 0,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// Counts `pod` on the node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.account(&pod, 1);
        self.pods.push(pod);
    }

    /// Stops counting the pod `key`; `None` when it is not on the node.
    pub fn remove_pod(&mut self, key: &PodKey) -> Option<Arc<PodInfo>> {
        let at = self.pods.iter().position(|p| &p.key == key)?;
        let pod = self.pods.swap_remove(at);
        self.account(&pod, -1);
        Some(pod)
    }

    fn account(&mut self, pod: &PodInfo, sign: i64) {
        let scaled = |r: Resources| Resources {
            milli_cpu: sign * r.milli_cpu,
            memory: sign * r.memory,
            ephemeral_storage: sign * r.ephemeral_storage,
        };
        self.requested = self.requested.plus(scaled(pod.requests));
        self.non_zero_requested.milli_cpu += sign * pod.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory += sign * pod.non_zero_requests.memory;
        let step = |count: &mut usize, applies: bool| {
            if applies {
                *count = count
                    .checked_add_signed(sign as isize)
                    .expect("pod counts stay >= 0");
            }
        };
        step(
            &mut self.pods_with_required_anti_affinity,
            !pod.required_anti_affinity.is_empty(),
        );
        step(&mut self.pods_with_host_ports, !pod.host_ports.is_empty());
    }
}

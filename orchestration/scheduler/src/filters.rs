//! The filters: whether a pod may go on a node, and if not, Kubernetes'
//! reason, word for word (each plugin's `ErrReason` under
//! `pkg/scheduler/framework/plugins/`).
//!
//! ```text
//!   NodeUnschedulable ─► NodeName ─► TaintToleration ─► NodeAffinity
//!     ─► NodePorts ─► NodeResourcesFit ─► InterPodAffinity (anti-affinity)
//! ```
//!
//! They run in the default profile's order
//! (`pkg/scheduler/apis/config/v1/default_plugins.go`) and the first that
//! rejects a node decides its reasons, as `RunFilterPlugins` stops at the
//! first failing plugin. Only NodeResourcesFit gives several reasons at
//! once (`Insufficient cpu` and `Insufficient memory`, say).
//!
//! Simplifications: required pod anti-affinity is enforced on the
//! `kubernetes.io/hostname` topology only, taking each node as its own
//! domain (kubelets give every node its own hostname label); required pod
//! affinity is not enforced; a `namespaceSelector` with requirements adds
//! no namespace (see [`crate::model::terms::AffinityTerm`]).

use std::fmt;

use crate::model::terms::{tolerated, Taint, HOSTNAME_LABEL};
use crate::model::{Node, NodeInfo, PodInfo};

/// A resource the fit filter checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `cpu`.
    Cpu,
    /// `memory`.
    Memory,
    /// `ephemeral-storage`.
    EphemeralStorage,
}

impl Resource {
    /// Its name in a ResourceList.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::EphemeralStorage => "ephemeral-storage",
        }
    }
}

/// Why a node was rejected; its `Display` is Kubernetes' reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// NodeUnschedulable: the node is cordoned and the pod does not
    /// tolerate `node.kubernetes.io/unschedulable:NoSchedule`.
    Unschedulable,
    /// NodeName: the pod names another node.
    NodeName,
    /// TaintToleration: the first NoSchedule/NoExecute taint not tolerated.
    UntoleratedTaint {
        /// The taint's key.
        key: String,
        /// The taint's value.
        value: String,
    },
    /// NodeAffinity: nodeSelector or required node affinity.
    NodeAffinity,
    /// NodePorts: a host port is taken.
    NodePorts,
    /// NodeResourcesFit: the node is at its pod count.
    TooManyPods,
    /// NodeResourcesFit: a resource request does not fit.
    Insufficient(Resource),
    /// InterPodAffinity: a pod the incoming pod's anti-affinity is about
    /// is on the node.
    PodAntiAffinity,
    /// InterPodAffinity: a pod on the node has anti-affinity to the
    /// incoming pod.
    ExistingPodsAntiAffinity,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // nodeunschedulable/node_unschedulable.go ErrReasonUnschedulable
            Self::Unschedulable => f.write_str("node(s) were unschedulable"),
            // nodename/node_name.go ErrReason
            Self::NodeName => f.write_str("node(s) didn't match the requested node name"),
            // tainttoleration/taint_toleration.go Filter
            Self::UntoleratedTaint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            // nodeaffinity/node_affinity.go ErrReasonPod
            Self::NodeAffinity => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            // nodeports/node_ports.go ErrReason
            Self::NodePorts => {
                f.write_str("node(s) didn't have free ports for the requested pod ports")
            }
            // noderesources/fit.go fitsRequest
            Self::TooManyPods => f.write_str("Too many pods"),
            Self::Insufficient(resource) => write!(f, "Insufficient {}", resource.name()),
            // interpodaffinity/filtering.go
            Self::PodAntiAffinity => f.write_str("node(s) didn't match pod anti-affinity rules"),
            Self::ExistingPodsAntiAffinity => {
                f.write_str("node(s) didn't satisfy existing pods anti-affinity rules")
            }
        }
    }
}

/// The taint a cordoned node is treated as having
/// (`node.kubernetes.io/unschedulable:NoSchedule`).
fn unschedulable_taint() -> Taint {
    Taint {
        key: "node.kubernetes.io/unschedulable".to_owned(),
        value: String::new(),
        effect: "NoSchedule".to_owned(),
    }
}

/// NodeUnschedulable: a cordoned node takes only pods that tolerate the
/// unschedulable taint.
pub fn node_unschedulable(node: &Node, pod: &PodInfo) -> Option<Reason> {
    (node.unschedulable && !tolerated(&pod.tolerations, &unschedulable_taint()))
        .then_some(Reason::Unschedulable)
}

/// NodeName: a pod naming a node goes only there.
pub fn node_name(node: &Node, pod: &PodInfo) -> Option<Reason> {
    pod.node_name
        .as_deref()
        .is_some_and(|name| name != node.name)
        .then_some(Reason::NodeName)
}

/// TaintToleration: the node's first NoSchedule or NoExecute taint the
/// pod does not tolerate (`FindMatchingUntoleratedTaint`).
pub fn taint_toleration(node: &Node, pod: &PodInfo) -> Option<Reason> {
    node.taints
        .iter()
        .find(|taint| taint.forbids_scheduling() && !tolerated(&pod.tolerations, taint))
        .map(|taint| Reason::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone(),
        })
}

/// NodeAffinity: every `nodeSelector` label equal, and some required
/// node affinity term matching (`GetRequiredNodeAffinity`).
pub fn node_affinity(node: &Node, pod: &PodInfo) -> Option<Reason> {
    let selector_matches = pod
        .node_selector
        .iter()
        .all(|(key, value)| node.labels.get(key) == Some(value));
    let affinity_matches = pod
        .required_node_affinity
        .as_ref()
        .is_none_or(|selector| selector.matches(&node.name, &node.labels));
    (!(selector_matches && affinity_matches)).then_some(Reason::NodeAffinity)
}

/// NodePorts: none of the pod's host ports is taken on the node.
pub fn node_ports(info: &NodeInfo, pod: &PodInfo) -> Option<Reason> {
    if pod.host_ports.is_empty() || info.pods_with_host_ports == 0 {
        return None;
    }
    let taken = info.pods.iter().flat_map(|p| p.host_ports.iter());
    let conflict = taken.into_iter().any(|used| {
        pod.host_ports
            .iter()
            .any(|wanted| wanted.conflicts_with(used))
    });
    conflict.then_some(Reason::NodePorts)
}

/// NodeResourcesFit: the pod count, then cpu, memory and ephemeral
/// storage against what is left of the allocatable (`fitsRequest`); a
/// resource the pod does not request always fits.
pub fn resources_fit(info: &NodeInfo, pod: &PodInfo) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let allocatable = info.node.allocatable;
    if info.pods.len() as i64 + 1 > allocatable.pods {
        reasons.push(Reason::TooManyPods);
    }
    let free = allocatable.resources.minus(info.requested);
    let wanted = pod.requests;
    let checks = [
        (Resource::Cpu, wanted.milli_cpu, free.milli_cpu),
        (Resource::Memory, wanted.memory, free.memory),
        (
            Resource::EphemeralStorage,
            wanted.ephemeral_storage,
            free.ephemeral_storage,
        ),
    ];
    for (resource, wanted, free) in checks {
        if wanted > 0 && wanted > free {
            reasons.push(Reason::Insufficient(resource));
        }
    }
    reasons
}

/// InterPodAffinity (required anti-affinity, hostname topology): neither
/// may the node hold a pod the incoming pod's terms select, nor a pod
/// whose terms select the incoming pod. A node without the hostname
/// label is in no domain and never conflicts.
pub fn pod_anti_affinity(info: &NodeInfo, pod: &PodInfo) -> Option<Reason> {
    // The common case, no term on either side, decided without a lookup
    // (the label lookup was a tenth of a search at 5,000 nodes).
    if pod.required_anti_affinity.is_empty() && info.pods_with_required_anti_affinity == 0 {
        return None;
    }
    if !info.node.labels.contains_key(HOSTNAME_LABEL) {
        return None;
    }
    let incoming_conflict = !pod.required_anti_affinity.is_empty()
        && info.pods.iter().any(|existing| {
            pod.required_anti_affinity
                .iter()
                .any(|term| term.selects(&existing.namespace, &existing.labels))
        });
    if incoming_conflict {
        return Some(Reason::PodAntiAffinity);
    }
    let existing_conflict = info.pods_with_required_anti_affinity > 0
        && info.pods.iter().any(|existing| {
            existing
                .required_anti_affinity
                .iter()
                .any(|term| term.selects(&pod.namespace, &pod.labels))
        });
    existing_conflict.then_some(Reason::ExistingPodsAntiAffinity)
}

/// Runs every filter in the default profile's order; the reasons of the
/// first that rejects the node, or `Ok` when the pod may go there.
pub fn filter(info: &NodeInfo, pod: &PodInfo) -> Result<(), Vec<Reason>> {
    let node = &info.node;
    let single = node_unschedulable(node, pod)
        .or_else(|| node_name(node, pod))
        .or_else(|| taint_toleration(node, pod))
        .or_else(|| node_affinity(node, pod))
        .or_else(|| node_ports(info, pod));
    if let Some(reason) = single {
        return Err(vec![reason]);
    }
    let fit = resources_fit(info, pod);
    if !fit.is_empty() {
        return Err(fit);
    }
    match pod_anti_affinity(info, pod) {
        Some(reason) => Err(vec![reason]),
        None => Ok(()),
    }
}

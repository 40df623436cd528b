//! The scores: how good each feasible node is for a pod, each plugin's
//! raw score normalised to 0..=100 and weighted as kube-scheduler's
//! default profile weighs them (`pkg/scheduler/apis/config/v1/default_plugins.go`).
//!
//! ```text
//!   plugin                            raw score                     normalise        weight
//!   TaintToleration                   # PreferNoSchedule untolerated  reversed (max→0)  3
//!   NodeAffinity                      Σ weights of preferred terms    max→100           2
//!   PodTopologySpread (owner spread)  pods of the owner on the node   spread formula    2
//!   NodeResourcesFit (LeastAllocated) already 0..=100                 —                 1
//!   NodeResourcesBalancedAllocation   already 0..=100                 —                 1
//! ```
//!
//! The spreading score is kube-scheduler's system default
//! PodTopologySpread constraint on `kubernetes.io/hostname` (maxSkew 3,
//! ScheduleAnyway), with the pods "of the same set" being those with the
//! same controller owner (same namespace, same owner uid, not
//! terminating) instead of those a Service or ReplicaSet selector selects
//! (`helper.DefaultSelector`): for pods made by controllers it is the same
//! set. The zone constraint of the system defaults is left out (it adds
//! nothing where nodes carry no zone label). A pod without a controller
//! owner skips the plugin, as a pod no selector selects does.
//!
//! InterPodAffinity's score (preferred pod affinity) and ImageLocality are
//! not computed: they give every node the same score unless pods carry
//! preferred pod affinity or nodes report images.

use crate::model::terms::HOSTNAME_LABEL;
use crate::model::{Node, NodeInfo, PodInfo};

/// The highest score a plugin gives (`framework.MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;
/// TaintToleration's weight in the default profile.
pub const TAINT_TOLERATION_WEIGHT: i64 = 3;
/// NodeAffinity's weight in the default profile.
pub const NODE_AFFINITY_WEIGHT: i64 = 2;
/// PodTopologySpread's weight in the default profile.
pub const SPREAD_WEIGHT: i64 = 2;
/// NodeResourcesFit's weight in the default profile.
pub const LEAST_ALLOCATED_WEIGHT: i64 = 1;
/// NodeResourcesBalancedAllocation's weight in the default profile.
pub const BALANCED_ALLOCATION_WEIGHT: i64 = 1;
/// maxSkew of the system default hostname spreading constraint.
pub const SPREAD_HOSTNAME_MAX_SKEW: i64 = 3;

/// LeastAllocated's score of one resource (`leastRequestedScore`).
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// NodeResourcesFit's LeastAllocated score: the share of cpu and memory
/// left free after the pod (non-zero requests), averaged with weight 1
/// each; a resource the node does not offer is left out.
pub fn least_allocated(info: &NodeInfo, pod: &PodInfo) -> i64 {
    let allocatable = info.node.allocatable.resources;
    let resources = [
        (
            info.non_zero_requested.milli_cpu + pod.non_zero_requests.milli_cpu,
            allocatable.milli_cpu,
        ),
        (
            info.non_zero_requested.memory + pod.non_zero_requests.memory,
            allocatable.memory,
        ),
    ];
    let (mut total, mut weights) = (0, 0);
    for (requested, capacity) in resources {
        if capacity == 0 {
            continue;
        }
        total += least_requested(requested, capacity);
        weights += 1;
    }
    if weights == 0 {
        0
    } else {
        total / weights
    }
}

/// Whether BalancedAllocation skips the pod: it requests neither cpu nor
/// memory (kubernetes#129138).
pub fn balanced_allocation_skips(pod: &PodInfo) -> bool {
    pod.requests.milli_cpu == 0 && pod.requests.memory == 0
}

/// NodeResourcesBalancedAllocation: 100 × (1 − the standard deviation of
/// the cpu and memory fractions requested after the pod), counting the
/// requests as they are (not the non-zero ones), each fraction capped at 1.
pub fn balanced_allocation(info: &NodeInfo, pod: &PodInfo) -> i64 {
    let allocatable = info.node.allocatable.resources;
    let resources = [
        (
            info.requested.milli_cpu + pod.requests.milli_cpu,
            allocatable.milli_cpu,
        ),
        (
            info.requested.memory + pod.requests.memory,
            allocatable.memory,
        ),
    ];
    let fractions: Vec<f64> = resources
        .iter()
        .filter(|(_, capacity)| *capacity != 0)
        .map(|&(requested, capacity)| (requested as f64 / capacity as f64).min(1.0))
        .collect();
    let deviation = match fractions.as_slice() {
        [a, b] => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
}

/// NodeAffinity's raw score: the sum of the weights of the preferred
/// terms the node matches.
pub fn node_affinity_raw(node: &Node, pod: &PodInfo) -> i64 {
    pod.preferred_node_affinity
        .iter()
        .filter(|p| p.term.matches(&node.name, &node.labels))
        .map(|p| p.weight)
        .sum()
}

/// TaintToleration's raw score: how many PreferNoSchedule taints of the
/// node the pod does not tolerate, counting only its tolerations with
/// effect PreferNoSchedule or none.
pub fn taint_toleration_raw(node: &Node, pod: &PodInfo) -> i64 {
    let mut count = 0;
    for taint in node
        .taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule")
    {
        let tolerations = pod
            .tolerations
            .iter()
            .filter(|t| t.effect.is_empty() || t.effect == "PreferNoSchedule");
        if !tolerations.into_iter().any(|t| t.tolerates(taint)) {
            count += 1;
        }
    }
    count
}

/// How many pods on the node are of the pod's set: same namespace, same
/// controller owner, not terminating.
pub fn spread_count(info: &NodeInfo, pod: &PodInfo) -> i64 {
    let Some(owner) = &pod.owner else {
        return 0;
    };
    info.pods
        .iter()
        .filter(|p| {
            !p.terminating
                && p.namespace == pod.namespace
                && p.owner.as_ref().is_some_and(|o| o.uid == owner.uid)
        })
        .count() as i64
}

/// PodTopologySpread's weight for a topology of `size` domains
/// (`topologyNormalizingWeight`: ln(size + 2)).
pub fn topology_normalizing_weight(size: usize) -> f64 {
    ((size + 2) as f64).ln()
}

/// PodTopologySpread's raw score on the hostname topology
/// (`scoreForCount`): count × weight + maxSkew − 1, rounded.
pub fn spread_raw(count: i64, weight: f64) -> i64 {
    (count as f64 * weight + (SPREAD_HOSTNAME_MAX_SKEW - 1) as f64).round() as i64
}

/// `DefaultNormalizeScore`: scales to 0..=100 by the highest score,
/// reversed when asked; all zero stays 0 (or becomes 100 reversed).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let highest = scores.iter().copied().max().unwrap_or(0).max(0);
    for score in scores.iter_mut() {
        if highest == 0 {
            if reverse {
                *score = MAX_NODE_SCORE;
            }
            continue;
        }
        let scaled = MAX_NODE_SCORE * *score / highest;
        *score = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

/// PodTopologySpread's `NormalizeScore`: fewer pods of the set score
/// higher, `100 × (max + min − score) / max`; all zero becomes 100.
pub fn spread_normalize(scores: &mut [i64]) {
    let highest = scores.iter().copied().max().unwrap_or(0);
    let lowest = scores.iter().copied().min().unwrap_or(0);
    for score in scores.iter_mut() {
        *score = if highest == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (highest + lowest - *score) / highest
        };
    }
}

/// Each plugin's normalised (unweighted) score of one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginScores {
    /// TaintToleration.
    pub taint_toleration: i64,
    /// NodeAffinity.
    pub node_affinity: i64,
    /// PodTopologySpread (owner spread).
    pub spread: i64,
    /// NodeResourcesFit (LeastAllocated).
    pub least_allocated: i64,
    /// NodeResourcesBalancedAllocation.
    pub balanced_allocation: i64,
}

impl PluginScores {
    /// The weighted sum.
    pub fn total(&self) -> i64 {
        self.taint_toleration * TAINT_TOLERATION_WEIGHT
            + self.node_affinity * NODE_AFFINITY_WEIGHT
            + self.spread * SPREAD_WEIGHT
            + self.least_allocated * LEAST_ALLOCATED_WEIGHT
            + self.balanced_allocation * BALANCED_ALLOCATION_WEIGHT
    }
}

/// Scores `pod` on each of `feasible` (indices into `nodes`), in that
/// order.
pub fn score_nodes(nodes: &[NodeInfo], feasible: &[usize], pod: &PodInfo) -> Vec<PluginScores> {
    let infos = || feasible.iter().map(|&at| &nodes[at]);
    let mut taints: Vec<i64> = infos()
        .map(|i| taint_toleration_raw(&i.node, pod))
        .collect();
    default_normalize(&mut taints, true);
    let mut affinity = vec![0; feasible.len()];
    if !pod.preferred_node_affinity.is_empty() {
        affinity = infos().map(|i| node_affinity_raw(&i.node, pod)).collect();
        default_normalize(&mut affinity, false);
    }
    let mut spread = vec![0; feasible.len()];
    if pod.owner.is_some() {
        let weight = topology_normalizing_weight(feasible.len());
        // A node without the hostname label is in no domain: raw score 0.
        spread = infos()
            .map(|i| {
                if i.node.labels.contains_key(HOSTNAME_LABEL) {
                    spread_raw(spread_count(i, pod), weight)
                } else {
                    0
                }
            })
            .collect();
        spread_normalize(&mut spread);
    }
    let balanced_skipped = balanced_allocation_skips(pod);
    infos()
        .enumerate()
        .map(|(at, info)| PluginScores {
            taint_toleration: taints[at],
            node_affinity: affinity[at],
            spread: spread[at],
            least_allocated: least_allocated(info, pod),
            balanced_allocation: if balanced_skipped {
                0
            } else {
                balanced_allocation(info, pod)
            },
        })
        .collect()
}

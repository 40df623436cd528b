//! One scheduling decision: filter the nodes (stopping once enough are
//! feasible), score the feasible ones, take the best, ties broken at
//! random (kube-scheduler's `schedulePod`, `pkg/scheduler/schedule_one.go`).
//!
//! ```text
//!   nodes[start..] ++ nodes[..start] ─► filter each ─► feasible (up to the sample size)
//!        │ none feasible                          │ one          │ several
//!        ▼                                        ▼              ▼
//!   Err(Diagnosis)                             that node     score ─► best (reservoir
//!                                                                      sampling among ties)
//!   start ← start + nodes examined (mod nodes): the next search begins
//!   where this one stopped, so successive pods sample different nodes.
//! ```

use crate::diagnosis::Diagnosis;
use crate::filters::filter;
use crate::model::{Cluster, PodInfo};
use crate::random::Random;
use crate::sample::num_feasible_nodes_to_find;
use crate::scores::score_nodes;

/// What carries over from one search to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchState {
    /// Where the next search starts in the cluster's node order.
    pub next_start_index: usize,
    /// `percentageOfNodesToScore`; 0 for the adaptive percentage.
    pub percentage_of_nodes_to_score: u32,
}

/// Where a pod goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The node picked.
    pub node_name: String,
    /// How many nodes were filtered.
    pub evaluated_nodes: usize,
    /// How many of them were feasible.
    pub feasible_nodes: usize,
}

/// Picks a node for `pod` in `cluster`, or tells why none fits.
pub fn schedule(
    cluster: &Cluster,
    pod: &PodInfo,
    state: &mut SearchState,
    random: &mut dyn Random,
) -> Result<Decision, Diagnosis> {
    let nodes = cluster.nodes();
    let mut diagnosis = Diagnosis::new(nodes.len());
    if nodes.is_empty() {
        return Err(diagnosis);
    }
    let wanted = num_feasible_nodes_to_find(nodes.len(), state.percentage_of_nodes_to_score);
    let start = state.next_start_index % nodes.len();
    let mut feasible = Vec::with_capacity(wanted);
    let mut examined = 0;
    for offset in 0..nodes.len() {
        let at = (start + offset) % nodes.len();
        examined += 1;
        match filter(&nodes[at], pod) {
            Ok(()) => {
                feasible.push(at);
                if feasible.len() >= wanted {
                    break;
                }
            }
            Err(reasons) => diagnosis.record(&reasons),
        }
    }
    state.next_start_index = (start + examined) % nodes.len();
    let chosen = match feasible.as_slice() {
        [] => return Err(diagnosis),
        [only] => *only,
        _ => {
            let scores = score_nodes(nodes, &feasible, pod);
            let totals = scores.iter().map(crate::scores::PluginScores::total);
            feasible[pick_highest(totals, random)]
        }
    };
    Ok(Decision {
        node_name: nodes[chosen].name().to_owned(),
        evaluated_nodes: examined,
        feasible_nodes: feasible.len(),
    })
}

/// The position of the highest score, each of equal highest scores
/// equally likely (reservoir sampling, as `selectHost` does).
pub fn pick_highest(scores: impl IntoIterator<Item = i64>, random: &mut dyn Random) -> usize {
    let mut best = 0;
    let mut best_score = i64::MIN;
    let mut ties = 0;
    for (at, score) in scores.into_iter().enumerate() {
        if score > best_score {
            best = at;
            best_score = score;
            ties = 1;
        } else if score == best_score {
            ties += 1;
            if random.below(ties) == 0 {
                best = at;
            }
        }
    }
    best
}

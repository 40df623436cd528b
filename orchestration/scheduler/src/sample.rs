//! How many feasible nodes a search looks for before it stops and scores
//! what it found, as kube-scheduler decides (`numFeasibleNodesToFind` in
//! `pkg/scheduler/schedule_one.go`).
//!
//! ```text
//!   nodes        percentage (adaptive)        feasible nodes to find
//!   < 100        —                            all of them
//!   100          50 − 100/125  = 50 %         max(50, 100)   = 100
//!   1,000        50 − 1000/125 = 42 %         420
//!   5,000        50 − 5000/125 = 10 %         500
//!   ≥ 5,625      5 % (the floor)              5 % of the nodes
//! ```
//!
//! Why: scoring every node of a large cluster costs more than it gains;
//! a sample of a few hundred feasible nodes finds a near-best node, and
//! the search starting where the previous one stopped (round-robin, see
//! [`crate::schedule`]) spreads the samples over the whole cluster. A
//! configured `percentageOfNodesToScore` replaces the adaptive percentage;
//! the result is never below 100 nodes (or all nodes, when fewer).

/// Below this many nodes every node is searched; never fewer are looked
/// for (`minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage's floor (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// Nodes per point the adaptive percentage drops from 50.
const NODES_PER_PERCENTAGE_POINT: usize = 125;

/// How many feasible nodes to find among `num_all_nodes`;
/// `percentage_of_nodes_to_score` 0 means the adaptive percentage.
pub fn num_feasible_nodes_to_find(
    num_all_nodes: usize,
    percentage_of_nodes_to_score: u32,
) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut percentage = percentage_of_nodes_to_score as usize;
    if percentage == 0 {
        percentage = 50_usize
            .saturating_sub(num_all_nodes / NODES_PER_PERCENTAGE_POINT)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let nodes = num_all_nodes * percentage / 100;
    nodes.max(MIN_FEASIBLE_NODES_TO_FIND)
}

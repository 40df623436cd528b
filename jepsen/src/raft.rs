//! Raft safety checkers over the metrics and applied entries a run recorded.
//!
//! [`check`] reads every [`RaftObservation`] (a snapshot of one member's
//! Raft metrics) and every [`Applied`] record (what a member's state
//! machine took in), and checks:
//!
//! - **one leader per term**: no two distinct members are seen leading the
//!   same term;
//! - **term monotonic**: a member's term never decreases, across restarts;
//! - **vote monotonic**: a member's persisted vote never goes back (older
//!   term, another candidate in the same term, committed to uncommitted,
//!   or lost altogether);
//! - **commit monotonic**: within one incarnation, the committed index
//!   never decreases;
//! - **applied <= committed**: a member applies only committed entries;
//! - **log matching**: every entry applied at an index, by any member, has
//!   the same term and digest, and snapshots agree with them;
//! - **contiguous apply**: within one incarnation, entries are applied one
//!   after the other, with no gap and no repeat, and snapshots never go
//!   back.
//!
//! [`check_final_applied`] checks, at the end of a run, that every live
//! member's last incarnation reached the highest index any member applied:
//! committed entries are never lost.
//!
//! Each property's name is `raft: <name>`; the offending lines are the
//! `{:?}` of the records involved.

use std::collections::HashMap;

use crate::history::{Applied, RaftObservation, RaftRole};
use crate::Violation;

/// Checks the Raft safety properties of the module doc over `observations`
/// (in recorded order, all members and incarnations) and `applied` (in
/// recorded order too). Returns the first violation found.
pub fn check(observations: &[RaftObservation], applied: &[Applied]) -> Result<(), Violation> {
    check_one_leader_per_term(observations)?;
    check_term_monotonic(observations)?;
    check_vote_monotonic(observations)?;
    check_commit_monotonic(observations)?;
    check_applied_le_committed(observations)?;
    check_log_matching(applied)?;
    check_contiguous_apply(applied)?;
    Ok(())
}

/// Checks that committed entries are never lost: every member in `live`
/// has records, and its last incarnation (the highest incarnation number
/// among its records) reached, by an entry or a snapshot, the highest
/// index any member applied in any incarnation.
pub fn check_final_applied(applied: &[Applied], live: &[u64]) -> Result<(), Violation> {
    const PROPERTY: &str = "raft: committed entries never lost";
    let max = applied.iter().map(|a| fields(a).index).max();
    for &node in live {
        let Some(last_incarnation) = applied
            .iter()
            .map(fields)
            .filter(|f| f.node == node)
            .map(|f| f.incarnation)
            .max()
        else {
            return Err(
                Violation::new(PROPERTY, format!("live node {node} applied nothing"))
                    .with_offending([format!(
                        "node {node}: no applied records, max applied index {max:?}"
                    )]),
            );
        };
        let reach = applied
            .iter()
            .map(fields)
            .filter(|f| f.node == node && f.incarnation == last_incarnation)
            .map(|f| f.index)
            .max();
        if reach < max {
            return Err(Violation::new(
                PROPERTY,
                format!(
                    "live node {node} (incarnation {last_incarnation}) stops short of the highest applied index"
                ),
            )
            .with_offending([format!(
                "node {node} incarnation {last_incarnation}: reach {reach:?}, max applied index {max:?}"
            )]));
        }
    }
    Ok(())
}

/// The fields every [`Applied`] record has.
#[derive(Debug, Clone, Copy)]
struct Fields {
    node: u64,
    incarnation: u64,
    index: u64,
    term: u64,
}

fn fields(applied: &Applied) -> Fields {
    match *applied {
        Applied::Entry {
            node,
            incarnation,
            index,
            term,
            ..
        }
        | Applied::Snapshot {
            node,
            incarnation,
            index,
            term,
        } => Fields {
            node,
            incarnation,
            index,
            term,
        },
    }
}

fn two<A: std::fmt::Debug, B: std::fmt::Debug>(first: &A, second: &B) -> [String; 2] {
    [format!("{first:?}"), format!("{second:?}")]
}

fn check_one_leader_per_term(observations: &[RaftObservation]) -> Result<(), Violation> {
    let mut leaders: HashMap<u64, &RaftObservation> = HashMap::new();
    for o in observations.iter().filter(|o| o.role == RaftRole::Leader) {
        let first = *leaders.entry(o.term).or_insert(o);
        if first.node != o.node {
            return Err(Violation::new(
                "raft: one leader per term",
                format!(
                    "nodes {} and {} both led term {}",
                    first.node, o.node, o.term
                ),
            )
            .with_offending(two(first, o)));
        }
    }
    Ok(())
}

fn check_term_monotonic(observations: &[RaftObservation]) -> Result<(), Violation> {
    let mut last: HashMap<u64, &RaftObservation> = HashMap::new();
    for o in observations {
        if let Some(prev) = last.insert(o.node, o) {
            if o.term < prev.term {
                return Err(Violation::new(
                    "raft: term monotonic",
                    format!(
                        "node {}'s term went back from {} to {}",
                        o.node, prev.term, o.term
                    ),
                )
                .with_offending(two(prev, o)));
            }
        }
    }
    Ok(())
}

fn check_vote_monotonic(observations: &[RaftObservation]) -> Result<(), Violation> {
    let mut last: HashMap<u64, &RaftObservation> = HashMap::new();
    for o in observations {
        let Some(prev) = last.insert(o.node, o) else {
            continue;
        };
        let Some(before) = prev.vote else {
            continue;
        };
        let problem = match o.vote {
            None => Some("was lost".to_owned()),
            Some(now) if now.term < before.term => Some(format!(
                "went back from term {} to term {}",
                before.term, now.term
            )),
            // A candidate that lost its own election follows the winner of
            // the same term (a committed vote); any other change of node
            // within a term is a second vote.
            Some(now)
                if now.term == before.term
                    && now.node != before.node
                    && (before.committed || !now.committed) =>
            {
                Some(format!(
                    "changed from node {} to node {} in term {}",
                    before.node, now.node, now.term
                ))
            }
            Some(now) if now.term == before.term && before.committed && !now.committed => Some(
                format!("went from committed to uncommitted in term {}", now.term),
            ),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            return Err(Violation::new(
                "raft: vote monotonic",
                format!("node {}'s vote {problem}", o.node),
            )
            .with_offending(two(prev, o)));
        }
    }
    Ok(())
}

fn check_commit_monotonic(observations: &[RaftObservation]) -> Result<(), Violation> {
    let mut last: HashMap<(u64, u64), &RaftObservation> = HashMap::new();
    for o in observations {
        if let Some(prev) = last.insert((o.node, o.incarnation), o) {
            if o.committed_index < prev.committed_index {
                return Err(Violation::new(
                    "raft: commit monotonic",
                    format!(
                        "node {} (incarnation {})'s committed index went back from {:?} to {:?}",
                        o.node, o.incarnation, prev.committed_index, o.committed_index
                    ),
                )
                .with_offending(two(prev, o)));
            }
        }
    }
    Ok(())
}

fn check_applied_le_committed(observations: &[RaftObservation]) -> Result<(), Violation> {
    for o in observations {
        if let (Some(applied), Some(committed)) = (o.last_applied_index, o.committed_index) {
            if applied > committed {
                return Err(Violation::new(
                    "raft: applied <= committed",
                    format!(
                        "node {} applied index {applied} beyond its committed index {committed}",
                        o.node
                    ),
                )
                .with_offending([format!("{o:?}")]));
            }
        }
    }
    Ok(())
}

fn check_log_matching(applied: &[Applied]) -> Result<(), Violation> {
    const PROPERTY: &str = "raft: log matching";
    // First entry applied at each index, and first record of any kind.
    let mut entries: HashMap<u64, &Applied> = HashMap::new();
    let mut any: HashMap<u64, &Applied> = HashMap::new();
    for a in applied {
        let f = fields(a);
        if let Applied::Entry { digest, .. } = *a {
            let first = *entries.entry(f.index).or_insert(a);
            if let Applied::Entry {
                term: first_term,
                digest: first_digest,
                ..
            } = *first
            {
                if (first_term, first_digest) != (f.term, digest) {
                    return Err(Violation::new(
                        PROPERTY,
                        format!("diverging entries applied at index {}", f.index),
                    )
                    .with_offending(two(first, a)));
                }
            }
        }
        let first = *any.entry(f.index).or_insert(a);
        if fields(first).term != f.term {
            return Err(Violation::new(
                PROPERTY,
                format!(
                    "snapshot and entry disagree on the term at index {}",
                    f.index
                ),
            )
            .with_offending(two(first, a)));
        }
    }
    Ok(())
}

fn check_contiguous_apply(applied: &[Applied]) -> Result<(), Violation> {
    const PROPERTY: &str = "raft: contiguous apply";
    // Per (node, incarnation): the index reached and the record reaching it.
    let mut reach: HashMap<(u64, u64), (u64, &Applied)> = HashMap::new();
    for a in applied {
        let f = fields(a);
        let key = (f.node, f.incarnation);
        let prev = reach.get(&key).copied();
        let problem = match (a, prev) {
            (Applied::Snapshot { .. }, Some((r, _))) if f.index < r => {
                Some(format!("snapshot at index {} goes back from {r}", f.index))
            }
            (Applied::Entry { .. }, None) if f.index > 1 => {
                Some(format!("first entry applied is at index {}", f.index))
            }
            (Applied::Entry { .. }, Some((r, _))) if f.index <= r => Some(format!(
                "entry at index {} repeats (already reached {r})",
                f.index
            )),
            (Applied::Entry { .. }, Some((r, _))) if f.index > r + 1 => Some(format!(
                "gap: entry at index {} after reaching {r}",
                f.index
            )),
            _ => None,
        };
        if let Some(problem) = problem {
            let message = format!("node {} (incarnation {}): {problem}", f.node, f.incarnation);
            let offending = match prev {
                Some((_, p)) => vec![format!("{p:?}"), format!("{a:?}")],
                None => vec![format!("{a:?}")],
            };
            return Err(Violation::new(PROPERTY, message).with_offending(offending));
        }
        reach.insert(key, (f.index, a));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Vote;

    fn obs(node: u64, incarnation: u64, at_ns: u64, role: RaftRole, term: u64) -> RaftObservation {
        RaftObservation {
            node,
            incarnation,
            at_ns,
            role,
            term,
            vote: None,
            committed_index: None,
            last_log_index: None,
            last_applied_index: None,
        }
    }

    fn vote(term: u64, node: u64, committed: bool) -> Vote {
        Vote {
            term,
            node,
            committed,
        }
    }

    fn entry(node: u64, incarnation: u64, index: u64, term: u64, digest: u64) -> Applied {
        Applied::Entry {
            node,
            incarnation,
            index,
            term,
            digest,
        }
    }

    fn snap(node: u64, incarnation: u64, index: u64, term: u64) -> Applied {
        Applied::Snapshot {
            node,
            incarnation,
            index,
            term,
        }
    }

    use RaftRole::{Candidate, Follower, Leader};

    fn good_observations() -> Vec<RaftObservation> {
        vec![
            RaftObservation {
                vote: Some(vote(1, 1, true)),
                committed_index: Some(1),
                last_log_index: Some(1),
                last_applied_index: Some(1),
                ..obs(1, 1, 10, Leader, 1)
            },
            RaftObservation {
                vote: Some(vote(1, 1, true)),
                committed_index: Some(1),
                last_log_index: Some(1),
                ..obs(2, 1, 11, Follower, 1)
            },
            RaftObservation {
                vote: Some(vote(1, 1, true)),
                committed_index: Some(1),
                last_applied_index: Some(1),
                ..obs(3, 1, 12, Follower, 1)
            },
            // Node 3 restarts: commit starts again from None.
            RaftObservation {
                vote: Some(vote(1, 1, true)),
                ..obs(3, 2, 20, Follower, 1)
            },
            RaftObservation {
                vote: Some(vote(2, 2, false)),
                committed_index: Some(1),
                ..obs(2, 1, 30, Candidate, 2)
            },
            RaftObservation {
                vote: Some(vote(2, 2, true)),
                committed_index: Some(4),
                last_applied_index: Some(4),
                ..obs(2, 1, 31, Leader, 2)
            },
            RaftObservation {
                vote: Some(vote(2, 2, true)),
                committed_index: Some(3),
                last_applied_index: Some(3),
                ..obs(3, 2, 32, Follower, 2)
            },
            // The old leader learns the new term.
            RaftObservation {
                vote: Some(vote(2, 2, true)),
                committed_index: Some(4),
                last_applied_index: Some(4),
                ..obs(1, 1, 33, Follower, 2)
            },
        ]
    }

    fn good_applied() -> Vec<Applied> {
        vec![
            entry(1, 1, 1, 1, 11),
            entry(2, 1, 1, 1, 11),
            entry(3, 1, 1, 1, 11),
            entry(1, 1, 2, 1, 12),
            entry(2, 1, 2, 1, 12),
            // Node 3's new incarnation resumes from a snapshot.
            snap(3, 2, 2, 1),
            entry(2, 1, 3, 2, 13),
            entry(2, 1, 4, 2, 14),
            entry(3, 2, 3, 2, 13),
            entry(1, 1, 3, 2, 13),
            // A snapshot jump, then contiguous entries.
            snap(3, 2, 4, 2),
            entry(3, 2, 5, 2, 15),
            entry(2, 1, 5, 2, 15),
        ]
    }

    fn property(result: Result<(), Violation>) -> String {
        match result {
            Ok(()) => panic!("expected a violation"),
            Err(v) => {
                assert!(!v.offending.is_empty(), "no offending lines: {v}");
                v.property
            }
        }
    }

    #[test]
    fn good_history_is_accepted() {
        assert_eq!(check(&good_observations(), &good_applied()), Ok(()));
    }

    #[test]
    fn empty_history_is_accepted() {
        assert_eq!(check(&[], &[]), Ok(()));
        assert_eq!(check_final_applied(&[], &[]), Ok(()));
    }

    #[test]
    fn two_leaders_in_one_term_are_rejected() {
        let mut observations = good_observations();
        observations.push(obs(3, 2, 40, Leader, 2));
        assert_eq!(
            property(check(&observations, &good_applied())),
            "raft: one leader per term"
        );
    }

    #[test]
    fn term_going_back_after_restart_is_rejected() {
        let mut observations = good_observations();
        observations.push(RaftObservation {
            vote: Some(vote(2, 2, true)),
            ..obs(1, 2, 40, Follower, 1)
        });
        assert_eq!(
            property(check(&observations, &good_applied())),
            "raft: term monotonic"
        );
    }

    #[test]
    fn a_candidate_may_follow_the_winner_of_its_term() {
        let observations = vec![
            RaftObservation {
                vote: Some(vote(4, 1, false)),
                ..obs(1, 1, 10, Candidate, 4)
            },
            RaftObservation {
                vote: Some(vote(4, 2, true)),
                ..obs(1, 1, 20, Follower, 4)
            },
        ];
        assert!(check(&observations, &[]).is_ok());
    }

    #[test]
    fn vote_changing_node_in_one_term_is_rejected() {
        let mut observations = good_observations();
        observations.push(RaftObservation {
            vote: Some(vote(2, 3, false)),
            ..obs(1, 2, 40, Follower, 2)
        });
        assert_eq!(
            property(check(&observations, &good_applied())),
            "raft: vote monotonic"
        );
    }

    #[test]
    fn vote_lost_or_uncommitted_is_rejected() {
        let mut observations = good_observations();
        observations.push(obs(1, 2, 40, Follower, 2));
        assert_eq!(property(check(&observations, &[])), "raft: vote monotonic");
        let mut observations = good_observations();
        observations.push(RaftObservation {
            vote: Some(vote(2, 2, false)),
            ..obs(1, 2, 40, Follower, 2)
        });
        assert_eq!(property(check(&observations, &[])), "raft: vote monotonic");
    }

    #[test]
    fn commit_going_back_in_an_incarnation_is_rejected() {
        let mut observations = good_observations();
        observations.push(RaftObservation {
            vote: Some(vote(2, 2, true)),
            committed_index: Some(2),
            ..obs(1, 1, 40, Follower, 2)
        });
        assert_eq!(
            property(check(&observations, &good_applied())),
            "raft: commit monotonic"
        );
    }

    #[test]
    fn applied_beyond_committed_is_rejected() {
        let observations = vec![RaftObservation {
            committed_index: Some(2),
            last_applied_index: Some(3),
            ..obs(1, 1, 1, Leader, 1)
        }];
        assert_eq!(
            property(check(&observations, &[])),
            "raft: applied <= committed"
        );
    }

    #[test]
    fn diverging_entries_are_rejected() {
        let mut applied = good_applied();
        applied.push(entry(1, 1, 4, 2, 99));
        assert_eq!(
            property(check(&good_observations(), &applied)),
            "raft: log matching"
        );
    }

    #[test]
    fn snapshot_disagreeing_with_entry_is_rejected() {
        let applied = vec![entry(1, 1, 1, 1, 11), snap(2, 1, 1, 2)];
        assert_eq!(property(check(&[], &applied)), "raft: log matching");
    }

    #[test]
    fn gap_in_applied_entries_is_rejected() {
        let mut applied = good_applied();
        applied.push(entry(1, 1, 5, 2, 15));
        let v = check(&good_observations(), &applied).expect_err("gap");
        assert_eq!(v.property, "raft: contiguous apply");
        assert_eq!(v.offending.len(), 2);
        assert!(v.offending[1].contains("index: 5"), "{v}");
    }

    #[test]
    fn repeat_and_backward_snapshot_are_rejected() {
        let repeat = vec![entry(1, 1, 1, 1, 11), entry(1, 1, 1, 1, 11)];
        assert_eq!(property(check(&[], &repeat)), "raft: contiguous apply");
        let backwards = vec![snap(1, 1, 5, 1), snap(1, 1, 3, 1)];
        assert_eq!(property(check(&[], &backwards)), "raft: contiguous apply");
        let late_start = vec![entry(1, 1, 2, 1, 12)];
        assert_eq!(property(check(&[], &late_start)), "raft: contiguous apply");
    }

    #[test]
    fn new_incarnation_starts_again() {
        // A restart may apply from the beginning again (no snapshot).
        let applied = vec![
            entry(1, 1, 1, 1, 11),
            entry(1, 1, 2, 1, 12),
            entry(1, 2, 1, 1, 11),
            entry(1, 2, 2, 1, 12),
        ];
        assert_eq!(check(&[], &applied), Ok(()));
    }

    #[test]
    fn final_applied_accepts_when_all_reach_max() {
        let mut applied = good_applied();
        applied.push(entry(1, 1, 4, 2, 14));
        applied.push(entry(1, 1, 5, 2, 15));
        assert_eq!(check(&good_observations(), &applied), Ok(()));
        assert_eq!(check_final_applied(&applied, &[1, 2, 3]), Ok(()));
    }

    #[test]
    fn final_applied_rejects_a_lost_entry() {
        // Node 1 only reached index 3; index 5 was applied elsewhere.
        let v = check_final_applied(&good_applied(), &[1, 2, 3]).expect_err("lost");
        assert_eq!(v.property, "raft: committed entries never lost");
        assert!(v.offending[0].contains("node 1"), "{v}");
        assert!(v.offending[0].contains("reach Some(3)"), "{v}");
        assert!(v.offending[0].contains("Some(5)"), "{v}");
        // A dead node may lag behind.
        assert_eq!(check_final_applied(&good_applied(), &[2, 3]), Ok(()));
    }

    #[test]
    fn final_applied_uses_last_incarnation() {
        // Node 1 reached 3 before restarting, then only 1.
        let applied = vec![
            entry(1, 1, 1, 1, 11),
            entry(1, 1, 2, 1, 12),
            entry(1, 1, 3, 1, 13),
            entry(1, 2, 1, 1, 11),
        ];
        assert_eq!(
            property(check_final_applied(&applied, &[1])),
            "raft: committed entries never lost"
        );
    }

    #[test]
    fn final_applied_rejects_a_live_node_without_records() {
        assert_eq!(
            property(check_final_applied(&good_applied(), &[1, 2, 3, 4])),
            "raft: committed entries never lost"
        );
    }
}

//! Linearizability: is there one order of the operations, each placed
//! between its call and its return, in which the [`model`](crate::model)
//! gives every response that was seen?
//!
//! The search is Wing and Gong's: repeatedly pick an operation that no
//! pending operation returned before (a *minimal* one), apply it to the
//! model, and backtrack when the model rejects its response. Lowe's
//! memoisation makes it practical: a (set of placed operations, model
//! state) pair seen once is never explored again. Both halves of the pair
//! are kept as 128-bit hashes (the set's is the XOR of its members'), so
//! the cache stays small.
//!
//! Outcomes: an operation that `Failed` never took effect and is dropped;
//! one whose outcome is `Unknown` may have taken effect at any moment after
//! its call, with any response, or never — it stays a candidate until the
//! end and is never required.
//!
//! Partitioning: etcd's revision is global, so a history does not split
//! into independent keys exactly. Each key's projection is first checked
//! against [`KeyModel`], a relaxation of the whole model; a projection that
//! fails proves the history is not linearizable, and its witness is small.
//! The whole history is then checked against [`EtcdModel`]. A search that
//! runs past its step budget or its memory bounds answers
//! [`Verdict::Inconclusive`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use foldhash::quality::FixedState;

use crate::history::{History, Operation, Outcome, Request, Response};
use crate::model::{EtcdModel, KeyModel, Model};
use crate::Violation;

/// Steps (states tried) one search may take before giving up.
pub const STEP_BUDGET: u64 = 4_000_000;
/// Entries the memo may hold before the search gives up as inconclusive:
/// each step may add one per candidate, and a sweep that let one search
/// grow its memo to 24 GiB was killed for memory. At 32 bytes a key this
/// is about 1 GiB with the table's slack.
pub const MEMO_ENTRIES_MAX: usize = 24_000_000;
/// Model states the search may hold on its stack (alternatives not yet
/// tried, each a copy of the store) before it gives up as inconclusive: a
/// deep search with many candidates per level held 10 GiB of them. A state
/// of the workload's store is about a kilobyte.
pub const STATES_HELD_MAX: usize = 1_000_000;

/// The checker's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An order exists.
    Linearizable,
    /// The search ran out of budget; nothing was found wrong so far.
    Inconclusive,
    /// No order exists.
    Violation(Violation),
}

/// Checks `history`: each key's projection, then the whole.
pub fn check(history: &History) -> Verdict {
    check_with_budget(history, STEP_BUDGET)
}

/// [`check`] with a step budget per search.
pub fn check_with_budget(history: &History, budget: u64) -> Verdict {
    let mut inconclusive = false;
    for (key, operations) in per_key(history) {
        match search(&operations, &KeyModel::default(), budget) {
            Search::Found => {}
            Search::OutOfBudget => inconclusive = true,
            Search::Stuck(stuck) => {
                return Verdict::Violation(stuck.violation(&format!("key {key:?}")))
            }
        }
    }
    let all: Vec<&Operation> = history.operations.iter().collect();
    match search(&all, &EtcdModel::default(), budget) {
        Search::Found if !inconclusive => Verdict::Linearizable,
        Search::Found | Search::OutOfBudget => Verdict::Inconclusive,
        Search::Stuck(stuck) => Verdict::Violation(stuck.violation("the whole store")),
    }
}

/// Each key's operations, with the revokes of every lease ever put on it.
fn per_key(history: &History) -> BTreeMap<&str, Vec<&Operation>> {
    let mut leases: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for op in &history.operations {
        if let Request::Put { key, lease, .. } = &op.request {
            if *lease != 0 {
                leases.entry(key).or_default().insert(*lease);
            }
        }
    }
    let mut keys: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in &history.operations {
        match &op.request {
            Request::Get { key }
            | Request::Put { key, .. }
            | Request::Delete { key }
            | Request::CompareAndPut { key, .. } => keys.entry(key).or_default().push(op),
            Request::LeaseRevoke { id } => {
                for (key, ids) in &leases {
                    if ids.contains(id) {
                        keys.entry(key).or_default().push(op);
                    }
                }
            }
            Request::LeaseGrant { .. } => {}
        }
    }
    keys
}

/// An operation as the search sees it.
struct Entry<'a> {
    op: &'a Operation,
    /// `u64::MAX` when the outcome is unknown.
    return_ns: u64,
    response: Option<&'a Response>,
    /// This entry's share of the placed-set hash.
    tag: u128,
}

enum Search {
    Found,
    OutOfBudget,
    Stuck(Stuck),
}

/// Where the search got furthest before every branch failed.
struct Stuck {
    placed: Vec<String>,
    unplaceable: Vec<String>,
    state: String,
}

impl Stuck {
    fn violation(&self, scope: &str) -> Violation {
        let tail = self.placed.len().saturating_sub(5);
        Violation::new(
            "linearizability",
            format!(
                "no order of {scope} explains these responses: after the longest \
                 linearizable prefix ({} operations, last shown; model state {}), \
                 none of the operations that could come next gives its response",
                self.placed.len(),
                self.state
            ),
        )
        .with_offending(
            self.unplaceable
                .iter()
                .map(|op| format!("cannot place: {op}")),
        )
        .with_offending(self.placed[tail..].iter().map(|op| format!("placed: {op}")))
    }
}

fn tag_of(index: usize) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let index = index as u64;
    (u128::from(mix(index)) << 64) | u128::from(mix(index ^ 0x5555_5555_5555_5555))
}

/// Seeds of the two halves of a state's 128-bit hash (any two distinct
/// values; foldhash's seeds mix non-linearly, so the halves collide
/// independently).
const STATE_SEEDS: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];

fn hash_of<M: Hash>(state: &M) -> u128 {
    let [low, high] = STATE_SEEDS.map(|seed| FixedState::with_seed(seed).hash_one(state));
    (u128::from(high) << 64) | u128::from(low)
}

/// The memo's hasher: its keys are hashes already, so their bits are used
/// as they are (SipHash over them was a third of a search's time).
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        // Truncation intended: the two halves are folded into one word.
        #[allow(clippy::cast_possible_truncation)]
        let folded = (value as u64) ^ ((value >> 64) as u64).rotate_left(29);
        self.0 = self.0.rotate_left(31) ^ folded;
    }
}

/// The memo: (placed-set hash, state hash) pairs already explored.
type Memo = HashSet<(u128, u128), BuildHasherDefault<Prehashed>>;

/// One level of the depth-first search: the alternatives not yet tried.
struct Frame<M> {
    alternatives: Vec<(usize, M)>,
    /// The first definite entry not placed when this frame was made.
    low: usize,
}

fn search<M: Model>(operations: &[&Operation], initial: &M, budget: u64) -> Search {
    let mut definite: Vec<Entry<'_>> = Vec::new();
    let mut unknown: Vec<Entry<'_>> = Vec::new();
    for op in operations {
        match &op.outcome {
            Outcome::Ok(response) => definite.push(Entry {
                op,
                return_ns: op.return_ns,
                response: Some(response),
                tag: 0,
            }),
            Outcome::Unknown => unknown.push(Entry {
                op,
                return_ns: u64::MAX,
                response: None,
                tag: 0,
            }),
            Outcome::Failed => {}
        }
    }
    definite.sort_by_key(|e| (e.op.call_ns, e.op.return_ns));
    unknown.sort_by_key(|e| e.op.call_ns);
    let entries: Vec<Entry<'_>> = definite.into_iter().chain(unknown).collect();
    let definite_count = entries.iter().filter(|e| e.response.is_some()).count();
    let entries: Vec<Entry<'_>> = entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| Entry {
            tag: tag_of(i),
            ..e
        })
        .collect();

    let mut placed = vec![false; entries.len()];
    let mut placed_hash = 0u128;
    let mut path: Vec<usize> = Vec::new();
    let mut placed_definite = 0usize;
    let mut seen = Memo::default();
    let mut steps = 0u64;
    let mut best: Option<Stuck> = None;
    let mut best_depth = 0usize;

    let expand = |state: &M, placed: &[bool], placed_hash: u128, low: usize, seen: &mut Memo| {
        let mut candidates = Vec::new();
        let mut min_return = u64::MAX;
        for (i, entry) in entries.iter().enumerate().take(definite_count).skip(low) {
            if placed[i] {
                continue;
            }
            if entry.op.call_ns >= min_return {
                break;
            }
            min_return = min_return.min(entry.return_ns);
            candidates.push(i);
        }
        for (i, entry) in entries.iter().enumerate().skip(definite_count) {
            if !placed[i] && entry.op.call_ns < min_return {
                candidates.push(i);
            }
        }
        let mut alternatives = Vec::new();
        for &i in &candidates {
            for next in state.step(&entries[i].op.request, entries[i].response) {
                if seen.insert((placed_hash ^ entries[i].tag, hash_of(&next))) {
                    alternatives.push((i, next));
                }
            }
        }
        // Tried last first: keep definite, earliest-called entries on top.
        alternatives.reverse();
        (alternatives, candidates)
    };

    let (alternatives, candidates) = expand(initial, &placed, 0, 0, &mut seen);
    if definite_count == 0 {
        return Search::Found;
    }
    let mut note_stuck =
        |path: &[usize], candidates: &[usize], state: &M, placed_definite: usize| {
            if best.is_none() || placed_definite > best_depth {
                best_depth = placed_definite;
                best = Some(Stuck {
                    placed: path.iter().map(|&i| entries[i].op.to_string()).collect(),
                    unplaceable: candidates
                        .iter()
                        .filter(|&&i| entries[i].response.is_some())
                        .map(|&i| entries[i].op.to_string())
                        .collect(),
                    state: format!("{state:?}"),
                });
            }
        };
    if alternatives.is_empty() {
        note_stuck(&path, &candidates, initial, 0);
    }
    let mut held = alternatives.len();
    let mut frames = vec![Frame {
        alternatives,
        low: 0,
    }];
    while let Some(frame) = frames.last_mut() {
        let Some((i, next)) = frame.alternatives.pop() else {
            frames.pop();
            if let Some(i) = path.pop() {
                placed[i] = false;
                placed_hash ^= entries[i].tag;
                if entries[i].response.is_some() {
                    placed_definite -= 1;
                }
            }
            continue;
        };
        held -= 1;
        steps += 1;
        if steps > budget || seen.len() > MEMO_ENTRIES_MAX || held > STATES_HELD_MAX {
            return Search::OutOfBudget;
        }
        let mut low = frame.low;
        placed[i] = true;
        placed_hash ^= entries[i].tag;
        if entries[i].response.is_some() {
            placed_definite += 1;
        }
        path.push(i);
        if placed_definite == definite_count {
            return Search::Found;
        }
        while low < definite_count && placed[low] {
            low += 1;
        }
        let (alternatives, candidates) = expand(&next, &placed, placed_hash, low, &mut seen);
        if alternatives.is_empty() {
            note_stuck(&path, &candidates, &next, placed_definite);
        }
        held += alternatives.len();
        frames.push(Frame { alternatives, low });
    }
    Search::Stuck(best.unwrap_or(Stuck {
        placed: Vec::new(),
        unplaceable: Vec::new(),
        state: String::new(),
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::history::KeyValue;

    fn op(
        client: u64,
        call_ns: u64,
        return_ns: u64,
        request: Request,
        outcome: Outcome,
    ) -> Operation {
        Operation {
            client,
            call_ns,
            return_ns,
            request,
            outcome,
        }
    }

    fn put(key: &str, value: &str) -> Request {
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
        }
    }

    fn get(key: &str) -> Request {
        Request::Get { key: key.into() }
    }

    fn cas_ok(revision: i64, succeeded: bool) -> Outcome {
        Outcome::Ok(Response::CompareAndPut {
            revision,
            succeeded,
        })
    }

    fn put_ok(revision: i64) -> Outcome {
        Outcome::Ok(Response::Put { revision })
    }

    fn read(revision: i64, kv: Option<(&str, &str, i64, i64, i64)>) -> Outcome {
        Outcome::Ok(Response::Get {
            revision,
            kv: kv.map(
                |(key, value, create_revision, mod_revision, version)| KeyValue {
                    key: key.into(),
                    value: value.into(),
                    create_revision,
                    mod_revision,
                    version,
                    lease: 0,
                },
            ),
        })
    }

    fn verdict(operations: Vec<Operation>) -> Verdict {
        check(&History { operations })
    }

    fn violation(operations: Vec<Operation>) -> Violation {
        match verdict(operations) {
            Verdict::Violation(v) => v,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn concurrent_writes_and_reads_in_some_order_pass() {
        let history = vec![
            op(1, 0, 50, put("a", "1"), put_ok(3)),
            op(2, 10, 40, put("a", "2"), put_ok(2)),
            op(3, 20, 60, get("a"), read(2, Some(("a", "2", 2, 2, 1)))),
            op(3, 70, 80, get("a"), read(3, Some(("a", "1", 2, 3, 2)))),
        ];
        assert_eq!(verdict(history), Verdict::Linearizable);
    }

    #[test]
    fn a_stale_read_is_rejected_with_the_read_named() {
        let v = violation(vec![
            op(1, 0, 10, put("a", "1"), put_ok(2)),
            op(1, 20, 30, put("a", "2"), put_ok(3)),
            op(2, 40, 50, get("a"), read(2, Some(("a", "1", 2, 2, 1)))),
        ]);
        assert_eq!(v.property, "linearizability");
        assert!(v.message.contains("key \"a\""), "{v}");
        assert!(
            v.offending
                .iter()
                .any(|o| o.contains("cannot place") && o.contains("Get")),
            "{v}"
        );
    }

    #[test]
    fn a_lost_acknowledged_write_is_rejected() {
        let v = violation(vec![
            op(1, 0, 10, put("a", "1"), put_ok(2)),
            op(2, 20, 30, get("a"), read(1, None)),
        ]);
        assert_eq!(v.property, "linearizability");
    }

    #[test]
    fn an_unknown_write_may_apply_late_or_never() {
        let applied_late = vec![
            op(1, 0, 5, put("a", "1"), Outcome::Unknown),
            op(2, 20, 30, get("a"), read(1, None)),
            op(2, 40, 50, get("a"), read(2, Some(("a", "1", 2, 2, 1)))),
        ];
        assert_eq!(verdict(applied_late), Verdict::Linearizable);
        let never = vec![
            op(1, 0, 5, put("a", "1"), Outcome::Unknown),
            op(2, 20, 30, get("a"), read(1, None)),
        ];
        assert_eq!(verdict(never), Verdict::Linearizable);
    }

    #[test]
    fn an_unknown_write_cannot_apply_before_its_call() {
        violation(vec![
            op(2, 0, 5, get("a"), read(2, Some(("a", "1", 2, 2, 1)))),
            op(1, 10, 20, put("a", "1"), Outcome::Unknown),
        ]);
    }

    #[test]
    fn failed_operations_never_took_effect() {
        violation(vec![
            op(1, 0, 5, put("a", "1"), Outcome::Failed),
            op(2, 20, 30, get("a"), read(2, Some(("a", "1", 2, 2, 1)))),
        ]);
    }

    #[test]
    fn the_global_revision_is_checked_across_keys() {
        // Each key alone is fine; both writes cannot have made revision 2.
        let v = violation(vec![
            op(1, 0, 10, put("a", "1"), put_ok(2)),
            op(2, 20, 30, put("b", "1"), put_ok(2)),
        ]);
        assert!(v.message.contains("whole store"), "{v}");
    }

    #[test]
    fn a_revoke_deletes_its_keys() {
        let grant = Request::LeaseGrant {
            id: 5,
            ttl_secs: 60,
        };
        let attach = Request::Put {
            key: "a".into(),
            value: "1".into(),
            lease: 5,
        };
        let mut history = vec![
            op(
                1,
                0,
                10,
                grant,
                Outcome::Ok(Response::LeaseGrant { revision: 1 }),
            ),
            op(1, 20, 30, attach, put_ok(2)),
            op(
                1,
                40,
                50,
                Request::LeaseRevoke { id: 5 },
                Outcome::Ok(Response::LeaseRevoke { revision: 3 }),
            ),
        ];
        let mut good = history.clone();
        good.push(op(2, 60, 70, get("a"), read(3, None)));
        assert_eq!(verdict(good), Verdict::Linearizable);
        history.push(op(2, 60, 70, get("a"), read(3, Some(("a", "1", 2, 2, 1)))));
        if let Some(Outcome::Ok(Response::Get { kv: Some(kv), .. })) =
            history.last_mut().map(|o| &mut o.outcome)
        {
            kv.lease = 5;
        }
        violation(history);
    }

    #[test]
    fn a_compare_and_put_follows_the_mod_revision() {
        let cas = |expected| Request::CompareAndPut {
            key: "a".into(),
            expected_mod_revision: expected,
            value: "2".into(),
        };
        let good = vec![
            op(1, 0, 10, put("a", "1"), put_ok(2)),
            op(1, 20, 30, cas(2), cas_ok(3, true)),
            op(1, 40, 50, cas(2), cas_ok(3, false)),
        ];
        assert_eq!(verdict(good), Verdict::Linearizable);
        violation(vec![
            op(1, 0, 10, put("a", "1"), put_ok(2)),
            op(1, 20, 30, cas(0), cas_ok(3, true)),
        ]);
    }

    #[test]
    fn a_tiny_budget_is_inconclusive_not_wrong() {
        let history = History {
            operations: (0..10)
                .map(|i| op(i, 0, 100, put("a", &i.to_string()), Outcome::Unknown))
                .chain([op(
                    99,
                    200,
                    300,
                    get("a"),
                    read(2, Some(("a", "9", 2, 2, 1))),
                )])
                .collect(),
        };
        assert_eq!(check_with_budget(&history, 3), Verdict::Inconclusive);
        assert_eq!(check(&history), Verdict::Linearizable);
    }

    /// A history made by running requests one at a time on the model, each
    /// placed inside an interval around its moment; some answers lost.
    fn sequential_history(steps: &[(u8, u8, u8, u16, u16, bool)]) -> History {
        let mut store = EtcdModel::default();
        let mut operations = Vec::new();
        for (i, &(kind, key, lease, before, after, lost)) in steps.iter().enumerate() {
            let key = format!("k{}", key % 3);
            let lease = i64::from(lease % 3);
            let request = match kind % 6 {
                0 | 1 => get(&key),
                2 => Request::Put {
                    key,
                    value: format!("v{i}"),
                    lease,
                },
                3 => Request::Delete { key },
                4 => Request::LeaseGrant {
                    id: lease.max(1),
                    ttl_secs: 60,
                },
                _ => Request::LeaseRevoke { id: lease.max(1) },
            };
            let response = store.apply(&request);
            let at = 3_000 * i as u64 + 3_000;
            let outcome = if lost && !matches!(request, Request::Get { .. }) {
                Outcome::Unknown
            } else {
                Outcome::Ok(response)
            };
            operations.push(op(
                i as u64,
                at - u64::from(before),
                at + u64::from(after),
                request,
                outcome,
            ));
        }
        History { operations }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn model_made_histories_are_linearizable(
            steps in proptest::collection::vec((0u8..6, 0u8..3, 0u8..3, 0u16..2_500, 0u16..2_500, proptest::bool::weighted(0.05)), 1..30)
        ) {
            let history = sequential_history(&steps);
            prop_assert_eq!(check(&history), Verdict::Linearizable);
        }

        #[test]
        fn a_read_of_a_value_never_written_is_rejected(
            steps in proptest::collection::vec((0u8..6, 0u8..3, 0u8..3, 0u16..2_500, 0u16..2_500, proptest::bool::weighted(0.05)), 1..30),
            pick in 0usize..40,
        ) {
            let mut history = sequential_history(&steps);
            let reads: Vec<usize> = history.operations.iter().enumerate()
                .filter(|(_, o)| matches!(o.outcome, Outcome::Ok(Response::Get { kv: Some(_), .. })))
                .map(|(i, _)| i)
                .collect();
            prop_assume!(!reads.is_empty());
            let i = reads[pick % reads.len()];
            if let Outcome::Ok(Response::Get { kv: Some(kv), .. }) = &mut history.operations[i].outcome {
                kv.value = "never written".into();
            }
            prop_assert!(matches!(check(&history), Verdict::Violation(_)));
        }
    }
}

//! Model-based property test: random operation sequences run against the
//! memory and RocksDB stores in lockstep and against a deliberately naive
//! model of etcd's rules (a full snapshot of every key per revision). Every
//! response must match the model, and the two backends must agree on
//! `hash_kv` after every step. A reopen step checks that nothing depends on
//! in-memory state.
#![cfg(not(madsim))] // RocksDB is not built under the simulator.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use std::collections::BTreeMap;

use common::{Factory, Memory, Rocks};
use keel_mvcc::backend::Backend;
use keel_mvcc::{
    Command, CommandResponse, Compare, CompareResult, CompareTarget, DeleteRangeRequest, KeyValue,
    MvccError, PutRequest, RangeRequest, RequestOp, ResponseOp, SortOrder, SortTarget, Store,
    TxnRequest,
};
use proptest::prelude::*;

const KEYS: [&str; 5] = ["a", "b", "b/1", "c", "d"];

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: usize,
        value: u8,
        lease: i64,
        ignore_value: bool,
        ignore_lease: bool,
    },
    Delete {
        key: usize,
        end: Option<usize>,
    },
    Range {
        key: usize,
        end: Option<usize>,
        back: i64,
        limit: i64,
        descend: bool,
        keys_only: bool,
        count_only: bool,
    },
    Txn {
        key: usize,
        version: i64,
        then: Vec<(usize, u8)>,
        otherwise: Vec<usize>,
    },
    Compact {
        back: i64,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (key.clone(), any::<u8>(), prop_oneof![Just(0i64), Just(7i64)], prop::bool::weighted(0.15), prop::bool::weighted(0.15))
            .prop_map(|(key, value, lease, ignore_value, ignore_lease)| Op::Put { key, value, lease, ignore_value, ignore_lease }),
        2 => (key.clone(), prop::option::of(0..=KEYS.len())).prop_map(|(key, end)| Op::Delete { key, end }),
        3 => (key.clone(), prop::option::of(0..=KEYS.len()), 0i64..4, 0i64..4, any::<bool>(), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(key, end, back, limit, descend, keys_only, count_only)| Op::Range { key, end, back, limit, descend, keys_only, count_only }),
        2 => (key.clone(), 0i64..3, prop::collection::vec((key.clone(), any::<u8>()), 0..3), prop::collection::vec(key, 0..2))
            .prop_map(|(key, version, then, otherwise)| Op::Txn { key, version, then, otherwise }),
        1 => (0i64..6).prop_map(|back| Op::Compact { back }),
        1 => Just(Op::Reopen),
    ]
}

/// The naive model: the whole key space at every revision.
struct Model {
    states: BTreeMap<i64, BTreeMap<Vec<u8>, KeyValue>>,
    compacted: i64,
}

impl Model {
    fn new() -> Self {
        Self {
            states: BTreeMap::from([(1, BTreeMap::new())]),
            compacted: -1,
        }
    }
    fn current(&self) -> i64 {
        *self.states.keys().next_back().unwrap()
    }
    fn latest(&self) -> &BTreeMap<Vec<u8>, KeyValue> {
        self.states.values().next_back().unwrap()
    }
    fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
        match end {
            [] => key == start,
            [0] => key >= start,
            end => key >= start && key < end,
        }
    }
    /// Applies a batch of writes as one revision; returns the new revision
    /// (or the old one if nothing changed).
    fn write(&mut self, puts: &[(Vec<u8>, Vec<u8>, i64)], deletes: &[(Vec<u8>, Vec<u8>)]) -> i64 {
        let revision = self.current() + 1;
        let mut next = self.latest().clone();
        let mut changed = false;
        for (start, end) in deletes {
            let doomed: Vec<_> = next
                .keys()
                .filter(|key| Self::in_range(key, start, end))
                .cloned()
                .collect();
            changed |= !doomed.is_empty();
            for key in doomed {
                next.remove(&key);
            }
        }
        for (key, value, lease) in puts {
            let (create_revision, version) = match next.get(key) {
                Some(prev) => (prev.create_revision, prev.version + 1),
                None => (revision, 1),
            };
            next.insert(
                key.clone(),
                KeyValue {
                    key: key.clone(),
                    create_revision,
                    mod_revision: revision,
                    version,
                    value: value.clone(),
                    lease: *lease,
                },
            );
            changed = true;
        }
        if changed {
            self.states.insert(revision, next);
            revision
        } else {
            revision - 1
        }
    }
}

fn end_bytes(end: Option<usize>) -> Vec<u8> {
    match end {
        None => Vec::new(),
        Some(index) if index == KEYS.len() => vec![0],
        Some(index) => KEYS[index].as_bytes().to_vec(),
    }
}

/// One store per backend, run in lockstep.
struct Pair {
    memory_factory: Memory,
    rocks_factory: Rocks,
    memory: Option<Store<keel_mvcc::backend::MemoryBackend>>,
    rocks: Option<Store<keel_mvcc::backend::RocksBackend>>,
}

impl Pair {
    fn new() -> Self {
        let mut memory_factory = Memory::default();
        let mut rocks_factory = Rocks::default();
        let memory = Some(memory_factory.open());
        let rocks = Some(rocks_factory.open());
        // The lease the random puts attach (a put may only name a lease
        // that exists); granting it changes no revision.
        common::grant(memory.as_ref().unwrap(), 7);
        common::grant(rocks.as_ref().unwrap(), 7);
        Self {
            memory_factory,
            rocks_factory,
            memory,
            rocks,
        }
    }
    fn apply(&self, command: &Command) -> Result<CommandResponse, String> {
        let memory = self
            .memory
            .as_ref()
            .unwrap()
            .apply(command, b"m")
            .map_err(|e| e.to_string());
        let rocks = self
            .rocks
            .as_ref()
            .unwrap()
            .apply(command, b"m")
            .map_err(|e| e.to_string());
        assert_eq!(memory, rocks, "backends disagree on {command:?}");
        memory
    }
    fn range(&self, request: &RangeRequest) -> Result<keel_mvcc::RangeResponse, String> {
        let memory = self
            .memory
            .as_ref()
            .unwrap()
            .range(request)
            .map_err(|e| e.to_string());
        let rocks = self
            .rocks
            .as_ref()
            .unwrap()
            .range(request)
            .map_err(|e| e.to_string());
        assert_eq!(memory, rocks, "backends disagree on {request:?}");
        memory
    }
    fn check_hashes(&self) {
        let memory = self.memory.as_ref().unwrap().hash_kv(0).unwrap();
        let rocks = self.rocks.as_ref().unwrap().hash_kv(0).unwrap();
        assert_eq!(memory, rocks, "hash_kv differs between backends");
    }
    fn reopen(&mut self) {
        let memory = self.memory.take().unwrap();
        self.memory = Some(self.memory_factory.reopen(memory));
        let rocks = self.rocks.take().unwrap();
        self.rocks = Some(self.rocks_factory.reopen(rocks));
    }
}

fn expect_error<T: std::fmt::Debug>(actual: Result<T, String>, error: &MvccError) {
    assert_eq!(actual.unwrap_err(), error.to_string());
}

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per Range option the model varies"
)]
fn check_range(
    pair: &Pair,
    model: &Model,
    key: usize,
    end: Option<usize>,
    back: i64,
    limit: i64,
    descend: bool,
    keys_only: bool,
    count_only: bool,
) {
    let current = model.current();
    let revision = if back == 0 { 0 } else { current - back + 1 };
    let request = RangeRequest {
        key: KEYS[key].as_bytes().to_vec(),
        range_end: end_bytes(end),
        revision,
        limit,
        sort_order: if descend {
            SortOrder::Descend
        } else {
            SortOrder::None
        },
        sort_target: SortTarget::Key,
        keys_only,
        count_only,
        ..RangeRequest::default()
    };
    let actual = pair.range(&request);
    let at = if revision <= 0 { current } else { revision };
    if at < model.compacted || at < 1 {
        // Below the first revision counts as compacted once anything was;
        // before any compaction, revision 0 and negatives mean "current".
        if revision > 0 {
            expect_error(actual, &MvccError::Compacted);
        }
        return;
    }
    let state = model
        .states
        .range(..=at)
        .next_back()
        .map(|(_, state)| state)
        .unwrap();
    let mut kvs: Vec<KeyValue> = state
        .values()
        .filter(|kv| Model::in_range(&kv.key, &request.key, &request.range_end))
        .cloned()
        .collect();
    let count = kvs.len() as i64;
    if descend {
        kvs.reverse();
    }
    let mut more = false;
    if limit > 0 && kvs.len() > limit as usize {
        kvs.truncate(limit as usize);
        more = true;
    }
    if keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    if count_only {
        kvs.clear();
        more = false;
    }
    let actual = actual.unwrap();
    assert_eq!(
        (actual.kvs, actual.more, actual.count, actual.revision),
        (kvs, more, count, current),
        "{request:?}"
    );
}

fn step(pair: &mut Pair, model: &mut Model, op: &Op) {
    match op {
        Op::Put {
            key,
            value,
            lease,
            ignore_value,
            ignore_lease,
        } => {
            let key_bytes = KEYS[*key].as_bytes().to_vec();
            let request = PutRequest {
                key: key_bytes.clone(),
                value: if *ignore_value { vec![] } else { vec![*value] },
                lease: if *ignore_lease { 0 } else { *lease },
                prev_kv: true,
                ignore_value: *ignore_value,
                ignore_lease: *ignore_lease,
            };
            let actual = pair.apply(&Command::Put(request.clone()));
            let prev = model.latest().get(&key_bytes).cloned();
            if (*ignore_value || *ignore_lease) && prev.is_none() {
                return expect_error(actual, &MvccError::KeyNotFound);
            }
            let value = if *ignore_value {
                prev.clone().unwrap().value
            } else {
                request.value
            };
            let lease = if *ignore_lease {
                prev.clone().unwrap().lease
            } else {
                request.lease
            };
            let revision = model.write(&[(key_bytes, value, lease)], &[]);
            let Ok(CommandResponse::Put(put)) = actual else {
                panic!("{actual:?}")
            };
            assert_eq!((put.revision, put.prev_kv), (revision, prev));
        }
        Op::Delete { key, end } => {
            let start = KEYS[*key].as_bytes().to_vec();
            let end = end_bytes(*end);
            let request = DeleteRangeRequest {
                key: start.clone(),
                range_end: end.clone(),
                prev_kv: true,
            };
            let actual = pair.apply(&Command::DeleteRange(request));
            let prev: Vec<KeyValue> = model
                .latest()
                .values()
                .filter(|kv| Model::in_range(&kv.key, &start, &end))
                .cloned()
                .collect();
            let revision = model.write(&[], &[(start, end)]);
            let Ok(CommandResponse::DeleteRange(delete)) = actual else {
                panic!("{actual:?}")
            };
            assert_eq!(
                (delete.revision, delete.deleted, delete.prev_kvs),
                (revision, prev.len() as i64, prev)
            );
        }
        Op::Range {
            key,
            end,
            back,
            limit,
            descend,
            keys_only,
            count_only,
        } => {
            check_range(
                pair,
                model,
                *key,
                *end,
                *back,
                *limit,
                *descend,
                *keys_only,
                *count_only,
            );
        }
        Op::Txn {
            key,
            version,
            then,
            otherwise,
        } => {
            let guard = Compare {
                result: CompareResult::Equal,
                target: CompareTarget::Version(*version),
                key: KEYS[*key].as_bytes().to_vec(),
                range_end: vec![],
            };
            let success: Vec<RequestOp> = then
                .iter()
                .map(|(key, value)| {
                    RequestOp::Put(PutRequest {
                        key: KEYS[*key].as_bytes().to_vec(),
                        value: vec![*value],
                        ..PutRequest::default()
                    })
                })
                .collect();
            let failure: Vec<RequestOp> = otherwise
                .iter()
                .map(|key| {
                    RequestOp::DeleteRange(DeleteRangeRequest {
                        key: KEYS[*key].as_bytes().to_vec(),
                        range_end: vec![],
                        prev_kv: false,
                    })
                })
                .collect();
            let actual = pair.apply(&Command::Txn(TxnRequest {
                compare: vec![guard],
                success,
                failure,
            }));
            let mut put_keys: Vec<usize> = then.iter().map(|(key, _)| *key).collect();
            put_keys.sort_unstable();
            put_keys.dedup();
            if put_keys.len() != then.len() {
                return expect_error(actual, &MvccError::DuplicateKey);
            }
            let key_bytes = KEYS[*key].as_bytes().to_vec();
            let holds = model.latest().get(&key_bytes).map_or(0, |kv| kv.version) == *version;
            let revision = if holds {
                let puts: Vec<_> = then
                    .iter()
                    .map(|(key, value)| (KEYS[*key].as_bytes().to_vec(), vec![*value], 0))
                    .collect();
                model.write(&puts, &[])
            } else {
                let deletes: Vec<_> = otherwise
                    .iter()
                    .map(|key| (KEYS[*key].as_bytes().to_vec(), vec![]))
                    .collect();
                model.write(&[], &deletes)
            };
            let Ok(CommandResponse::Txn(txn)) = actual else {
                panic!("{actual:?}")
            };
            assert_eq!((txn.succeeded, txn.revision), (holds, revision));
            assert!(txn
                .responses
                .iter()
                .all(|r| matches!(r, ResponseOp::Put(_) | ResponseOp::DeleteRange(_))));
        }
        Op::Compact { back } => {
            let revision = model.current() - back;
            let actual = pair.apply(&Command::Compact(revision));
            if revision <= model.compacted {
                return expect_error(actual, &MvccError::Compacted);
            }
            model.compacted = revision;
            // Keep the state in force at the compacted revision (if it is
            // above the empty store's) and everything after it.
            if let Some((&keep_from, _)) = model.states.range(..=revision).next_back() {
                model.states.retain(|rev, _| *rev >= keep_from);
            }
            assert!(actual.is_ok(), "{actual:?}");
        }
        Op::Reopen => pair.reopen(),
    }
    pair.check_hashes();
    assert_eq!(
        pair.memory.as_ref().unwrap().current_revision(),
        model.current()
    );
    assert_eq!(
        pair.rocks.as_ref().unwrap().compacted_revision(),
        model.compacted
    );
}

fn cases() -> u32 {
    std::env::var("KEEL_PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn stores_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut pair = Pair::new();
        let mut model = Model::new();
        for op in &ops {
            step(&mut pair, &mut model, op);
        }
        // Finally every key at every surviving revision matches.
        for back in 0..4 {
            check_range(&pair, &model, 0, Some(KEYS.len()), back, 0, false, false, false);
        }
        let _ = pair.memory.as_ref().unwrap().backend().size_bytes();
    }
}

//! Property test for watch: random writes, compactions, watchers created
//! at random revisions, slow consumers that drain at random, catch-up
//! rounds at random. At the end every watcher must have seen exactly the
//! changes in its range from its start revision on (or a prefix of them
//! ended by a compaction notice), in order, each revision in one message,
//! with correct previous key-values; and a new watcher started right after
//! any delivered revision must continue without gap or duplicate.

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_mvcc::backend::Backend;
use keel_mvcc::watch::{SyncRound, WatchMessage, WatchSpec};
use keel_mvcc::{
    Command, DeleteRangeRequest, Event, EventKind, KeyRange, KeyValue, PutRequest, RequestOp,
    Store, TxnRequest,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::common::Factory;
use super::sink::TestSink;

const KEYS: [&str; 4] = ["a", "b", "b/x", "c"];

#[derive(Debug, Clone)]
enum Op {
    Put { key: usize, value: u8 },
    Delete { key: usize, to: Option<usize> },
    TwoPuts { first: usize, second: usize },
    Compact { back: i64 },
    Watch(WatchOp),
    Drain { watcher: usize, count: usize },
    Sync,
}

#[derive(Debug, Clone)]
struct WatchOp {
    key: usize,
    to: Option<usize>,
    back: Option<i64>,
    prev_kv: bool,
    filter: u8,
    capacity: usize,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let watch = (
        key.clone(),
        prop::option::of(0..=KEYS.len()),
        prop::option::of(0i64..8),
        any::<bool>(),
        0u8..3,
        1usize..4,
    )
        .prop_map(|(key, to, back, prev_kv, filter, capacity)| {
            Op::Watch(WatchOp {
                key,
                to,
                back,
                prev_kv,
                filter,
                capacity,
            })
        });
    prop_oneof![
        5 => (key.clone(), any::<u8>()).prop_map(|(key, value)| Op::Put { key, value }),
        2 => (key.clone(), prop::option::of(0..=KEYS.len())).prop_map(|(key, to)| Op::Delete { key, to }),
        1 => (key.clone(), key).prop_map(|(first, second)| Op::TwoPuts { first, second }),
        1 => (0i64..6).prop_map(|back| Op::Compact { back }),
        2 => watch,
        3 => (0usize..8, 0usize..3).prop_map(|(watcher, count)| Op::Drain { watcher, count }),
        2 => Just(Op::Sync),
    ]
}

/// The key range `[KEYS[key], KEYS[to])`, or the single key.
fn range_end(to: Option<usize>) -> Vec<u8> {
    match to {
        None => Vec::new(),
        Some(to) if to == KEYS.len() => vec![0],
        Some(to) => KEYS[to].as_bytes().to_vec(),
    }
}

/// Every change ever applied, as the model saw it.
#[derive(Default)]
struct History {
    live: BTreeMap<Vec<u8>, KeyValue>,
    events: Vec<Event>,
    /// The highest revision history was ever compacted to.
    compacted: i64,
}

struct Watcher {
    spec: WatchSpec,
    /// The first revision it must see.
    start: i64,
    sink: Arc<TestSink>,
    seen: Vec<WatchMessage>,
}

impl History {
    /// Records the events of the revision the store just reached.
    fn record<B: Backend>(
        &mut self,
        store: &Store<B>,
        before: i64,
        changes: &[(Vec<u8>, Option<Vec<u8>>)],
    ) {
        let revision = store.current_revision();
        if revision == before {
            return;
        }
        for (key, value) in changes {
            let prev = self.live.get(key).cloned();
            let event = if let Some(value) = value {
                let kv = KeyValue {
                    key: key.clone(),
                    create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                    mod_revision: revision,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                    value: value.clone(),
                    lease: 0,
                };
                self.live.insert(key.clone(), kv.clone());
                Event {
                    kind: EventKind::Put,
                    kv,
                    prev_kv: prev,
                }
            } else {
                if self.live.remove(key).is_none() {
                    continue;
                }
                Event {
                    kind: EventKind::Delete,
                    kv: KeyValue {
                        key: key.clone(),
                        mod_revision: revision,
                        ..KeyValue::default()
                    },
                    prev_kv: prev,
                }
            };
            self.events.push(event);
        }
    }

    fn expected(&self, spec: &WatchSpec, start: i64) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|event| event.kv.mod_revision >= start && spec.wants(event))
            .collect()
    }
}

fn apply<B: Backend>(
    store: &Store<B>,
    history: &mut History,
    op: &Op,
    watchers: &mut Vec<Watcher>,
) {
    let before = store.current_revision();
    match op {
        Op::Put { key, value } => {
            let key = KEYS[*key].as_bytes().to_vec();
            let value = vec![b'a' + value % 26];
            store
                .apply(
                    &Command::Put(PutRequest {
                        key: key.clone(),
                        value: value.clone(),
                        ..PutRequest::default()
                    }),
                    b"m",
                )
                .unwrap();
            history.record(store, before, &[(key, Some(value))]);
        }
        Op::Delete { key, to } => {
            let range = KeyRange::new(KEYS[*key].as_bytes(), &range_end(*to));
            let doomed: Vec<_> = history
                .live
                .keys()
                .filter(|k| range.contains(k))
                .map(|k| (k.clone(), None))
                .collect();
            store
                .apply(
                    &Command::DeleteRange(DeleteRangeRequest {
                        key: KEYS[*key].as_bytes().to_vec(),
                        range_end: range_end(*to),
                        prev_kv: false,
                    }),
                    b"m",
                )
                .unwrap();
            history.record(store, before, &doomed);
        }
        Op::TwoPuts { first, second } => {
            if first == second {
                return;
            }
            let (a, b) = (
                KEYS[*first].as_bytes().to_vec(),
                KEYS[*second].as_bytes().to_vec(),
            );
            let op = |key: &Vec<u8>| {
                RequestOp::Put(PutRequest {
                    key: key.clone(),
                    value: b"t".to_vec(),
                    ..PutRequest::default()
                })
            };
            let request = TxnRequest {
                compare: Vec::new(),
                success: vec![op(&a), op(&b)],
                failure: Vec::new(),
            };
            store.apply(&Command::Txn(request), b"m").unwrap();
            history.record(
                store,
                before,
                &[(a, Some(b"t".to_vec())), (b, Some(b"t".to_vec()))],
            );
        }
        Op::Compact { back } => {
            let target = store.current_revision() - back;
            if target > store.compacted_revision() && target > 0 {
                store.apply(&Command::Compact(target), b"m").unwrap();
                history.compacted = target;
            }
        }
        Op::Watch(watch) => {
            let start_revision = watch.back.map_or(0, |back| (before - back).max(1));
            let spec = WatchSpec {
                range: KeyRange::new(KEYS[watch.key].as_bytes(), &range_end(watch.to)),
                start_revision,
                filter_puts: watch.filter == 1,
                filter_deletes: watch.filter == 2,
                prev_kv: watch.prev_kv,
                progress_notify: false,
            };
            let sink = TestSink::new(watch.capacity);
            let id = watchers.len() as i64;
            store
                .watch_hub()
                .watch(1, id, spec.clone(), sink.clone())
                .unwrap();
            watchers.push(Watcher {
                spec,
                start: if start_revision == 0 {
                    before + 1
                } else {
                    start_revision
                },
                sink,
                seen: Vec::new(),
            });
        }
        Op::Drain { watcher, count } => {
            if let Some(watcher) = watchers.get_mut(*watcher) {
                let drained = watcher.sink.drain(*count);
                watcher.seen.extend(drained);
            }
        }
        Op::Sync => {
            store.watch_hub().sync_round(store).unwrap();
        }
    }
}

/// Drains every sink and runs catch-up until nothing is left to deliver.
fn settle<B: Backend>(store: &Store<B>, watchers: &mut [Watcher]) {
    for _ in 0..10_000 {
        for watcher in watchers.iter_mut() {
            let drained = watcher.sink.drain_all();
            watcher.seen.extend(drained);
        }
        let round = store.watch_hub().sync_round(store).unwrap();
        if round == SyncRound::Idle && store.watch_hub().counts().unsynced == 0 {
            for watcher in watchers.iter_mut() {
                let drained = watcher.sink.drain_all();
                watcher.seen.extend(drained);
            }
            return;
        }
    }
    panic!("watchers never settled");
}

/// Checks one watcher's messages against history; returns the revisions
/// of the events it saw.
fn check(history: &History, watcher: &Watcher) -> Result<Vec<i64>, TestCaseError> {
    let mut seen: Vec<&Event> = Vec::new();
    let mut last_message_revision = 0;
    let mut compacted = false;
    for message in &watcher.seen {
        prop_assert!(!compacted, "nothing comes after a compaction notice");
        match message {
            WatchMessage::Events {
                revision, events, ..
            } => {
                prop_assert!(!events.is_empty());
                let first = events[0].kv.mod_revision;
                prop_assert!(
                    first > last_message_revision,
                    "a revision is never split or repeated across messages"
                );
                for event in events {
                    prop_assert!(event.kv.mod_revision <= *revision);
                    seen.push(event);
                }
                last_message_revision = *revision;
            }
            WatchMessage::Compacted {
                compact_revision, ..
            } => {
                prop_assert!(*compact_revision <= history.compacted);
                prop_assert!(
                    seen.last()
                        .is_none_or(|e| e.kv.mod_revision < *compact_revision),
                    "cancelled only below the compacted revision"
                );
                compacted = true;
            }
            WatchMessage::Progress { .. } => prop_assert!(false, "no progress was asked for"),
        }
    }
    let expected = history.expected(&watcher.spec, watcher.start);
    if compacted {
        prop_assert!(seen.len() <= expected.len());
    } else {
        prop_assert_eq!(seen.len(), expected.len(), "every change, once");
    }
    for (got, want) in seen.iter().zip(&expected) {
        prop_assert_eq!(got.kind, want.kind);
        prop_assert_eq!(&got.kv, &want.kv);
        if !watcher.spec.prev_kv {
            // Not asked for: the server leaves it out, whatever it holds.
            continue;
        }
        match (&got.prev_kv, &want.prev_kv) {
            (Some(got), Some(want)) => prop_assert_eq!(got, want),
            (None, None) => {}
            // Compaction may have removed the previous version of a change
            // at or below the compacted revision.
            (None, Some(_)) => prop_assert!(got.kv.mod_revision <= history.compacted),
            (Some(_), None) => prop_assert!(false, "an invented prev_kv"),
        }
    }
    Ok(seen.iter().map(|event| event.kv.mod_revision).collect())
}

fn run_case<F: Factory>(factory: &mut F, ops: &[Op]) -> Result<(), TestCaseError> {
    let store = factory.open();
    let mut history = History::default();
    let mut watchers = Vec::new();
    for op in ops {
        apply(&store, &mut history, op, &mut watchers);
    }
    settle(&store, &mut watchers);
    let mut resumes = Vec::new();
    for watcher in &watchers {
        let revisions = check(&history, watcher)?;
        // Resume right after each delivered revision still in history.
        for revision in revisions {
            if revision + 1 >= store.compacted_revision() && revision + 1 > watcher.start {
                let mut spec = watcher.spec.clone();
                spec.start_revision = revision + 1;
                resumes.push(Watcher {
                    start: revision + 1,
                    spec,
                    sink: TestSink::new(2),
                    seen: Vec::new(),
                });
            }
        }
    }
    for (index, resume) in resumes.iter().enumerate() {
        store
            .watch_hub()
            .watch(2, index as i64, resume.spec.clone(), resume.sink.clone())
            .unwrap();
    }
    settle(&store, &mut resumes);
    for resume in &resumes {
        check(&history, resume)?;
    }
    Ok(())
}

/// The property, on one backend.
pub fn watchers_see_every_change_in_order<F: Factory>(factory: &mut F) {
    let cases = std::env::var("KEEL_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let factory = std::cell::RefCell::new(factory);
    runner
        .run(&prop::collection::vec(op(), 1..80), |ops| {
            run_case(&mut **factory.borrow_mut(), &ops)
        })
        .unwrap();
}

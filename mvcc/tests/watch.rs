//! The watchable store: cases for each rule on both backends, the
//! slow-watcher bound, and a model-based property test (`watch/model.rs`).
#![cfg(not(madsim))] // RocksDB is not built under the simulator.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;
#[path = "watch/model.rs"]
mod model;
#[path = "watch/sink.rs"]
mod sink;

use std::sync::Arc;

use common::{delete, grant, put, put_req, txn, Factory};
use keel_mvcc::backend::Backend;
use keel_mvcc::watch::{
    HubCounts, SyncRound, WatchError, WatchMessage, WatchSpec, STREAM_PROGRESS_WATCH_ID,
};
use keel_mvcc::{Command, EventKind, KeyRange, PutRequest, RequestOp, Store, TxnRequest};
use sink::TestSink;

fn spec(key: &str, end: &str, start_revision: i64) -> WatchSpec {
    WatchSpec {
        range: KeyRange::new(key.as_bytes(), end.as_bytes()),
        start_revision,
        filter_puts: false,
        filter_deletes: false,
        prev_kv: false,
        progress_notify: false,
    }
}

/// Runs catch-up rounds until one finds nothing to do.
fn sync<B: Backend>(store: &Store<B>) {
    for _ in 0..1000 {
        if store.watch_hub().sync_round(store).unwrap() == SyncRound::Idle {
            return;
        }
    }
    panic!("catch-up never settled");
}

/// `(kind, key, value, mod_revision)` of every event in `messages`.
fn events(messages: &[WatchMessage]) -> Vec<(EventKind, String, String, i64)> {
    messages
        .iter()
        .flat_map(|message| match message {
            WatchMessage::Events { events, .. } => events.clone(),
            other => panic!("expected events, got {other:?}"),
        })
        .map(|event| {
            (
                event.kind,
                String::from_utf8_lossy(&event.kv.key).into_owned(),
                String::from_utf8_lossy(&event.kv.value).into_owned(),
                event.kv.mod_revision,
            )
        })
        .collect()
}

fn put_event(key: &str, value: &str, revision: i64) -> (EventKind, String, String, i64) {
    (EventKind::Put, key.into(), value.into(), revision)
}

fn delete_event(key: &str, revision: i64) -> (EventKind, String, String, i64) {
    (EventKind::Delete, key.into(), String::new(), revision)
}

fn next_change_is_delivered_with_prev_kv_and_filters<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "k", "old"); // 2
    let hub = store.watch_hub();
    let all = TestSink::new(16);
    hub.watch(1, 0, spec("k", "", 0), all.clone()).unwrap();
    let puts_only = TestSink::new(16);
    let mut no_deletes = spec("k", "", 0);
    no_deletes.filter_deletes = true;
    no_deletes.prev_kv = true;
    hub.watch(2, 0, no_deletes, puts_only.clone()).unwrap();
    let other = TestSink::new(16);
    hub.watch(3, 0, spec("other", "", 0), other.clone())
        .unwrap();

    put(&store, "k", "new"); // 3
    delete(&store, "k", "", false); // 4

    let seen = all.drain_all();
    assert_eq!(
        events(&seen),
        vec![put_event("k", "new", 3), delete_event("k", 4)]
    );
    let WatchMessage::Events {
        watch_id,
        revision,
        events: first,
        prev_kv,
    } = &seen[0]
    else {
        panic!("events")
    };
    assert_eq!((*watch_id, *revision, *prev_kv), (0, 3, false));
    assert_eq!(first[0].kv.version, 2);
    assert_eq!(
        first[0].prev_kv.as_ref().unwrap().value,
        b"old",
        "events carry prev_kv; the sink drops it for watchers that did not ask"
    );
    let WatchMessage::Events { events: second, .. } = &seen[1] else {
        panic!("events")
    };
    assert_eq!(second[0].prev_kv.as_ref().unwrap().value, b"new");
    assert_eq!(
        second[0].kv.create_revision, 0,
        "a delete event is key + mod_revision"
    );

    assert_eq!(
        events(&puts_only.drain_all()),
        vec![put_event("k", "new", 3)]
    );
    assert!(other.drain_all().is_empty(), "other keys are not delivered");
}

fn prefix_watch_gets_a_whole_revision_in_one_message<F: Factory>(factory: &mut F) {
    let store = factory.open();
    let sink = TestSink::new(16);
    store
        .watch_hub()
        .watch(1, 7, spec("p/", "p0", 0), sink.clone())
        .unwrap();
    let both = TxnRequest {
        compare: Vec::new(),
        success: vec![
            RequestOp::Put(PutRequest {
                key: b"p/a".to_vec(),
                value: b"1".to_vec(),
                ..PutRequest::default()
            }),
            RequestOp::Put(PutRequest {
                key: b"q".to_vec(),
                value: b"x".to_vec(),
                ..PutRequest::default()
            }),
            RequestOp::Put(PutRequest {
                key: b"p/b".to_vec(),
                value: b"2".to_vec(),
                ..PutRequest::default()
            }),
        ],
        failure: Vec::new(),
    };
    txn(&store, both).unwrap(); // 2
    let seen = sink.drain_all();
    assert_eq!(seen.len(), 1, "one revision, one message");
    assert_eq!(
        events(&seen),
        vec![put_event("p/a", "1", 2), put_event("p/b", "2", 2)]
    );
}

fn a_past_start_replays_history<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "a", "1"); // 2
    put(&store, "b", "1"); // 3
    put(&store, "a", "2"); // 4
    delete(&store, "a", "", false); // 5
    let sink = TestSink::new(16);
    let mut with_prev = spec("a", "", 3);
    with_prev.prev_kv = true;
    store
        .watch_hub()
        .watch(1, 0, with_prev, sink.clone())
        .unwrap();
    assert_eq!(
        store.watch_hub().counts(),
        HubCounts {
            synced: 0,
            unsynced: 1
        }
    );
    sync(&store);
    assert_eq!(
        store.watch_hub().counts(),
        HubCounts {
            synced: 1,
            unsynced: 0
        },
        "caught up, the watcher rejoins the synced group"
    );
    put(&store, "a", "3"); // 6
    let seen = sink.drain_all();
    assert_eq!(
        events(&seen),
        vec![
            put_event("a", "2", 4),
            delete_event("a", 5),
            put_event("a", "3", 6)
        ]
    );
    let WatchMessage::Events {
        events: replayed, ..
    } = &seen[0]
    else {
        panic!("events")
    };
    assert_eq!(replayed[0].prev_kv.as_ref().unwrap().value, b"1");
    assert_eq!(replayed[1].prev_kv.as_ref().unwrap().value, b"2");
}

fn a_compacted_start_cancels_and_the_compacted_revision_itself_is_served<F: Factory>(
    factory: &mut F,
) {
    let store = factory.open();
    put(&store, "k", "1"); // 2
    put(&store, "k", "2"); // 3
    put(&store, "k", "3"); // 4
    store.apply(&Command::Compact(3), b"m").unwrap();
    let hub = store.watch_hub();
    let too_old = TestSink::new(16);
    hub.watch(1, 0, spec("k", "", 2), too_old.clone()).unwrap();
    let at_compaction = TestSink::new(16);
    hub.watch(1, 1, spec("k", "", 3), at_compaction.clone())
        .unwrap();
    sync(&store);
    assert_eq!(
        too_old.drain_all(),
        vec![WatchMessage::Compacted {
            watch_id: 0,
            compact_revision: 3
        }]
    );
    assert_eq!(
        events(&at_compaction.drain_all()),
        vec![put_event("k", "2", 3), put_event("k", "3", 4)],
        "a watch may start at the compacted revision, as a read may read it"
    );
    assert_eq!(hub.counts().synced, 1, "the compacted watcher is gone");
}

fn a_slow_watcher_is_set_aside_and_catches_up_without_gap_or_duplicate<F: Factory>(
    factory: &mut F,
) {
    let store = factory.open();
    let slow = TestSink::new(2);
    store
        .watch_hub()
        .watch(1, 0, spec("k", "", 0), slow.clone())
        .unwrap();
    for n in 0..50 {
        // Never blocks: the full sink only sets the watcher aside.
        put(&store, "k", &n.to_string());
    }
    assert_eq!(slow.len(), 2);
    assert_eq!(store.watch_hub().counts().unsynced, 1);
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.extend(slow.drain(1));
        store.watch_hub().sync_round(&store).unwrap();
        if store.watch_hub().counts().unsynced == 0 && slow.len() == 0 {
            break;
        }
    }
    put(&store, "k", "last");
    seen.extend(slow.drain_all());
    let mut expected: Vec<_> = (0..50)
        .map(|n| put_event("k", &n.to_string(), n + 2))
        .collect();
    expected.push(put_event("k", "last", 52));
    assert_eq!(events(&seen), expected);
}

fn progress_answers_only_when_every_watcher_is_synced<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "k", "1"); // 2
    let hub = store.watch_hub();
    let sink = TestSink::new(16);
    hub.watch(5, 0, spec("k", "", 0), sink.clone()).unwrap();
    assert!(hub.request_progress(5, sink.as_ref()));
    assert_eq!(
        sink.drain_all(),
        vec![WatchMessage::Progress {
            watch_id: STREAM_PROGRESS_WATCH_ID,
            revision: 2
        }]
    );
    hub.watch(5, 1, spec("k", "", 1), sink.clone()).unwrap();
    assert!(
        !hub.request_progress(5, sink.as_ref()),
        "a watcher replaying history is not at revision 2 yet"
    );
    sync(&store);
    sink.drain_all();
    assert!(hub.request_progress(5, sink.as_ref()));

    let mut notified = spec("k", "", 0);
    notified.progress_notify = true;
    let ticks = TestSink::new(16);
    hub.watch(6, 3, notified, ticks.clone()).unwrap();
    put(&store, "k", "2"); // 3
    ticks.drain_all();
    hub.progress_notify_round();
    assert_eq!(
        ticks.drain_all(),
        vec![WatchMessage::Progress {
            watch_id: 3,
            revision: 3
        }]
    );
}

fn cancel_close_and_duplicate_ids<F: Factory>(factory: &mut F) {
    let store = factory.open();
    let hub = store.watch_hub();
    let sink = TestSink::new(16);
    hub.watch(1, 0, spec("k", "", 0), sink.clone()).unwrap();
    assert_eq!(
        hub.watch(1, 0, spec("j", "", 0), sink.clone()),
        Err(WatchError::DuplicateId)
    );
    hub.watch(1, 1, spec("a", "z", 0), sink.clone()).unwrap();
    hub.watch(2, 0, spec("k", "", 0), sink.clone()).unwrap();
    assert!(hub.cancel(1, 0));
    assert!(!hub.cancel(1, 0), "already gone");
    hub.close_stream(1);
    assert_eq!(hub.counts().synced, 1, "only stream 2's watcher is left");
    put(&store, "k", "v");
    assert_eq!(sink.drain_all().len(), 1);
    sink.close();
    put(&store, "k", "w");
    assert_eq!(hub.counts().synced, 0, "a closed sink's watcher is dropped");
}

fn a_revoke_deletes_its_keys_in_one_revision<F: Factory>(factory: &mut F) {
    let store = factory.open();
    grant(&store, 9);
    for key in ["s/a", "s/b"] {
        put_req(
            &store,
            PutRequest {
                key: key.into(),
                value: b"up".to_vec(),
                lease: 9,
                ..PutRequest::default()
            },
        )
        .unwrap();
    }
    let sink = TestSink::new(16);
    store
        .watch_hub()
        .watch(1, 0, spec("s/", "s0", 0), sink.clone())
        .unwrap();
    store.apply(&Command::LeaseRevoke(9), b"m").unwrap(); // 4
    let seen = sink.drain_all();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        events(&seen),
        vec![delete_event("s/a", 4), delete_event("s/b", 4)]
    );
}

fn ten_thousand_slow_watchers_hold_bounded_memory<F: Factory>(factory: &mut F) {
    const WATCHERS: usize = 10_000;
    const CAPACITY: usize = 4;
    let store = factory.open();
    let sinks: Vec<Arc<TestSink>> = (0..WATCHERS).map(|_| TestSink::new(CAPACITY)).collect();
    for (stream, sink) in sinks.iter().enumerate() {
        store
            .watch_hub()
            .watch(stream as u64, 0, spec("reg/", "reg0", 0), sink.clone())
            .unwrap();
    }
    let held = |sinks: &[Arc<TestSink>]| sinks.iter().map(|sink| sink.len()).sum::<usize>();
    for round in 0..3 {
        for n in 0..100 {
            put(&store, &format!("reg/{n}"), &format!("{round}"));
        }
        // Nobody reads: every watcher holds its full buffer and no more,
        // and catch-up has nothing to hand them.
        assert_eq!(held(&sinks), WATCHERS * CAPACITY, "round {round}");
        assert_eq!(store.watch_hub().counts().unsynced, WATCHERS);
        assert_eq!(
            store.watch_hub().sync_round(&store).unwrap(),
            SyncRound::Idle
        );
    }
    // Readers come back: everyone catches up to the head.
    for _ in 0..200 {
        for sink in &sinks {
            sink.drain_all();
        }
        store.watch_hub().sync_round(&store).unwrap();
        if store.watch_hub().counts().unsynced == 0 {
            break;
        }
    }
    assert_eq!(store.watch_hub().counts().synced, WATCHERS);
}

on_both_backends!(
    next_change_is_delivered_with_prev_kv_and_filters,
    prefix_watch_gets_a_whole_revision_in_one_message,
    a_past_start_replays_history,
    a_compacted_start_cancels_and_the_compacted_revision_itself_is_served,
    a_slow_watcher_is_set_aside_and_catches_up_without_gap_or_duplicate,
    progress_answers_only_when_every_watcher_is_synced,
    cancel_close_and_duplicate_ids,
    a_revoke_deletes_its_keys_in_one_revision,
    ten_thousand_slow_watchers_hold_bounded_memory,
    watchers_see_every_change_in_order,
);

fn watchers_see_every_change_in_order<F: Factory>(factory: &mut F) {
    model::watchers_see_every_change_in_order(factory);
}

//! etcd's KV semantics, checked on both backends. Each expectation here was
//! read off etcd's own code paths (`mvcc/kvstore_txn.go`,
//! `etcdserver/apply.go`, `v3rpc/key.go`).
#![cfg(not(madsim))] // RocksDB is not built under the simulator.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

mod common;

use common::*;
use keel_mvcc::backend::Backend;
use keel_mvcc::{
    Command, Compare, CompareResult, CompareTarget, MvccError, PutRequest, RangeRequest, RequestOp,
    ResponseOp, SortOrder, SortTarget, Store, TxnRequest, EMPTY_STORE_REVISION, NEVER_COMPACTED,
};

on_both_backends!(
    empty_store_is_at_revision_one,
    puts_track_create_mod_and_version,
    deletes_leave_tombstones_and_history,
    range_limit_more_and_count,
    range_sorts_like_etcd,
    range_filters_keys_only_and_count_only,
    range_end_conventions,
    put_prev_kv_and_ignore_flags,
    txn_compares_every_target,
    txn_range_compares_and_missing_keys,
    txn_reads_its_own_writes_and_shares_one_revision,
    nested_txns_choose_paths_before_running,
    txn_rules_refuse_without_changing_anything,
    compaction_removes_history_physically,
    hash_kv_tracks_history_and_compaction,
    reopen_restores_everything,
    applied_metadata_travels_with_every_command,
    export_then_import_reproduces_the_store,
);

fn empty_store_is_at_revision_one<F: Factory>(factory: &mut F) {
    let store = factory.open();
    assert_eq!(store.current_revision(), EMPTY_STORE_REVISION);
    assert_eq!(store.compacted_revision(), NEVER_COMPACTED);
    let all = store
        .range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        (all.revision, all.count, all.kvs.len(), all.more),
        (1, 0, 0, false)
    );
    assert_eq!(store.applied_metadata().unwrap(), None);
}

fn puts_track_create_mod_and_version<F: Factory>(factory: &mut F) {
    let store = factory.open();
    assert_eq!(put(&store, "a", "1").revision, 2);
    assert_eq!(put(&store, "a", "2").revision, 3);
    assert_eq!(put(&store, "b", "1").revision, 4);
    let a = get(&store, "a").unwrap();
    assert_eq!(
        (
            a.create_revision,
            a.mod_revision,
            a.version,
            a.value.as_slice()
        ),
        (2, 3, 2, &b"2"[..])
    );
    assert_eq!(delete(&store, "a", "", false).revision, 5);
    assert_eq!(put(&store, "a", "3").revision, 6);
    let a = get(&store, "a").unwrap();
    assert_eq!(
        (a.create_revision, a.mod_revision, a.version),
        (6, 6, 1),
        "re-creation restarts history"
    );
    assert_eq!(store.current_revision(), 6);
}

fn deletes_leave_tombstones_and_history<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "k", "v1"); // 2
    put(&store, "k", "v2"); // 3
    let deleted = delete(&store, "k", "", true); // 4
    assert_eq!((deleted.revision, deleted.deleted), (4, 1));
    assert_eq!(deleted.prev_kvs[0].value, b"v2");
    assert_eq!(get(&store, "k"), None);
    assert_eq!(get_at(&store, "k", 2).unwrap().value, b"v1");
    assert_eq!(get_at(&store, "k", 3).unwrap().value, b"v2");
    assert_eq!(get_at(&store, "k", 4), None);
    // Deleting nothing does not bump the revision.
    let nothing = delete(&store, "k", "", true);
    assert_eq!(
        (nothing.revision, nothing.deleted, nothing.prev_kvs.len()),
        (4, 0, 0)
    );
    assert_eq!(store.current_revision(), 4);
    // A range delete takes one revision with one sub revision per key.
    for key in ["p/1", "p/2", "p/3", "q"] {
        put(&store, key, "x");
    }
    let ranged = delete(
        &store,
        "p/",
        std::str::from_utf8(&prefix_end("p/")).unwrap(),
        false,
    );
    assert_eq!(
        (ranged.revision, ranged.deleted, ranged.prev_kvs.len()),
        (9, 3, 0)
    );
    assert_eq!(get(&store, "q").unwrap().mod_revision, 8);
    let survivors = store
        .range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(keys(&survivors.kvs), vec!["q"]);
}

fn range_limit_more_and_count<F: Factory>(factory: &mut F) {
    let store = factory.open();
    for key in ["a", "b", "c", "d", "e"] {
        put(&store, key, key);
    }
    let request = RangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        limit: 2,
        ..Default::default()
    };
    let page = store.range(&request).unwrap();
    assert_eq!(
        (keys(&page.kvs), page.more, page.count),
        (vec!["a".into(), "b".into()], true, 5)
    );
    let exact = store
        .range(&RangeRequest {
            limit: 5,
            ..request.clone()
        })
        .unwrap();
    assert_eq!((exact.kvs.len(), exact.more, exact.count), (5, false, 5));
    let at = store
        .range(&RangeRequest {
            revision: 3,
            limit: 0,
            ..request.clone()
        })
        .unwrap();
    assert_eq!(
        (keys(&at.kvs), at.count, at.revision),
        (vec!["a".into(), "b".into()], 2, 6)
    );
    assert!(matches!(
        store.range(&RangeRequest {
            revision: 7,
            ..request.clone()
        }),
        Err(MvccError::FutureRevision)
    ));
    assert!(matches!(
        store.range(&RangeRequest::default()),
        Err(MvccError::EmptyKey)
    ));
}

fn range_sorts_like_etcd<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "a", "3"); // 2
    put(&store, "b", "1"); // 3
    put(&store, "c", "2"); // 4
    put(&store, "b", "9"); // 5: b has version 2 and the highest mod revision
    let base = RangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        ..Default::default()
    };
    let sorted = |order, target| {
        keys(
            &store
                .range(&RangeRequest {
                    sort_order: order,
                    sort_target: target,
                    ..base.clone()
                })
                .unwrap()
                .kvs,
        )
    };
    assert_eq!(sorted(SortOrder::Descend, SortTarget::Key), ["c", "b", "a"]);
    assert_eq!(
        sorted(SortOrder::Ascend, SortTarget::Value),
        ["c", "a", "b"]
    );
    assert_eq!(sorted(SortOrder::Descend, SortTarget::Mod), ["b", "c", "a"]);
    assert_eq!(
        sorted(SortOrder::Ascend, SortTarget::Create),
        ["a", "b", "c"]
    );
    assert_eq!(sorted(SortOrder::Descend, SortTarget::Version)[0], "b");
    // A target other than the key with no order sorts ascending.
    assert_eq!(sorted(SortOrder::None, SortTarget::Value), ["c", "a", "b"]);
    // Sorting happens before the limit: the limit cuts the sorted list.
    let top = store
        .range(&RangeRequest {
            sort_order: SortOrder::Descend,
            sort_target: SortTarget::Mod,
            limit: 1,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(
        (keys(&top.kvs), top.more, top.count),
        (vec!["b".into()], true, 3)
    );
    // With no order, etcd fetches only limit+1 keys in key order and sorts those.
    // Here that is a and b; a full sort would have put c first.
    let unordered = store
        .range(&RangeRequest {
            sort_target: SortTarget::Value,
            limit: 1,
            ..base
        })
        .unwrap();
    assert_eq!(
        (keys(&unordered.kvs), unordered.more),
        (vec!["a".into()], true),
        "sorted within the first limit+1 keys, then cut"
    );
}

fn range_filters_keys_only_and_count_only<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "a", "1"); // 2
    put(&store, "b", "1"); // 3
    put(&store, "c", "1"); // 4
    put(&store, "a", "2"); // 5
    let base = RangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        ..Default::default()
    };
    let min_mod = store
        .range(&RangeRequest {
            min_mod_revision: 4,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(
        (keys(&min_mod.kvs), min_mod.count),
        (vec!["a".into(), "c".into()], 3),
        "count ignores filters"
    );
    let max_mod = store
        .range(&RangeRequest {
            max_mod_revision: 3,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(keys(&max_mod.kvs), ["b"]);
    let min_create = store
        .range(&RangeRequest {
            min_create_revision: 3,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(keys(&min_create.kvs), ["b", "c"]);
    let max_create = store
        .range(&RangeRequest {
            max_create_revision: 2,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(keys(&max_create.kvs), ["a"]);
    let filtered_page = store
        .range(&RangeRequest {
            min_mod_revision: 3,
            limit: 1,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(
        (keys(&filtered_page.kvs), filtered_page.more),
        (vec!["a".into()], true)
    );
    let keys_only = store
        .range(&RangeRequest {
            keys_only: true,
            ..base.clone()
        })
        .unwrap();
    assert!(keys_only
        .kvs
        .iter()
        .all(|kv| kv.value.is_empty() && kv.version > 0));
    assert_eq!(keys_only.kvs[0].mod_revision, 5);
    let count_only = store
        .range(&RangeRequest {
            count_only: true,
            limit: 1,
            ..base
        })
        .unwrap();
    assert_eq!(
        (count_only.kvs.len(), count_only.count, count_only.more),
        (0, 3, false)
    );
}

fn range_end_conventions<F: Factory>(factory: &mut F) {
    let store = factory.open();
    for key in ["\u{0}", "a", "a\u{0}", "ab", "b", "\u{7f}"] {
        put(&store, key, "v");
    }
    let range = |key: &[u8], end: &[u8]| {
        keys(
            &store
                .range(&RangeRequest {
                    key: key.to_vec(),
                    range_end: end.to_vec(),
                    ..Default::default()
                })
                .unwrap()
                .kvs,
        )
    };
    assert_eq!(range(b"a", b""), ["a"], "empty range_end is the single key");
    assert_eq!(
        range(b"a", b"\0"),
        ["a", "a\u{0}", "ab", "b", "\u{7f}"],
        "\\0 is every key >= key"
    );
    assert_eq!(range(b"\0", b"\0").len(), 6, "\\0..\\0 is every key");
    assert_eq!(
        range(b"a", b"b"),
        ["a", "a\u{0}", "ab"],
        "prefix a is [a, b)"
    );
    assert!(
        range(b"b", b"a").is_empty(),
        "an end below the start is empty"
    );
}

fn put_prev_kv_and_ignore_flags<F: Factory>(factory: &mut F) {
    let store = factory.open();
    for lease in [7, 9, 11] {
        grant(&store, lease);
    }
    let first = put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            value: b"v1".to_vec(),
            lease: 7,
            prev_kv: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(first.prev_kv, None, "no previous key");
    let second = put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            value: b"v2".to_vec(),
            prev_kv: true,
            ..Default::default()
        },
    )
    .unwrap();
    let prev = second.prev_kv.unwrap();
    assert_eq!((prev.value.as_slice(), prev.lease), (&b"v1"[..], 7));
    assert_eq!(
        get(&store, "k").unwrap().lease,
        0,
        "a put without a lease detaches it"
    );

    put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            value: b"v3".to_vec(),
            lease: 9,
            ..Default::default()
        },
    )
    .unwrap();
    put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            ignore_value: true,
            lease: 11,
            ..Default::default()
        },
    )
    .unwrap();
    let kept_value = get(&store, "k").unwrap();
    assert_eq!(
        (
            kept_value.value.as_slice(),
            kept_value.lease,
            kept_value.version
        ),
        (&b"v3"[..], 11, 4)
    );
    put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            value: b"v4".to_vec(),
            ignore_lease: true,
            ..Default::default()
        },
    )
    .unwrap();
    let kept_lease = get(&store, "k").unwrap();
    assert_eq!(
        (kept_lease.value.as_slice(), kept_lease.lease),
        (&b"v4"[..], 11)
    );

    let revision = store.current_revision();
    let missing = PutRequest {
        key: b"missing".to_vec(),
        ignore_value: true,
        ..Default::default()
    };
    assert!(matches!(
        put_req(&store, missing),
        Err(MvccError::KeyNotFound)
    ));
    let missing = PutRequest {
        key: b"missing".to_vec(),
        ignore_lease: true,
        ..Default::default()
    };
    assert!(matches!(
        put_req(&store, missing),
        Err(MvccError::KeyNotFound)
    ));
    let both = PutRequest {
        key: b"k".to_vec(),
        value: b"x".to_vec(),
        ignore_value: true,
        ..Default::default()
    };
    assert!(matches!(
        put_req(&store, both),
        Err(MvccError::ValueProvided)
    ));
    let both = PutRequest {
        key: b"k".to_vec(),
        lease: 3,
        ignore_lease: true,
        ..Default::default()
    };
    assert!(matches!(
        put_req(&store, both),
        Err(MvccError::LeaseProvided)
    ));
    assert_eq!(
        store.current_revision(),
        revision,
        "refused puts change nothing"
    );
}

fn compare(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        result,
        target,
        key: key.into(),
        range_end: Vec::new(),
    }
}

fn guarded(compares: Vec<Compare>) -> TxnRequest {
    TxnRequest {
        compare: compares,
        success: vec![RequestOp::Put(PutRequest {
            key: b"then".to_vec(),
            ..Default::default()
        })],
        failure: vec![RequestOp::Put(PutRequest {
            key: b"else".to_vec(),
            ..Default::default()
        })],
    }
}

fn txn_compares_every_target<F: Factory>(factory: &mut F) {
    use CompareResult::{Equal, Greater, Less, NotEqual};
    let store = factory.open();
    grant(&store, 5);
    put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            value: b"m".to_vec(),
            lease: 5,
            ..Default::default()
        },
    )
    .unwrap(); // 2
    put(&store, "k", "m"); // 3: version 2, lease 0
    put_req(
        &store,
        PutRequest {
            key: b"k".to_vec(),
            value: b"m".to_vec(),
            lease: 5,
            ..Default::default()
        },
    )
    .unwrap(); // 4
    let cases = [
        (compare("k", Equal, CompareTarget::Version(3)), true),
        (compare("k", Greater, CompareTarget::Version(2)), true),
        (compare("k", Less, CompareTarget::Version(3)), false),
        (compare("k", Equal, CompareTarget::Create(2)), true),
        (compare("k", NotEqual, CompareTarget::Create(2)), false),
        (compare("k", Equal, CompareTarget::Mod(4)), true),
        (compare("k", Less, CompareTarget::Mod(5)), true),
        (
            compare("k", Equal, CompareTarget::Value(b"m".to_vec())),
            true,
        ),
        (
            compare("k", Greater, CompareTarget::Value(b"l".to_vec())),
            true,
        ),
        (
            compare("k", Less, CompareTarget::Value(b"m".to_vec())),
            false,
        ),
        (compare("k", Equal, CompareTarget::Lease(5)), true),
        (compare("k", NotEqual, CompareTarget::Lease(5)), false),
    ];
    for (guard, expected) in cases {
        let response = txn(&store, guarded(vec![guard.clone()])).unwrap();
        assert_eq!(response.succeeded, expected, "{guard:?}");
    }
    // All compares must hold.
    let mixed = vec![
        compare("k", Equal, CompareTarget::Version(3)),
        compare("k", Equal, CompareTarget::Lease(6)),
    ];
    assert!(!txn(&store, guarded(mixed)).unwrap().succeeded);
    // No compares: success.
    assert!(txn(&store, guarded(vec![])).unwrap().succeeded);
}

fn txn_range_compares_and_missing_keys<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "r/a", "1");
    put(&store, "r/b", "1");
    put(&store, "r/b", "2");
    let over = |result, target| Compare {
        result,
        target,
        key: b"r/".to_vec(),
        range_end: prefix_end("r/"),
    };
    assert!(
        txn(
            &store,
            guarded(vec![over(
                CompareResult::Greater,
                CompareTarget::Version(0)
            )])
        )
        .unwrap()
        .succeeded
    );
    assert!(
        !txn(
            &store,
            guarded(vec![over(CompareResult::Equal, CompareTarget::Version(1))])
        )
        .unwrap()
        .succeeded,
        "every key must match"
    );
    assert!(
        txn(
            &store,
            guarded(vec![over(
                CompareResult::Less,
                CompareTarget::Value(b"3".to_vec())
            )])
        )
        .unwrap()
        .succeeded
    );
    // A missing key compares as zeros ...
    assert!(
        txn(
            &store,
            guarded(vec![compare(
                "nope",
                CompareResult::Equal,
                CompareTarget::Version(0)
            )])
        )
        .unwrap()
        .succeeded
    );
    assert!(
        txn(
            &store,
            guarded(vec![compare(
                "nope",
                CompareResult::Equal,
                CompareTarget::Create(0)
            )])
        )
        .unwrap()
        .succeeded
    );
    // ... except that a value compare on a missing key always fails.
    assert!(
        !txn(
            &store,
            guarded(vec![compare(
                "nope",
                CompareResult::Equal,
                CompareTarget::Value(vec![])
            )])
        )
        .unwrap()
        .succeeded
    );
    assert!(
        !txn(
            &store,
            guarded(vec![compare(
                "nope",
                CompareResult::NotEqual,
                CompareTarget::Value(b"x".to_vec())
            )])
        )
        .unwrap()
        .succeeded
    );
}

fn txn_reads_its_own_writes_and_shares_one_revision<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "x", "old"); // 2
    put(&store, "gone", "1"); // 3
    let request = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp::Range(RangeRequest {
                key: b"x".to_vec(),
                ..Default::default()
            }),
            RequestOp::Put(PutRequest {
                key: b"x".to_vec(),
                value: b"new".to_vec(),
                ..Default::default()
            }),
            RequestOp::Range(RangeRequest {
                key: b"x".to_vec(),
                ..Default::default()
            }),
            RequestOp::Range(RangeRequest {
                key: b"x".to_vec(),
                revision: 3,
                ..Default::default()
            }),
            RequestOp::DeleteRange(keel_mvcc::DeleteRangeRequest {
                key: b"gone".to_vec(),
                range_end: vec![],
                prev_kv: false,
            }),
            RequestOp::Range(RangeRequest {
                key: b"a".to_vec(),
                range_end: b"z".to_vec(),
                ..Default::default()
            }),
            RequestOp::Put(PutRequest {
                key: b"y".to_vec(),
                value: b"1".to_vec(),
                ..Default::default()
            }),
        ],
        failure: vec![],
    };
    let response = txn(&store, request).unwrap();
    assert_eq!(
        response.revision, 4,
        "every write of a txn shares one revision"
    );
    let ResponseOp::Range(before) = &response.responses[0] else {
        panic!()
    };
    assert_eq!(
        (before.kvs[0].value.as_slice(), before.revision),
        (&b"old"[..], 3)
    );
    let ResponseOp::Put(put_response) = &response.responses[1] else {
        panic!()
    };
    assert_eq!(put_response.revision, 4);
    let ResponseOp::Range(after) = &response.responses[2] else {
        panic!()
    };
    assert_eq!(
        (
            after.kvs[0].value.as_slice(),
            after.kvs[0].mod_revision,
            after.revision
        ),
        (&b"new"[..], 4, 4),
        "read your writes"
    );
    let ResponseOp::Range(pinned) = &response.responses[3] else {
        panic!()
    };
    assert_eq!(
        pinned.kvs[0].value, b"old",
        "an explicit revision reads the old state"
    );
    let ResponseOp::Range(all) = &response.responses[5] else {
        panic!()
    };
    assert_eq!(
        (keys(&all.kvs), all.count),
        (vec!["x".into()], 1),
        "the deletion is visible"
    );
    assert_eq!(store.current_revision(), 4);
    assert_eq!(get(&store, "y").unwrap().mod_revision, 4);
    // A read-only txn does not bump the revision.
    let read_only = TxnRequest {
        compare: vec![],
        success: vec![RequestOp::Range(RangeRequest {
            key: b"x".to_vec(),
            ..Default::default()
        })],
        failure: vec![],
    };
    assert_eq!(txn(&store, read_only.clone()).unwrap().revision, 4);
    assert_eq!(store.read_txn(&read_only).unwrap().revision, 4);
    assert_eq!(store.current_revision(), 4);
}

fn nested_txns_choose_paths_before_running<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "k", "1"); // 2
                           // The nested compare is judged on the state before the outer txn ran:
                           // it sees k at version 1 although the outer txn already rewrote k.
    let nested = TxnRequest {
        compare: vec![compare(
            "k",
            CompareResult::Equal,
            CompareTarget::Version(1),
        )],
        success: vec![RequestOp::Put(PutRequest {
            key: b"seen-old".to_vec(),
            ..Default::default()
        })],
        failure: vec![RequestOp::Put(PutRequest {
            key: b"seen-new".to_vec(),
            ..Default::default()
        })],
    };
    let outer = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp::Put(PutRequest {
                key: b"k".to_vec(),
                value: b"2".to_vec(),
                ..Default::default()
            }),
            RequestOp::Txn(nested),
        ],
        failure: vec![],
    };
    let response = txn(&store, outer).unwrap();
    let ResponseOp::Txn(inner) = &response.responses[1] else {
        panic!()
    };
    assert!(inner.succeeded);
    assert_eq!(
        inner.revision, 0,
        "etcd leaves a nested txn's header revision unset"
    );
    assert!(get(&store, "seen-old").is_some());
    assert!(get(&store, "seen-new").is_none());
    assert_eq!(get(&store, "seen-old").unwrap().mod_revision, 3);
}

fn txn_rules_refuse_without_changing_anything<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "k", "1");
    let before = store.hash_kv(0).unwrap();
    let duplicate = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp::Put(PutRequest {
                key: b"k".to_vec(),
                ..Default::default()
            }),
            RequestOp::Put(PutRequest {
                key: b"k".to_vec(),
                ..Default::default()
            }),
        ],
        failure: vec![],
    };
    assert!(matches!(
        txn(&store, duplicate),
        Err(MvccError::DuplicateKey)
    ));
    let many = TxnRequest {
        compare: vec![],
        success: (0..129)
            .map(|i| {
                RequestOp::Put(PutRequest {
                    key: format!("k{i}").into_bytes(),
                    ..Default::default()
                })
            })
            .collect(),
        failure: vec![],
    };
    assert!(matches!(txn(&store, many), Err(MvccError::TooManyOps)));
    // A failing check on the chosen path stops the whole txn, writes included.
    let late_failure = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp::Put(PutRequest {
                key: b"a".to_vec(),
                ..Default::default()
            }),
            RequestOp::Range(RangeRequest {
                key: b"k".to_vec(),
                revision: 99,
                ..Default::default()
            }),
        ],
        failure: vec![],
    };
    assert!(matches!(
        txn(&store, late_failure),
        Err(MvccError::FutureRevision)
    ));
    let ignore_missing = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp::Put(PutRequest {
                key: b"a".to_vec(),
                ..Default::default()
            }),
            RequestOp::Put(PutRequest {
                key: b"absent".to_vec(),
                ignore_value: true,
                ..Default::default()
            }),
        ],
        failure: vec![],
    };
    assert!(matches!(
        txn(&store, ignore_missing),
        Err(MvccError::KeyNotFound)
    ));
    assert_eq!(
        store.hash_kv(0).unwrap(),
        before,
        "refused txns change nothing"
    );
    assert!(get(&store, "a").is_none());
}

fn raw_versions<B: Backend>(store: &Store<B>) -> usize {
    let mut count = 0;
    store
        .backend()
        .scan(keel_mvcc::backend::Table::Versions, &[], &mut |_, _| {
            count += 1;
            keel_mvcc::backend::ScanStep::Next
        })
        .unwrap();
    count
}

fn compaction_removes_history_physically<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "a", "1"); // 2
    put(&store, "a", "2"); // 3
    put(&store, "b", "1"); // 4
    delete(&store, "b", "", false); // 5
    put(&store, "a", "3"); // 6
    assert_eq!(raw_versions(&store), 5);
    assert!(matches!(
        store.apply(&Command::Compact(7), b"m"),
        Err(MvccError::FutureRevision)
    ));
    store.apply(&Command::Compact(5), b"m").unwrap();
    assert_eq!(store.compacted_revision(), 5);
    assert_eq!(
        store.current_revision(),
        6,
        "compaction does not bump the revision"
    );
    // a keeps its version at 3 (newest at or below 5) and 6; b's tombstone at 5 goes with its history.
    assert_eq!(raw_versions(&store), 2);
    assert_eq!(
        get_at(&store, "a", 5).unwrap().value,
        b"2",
        "reads at the compacted revision work"
    );
    let below = RangeRequest {
        key: b"a".to_vec(),
        revision: 4,
        ..Default::default()
    };
    assert!(matches!(store.range(&below), Err(MvccError::Compacted)));
    assert!(matches!(
        store.apply(&Command::Compact(5), b"m"),
        Err(MvccError::Compacted)
    ));
    assert!(matches!(
        store.apply(&Command::Compact(4), b"m"),
        Err(MvccError::Compacted)
    ));
    store.apply(&Command::Compact(6), b"m").unwrap();
    assert_eq!(raw_versions(&store), 1);
    assert_eq!(
        get(&store, "a").unwrap().version,
        3,
        "versions survive compaction"
    );
    assert!(get(&store, "b").is_none());
}

fn hash_kv_tracks_history_and_compaction<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "a", "1");
    put(&store, "b", "2");
    let at3 = store.hash_kv(0).unwrap();
    assert_eq!(
        (at3.hash_revision, at3.compact_revision, at3.revision),
        (3, -1, 3)
    );
    put(&store, "a", "3");
    assert_eq!(
        store.hash_kv(3).unwrap().hash,
        at3.hash,
        "history at 3 is unchanged by later writes"
    );
    assert_ne!(store.hash_kv(4).unwrap().hash, at3.hash);
    assert!(matches!(store.hash_kv(5), Err(MvccError::FutureRevision)));
    store.apply(&Command::Compact(3), b"m").unwrap();
    assert!(matches!(store.hash_kv(3), Err(MvccError::Compacted)));
    assert_eq!(store.hash_kv(4).unwrap().compact_revision, 3);
}

fn reopen_restores_everything<F: Factory>(factory: &mut F) {
    let store = factory.open();
    put(&store, "a", "1");
    put(&store, "a", "2");
    put(&store, "b", "1");
    store.apply(&Command::Compact(3), b"applied-7").unwrap();
    let hash = store.hash_kv(0).unwrap();
    let store = factory.reopen(store);
    assert_eq!(store.current_revision(), 4);
    assert_eq!(store.compacted_revision(), 3);
    assert_eq!(
        store.applied_metadata().unwrap(),
        Some(b"applied-7".to_vec())
    );
    assert_eq!(store.hash_kv(0).unwrap(), hash);
    assert_eq!(
        put(&store, "c", "1").revision,
        5,
        "revisions continue after reopen"
    );
}

fn applied_metadata_travels_with_every_command<F: Factory>(factory: &mut F) {
    let store = factory.open();
    let put_a = Command::Put(PutRequest {
        key: b"a".to_vec(),
        ..Default::default()
    });
    store.apply(&put_a, b"1").unwrap();
    assert_eq!(store.applied_metadata().unwrap(), Some(b"1".to_vec()));
    let refused = Command::Put(PutRequest {
        key: b"missing".to_vec(),
        ignore_value: true,
        ..Default::default()
    });
    assert!(store.apply(&refused, b"2").is_err());
    assert_eq!(
        store.applied_metadata().unwrap(),
        Some(b"2".to_vec()),
        "a refused command was still applied"
    );
    store.record_applied(b"3").unwrap();
    assert_eq!(store.applied_metadata().unwrap(), Some(b"3".to_vec()));
    assert_eq!(store.current_revision(), 2);
}

/// Regression: a range read racing a compaction must never return a
/// half-compacted view. Readers re-check the compacted revision after their
/// scan, and a compaction publishes its revision before removing anything,
/// so every read below sees either the full history at revision 2 or
/// `Compacted`.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the race needs a second OS thread; this test never runs under madsim"
)]
fn reads_racing_a_compaction_see_history_or_compacted() {
    use std::sync::Arc;
    let store = Arc::new(
        Store::open(
            keel_mvcc::backend::MemoryBackend::new(),
            keel_mvcc::Limits::default(),
        )
        .unwrap(),
    );
    for round in 0..200 {
        put(&store, "k", &format!("v{round}"));
    }
    let reader = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let request = RangeRequest {
                key: b"k".to_vec(),
                revision: 2,
                ..Default::default()
            };
            let mut saw_compacted = false;
            for _ in 0..2000 {
                match store.range(&request) {
                    Ok(response) => {
                        assert!(!saw_compacted, "history came back after compaction");
                        assert_eq!(
                            response.kvs.len(),
                            1,
                            "a read at 2 saw a half-compacted store"
                        );
                        assert_eq!(response.kvs[0].value, b"v0");
                    }
                    Err(MvccError::Compacted) => saw_compacted = true,
                    Err(other) => panic!("{other}"),
                }
            }
        })
    };
    for revision in (3..=201).step_by(11) {
        store.apply(&Command::Compact(revision), b"m").unwrap();
    }
    reader.join().unwrap();
}

fn export_then_import_reproduces_the_store<F: Factory>(factory: &mut F) {
    let source = factory.open();
    for i in 0..5000 {
        put(&source, &format!("k{:04}", i % 700), &format!("v{i}"));
    }
    delete(&source, "k0100", "k0200", false);
    source.apply(&Command::Compact(3000), b"applied-9").unwrap();
    put(&source, "after", "compaction");
    let mut exported = Vec::new();
    source
        .export(&mut |table, key, value| {
            exported.push((table, key.to_vec(), value.to_vec()));
            true
        })
        .unwrap();

    // The target holds unrelated content that the import must remove.
    let target = factory.open();
    for i in 0..50 {
        put(&target, &format!("stale{i}"), "x");
    }
    target.import(exported.into_iter().map(Ok)).unwrap();
    assert!(!target.import_incomplete().unwrap());
    assert_eq!(target.current_revision(), source.current_revision());
    assert_eq!(target.compacted_revision(), 3000);
    assert_eq!(
        target.applied_metadata().unwrap(),
        source.applied_metadata().unwrap()
    );
    assert_eq!(target.hash_kv(0).unwrap(), source.hash_kv(0).unwrap());
    assert_eq!(get(&target, "stale1"), None, "old content is gone");
    assert_eq!(get(&target, "k0150"), None, "deletions carried over");
    assert_eq!(get(&target, "k0699"), get(&source, "k0699"));
    assert_eq!(
        get_at(&target, "k0001", 4000),
        get_at(&source, "k0001", 4000)
    );
    let target = factory.reopen(target);
    assert_eq!(target.current_revision(), source.current_revision());
    assert_eq!(target.hash_kv(0).unwrap(), source.hash_kv(0).unwrap());

    // Stopping the visitor early ends the export.
    let mut seen = 0;
    source
        .export(&mut |_, _, _| {
            seen += 1;
            seen < 10
        })
        .unwrap();
    assert_eq!(seen, 10);
}

//! mvcc on RocksDB: put, a range over a 1k-key prefix, and a txn.
//!
//! `cargo bench -p keel-benches --bench mvcc`
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use keel_mvcc::backend::{RocksBackend, RocksOptions};
use keel_mvcc::{
    Command, Compare, CompareResult, CompareTarget, Limits, PutRequest, RangeRequest, RequestOp,
    Store, TxnRequest,
};

/// etcd's benchmark value size.
const VALUE_BYTES: usize = 256;
/// Keys under the prefix the range benchmark reads.
const PREFIX_KEYS: usize = 1_000;

fn open() -> (tempfile::TempDir, Store<RocksBackend>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = RocksBackend::open(dir.path(), &RocksOptions::default()).expect("open rocksdb");
    (
        dir,
        Store::open(backend, Limits::default()).expect("open store"),
    )
}

fn put(key: String) -> Command {
    Command::Put(PutRequest {
        key: key.into_bytes(),
        value: vec![b'v'; VALUE_BYTES],
        ..PutRequest::default()
    })
}

fn bench_put(c: &mut Criterion) {
    let (_dir, store) = open();
    let mut group = c.benchmark_group("mvcc");
    group.throughput(Throughput::Elements(1));
    let mut next = 0u64;
    group.bench_function("put", |b| {
        b.iter_batched(
            || {
                next += 1;
                put(format!("key/{:08}", next % 100_000))
            },
            |command| store.apply(&command, b"applied").expect("put"),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn bench_range(c: &mut Criterion) {
    let (_dir, store) = open();
    for index in 0..PREFIX_KEYS {
        store
            .apply(&put(format!("prefix/{index:05}")), b"applied")
            .expect("load");
        store
            .apply(&put(format!("other/{index:05}")), b"applied")
            .expect("load");
    }
    let request = RangeRequest {
        key: b"prefix/".to_vec(),
        range_end: b"prefix0".to_vec(),
        ..RangeRequest::default()
    };
    let mut group = c.benchmark_group("mvcc");
    group.throughput(Throughput::Elements(PREFIX_KEYS as u64));
    group.bench_function("range_1k_prefix", |b| {
        b.iter(|| {
            let response = store.range(&request).expect("range");
            assert_eq!(response.kvs.len(), PREFIX_KEYS);
        });
    });
    group.finish();
}

fn bench_txn(c: &mut Criterion) {
    let (_dir, store) = open();
    store
        .apply(&put("counter".to_string()), b"applied")
        .expect("load");
    let mut group = c.benchmark_group("mvcc");
    group.throughput(Throughput::Elements(1));
    // A compare-and-swap, the shape Kubernetes' optimistic updates take.
    group.bench_function("txn_cas", |b| {
        b.iter(|| {
            let revision = store.current_revision();
            let txn = TxnRequest {
                compare: vec![Compare {
                    result: CompareResult::Equal,
                    target: CompareTarget::Mod(revision),
                    key: b"counter".to_vec(),
                    range_end: Vec::new(),
                }],
                success: vec![RequestOp::Put(PutRequest {
                    key: b"counter".to_vec(),
                    value: vec![b'v'; VALUE_BYTES],
                    ..PutRequest::default()
                })],
                failure: vec![RequestOp::Range(RangeRequest {
                    key: b"counter".to_vec(),
                    ..RangeRequest::default()
                })],
            };
            store.apply(&Command::Txn(txn), b"applied").expect("txn")
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = bench_put, bench_range, bench_txn
}
criterion_main!(benches);

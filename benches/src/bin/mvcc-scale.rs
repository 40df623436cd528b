//! Loads N keys into a RocksDB-backed store, then measures the process's
//! RSS, the time to reopen the store and its RSS after reopening, and a read.
//!
//! ```text
//! cargo run --release -p keel-benches --bin mvcc-scale -- [keys] [dir]
//! ```
//! Defaults: 1,000,000 keys (`/registry/NNNNNNNNNN`, 20 B) with 256 B
//! values, etcd's benchmark value size, in a fresh temporary directory.

use std::path::PathBuf;
use std::time::Instant;

use keel_mvcc::backend::{Backend, RocksBackend, RocksOptions};
use keel_mvcc::{Command, Limits, PutRequest, RangeRequest, Store};

const VALUE_BYTES: usize = 256;
/// Puts per Txn while loading, so loading takes seconds, not minutes.
const LOAD_BATCH: usize = 100;

#[allow(
    clippy::disallowed_methods,
    reason = "a measurement tool reads /proc directly"
)]
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A value that does not compress, so storage figures are honest: a
/// xorshift stream seeded by the key's index.
fn incompressible_value(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..VALUE_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn open(path: &std::path::Path) -> Store<RocksBackend> {
    let backend = RocksBackend::open(path, &RocksOptions::default()).expect("open rocksdb");
    Store::open(
        backend,
        Limits {
            max_txn_ops: LOAD_BATCH,
        },
    )
    .expect("open store")
}

#[allow(
    clippy::disallowed_methods,
    reason = "a measurement tool times itself with the wall clock"
)]
fn main() {
    let mut args = std::env::args().skip(1);
    let keys: usize = args
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);

    let rss_start = rss_mib();
    let store = open(&dir);
    let load_started = Instant::now();
    for batch_start in (0..keys).step_by(LOAD_BATCH) {
        let success = (batch_start..keys.min(batch_start + LOAD_BATCH))
            .map(|index| {
                keel_mvcc::RequestOp::Put(PutRequest {
                    key: format!("/registry/{index:010}").into_bytes(),
                    value: incompressible_value(index as u64),
                    ..PutRequest::default()
                })
            })
            .collect();
        let txn = keel_mvcc::TxnRequest {
            compare: vec![],
            success,
            failure: vec![],
        };
        store.apply(&Command::Txn(txn), b"applied").expect("load");
    }
    let load_secs = load_started.elapsed().as_secs_f64();
    let rss_loaded = rss_mib();
    // First a restart as after a crash: RocksDB replays its WAL (bounded by
    // the memtable sizes, not by the key count).
    drop(store);
    let replay_started = Instant::now();
    let store = open(&dir);
    let reopen_replay_ms = replay_started.elapsed().as_secs_f64() * 1000.0;
    // Then a restart after a clean shutdown, which flushes.
    store.backend().flush().expect("flush");
    drop(store);
    let reopen_started = Instant::now();
    let store = open(&dir);
    let reopen_ms = reopen_started.elapsed().as_secs_f64() * 1000.0;
    let rss_reopened = rss_mib();
    let read_started = Instant::now();
    let probe = store
        .range(&RangeRequest {
            key: format!("/registry/{:010}", keys / 2).into_bytes(),
            ..RangeRequest::default()
        })
        .expect("read");
    let first_read_us = read_started.elapsed().as_secs_f64() * 1e6;
    assert_eq!(probe.kvs.len(), 1);
    let count = store
        .range(&RangeRequest {
            key: b"/registry/".to_vec(),
            range_end: b"/registry0".to_vec(),
            count_only: true,
            ..RangeRequest::default()
        })
        .expect("count")
        .count;
    assert_eq!(count as usize, keys);
    let rss_after_count = rss_mib();

    println!("keys                      {keys}");
    println!(
        "load                      {load_secs:.1} s ({:.0} keys/s)",
        keys as f64 / load_secs
    );
    println!("rss before open           {rss_start:.1} MiB");
    println!("rss after load            {rss_loaded:.1} MiB");
    println!("reopen, replaying the WAL {reopen_replay_ms:.1} ms");
    println!("reopen after a flush      {reopen_ms:.1} ms");
    println!("rss after reopen          {rss_reopened:.1} MiB");
    println!("first point read          {first_read_us:.0} us");
    println!("rss after counting all    {rss_after_count:.1} MiB");
    println!(
        "storage                   {:.1} MiB",
        store.backend().size_bytes() as f64 / f64::from(1 << 20)
    );
}

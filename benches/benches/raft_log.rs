//! raft-log appends/s with fsync at batch sizes 1, 16 and 256, beside the
//! physical limit of the same disk: a plain loop of write + fdatasync of the
//! same bytes into a file in the same directory.
//!
//! `cargo bench -p keel-benches --bench raft_log`
//!
//! Files go to `$KEEL_BENCH_DIR` if set, else a temporary directory (on
//! these machines /tmp is the same ext4 disk as the work tree).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "the raw baseline writes with std::fs on purpose"
)]

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_raft_log::{Options, RaftLog, RealDisk, Record, HEADER_LEN};

/// etcd's benchmark value size, as a Raft payload.
const PAYLOAD_BYTES: usize = 256;
const BATCH_SIZES: [usize; 3] = [1, 16, 256];

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("KEEL_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("KEEL_BENCH_DIR usable"),
        None => tempfile::tempdir().expect("tempdir"),
    }
}

fn raw_fdatasync(c: &mut Criterion) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("raft_log");
    for batch in BATCH_SIZES {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join(format!("raw-{batch}")))
            .expect("open raw file");
        let bytes = vec![7u8; batch * (HEADER_LEN + PAYLOAD_BYTES)];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("raw_write_fdatasync", batch), |b| {
            b.iter(|| {
                file.write_all(&bytes).expect("write");
                file.sync_data().expect("fdatasync");
            });
        });
    }
    group.finish();
}

fn append(c: &mut Criterion) {
    let dir = bench_dir();
    let mut group = c.benchmark_group("raft_log");
    for batch in BATCH_SIZES {
        let log = RaftLog::open(
            Arc::new(RealDisk),
            &dir.path().join(format!("log-{batch}")),
            Options::default(),
        )
        .expect("open log");
        let mut next = 1u64;
        let payload = vec![7u8; PAYLOAD_BYTES];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("append_fsync", batch), |b| {
            b.iter(|| {
                let records: Vec<Record> = (0..batch as u64)
                    .map(|offset| Record {
                        index: next + offset,
                        term: 1,
                        payload: payload.clone(),
                    })
                    .collect();
                next += batch as u64;
                log.append(&records).expect("append");
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = raw_fdatasync, append
}
criterion_main!(benches);

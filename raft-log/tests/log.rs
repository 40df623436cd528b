//! The log's operations on both disks, corruption detection, and group
//! commit.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;
use std::sync::Arc;

use keel_raft_log::{Disk, LogError, Options, RaftLog, RealDisk, Record, RecordId, SimDisk};

fn record(index: u64, term: u64) -> Record {
    Record {
        index,
        term,
        payload: format!("payload-{index}-{term}").into_bytes(),
    }
}

fn records(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Record> {
    range.map(|index| record(index, term)).collect()
}

/// Small segments so the tests cross segment boundaries.
const SMALL: Options = Options {
    segment_bytes_max: 256,
};

/// The operations, run against any disk.
fn operations(disk: &Arc<dyn Disk>, dir: &Path) {
    let log = RaftLog::open(Arc::clone(disk), dir, SMALL).unwrap();
    assert_eq!(
        (log.first_index(), log.last_index(), log.last_id()),
        (1, 0, None)
    );
    assert_eq!(log.append(&records(1..=20, 1)).unwrap(), 20);
    assert!(matches!(
        log.append(&[record(22, 1)]),
        Err(LogError::NotContiguous {
            expected_after: 20,
            got: 22
        })
    ));
    assert_eq!(log.read(5, 9).unwrap(), records(5..=8, 1));
    assert_eq!(log.read(1, 21).unwrap(), records(1..=20, 1));
    assert!(matches!(log.read(0, 3), Err(LogError::OutOfRange { .. })));
    assert!(matches!(log.read(15, 22), Err(LogError::OutOfRange { .. })));

    log.truncate_from(12).unwrap();
    assert_eq!(log.last_id(), Some(RecordId { index: 11, term: 1 }));
    log.append(&records(12..=14, 2)).unwrap();
    log.save_vote(b"vote-2").unwrap();
    log.save_committed(b"committed-9").unwrap();
    log.purge_through(RecordId { index: 6, term: 1 }).unwrap();
    assert_eq!(log.first_index(), 7);
    assert!(matches!(log.read(6, 8), Err(LogError::OutOfRange { .. })));
    drop(log);

    let log = RaftLog::open(Arc::clone(disk), dir, SMALL).unwrap();
    assert_eq!(log.first_index(), 7);
    let mut expected = records(7..=11, 1);
    expected.extend(records(12..=14, 2));
    assert_eq!(log.read(7, 15).unwrap(), expected);
    assert_eq!(
        (log.vote(), log.committed()),
        (Some(b"vote-2".to_vec()), Some(b"committed-9".to_vec()))
    );
    assert_eq!(log.purged(), Some(RecordId { index: 6, term: 1 }));

    // A purge past the end (a snapshot install) empties the log; appends
    // continue after the purge point, also after a reopen.
    log.purge_through(RecordId { index: 30, term: 3 }).unwrap();
    assert_eq!(
        (log.first_index(), log.last_index(), log.last_id()),
        (31, 30, Some(RecordId { index: 30, term: 3 }))
    );
    drop(log);
    let log = RaftLog::open(Arc::clone(disk), dir, SMALL).unwrap();
    assert_eq!(log.last_index(), 30);
    log.append(&records(31..=33, 3)).unwrap();
    assert_eq!(log.read(31, 34).unwrap(), records(31..=33, 3));
}

#[test]
fn operations_on_the_real_disk() {
    let dir = tempfile::tempdir().unwrap();
    operations(&(Arc::new(RealDisk) as Arc<dyn Disk>), dir.path());
}

#[test]
fn operations_on_the_simulated_disk() {
    operations(
        &(Arc::new(SimDisk::new()) as Arc<dyn Disk>),
        Path::new("/log"),
    );
}

#[test]
fn every_bit_flip_in_durable_data_is_detected() {
    let dir = Path::new("/log");
    let setup = || {
        let disk = SimDisk::new();
        let log = RaftLog::open(Arc::new(disk.clone()), dir, SMALL).unwrap();
        for index in 1..=12 {
            log.append(&[record(index, 1)]).unwrap();
        }
        drop(log);
        disk
    };
    let probe = setup();
    let segments: Vec<String> = probe
        .list(dir)
        .unwrap()
        .into_iter()
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "wal"))
        .collect();
    assert!(segments.len() >= 2, "the workload spans segments");
    for name in &segments {
        let path = dir.join(name);
        let len = probe.file_len(&path).unwrap();
        for offset in 0..len {
            let disk = setup();
            disk.flip_bit(&path, offset, (offset % 8) as u8);
            match RaftLog::open(Arc::new(disk), dir, SMALL) {
                Err(LogError::Corrupt {
                    path: reported,
                    offset: at,
                    ..
                }) => {
                    assert_eq!(reported, path);
                    assert!(
                        at <= offset,
                        "reported offset {at} is at or before the flip at {offset}"
                    );
                }
                Err(other) => panic!("flip at {name}:{offset} gave {other}"),
                Ok(log) => panic!(
                    "flip at {name}:{offset} went unnoticed; last {:?}",
                    log.last_id()
                ),
            }
        }
    }
}

#[test]
fn a_bit_flip_after_open_fails_the_read() {
    let disk = SimDisk::new();
    let dir = Path::new("/log");
    let log = RaftLog::open(Arc::new(disk.clone()), dir, Options::default()).unwrap();
    log.append(&records(1..=3, 1)).unwrap();
    disk.flip_bit(&dir.join("00000000000000000001.wal"), 40, 2);
    assert!(matches!(log.read(1, 4), Err(LogError::Corrupt { .. })));
}

#[test]
fn concurrent_appenders_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(RaftLog::open(Arc::new(RealDisk), dir.path(), Options::default()).unwrap());
    let next = Arc::new(parking_lot::Mutex::new(1u64));
    let appenders = 8;
    let per_appender = 50;
    std::thread::scope(|scope| {
        for _ in 0..appenders {
            let log = Arc::clone(&log);
            let next = Arc::clone(&next);
            scope.spawn(move || {
                for _ in 0..per_appender {
                    // Index assignment and the buffered write happen together,
                    // as under Raft's single writer; the wait is concurrent.
                    let index = {
                        let mut next = next.lock();
                        let index = *next;
                        log.append_buffered(&[record(index, 1)]).unwrap();
                        *next += 1;
                        index
                    };
                    log.sync_through(index).unwrap();
                }
            });
        }
    });
    let total = appenders * per_appender;
    assert_eq!(log.last_index(), total);
    assert!(
        log.sync_rounds() < total,
        "{} sync rounds for {total} appends",
        log.sync_rounds()
    );
    assert_eq!(log.read(1, total + 1).unwrap().len() as u64, total);
}

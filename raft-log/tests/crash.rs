//! Crash at every write point of a scripted workload, with and without a
//! torn last write, then reopen and check: every acknowledged record, vote
//! and committed id is there; nothing is invented (every record present was
//! really appended at that index with that term and payload); indexes are
//! contiguous.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use keel_raft_log::{Options, RaftLog, Record, RecordId, SimDisk};

const SMALL: Options = Options {
    segment_bytes_max: 200,
};

#[derive(Debug, Clone)]
enum Step {
    Append(Vec<Record>),
    Truncate(u64),
    Purge(RecordId),
    Vote(Vec<u8>),
    Committed(Vec<u8>),
}

fn batch(first: u64, count: u64, term: u64) -> Step {
    Step::Append(
        (first..first + count)
            .map(|index| Record {
                index,
                term,
                payload: format!("{index}@{term}")
                    .repeat((index % 5 + 1) as usize)
                    .into_bytes(),
            })
            .collect(),
    )
}

fn workload() -> Vec<Step> {
    vec![
        Step::Vote(b"term-1".to_vec()),
        batch(1, 1, 1),
        batch(2, 4, 1),
        batch(6, 16, 1),
        Step::Committed(b"c-5".to_vec()),
        Step::Truncate(18),
        Step::Vote(b"term-2".to_vec()),
        batch(18, 3, 2),
        Step::Purge(RecordId { index: 9, term: 1 }),
        batch(21, 7, 2),
        Step::Committed(b"c-20".to_vec()),
        Step::Truncate(26),
        batch(26, 2, 3),
        Step::Purge(RecordId { index: 40, term: 3 }),
        batch(41, 3, 3),
    ]
}

/// What the workload promised before the crash, and what it might have
/// done with the step that was cut short.
#[derive(Default)]
struct Acked {
    records: BTreeMap<u64, Record>,
    purged: u64,
    vote: Option<Vec<u8>>,
    committed: Option<Vec<u8>>,
    in_flight: Option<Step>,
}

fn run(disk: &SimDisk, dir: &Path) -> Acked {
    let mut acked = Acked::default();
    let Ok(log) = RaftLog::open(Arc::new(disk.clone()), dir, SMALL) else {
        return acked;
    };
    for step in workload() {
        acked.in_flight = Some(step.clone());
        let outcome = match &step {
            Step::Append(records) => log.append(records).map(|_| ()),
            Step::Truncate(index) => log.truncate_from(*index),
            Step::Purge(id) => log.purge_through(*id),
            Step::Vote(vote) => log.save_vote(vote),
            Step::Committed(committed) => log.save_committed(committed),
        };
        if outcome.is_err() {
            return acked;
        }
        acked.in_flight = None;
        match step {
            Step::Append(records) => acked
                .records
                .extend(records.into_iter().map(|r| (r.index, r))),
            Step::Truncate(index) => acked.records.retain(|i, _| *i < index),
            Step::Purge(id) => {
                acked.purged = id.index;
                acked.records.retain(|i, _| *i > id.index);
            }
            Step::Vote(vote) => acked.vote = Some(vote),
            Step::Committed(committed) => acked.committed = Some(committed),
        }
    }
    acked
}

fn every_record_ever_appended() -> BTreeSet<(u64, u64, Vec<u8>)> {
    workload()
        .into_iter()
        .filter_map(|step| match step {
            Step::Append(records) => Some(records),
            _ => None,
        })
        .flatten()
        .map(|r| (r.index, r.term, r.payload))
        .collect()
}

fn check(disk: &SimDisk, dir: &Path, acked: &Acked, label: &str) {
    let log = RaftLog::open(Arc::new(disk.clone()), dir, SMALL)
        .unwrap_or_else(|e| panic!("{label}: reopen failed: {e}"));
    let first = log.first_index();
    let last = log.last_index();
    let present = log
        .read(first, last + 1)
        .unwrap_or_else(|e| panic!("{label}: read failed: {e}"));
    // Contiguous, and nothing invented.
    let known = every_record_ever_appended();
    for (position, record) in present.iter().enumerate() {
        assert_eq!(record.index, first + position as u64, "{label}: gap");
        assert!(
            known.contains(&(record.index, record.term, record.payload.clone())),
            "{label}: invented {record:?}"
        );
    }
    // Every acknowledged record survives, unless the step cut short could
    // legitimately have removed it.
    let removable = |index: u64| match &acked.in_flight {
        Some(Step::Truncate(from)) => index >= *from,
        Some(Step::Purge(id)) => index <= id.index,
        _ => false,
    };
    for (index, record) in &acked.records {
        if removable(*index) {
            continue;
        }
        let found = present.iter().find(|r| r.index == *index);
        assert_eq!(
            found,
            Some(record),
            "{label}: acknowledged record {index} lost"
        );
    }
    assert!(
        first > acked.purged || acked.purged == 0,
        "{label}: purge undone"
    );
    match &acked.in_flight {
        Some(Step::Vote(vote)) => assert!(
            log.vote() == acked.vote || log.vote().as_ref() == Some(vote),
            "{label}: vote"
        ),
        _ => assert_eq!(log.vote(), acked.vote, "{label}: vote"),
    }
    match &acked.in_flight {
        Some(Step::Committed(c)) => {
            assert!(
                log.committed() == acked.committed || log.committed().as_ref() == Some(c),
                "{label}: committed"
            );
        }
        _ => assert_eq!(log.committed(), acked.committed, "{label}: committed"),
    }
    // The log keeps working after recovery.
    let next = log.last_index() + 1;
    let term = log.last_id().map_or(1, |id| id.term);
    log.append(&[Record {
        index: next,
        term,
        payload: b"after".to_vec(),
    }])
    .unwrap();
}

#[test]
fn recovers_from_a_crash_at_every_write_point() {
    let dir = Path::new("/wal");
    let complete = SimDisk::new();
    let acked = run(&complete, dir);
    assert!(
        acked.in_flight.is_none(),
        "the workload runs to the end on a healthy disk"
    );
    let write_points = complete.write_points();
    assert!(
        write_points > 50,
        "the workload has {write_points} write points"
    );
    for point in 0..write_points {
        for tear in [false, true] {
            let disk = SimDisk::new();
            disk.stop_at_write_point(point);
            let acked = run(&disk, dir);
            disk.crash(tear);
            check(
                &disk,
                dir,
                &acked,
                &format!("crash at write point {point} (tear: {tear})"),
            );
        }
    }
}

#[test]
fn a_crash_after_the_workload_loses_nothing() {
    let dir = Path::new("/wal");
    let disk = SimDisk::new();
    let acked = run(&disk, dir);
    disk.crash(true);
    check(&disk, dir, &acked, "crash after the end");
    assert_eq!(
        acked.records.keys().copied().collect::<Vec<_>>(),
        (41..=43).collect::<Vec<_>>()
    );
}

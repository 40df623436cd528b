//! Model-based property test: random appends, truncations, purges, crashes
//! and reopens on the simulated disk, checked against a plain `Vec` of
//! records after every step.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;
use std::sync::Arc;

use keel_raft_log::{Options, RaftLog, Record, RecordId, SimDisk};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        count: u64,
        payload_bytes: usize,
        new_term: bool,
    },
    Truncate {
        back: u64,
    },
    Purge {
        ahead: u64,
    },
    Reopen {
        crash: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..12, 0usize..80, prop::bool::weighted(0.2))
            .prop_map(|(count, payload_bytes, new_term)| Op::Append { count, payload_bytes, new_term }),
        2 => (0u64..8).prop_map(|back| Op::Truncate { back }),
        1 => (0u64..12).prop_map(|ahead| Op::Purge { ahead }),
        1 => any::<bool>().prop_map(|crash| Op::Reopen { crash }),
    ]
}

/// The model: the purge point and the records after it.
struct Model {
    purged: Option<RecordId>,
    records: Vec<Record>,
}

impl Model {
    fn last_index(&self) -> u64 {
        self.records
            .last()
            .map_or(self.purged.map_or(0, |id| id.index), |r| r.index)
    }
    fn last_term(&self) -> u64 {
        self.records
            .last()
            .map_or(self.purged.map_or(1, |id| id.term), |r| r.term)
    }
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
    fn log_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = Path::new("/log");
        let options = Options { segment_bytes_max: 300 };
        let disk = SimDisk::new();
        let mut log = RaftLog::open(Arc::new(disk.clone()), dir, options).unwrap();
        let mut model = Model { purged: None, records: Vec::new() };
        for op in ops {
            match op {
                Op::Append { count, payload_bytes, new_term } => {
                    let term = model.last_term() + u64::from(new_term);
                    let first = model.last_index() + 1;
                    let batch: Vec<Record> = (first..first + count)
                        .map(|index| Record { index, term, payload: vec![index as u8; payload_bytes] })
                        .collect();
                    log.append(&batch).unwrap();
                    model.records.extend(batch);
                }
                Op::Truncate { back } => {
                    let first = log.first_index();
                    let from = model.last_index().saturating_sub(back).max(first);
                    if model.records.is_empty() {
                        continue;
                    }
                    log.truncate_from(from).unwrap();
                    model.records.retain(|r| r.index < from);
                }
                Op::Purge { ahead } => {
                    let start = model.purged.map_or(0, |id| id.index);
                    let index = start + ahead;
                    let term = model.records.iter().find(|r| r.index == index).map_or(model.last_term(), |r| r.term);
                    if index == 0 {
                        continue;
                    }
                    log.purge_through(RecordId { index, term }).unwrap();
                    if model.purged.is_none_or(|id| id.index < index) {
                        model.purged = Some(RecordId { index, term });
                        model.records.retain(|r| r.index > index);
                    }
                }
                Op::Reopen { crash } => {
                    drop(log);
                    if crash {
                        // Every step above was acknowledged: a crash loses nothing.
                        disk.crash(true);
                    }
                    log = RaftLog::open(Arc::new(disk.clone()), dir, options).unwrap();
                }
            }
            prop_assert_eq!(log.last_index(), model.last_index());
            prop_assert_eq!(log.purged(), model.purged);
            let first = log.first_index();
            prop_assert_eq!(first, model.purged.map_or(1, |id| id.index + 1));
            prop_assert_eq!(log.read(first, log.last_index() + 1).unwrap(), model.records.clone());
        }
    }
}

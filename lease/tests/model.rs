//! Model-based property test: random sequences of grants, keep-alives,
//! revokes, checkpoints, time steps, leader changes and restarts, driven the
//! way a server drives the lessor (proposals go into a log that is applied
//! later, in order; a leader change may drop what was not applied), checked
//! against what clients were promised.
//!
//! Invariants:
//! - a lease is never reported expired (nor refused a renew) before the end
//!   of the TTL it was promised at its last grant or answered keep-alive;
//! - once the log is applied, the persisted remaining TTL is at least the
//!   promised remaining TTL (the safety rule);
//! - `expired` never returns a revoked lease, nor the same lease twice in a
//!   row;
//! - checkpoints are rounded up and never at or above the granted TTL.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::{btree_map, BTreeMap, VecDeque};

use keel_lease::{
    effective_ttl, LeaseError, LeaseId, Lessor, LessorConfig, ResetCheckpoint, MAX_LEASE_TTL_SECS,
};
use proptest::prelude::*;

const IDS: [LeaseId; 4] = [1, 2, 3, 4];

/// Short enough that TTLs of a few seconds cross it (both checkpointed and
/// never-checkpointed leases occur).
const CONFIG: LessorConfig = LessorConfig {
    checkpoint_interval_ms: 2_000,
    proposal_retry_ms: 3_000,
    min_ttl_secs: 2,
};

/// Small, so `max` is hit often.
const BATCH: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    Grant {
        slot: usize,
        ttl_secs: i64,
    },
    Renew {
        slot: usize,
    },
    Revoke {
        slot: usize,
    },
    Advance {
        ms: u64,
    },
    Tick,
    ApplyOne,
    ApplyAll,
    /// Loses leadership; the first `committed` pending entries were
    /// committed (and get applied), the rest are lost.
    Demote {
        committed: usize,
    },
    Promote {
        extend_ms: u64,
    },
    /// Restarts from the persisted state after applying the first
    /// `committed` pending entries, then maybe becomes leader again.
    Restart {
        committed: usize,
        extend_ms: u64,
        promote: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..IDS.len();
    prop_oneof![
        3 => (slot.clone(), prop_oneof![9 => -1i64..=14, 1 => Just(MAX_LEASE_TTL_SECS + 1)])
            .prop_map(|(slot, ttl_secs)| Op::Grant { slot, ttl_secs }),
        6 => slot.clone().prop_map(|slot| Op::Renew { slot }),
        1 => slot.prop_map(|slot| Op::Revoke { slot }),
        5 => prop_oneof![Just(1u64), 1u64..=2_500].prop_map(|ms| Op::Advance { ms }),
        4 => Just(Op::Tick),
        2 => Just(Op::ApplyOne),
        3 => Just(Op::ApplyAll),
        1 => committed().prop_map(|committed| Op::Demote { committed }),
        1 => (0u64..=2_000).prop_map(|extend_ms| Op::Promote { extend_ms }),
        1 => (committed(), 0u64..=2_000, any::<bool>())
            .prop_map(|(committed, extend_ms, promote)| Op::Restart { committed, extend_ms, promote }),
    ]
}

/// How much of the pending log survives a leader change: all, or a prefix.
fn committed() -> impl Strategy<Value = usize> {
    prop_oneof![Just(usize::MAX), 0usize..4]
}

#[derive(Debug, Clone, Copy)]
enum Command {
    Grant(LeaseId, i64),
    Revoke(LeaseId),
    Checkpoint(LeaseId, i64),
}

/// A proposal waiting in the log, with when it was proposed.
#[derive(Debug, Clone, Copy)]
struct Entry {
    proposed_ms: u64,
    command: Command,
}

/// One member's lessor plus everything the rest of the system would hold.
struct Harness {
    lessor: Lessor,
    now_ms: u64,
    /// What the store holds: id → (granted TTL, remaining TTL; 0 = none).
    persisted: BTreeMap<LeaseId, (i64, i64)>,
    /// Proposed, not yet applied, in log order.
    log: VecDeque<Entry>,
    /// The instant up to which each lease was promised to live.
    promised_ms: BTreeMap<LeaseId, u64>,
    /// Keep-alives waiting for their reset: the promise they will make.
    awaiting_ms: BTreeMap<LeaseId, u64>,
    /// While primary, each lease's expiry as the rules predict it.
    expiry_ms: BTreeMap<LeaseId, u64>,
}

fn persisted_ttl_secs((granted, remaining): (i64, i64)) -> i64 {
    if remaining > 0 {
        remaining.min(granted)
    } else {
        granted
    }
}

impl Harness {
    fn new() -> Self {
        let mut lessor = Lessor::new(CONFIG);
        lessor.promote(0, 0);
        Self {
            lessor,
            now_ms: 0,
            persisted: BTreeMap::new(),
            log: VecDeque::new(),
            promised_ms: BTreeMap::new(),
            awaiting_ms: BTreeMap::new(),
            expiry_ms: BTreeMap::new(),
        }
    }

    fn propose(&mut self, command: Command) {
        self.log.push_back(Entry {
            proposed_ms: self.now_ms,
            command,
        });
    }

    fn promise(&mut self, id: LeaseId, until_ms: u64) {
        let promised = self.promised_ms.entry(id).or_insert(0);
        *promised = (*promised).max(until_ms);
    }

    fn apply_one(&mut self) {
        let Some(entry) = self.log.pop_front() else {
            return;
        };
        match entry.command {
            Command::Grant(id, ttl_secs) => {
                let result = self.lessor.apply_grant(id, ttl_secs, self.now_ms);
                if let btree_map::Entry::Vacant(vacant) = self.persisted.entry(id) {
                    assert_eq!(result, Ok(()));
                    vacant.insert((ttl_secs, 0));
                    let until_ms = self.now_ms + 1_000 * ttl_secs as u64;
                    if self.lessor.is_primary() {
                        self.expiry_ms.insert(id, until_ms);
                    }
                    self.promised_ms.remove(&id);
                    self.promise(id, until_ms);
                } else {
                    assert_eq!(result, Err(LeaseError::AlreadyExists));
                }
            }
            Command::Revoke(id) => {
                let existed = self.lessor.apply_revoke(id);
                assert_eq!(existed, self.persisted.remove(&id).is_some());
                self.promised_ms.remove(&id);
                self.awaiting_ms.remove(&id);
                self.expiry_ms.remove(&id);
            }
            Command::Checkpoint(id, remaining_ttl_secs) => {
                let applied = self.lessor.apply_checkpoint(id, remaining_ttl_secs);
                assert_eq!(applied, self.persisted.contains_key(&id));
                if let Some(record) = self.persisted.get_mut(&id) {
                    record.1 = remaining_ttl_secs;
                }
                // The server answers waiting keep-alives once no reset of
                // the lease is in flight.
                if !self.lessor.reset_in_flight(id) {
                    if let Some(until_ms) = self.awaiting_ms.remove(&id) {
                        self.promise(id, until_ms);
                    }
                }
            }
        }
    }

    fn apply_all(&mut self) {
        while !self.log.is_empty() {
            self.apply_one();
        }
    }

    /// A leader change or restart: the first `committed` entries are
    /// applied, the rest are lost, and the keep-alives still waiting are
    /// never answered.
    fn drop_pending(&mut self, committed: usize) {
        for _ in 0..committed.min(self.log.len()) {
            self.apply_one();
        }
        self.log.clear();
        self.awaiting_ms.clear();
    }

    fn grant(&mut self, id: LeaseId, requested_secs: i64) {
        match effective_ttl(requested_secs, CONFIG.min_ttl_secs) {
            Ok(ttl_secs) => {
                assert!(ttl_secs >= CONFIG.min_ttl_secs);
                assert!(ttl_secs >= requested_secs);
                self.propose(Command::Grant(id, ttl_secs));
            }
            Err(error) => {
                assert_eq!(error, LeaseError::TtlTooLarge);
                assert!(requested_secs > MAX_LEASE_TTL_SECS);
            }
        }
    }

    fn renew(&mut self, id: LeaseId) {
        let result = self.lessor.renew(id, self.now_ms);
        if !self.lessor.is_primary() {
            assert_eq!(result, Err(LeaseError::NotPrimary));
            return;
        }
        let Some(&(granted_secs, _)) = self.persisted.get(&id) else {
            assert_eq!(result, Err(LeaseError::NotFound));
            return;
        };
        match result {
            Ok(renewed) => {
                assert_eq!(renewed.ttl_secs, granted_secs);
                let until_ms = self.now_ms + 1_000 * granted_secs as u64;
                self.expiry_ms.insert(id, until_ms);
                match renewed.reset_checkpoint {
                    ResetCheckpoint::NotNeeded => self.promise(id, until_ms),
                    ResetCheckpoint::Propose => {
                        self.propose(Command::Checkpoint(id, 0));
                        self.awaiting_ms.insert(id, until_ms);
                    }
                    ResetCheckpoint::InFlight => {
                        let pending = self.log.iter().any(
                            |entry| matches!(entry.command, Command::Checkpoint(i, 0) if i == id),
                        );
                        assert!(pending, "lease {id}: reset in flight but none in the log");
                        self.awaiting_ms.insert(id, until_ms);
                    }
                }
            }
            Err(error) => {
                assert_eq!(error, LeaseError::NotFound);
                let promised = self.promised_ms.get(&id).copied().unwrap_or(0);
                assert!(
                    promised <= self.now_ms,
                    "lease {id} refused at {} though promised until {promised}",
                    self.now_ms
                );
            }
        }
    }

    /// Time passes. Proposals commit within the retry delay (a slower one
    /// is presumed lost by design), so entries that old are applied first.
    fn advance(&mut self, ms: u64) {
        let next_ms = self.now_ms + ms;
        while self
            .log
            .front()
            .is_some_and(|entry| entry.proposed_ms + CONFIG.proposal_retry_ms <= next_ms)
        {
            self.apply_one();
        }
        self.now_ms = next_ms;
    }

    fn tick(&mut self) {
        let now_ms = self.now_ms;
        if !self.lessor.is_primary() {
            assert!(self.lessor.expired(now_ms, usize::MAX).is_empty());
            assert!(self.lessor.checkpoints_due(now_ms, usize::MAX).is_empty());
            return;
        }
        let expired = self.lessor.expired(now_ms, BATCH);
        assert!(expired.len() <= BATCH);
        let rest = self.lessor.expired(now_ms, usize::MAX);
        for &id in &rest {
            assert!(!expired.contains(&id), "lease {id} returned twice in a row");
        }
        for id in expired.into_iter().chain(rest) {
            assert!(
                self.expiry_ms[&id] <= now_ms,
                "lease {id} reported expired early"
            );
            assert!(
                self.persisted.contains_key(&id),
                "revoked lease {id} reported expired"
            );
            let promised = self.promised_ms.get(&id).copied().unwrap_or(0);
            assert!(
                promised <= now_ms,
                "lease {id} expired at {now_ms} though promised until {promised}"
            );
            self.propose(Command::Revoke(id));
        }
        let due = self.lessor.checkpoints_due(now_ms, BATCH);
        assert!(due.len() <= BATCH);
        for (id, remaining_secs) in due {
            let (granted_secs, _) = self.persisted[&id];
            assert!(remaining_secs >= 1);
            assert!(remaining_secs < granted_secs);
            let remaining_ms = self.lessor.remaining_ms(id, now_ms).unwrap();
            assert!(1_000 * remaining_secs as u64 >= remaining_ms, "rounded up");
            assert!(
                1_000 * (remaining_secs as u64 - 1) < remaining_ms,
                "by less than 1 s"
            );
            assert_eq!(remaining_ms, self.expiry_ms[&id] - now_ms);
            self.propose(Command::Checkpoint(id, remaining_secs));
        }
    }

    /// What a promote must do: every lease expires after its persisted TTL
    /// (the checkpointed remaining one if recorded) plus `extend_ms`.
    fn promote(&mut self, extend_ms: u64) {
        self.lessor.promote(self.now_ms, extend_ms);
        self.expiry_ms = self
            .persisted
            .iter()
            .map(|(&id, &record)| {
                (
                    id,
                    self.now_ms + 1_000 * persisted_ttl_secs(record) as u64 + extend_ms,
                )
            })
            .collect();
    }

    fn restart(&mut self, committed: usize, extend_ms: u64, promote: bool) {
        self.drop_pending(committed);
        self.expiry_ms.clear();
        self.lessor = Lessor::new(CONFIG);
        for (&id, &(granted, remaining)) in &self.persisted {
            self.lessor.restore(id, granted, remaining);
        }
        if promote {
            self.promote(extend_ms);
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Grant { slot, ttl_secs } => self.grant(IDS[slot], ttl_secs),
            Op::Renew { slot } => self.renew(IDS[slot]),
            Op::Revoke { slot } => {
                // A client's revoke: only a leader proposes it.
                if self.lessor.is_primary() {
                    self.lessor.note_revoke_proposed(IDS[slot]);
                    self.propose(Command::Revoke(IDS[slot]));
                }
            }
            Op::Advance { ms } => self.advance(ms),
            Op::Tick => self.tick(),
            Op::ApplyOne => self.apply_one(),
            Op::ApplyAll => self.apply_all(),
            Op::Demote { committed } => {
                self.drop_pending(committed);
                self.lessor.demote();
                self.expiry_ms.clear();
            }
            Op::Promote { extend_ms } => {
                // A new leader first applies everything committed before it.
                self.apply_all();
                self.promote(extend_ms);
            }
            Op::Restart {
                committed,
                extend_ms,
                promote,
            } => self.restart(committed, extend_ms, promote),
        }
    }

    fn check(&self) {
        let now_ms = self.now_ms;
        let ids: Vec<LeaseId> = self.persisted.keys().copied().collect();
        assert_eq!(self.lessor.leases(), ids);
        assert_eq!(self.lessor.len(), ids.len());
        for (&id, &record) in &self.persisted {
            assert_eq!(
                self.lessor.persisted_ttl_secs(id),
                Some(persisted_ttl_secs(record))
            );
        }
        for (&id, &promised) in &self.promised_ms {
            if promised <= now_ms || !self.persisted.contains_key(&id) {
                continue;
            }
            let promised_remaining_ms = promised - now_ms;
            if self.log.is_empty() {
                let persisted_ms = 1_000 * persisted_ttl_secs(self.persisted[&id]) as u64;
                assert!(
                    persisted_ms >= promised_remaining_ms,
                    "safety: lease {id} persisted {persisted_ms} ms < promised {promised_remaining_ms} ms"
                );
            }
            if self.lessor.is_primary() {
                let remaining_ms = self.expiry_ms[&id].saturating_sub(now_ms);
                assert!(
                    remaining_ms >= promised_remaining_ms,
                    "lease {id} expires in {remaining_ms} ms < promised {promised_remaining_ms} ms"
                );
            }
        }
        for &id in &ids {
            let remaining_ms = self.lessor.remaining_ms(id, now_ms).unwrap();
            if self.lessor.is_primary() {
                assert_eq!(
                    remaining_ms,
                    self.expiry_ms[&id].saturating_sub(now_ms),
                    "lease {id}"
                );
            }
            let ttl = self.lessor.time_to_live(id, now_ms).unwrap();
            assert_eq!(ttl.granted_ttl_secs, self.persisted[&id].0);
            assert_eq!(ttl.ttl_secs, (remaining_ms / 1_000) as i64, "rounded down");
        }
        let tracking = self.lessor.is_primary() && !ids.is_empty();
        assert_eq!(self.lessor.next_deadline_ms().is_some(), tracking);
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
    fn lessor_keeps_its_promises(ops in prop::collection::vec(op(), 1..120)) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.step(op);
            harness.check();
        }
        // Must heal: a leader that applies everything and keeps ticking
        // revokes every lease nobody renews.
        harness.apply_all();
        if !harness.lessor.is_primary() {
            harness.promote(0);
        }
        for _ in 0..40 {
            harness.advance(1_000);
            harness.tick();
            harness.apply_all();
            harness.check();
        }
        prop_assert!(harness.lessor.is_empty(), "leases left: {:?}", harness.lessor.leases());
    }
}

//! The leader-only half of the lessor: in-memory expiries, the expiry and
//! checkpoint queues, and the bookkeeping that decides when a renew must be
//! followed by a reset checkpoint.
//!
//! A [`Primary`] exists only between `promote` and `demote`; dropping it is
//! all `demote` does, so a follower carries no leader state at all.

use std::collections::BTreeMap;

use crate::queue::DeadlineQueue;
use crate::record::LeaseRecord;
use crate::ttl::{ms_to_secs_ceil, secs_to_ms};
use crate::{LeaseError, LeaseId, Renewed, ResetCheckpoint};

/// What the primary tracks about one lease.
#[derive(Debug, Clone, Copy)]
struct Tracking {
    /// The lease's expiry: it is expired at and after this instant.
    expiry_ms: u64,
    /// Its key in the expiry queue: `expiry_ms` until `expired` has
    /// returned it, then the instant at which it is returned again.
    revoke_due_ms: u64,
    /// Its key in the checkpoint queue; `None` for leases too short to be
    /// checkpointed, for expired ones and for ones whose revoke a client
    /// asked for.
    checkpoint_due_ms: Option<u64>,
    /// A checkpoint below the granted TTL may be recorded (or on its way
    /// through the log) with no reset proposed after it. A renew must then
    /// ask for a reset.
    checkpoint_uncovered: bool,
    /// Checkpoints `checkpoints_due` issued that have not been applied yet.
    checkpoints_in_flight: u32,
    /// Resets renews asked for that have not been applied yet.
    resets_in_flight: u32,
    /// When a renew last asked for a reset (meaningful while
    /// `resets_in_flight > 0`).
    last_reset_asked_ms: u64,
}

impl Tracking {
    /// Decides, for a renew at `now_ms`, whether a reset checkpoint must be
    /// proposed, and records that it was asked for.
    fn reset_after_renew(&mut self, now_ms: u64, proposal_retry_ms: u64) -> ResetCheckpoint {
        let asked_long_ago = self.resets_in_flight > 0
            && now_ms >= self.last_reset_asked_ms.saturating_add(proposal_retry_ms);
        if asked_long_ago {
            // Resets unanswered this long are presumed lost: the new one
            // replaces them all, so waiters are not held forever by a reset
            // that will never be applied. (A merely slow one that arrives
            // later releases waiters early; see `ResetCheckpoint`.)
            self.checkpoint_uncovered = false;
            self.resets_in_flight = 1;
            self.last_reset_asked_ms = now_ms;
            ResetCheckpoint::Propose
        } else if self.checkpoint_uncovered {
            self.checkpoint_uncovered = false;
            self.resets_in_flight = self.resets_in_flight.saturating_add(1);
            self.last_reset_asked_ms = now_ms;
            ResetCheckpoint::Propose
        } else if self.resets_in_flight > 0 {
            ResetCheckpoint::InFlight
        } else {
            ResetCheckpoint::NotNeeded
        }
    }
}

/// Whether leases with this TTL get checkpoints at all.
///
/// A lease whose TTL is at most the checkpoint interval is never
/// checkpointed: by the time its checkpoint would come due it has either
/// expired or been renewed back to its full TTL, and if it is not
/// checkpointed a restart gives it at most its granted TTL too many, which
/// is no worse than the one interval a checkpointed lease can gain. Skipping
/// these saves two log entries (checkpoint + reset) per renewed short lease
/// per interval. (etcd has a similar rule: it schedules a checkpoint only
/// while the remaining TTL exceeds the interval.)
pub(crate) fn is_checkpointed(granted_ttl_secs: i64, checkpoint_interval_ms: u64) -> bool {
    secs_to_ms(granted_ttl_secs) > checkpoint_interval_ms
}

/// The leader-only state: one [`Tracking`] per lease and two queues, each
/// holding every lease at most once.
#[derive(Debug, Default)]
pub(crate) struct Primary {
    tracked: BTreeMap<LeaseId, Tracking>,
    expiry_queue: DeadlineQueue,
    checkpoint_queue: DeadlineQueue,
}

impl Primary {
    /// Starts tracking a lease that expires at `expiry_ms`; its first
    /// checkpoint (if it gets any) comes due one interval after `now_ms`.
    pub(crate) fn track(
        &mut self,
        id: LeaseId,
        record: LeaseRecord,
        now_ms: u64,
        expiry_ms: u64,
        checkpoint_interval_ms: u64,
    ) {
        let checkpoint_due_ms = is_checkpointed(record.granted_ttl_secs, checkpoint_interval_ms)
            .then(|| now_ms.saturating_add(checkpoint_interval_ms));
        let tracking = Tracking {
            expiry_ms,
            revoke_due_ms: expiry_ms,
            checkpoint_due_ms,
            checkpoint_uncovered: record.has_partial_checkpoint(),
            checkpoints_in_flight: 0,
            resets_in_flight: 0,
            last_reset_asked_ms: 0,
        };
        let previous = self.tracked.insert(id, tracking);
        assert!(previous.is_none(), "lease {id} tracked twice");
        self.expiry_queue.insert(expiry_ms, id);
        if let Some(due_ms) = checkpoint_due_ms {
            self.checkpoint_queue.insert(due_ms, id);
        }
    }

    /// Stops tracking a lease (it was revoked), removing it from both
    /// queues. Panics if it was not tracked.
    pub(crate) fn untrack(&mut self, id: LeaseId) {
        let tracking = self.tracked.remove(&id);
        let Some(tracking) = tracking else {
            panic!("primary does not track lease {id}");
        };
        self.expiry_queue.remove(tracking.revoke_due_ms, id);
        if let Some(due_ms) = tracking.checkpoint_due_ms {
            self.checkpoint_queue.remove(due_ms, id);
        }
    }

    fn tracking_mut(&mut self, id: LeaseId) -> &mut Tracking {
        let tracking = self.tracked.get_mut(&id);
        let Some(tracking) = tracking else {
            panic!("primary does not track lease {id}");
        };
        tracking
    }

    /// Renews a tracked lease: see [`Lessor::renew`](crate::Lessor::renew).
    pub(crate) fn renew(
        &mut self,
        id: LeaseId,
        record: LeaseRecord,
        now_ms: u64,
        proposal_retry_ms: u64,
    ) -> Result<Renewed, LeaseError> {
        let tracking = self.tracked.get_mut(&id);
        let Some(tracking) = tracking else {
            panic!("primary does not track lease {id}");
        };
        if tracking.expiry_ms <= now_ms {
            return Err(LeaseError::NotFound);
        }
        let expiry_ms = now_ms.saturating_add(secs_to_ms(record.granted_ttl_secs));
        self.expiry_queue
            .reschedule(id, tracking.revoke_due_ms, expiry_ms);
        tracking.expiry_ms = expiry_ms;
        tracking.revoke_due_ms = expiry_ms;
        let reset_checkpoint = tracking.reset_after_renew(now_ms, proposal_retry_ms);
        Ok(Renewed {
            ttl_secs: record.granted_ttl_secs,
            reset_checkpoint,
        })
    }

    /// Notes that a checkpoint of `remaining_ttl_secs` was applied to a
    /// tracked lease; `record` is the lease's record after the update. The
    /// in-memory expiry is deliberately left alone.
    pub(crate) fn checkpoint_applied(
        &mut self,
        id: LeaseId,
        record: LeaseRecord,
        remaining_ttl_secs: i64,
    ) {
        let tracking = self.tracking_mut(id);
        if remaining_ttl_secs == 0 {
            // One of our resets came back.
            tracking.resets_in_flight = tracking.resets_in_flight.saturating_sub(1);
        } else if tracking.checkpoints_in_flight > 0 {
            // One of ours: it was counted as uncovered when issued, and any
            // reset asked for since is ordered after it in the log.
            tracking.checkpoints_in_flight -= 1;
        } else if tracking.resets_in_flight == 0 && record.has_partial_checkpoint() {
            // Not ours: an earlier leader's, still in the log at promote
            // (the driver should not let that happen, see `promote`). With
            // a reset of ours in flight it is ordered before that reset,
            // which covers it; without one, the next renew must reset it.
            tracking.checkpoint_uncovered = true;
        }
    }

    /// Leases whose expiry is at or before `now_ms`, earliest first, at most
    /// `max`; each is pushed back to `now_ms + proposal_retry_ms`.
    pub(crate) fn expired(
        &mut self,
        now_ms: u64,
        max: usize,
        proposal_retry_ms: u64,
    ) -> Vec<LeaseId> {
        let mut ids = Vec::with_capacity(max.min(self.expiry_queue.len()));
        while ids.len() < max {
            let Some((_, id)) = self.expiry_queue.pop_due(now_ms) else {
                break;
            };
            let retry_ms = now_ms.saturating_add(proposal_retry_ms);
            let tracking = self.tracking_mut(id);
            assert!(
                tracking.expiry_ms <= now_ms,
                "lease {id} is due for revoke before it expired"
            );
            tracking.revoke_due_ms = retry_ms;
            self.expiry_queue.insert(retry_ms, id);
            ids.push(id);
        }
        ids
    }

    /// The checkpoints to propose now, at most `max`; see
    /// [`Lessor::checkpoints_due`](crate::Lessor::checkpoints_due).
    pub(crate) fn checkpoints_due(
        &mut self,
        leases: &BTreeMap<LeaseId, LeaseRecord>,
        now_ms: u64,
        max: usize,
        checkpoint_interval_ms: u64,
    ) -> Vec<(LeaseId, i64)> {
        let mut due = Vec::new();
        while due.len() < max {
            let Some((_, id)) = self.checkpoint_queue.pop_due(now_ms) else {
                break;
            };
            let Some(record) = leases.get(&id) else {
                panic!("lease {id} is queued for a checkpoint but unknown");
            };
            let granted_ttl_secs = record.granted_ttl_secs;
            let next_due_ms = now_ms.saturating_add(checkpoint_interval_ms);
            let tracking = self.tracking_mut(id);
            if tracking.expiry_ms <= now_ms {
                // Expired: it is waiting to be revoked and can no longer be
                // renewed, so there is nothing worth recording. A promote
                // schedules it again should it survive a leader change.
                tracking.checkpoint_due_ms = None;
                continue;
            }
            tracking.checkpoint_due_ms = Some(next_due_ms);
            let remaining_ttl_secs = ms_to_secs_ceil(tracking.expiry_ms - now_ms);
            if remaining_ttl_secs < granted_ttl_secs {
                tracking.checkpoint_uncovered = true;
                tracking.checkpoints_in_flight = tracking.checkpoints_in_flight.saturating_add(1);
                due.push((id, remaining_ttl_secs));
            }
            // Else nothing to record: the persisted value (the full granted
            // TTL, or an older, smaller checkpoint taken before the leader
            // change that added `extend_ms`) is already at least the truth.
            self.checkpoint_queue.insert(next_due_ms, id);
        }
        due
    }

    /// Whether a reset asked for by a renew of this lease has not been
    /// applied yet. `false` if untracked.
    pub(crate) fn reset_in_flight(&self, id: LeaseId) -> bool {
        self.tracked
            .get(&id)
            .is_some_and(|tracking| tracking.resets_in_flight > 0)
    }

    /// Stops checkpointing a lease whose revoke has been proposed, so that no
    /// checkpoint of it can land in the log after the revoke. No-op if
    /// untracked or already unscheduled.
    pub(crate) fn revoke_proposed(&mut self, id: LeaseId) {
        let Some(tracking) = self.tracked.get_mut(&id) else {
            return;
        };
        if let Some(due_ms) = tracking.checkpoint_due_ms.take() {
            self.checkpoint_queue.remove(due_ms, id);
        }
    }

    /// How long until the lease expires (0 once it has), if tracked.
    pub(crate) fn remaining_ms(&self, id: LeaseId, now_ms: u64) -> Option<u64> {
        self.tracked
            .get(&id)
            .map(|tracking| tracking.expiry_ms.saturating_sub(now_ms))
    }

    /// The earliest instant at which `expired` or `checkpoints_due` has
    /// something to return.
    pub(crate) fn next_deadline_ms(&self) -> Option<u64> {
        let expiry = self.expiry_queue.first().map(|(at_ms, _)| at_ms);
        let checkpoint = self.checkpoint_queue.first().map(|(at_ms, _)| at_ms);
        match (expiry, checkpoint) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Checks that the tracking and the queues agree with each other and
    /// with the replicated records. O(n log n): debug builds only.
    pub(crate) fn check_invariants(&self, leases: &BTreeMap<LeaseId, LeaseRecord>) {
        assert_eq!(
            self.tracked.len(),
            leases.len(),
            "primary tracks every lease"
        );
        assert_eq!(
            self.expiry_queue.len(),
            self.tracked.len(),
            "one expiry entry per lease"
        );
        let mut scheduled = 0;
        for (&id, tracking) in &self.tracked {
            assert!(leases.contains_key(&id), "tracked lease {id} is unknown");
            assert!(
                tracking.expiry_ms <= tracking.revoke_due_ms,
                "lease {id} revoked before expiry"
            );
            assert!(
                self.expiry_queue.contains(tracking.revoke_due_ms, id),
                "lease {id} not in expiry queue"
            );
            if let Some(due_ms) = tracking.checkpoint_due_ms {
                scheduled += 1;
                assert!(
                    self.checkpoint_queue.contains(due_ms, id),
                    "lease {id} not in checkpoint queue"
                );
            }
        }
        assert_eq!(
            self.checkpoint_queue.len(),
            scheduled,
            "one checkpoint entry per scheduled lease"
        );
    }
}

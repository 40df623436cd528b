//! The [`Lessor`]: the replicated lease mirror plus, on the leader, the
//! [`Primary`] that tracks expiry.

use std::collections::BTreeMap;

use crate::primary::Primary;
use crate::record::LeaseRecord;
use crate::ttl::{ms_to_secs_floor, secs_to_ms};
use crate::{LeaseError, LeaseId, MAX_LEASE_TTL_SECS, NO_LEASE};

/// How often each lease's remaining TTL is checkpointed by default: 5
/// minutes, etcd's `defaultLeaseCheckpointInterval`.
///
/// Why that number: every checkpoint is a Raft entry, so the log carries
/// `leases / interval` of them per second (100 000 leases → 333/s), plus a
/// reset per renewed lease per interval. In exchange, a restart or leader
/// change gives a lease at most one interval more than it had left (plus
/// `extend_ms`), instead of its whole TTL again. Five minutes keeps the log
/// load small while bounding the error to well under the hour-long TTLs
/// that users complained about losing.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 5 * 60 * 1000;

/// How long an unanswered revoke or reset proposal is waited for before it
/// is asked for again by default: 3 s, etcd's
/// `defaultExpiredleaseRetryInterval`. Long enough for a proposal to commit
/// in a healthy cluster (a few heartbeats), short enough that a dropped one
/// is retried before anyone notices.
pub const DEFAULT_PROPOSAL_RETRY_MS: u64 = 3_000;

/// A suggested `max` for [`Lessor::expired`]: etcd revokes at most 1000
/// leases per second and checks twice a second, so 500 per call. It keeps a
/// mass expiry (say, after a long partition) from flooding the log in one
/// burst; the rest come on the next call.
pub const EXPIRED_BATCH_MAX: usize = 500;

/// A suggested `max` for [`Lessor::checkpoints_due`]: etcd's
/// `maxLeaseCheckpointBatchSize`, the checkpoints one log entry carries.
pub const CHECKPOINT_BATCH_MAX: usize = 1_000;

/// Above this many leases, debug builds skip the O(n log n) consistency
/// check that otherwise runs after every change: model tests stay far below
/// it, and debug builds of load tests with many leases stay usable.
const DEBUG_CHECK_LEASES_MAX: usize = 1_024;

/// The lessor's tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LessorConfig {
    /// How often, while primary, each lease's remaining TTL comes due for a
    /// checkpoint, in milliseconds; the first one an interval after grant
    /// or promote. Leases whose TTL is at most this are never checkpointed
    /// (see [`Lessor::checkpoints_due`]). Must be > 0.
    pub checkpoint_interval_ms: u64,
    /// How long an expired lease returned by [`Lessor::expired`] waits
    /// before being returned again if it was not revoked meanwhile (the
    /// revoke proposal may have been lost), and how long a renew waits for
    /// an asked-for reset before asking again. Must be > 0.
    pub proposal_retry_ms: u64,
    /// The minimum TTL, from [`min_ttl_secs`](crate::min_ttl_secs). Used by
    /// [`Lessor::effective_ttl`]; grants arriving through the log carry an
    /// already effective TTL and are not re-checked against it. Must be in
    /// `1..=MAX_LEASE_TTL_SECS`.
    pub min_ttl_secs: i64,
}

impl Default for LessorConfig {
    /// etcd's defaults: 5 min checkpoints, 3 s retries, and the minimum TTL
    /// for a 1000 ms election timeout with 100 ms heartbeats (2 s).
    fn default() -> Self {
        Self {
            checkpoint_interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
            proposal_retry_ms: DEFAULT_PROPOSAL_RETRY_MS,
            min_ttl_secs: crate::min_ttl_secs(1000, 100),
        }
    }
}

/// The outcome of a successful [`Lessor::renew`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewed {
    /// The granted TTL, which is what etcd's keep-alive answers.
    pub ttl_secs: i64,
    /// What must happen before the keep-alive may be answered.
    pub reset_checkpoint: ResetCheckpoint,
}

/// Whether a renew needs a reset checkpoint (`checkpoint(id, 0)`) in the
/// log before the client is told its lease lives another full TTL.
///
/// Until the reset is applied, the persisted remaining TTL is below what
/// the client is being promised: a leader change in between would expire
/// the lease early. So for `Propose` and `InFlight`, answer the keep-alive
/// only once [`Lessor::reset_in_flight`] is `false` (check it after each
/// applied checkpoint of the lease), and fail it if demoted first. etcd
/// does the same: its `Renew` blocks on the checkpoint proposal.
///
/// A reset unanswered for `proposal_retry_ms` is presumed lost and the next
/// renew proposes a fresh one that replaces it. Should the old one merely
/// have been slow, its late arrival releases waiters before the fresh one
/// is applied; only a leader change in that window could then cut a lease
/// short, by at most its granted TTL minus its last checkpointed remaining
/// TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCheckpoint {
    /// Nothing below the granted TTL is recorded or on its way: answer now.
    NotNeeded,
    /// Propose `checkpoint(id, 0)`, then answer once no reset of this lease
    /// is in flight.
    Propose,
    /// Resets asked for by earlier renews are still in flight and cover
    /// everything recorded: propose nothing, answer once they are applied.
    InFlight,
}

/// The answer to a time-to-live query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeToLive {
    /// Remaining TTL in whole seconds, rounded down as etcd's
    /// `int64(Remaining().Seconds())` does: a lease in its last second
    /// reports 0 while it still exists. A lease past its expiry but not yet
    /// revoked also reports 0 (etcd could report -1 there, which clients
    /// read as "expired"; the lease has not been revoked, so 0 is truer).
    pub ttl_secs: i64,
    /// The TTL the lease was granted.
    pub granted_ttl_secs: i64,
}

/// The lessor of one member: see the crate documentation for how the parts
/// fit and how a server drives it.
///
/// Time is always an argument (`now_ms`, milliseconds on a monotonic clock
/// the caller owns); the lessor never reads a clock. Times should not go
/// backwards; if they do, nothing panics, deadlines just look further away.
#[derive(Debug)]
pub struct Lessor {
    config: LessorConfig,
    leases: BTreeMap<LeaseId, LeaseRecord>,
    /// Leader-only state; `Some` exactly while primary.
    primary: Option<Primary>,
}

impl Lessor {
    /// An empty, non-primary lessor.
    ///
    /// Panics if the config is out of range (a zero interval or retry, or
    /// a minimum TTL outside `1..=MAX_LEASE_TTL_SECS`): that is a bug in
    /// the caller, not an operational error.
    pub fn new(config: LessorConfig) -> Self {
        assert!(
            config.checkpoint_interval_ms > 0,
            "checkpoint interval must be > 0"
        );
        assert!(config.proposal_retry_ms > 0, "proposal retry must be > 0");
        assert!(config.min_ttl_secs >= 1, "minimum TTL must be >= 1 s");
        assert!(
            config.min_ttl_secs <= MAX_LEASE_TTL_SECS,
            "minimum TTL above the maximum"
        );
        Self {
            config,
            leases: BTreeMap::new(),
            primary: None,
        }
    }

    /// The config this lessor was built with.
    pub fn config(&self) -> LessorConfig {
        self.config
    }

    /// [`effective_ttl`](crate::effective_ttl) with this lessor's minimum:
    /// what the leader puts in a grant proposal.
    pub fn effective_ttl(&self, requested_secs: i64) -> Result<i64, LeaseError> {
        crate::effective_ttl(requested_secs, self.config.min_ttl_secs)
    }

    // --- Replicated state: called on every member, in log order. ---

    /// Loads one persisted lease at start (or when installing a snapshot).
    /// `remaining_ttl_secs` is the last checkpoint, 0 if none is recorded.
    /// An ID already present is overwritten.
    ///
    /// Panics if called while primary (restore first, then promote), or on
    /// a record no grant could have produced (ID 0, TTL outside
    /// `1..=MAX_LEASE_TTL_SECS`, negative remaining): the store is corrupt.
    /// The granted TTL is not raised to the current minimum, so every
    /// member restores the same value whatever its config.
    pub fn restore(&mut self, id: LeaseId, granted_ttl_secs: i64, remaining_ttl_secs: i64) {
        assert!(
            self.primary.is_none(),
            "restore while primary: demote first"
        );
        assert!(id != NO_LEASE, "persisted lease with ID 0");
        assert!(
            granted_ttl_secs >= 1,
            "persisted lease {id} with TTL {granted_ttl_secs}"
        );
        assert!(
            granted_ttl_secs <= MAX_LEASE_TTL_SECS,
            "persisted lease {id} with TTL {granted_ttl_secs}"
        );
        assert!(
            remaining_ttl_secs >= 0,
            "persisted lease {id} with remaining {remaining_ttl_secs}"
        );
        self.leases.insert(
            id,
            LeaseRecord {
                granted_ttl_secs,
                persisted_remaining_secs: remaining_ttl_secs,
            },
        );
        self.debug_check();
    }

    /// Applies a grant from the log. `ttl_secs` is already effective (the
    /// proposer ran [`effective_ttl`](crate::effective_ttl)). If primary,
    /// the lease expires at `now_ms + ttl`; otherwise no expiry is tracked.
    ///
    /// # Errors
    ///
    /// [`LeaseError::AlreadyExists`] if the ID is in use (the state is left
    /// unchanged, so applying the same entry twice is harmless);
    /// [`LeaseError::NotFound`] for ID 0, as etcd's lessor answers.
    ///
    /// Panics if `ttl_secs` is outside `1..=MAX_LEASE_TTL_SECS`: no valid
    /// proposal carries such a TTL.
    pub fn apply_grant(
        &mut self,
        id: LeaseId,
        ttl_secs: i64,
        now_ms: u64,
    ) -> Result<(), LeaseError> {
        assert!(ttl_secs >= 1, "grant of lease {id} with TTL {ttl_secs}");
        assert!(
            ttl_secs <= MAX_LEASE_TTL_SECS,
            "grant of lease {id} with TTL {ttl_secs}"
        );
        if id == NO_LEASE {
            return Err(LeaseError::NotFound);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::AlreadyExists);
        }
        let record = LeaseRecord {
            granted_ttl_secs: ttl_secs,
            persisted_remaining_secs: 0,
        };
        self.leases.insert(id, record);
        if let Some(primary) = &mut self.primary {
            let expiry_ms = now_ms.saturating_add(secs_to_ms(ttl_secs));
            primary.track(
                id,
                record,
                now_ms,
                expiry_ms,
                self.config.checkpoint_interval_ms,
            );
        }
        self.debug_check();
        Ok(())
    }

    /// Applies a revoke from the log: the lease leaves the mirror and, if
    /// primary, both queues. Returns whether it existed (a second revoke of
    /// the same lease, e.g. a retried expiry, is a harmless `false`).
    pub fn apply_revoke(&mut self, id: LeaseId) -> bool {
        let existed = self.leases.remove(&id).is_some();
        if existed {
            if let Some(primary) = &mut self.primary {
                primary.untrack(id);
            }
        }
        self.debug_check();
        existed
    }

    /// Applies a checkpoint from the log: records `remaining_ttl_secs` as
    /// the lease's persisted remaining TTL, 0 meaning "reset to the full
    /// granted TTL". A primary's in-memory expiry is NOT changed: the
    /// primary's clock is the truth, the checkpoint only its shadow. Returns
    /// whether the lease exists (a checkpoint of a lease revoked since it
    /// was proposed is ignored; one of an earlier lease with the same ID is
    /// prevented by [`note_revoke_proposed`](Self::note_revoke_proposed)).
    ///
    /// Panics if `remaining_ttl_secs` is negative: no proposal carries one.
    pub fn apply_checkpoint(&mut self, id: LeaseId, remaining_ttl_secs: i64) -> bool {
        assert!(
            remaining_ttl_secs >= 0,
            "checkpoint of lease {id} with {remaining_ttl_secs}"
        );
        let Some(record) = self.leases.get_mut(&id) else {
            return false;
        };
        record.persisted_remaining_secs = remaining_ttl_secs;
        let record = *record;
        if let Some(primary) = &mut self.primary {
            primary.checkpoint_applied(id, record, remaining_ttl_secs);
        }
        self.debug_check();
        true
    }

    // --- Leader side. ---

    /// Makes this lessor the primary: every lease expires at
    /// `now_ms + persisted TTL × 1000 + extend_ms`, where the persisted TTL
    /// is the checkpointed remaining TTL if one is recorded, else the
    /// granted one (this is what makes the remaining TTL survive a restart
    /// or leader change). `extend_ms` (etcd passes the election timeout)
    /// gives clients time to find the new leader before anything expires.
    /// Each lease's first checkpoint comes due one interval from now.
    ///
    /// Call it only once the state machine has applied every entry of
    /// earlier terms (in Raft: the new leader's own first entry), so no
    /// older checkpoint is still on its way. Promoting while already
    /// primary starts over from the persisted state, forgetting in-memory
    /// renewals, exactly as a different new leader would.
    pub fn promote(&mut self, now_ms: u64, extend_ms: u64) {
        let mut primary = Primary::default();
        for (&id, &record) in &self.leases {
            let persisted_ms = secs_to_ms(record.persisted_ttl_secs());
            let expiry_ms = now_ms
                .saturating_add(persisted_ms)
                .saturating_add(extend_ms);
            primary.track(
                id,
                record,
                now_ms,
                expiry_ms,
                self.config.checkpoint_interval_ms,
            );
        }
        self.primary = Some(primary);
        self.debug_check();
    }

    /// Stops being primary: no expiry or checkpoints are tracked, renews
    /// fail with [`LeaseError::NotPrimary`]. A no-op on a non-primary.
    pub fn demote(&mut self) {
        self.primary = None;
    }

    /// Whether this lessor is the primary (between `promote` and `demote`).
    pub fn is_primary(&self) -> bool {
        self.primary.is_some()
    }

    /// Renews a lease on the primary (a keep-alive; never logged): it now
    /// expires at `now_ms + granted TTL`. Returns the granted TTL and
    /// whether a reset checkpoint must be proposed first (see
    /// [`ResetCheckpoint`]; a reset is asked for once, not again while it
    /// is in flight, unless a checkpoint was issued after it or it is older
    /// than `proposal_retry_ms`). The persisted mirror is left alone until
    /// the reset comes back through [`apply_checkpoint`](Self::apply_checkpoint).
    ///
    /// # Errors
    ///
    /// [`LeaseError::NotPrimary`] when not primary (checked first);
    /// [`LeaseError::NotFound`] when the lease is unknown or already at or
    /// past its expiry: an expired lease cannot be revived (etcd answers
    /// the keep-alive with TTL 0); its revoke is on its way.
    pub fn renew(&mut self, id: LeaseId, now_ms: u64) -> Result<Renewed, LeaseError> {
        let Some(primary) = &mut self.primary else {
            return Err(LeaseError::NotPrimary);
        };
        let Some(&record) = self.leases.get(&id) else {
            return Err(LeaseError::NotFound);
        };
        let renewed = primary.renew(id, record, now_ms, self.config.proposal_retry_ms);
        self.debug_check();
        renewed
    }

    /// The leases to propose revokes for: those whose expiry is at or
    /// before `now_ms`, earliest first, at most `max`. Each one returned is
    /// returned again `proposal_retry_ms` later if it has not been revoked
    /// by then (the proposal may be lost), not on the very next call. Empty
    /// when not primary or when `max == 0`.
    pub fn expired(&mut self, now_ms: u64, max: usize) -> Vec<LeaseId> {
        let retry_ms = self.config.proposal_retry_ms;
        let ids = match &mut self.primary {
            Some(primary) => primary.expired(now_ms, max, retry_ms),
            None => Vec::new(),
        };
        self.debug_check();
        ids
    }

    /// Tells the primary that a revoke of `id` is about to be proposed on a
    /// client's behalf (`LeaseRevoke`): the lease gets no more checkpoints
    /// this term. Call it before proposing the revoke. A no-op when not
    /// primary or for an unknown lease; revokes of leases returned by
    /// [`expired`](Self::expired) need no call (expired leases get no
    /// checkpoints anyway).
    ///
    /// Why: checkpoints name a lease only by ID. One issued after the revoke
    /// was proposed would land in the log after it, and after any re-grant
    /// of the same ID, and give the new lease the old one's (shorter)
    /// remaining TTL: the new lease would be cut short by a leader change.
    /// Renewals may go on; the resets they ask for are always safe. If the
    /// revoke is lost, the lease expires as usual and checkpoints resume at
    /// the next promote.
    pub fn note_revoke_proposed(&mut self, id: LeaseId) {
        if let Some(primary) = &mut self.primary {
            primary.revoke_proposed(id);
        }
        self.debug_check();
    }

    /// The checkpoints to propose: `(id, remaining TTL in seconds)` for each
    /// lease whose checkpoint is due (every `checkpoint_interval_ms` while
    /// primary, the first one an interval after grant or promote), at most
    /// `max` per call; the rest stay due for the next call.
    ///
    /// The remaining TTL is rounded UP to whole seconds, so the persisted
    /// value never understates the truth. Skipped, yet rescheduled, are
    /// leases with nothing to record (remaining, rounded up, at least the
    /// granted TTL, e.g. right after a renew). Dropped until the next
    /// promote are expired leases. Leases whose TTL is at most the interval
    /// are never scheduled: when their checkpoint would come due they have
    /// expired or been renewed anyway, and a restart gives them at most one
    /// TTL extra, no more than one interval. Empty when not primary.
    pub fn checkpoints_due(&mut self, now_ms: u64, max: usize) -> Vec<(LeaseId, i64)> {
        let interval_ms = self.config.checkpoint_interval_ms;
        let due = match &mut self.primary {
            Some(primary) => primary.checkpoints_due(&self.leases, now_ms, max, interval_ms),
            None => Vec::new(),
        };
        self.debug_check();
        due
    }

    // --- Queries. ---

    /// Whether a reset checkpoint asked for by [`renew`](Self::renew) has not
    /// been applied yet: keep-alives answered with
    /// [`ResetCheckpoint::Propose`] or [`ResetCheckpoint::InFlight`] wait
    /// until this is `false`. Always `false` when not primary or unknown.
    pub fn reset_in_flight(&self, id: LeaseId) -> bool {
        self.primary
            .as_ref()
            .is_some_and(|primary| primary.reset_in_flight(id))
    }

    /// The remaining time of a lease in milliseconds, `None` if unknown. On
    /// the primary, from its in-memory expiry (0 once expired); elsewhere,
    /// from the persisted mirror (the checkpointed remaining TTL if
    /// recorded, else the granted TTL), which does not count down.
    pub fn remaining_ms(&self, id: LeaseId, now_ms: u64) -> Option<u64> {
        let record = self.leases.get(&id)?;
        match &self.primary {
            Some(primary) => primary.remaining_ms(id, now_ms),
            None => Some(secs_to_ms(record.persisted_ttl_secs())),
        }
    }

    /// A lease's remaining and granted TTL, `None` if unknown. The
    /// remaining TTL is [`remaining_ms`](Self::remaining_ms) rounded down to
    /// seconds, like etcd's `LeaseTimeToLive` (see [`TimeToLive`]). etcd
    /// answers this query only on the leader; a follower's answer is the
    /// persisted value, which may be up to one checkpoint interval stale.
    pub fn time_to_live(&self, id: LeaseId, now_ms: u64) -> Option<TimeToLive> {
        let record = self.leases.get(&id)?;
        let remaining_ms = self.remaining_ms(id, now_ms)?;
        Some(TimeToLive {
            ttl_secs: ms_to_secs_floor(remaining_ms),
            granted_ttl_secs: record.granted_ttl_secs,
        })
    }

    /// The TTL a leader taking over now would give the lease (before
    /// `extend_ms`): the persisted remaining TTL if recorded, else the
    /// granted TTL. `None` if unknown. The same on every member.
    pub fn persisted_ttl_secs(&self, id: LeaseId) -> Option<i64> {
        self.leases
            .get(&id)
            .map(|record| record.persisted_ttl_secs())
    }

    /// Every lease ID, ascending.
    pub fn leases(&self) -> Vec<LeaseId> {
        self.leases.keys().copied().collect()
    }

    /// How many leases exist.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether no lease exists.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// The earliest instant at which [`expired`](Self::expired) or
    /// [`checkpoints_due`](Self::checkpoints_due) will have something to
    /// return, so a driver can sleep until then (and on any apply or
    /// promote, which may move it earlier). `None` when not primary or when
    /// nothing is tracked. It may be in the past: call both now.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.primary.as_ref().and_then(Primary::next_deadline_ms)
    }

    /// The full consistency check after every change, in debug builds and
    /// up to [`DEBUG_CHECK_LEASES_MAX`] leases.
    fn debug_check(&self) {
        if cfg!(debug_assertions) && self.leases.len() <= DEBUG_CHECK_LEASES_MAX {
            if let Some(primary) = &self.primary {
                primary.check_invariants(&self.leases);
            }
        }
    }
}

//! Unit tests of the lessor on a fake clock: time is just numbers, nothing
//! sleeps.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use keel_lease::{
    effective_ttl, min_ttl_secs, LeaseError, Lessor, LessorConfig, Renewed, ResetCheckpoint,
    TimeToLive, MAX_LEASE_TTL_SECS,
};

/// 10 s checkpoints, 1 s retries, 2 s minimum TTL.
fn config() -> LessorConfig {
    LessorConfig {
        checkpoint_interval_ms: 10_000,
        proposal_retry_ms: 1_000,
        min_ttl_secs: 2,
    }
}

/// A primary lessor, promoted at time 0.
fn primary() -> Lessor {
    let mut lessor = Lessor::new(config());
    lessor.promote(0, 0);
    lessor
}

fn renewed(ttl_secs: i64, reset_checkpoint: ResetCheckpoint) -> Renewed {
    Renewed {
        ttl_secs,
        reset_checkpoint,
    }
}

#[test]
fn a_lease_expires_exactly_at_grant_plus_ttl() {
    let mut lessor = primary();
    lessor.apply_grant(1, 5, 1_000).unwrap();
    assert!(lessor.expired(5_999, 10).is_empty(), "1 ms before");
    assert_eq!(lessor.expired(6_000, 10), vec![1]);
}

#[test]
fn renew_extends_the_expiry_to_now_plus_the_granted_ttl() {
    let mut lessor = primary();
    lessor.apply_grant(1, 5, 0).unwrap();
    assert_eq!(
        lessor.renew(1, 4_000),
        Ok(renewed(5, ResetCheckpoint::NotNeeded))
    );
    assert_eq!(lessor.remaining_ms(1, 4_000), Some(5_000));
    assert!(lessor.expired(8_999, 10).is_empty());
    assert_eq!(lessor.expired(9_000, 10), vec![1]);
}

#[test]
fn renew_of_an_unknown_lease_is_not_found() {
    let mut lessor = primary();
    assert_eq!(lessor.renew(9, 0), Err(LeaseError::NotFound));
}

#[test]
fn renew_of_an_expired_lease_is_not_found_even_after_expired_pushed_it_back() {
    let mut lessor = primary();
    lessor.apply_grant(1, 5, 0).unwrap();
    assert_eq!(
        lessor.renew(1, 5_000),
        Err(LeaseError::NotFound),
        "at expiry"
    );
    assert_eq!(lessor.expired(5_000, 10), vec![1]);
    // The revoke is now due at 6 000, but the lease stays dead.
    assert_eq!(lessor.renew(1, 5_500), Err(LeaseError::NotFound));
    assert_eq!(lessor.time_to_live(1, 5_500).unwrap().ttl_secs, 0);
}

#[test]
fn renew_on_a_non_primary_is_not_primary() {
    let mut lessor = Lessor::new(config());
    lessor.apply_grant(1, 5, 0).unwrap();
    assert_eq!(lessor.renew(1, 0), Err(LeaseError::NotPrimary));
    assert_eq!(
        lessor.renew(9, 0),
        Err(LeaseError::NotPrimary),
        "checked first"
    );
}

#[test]
fn effective_ttl_raises_to_the_minimum_and_rejects_too_large() {
    assert_eq!(effective_ttl(0, 2), Ok(2));
    assert_eq!(effective_ttl(-5, 2), Ok(2));
    assert_eq!(effective_ttl(1, 2), Ok(2));
    assert_eq!(effective_ttl(7, 2), Ok(7));
    assert_eq!(effective_ttl(MAX_LEASE_TTL_SECS, 2), Ok(MAX_LEASE_TTL_SECS));
    assert_eq!(
        effective_ttl(MAX_LEASE_TTL_SECS + 1, 2),
        Err(LeaseError::TtlTooLarge)
    );
    assert_eq!(effective_ttl(i64::MAX, 2), Err(LeaseError::TtlTooLarge));
    assert_eq!(Lessor::new(config()).effective_ttl(1), Ok(2));
}

#[test]
fn min_ttl_is_one_and_a_half_election_timeouts_rounded_up() {
    assert_eq!(min_ttl_secs(1_000, 100), 2, "etcd defaults: 1.5 s");
    assert_eq!(min_ttl_secs(500, 50), 1, "0.75 s");
    assert_eq!(min_ttl_secs(3_000, 300), 5, "4.5 s");
    assert_eq!(min_ttl_secs(10_000, 100), 15);
    // In ticks, as etcd: 3 ticks of 300 ms → (9 / 2) × 300 = 1 200 ms.
    assert_eq!(min_ttl_secs(1_000, 300), 2);
    assert_eq!(min_ttl_secs(1_000, 0), 2, "no tick size");
    assert_eq!(min_ttl_secs(100, 1_000), 1, "zero ticks");
    assert_eq!(min_ttl_secs(0, 0), 1);
    assert_eq!(min_ttl_secs(u64::MAX, 1), MAX_LEASE_TTL_SECS, "clamped");
}

#[test]
fn revoke_removes_a_lease_from_all_queues() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    assert_eq!(lessor.next_deadline_ms(), Some(10_000), "its checkpoint");
    assert!(lessor.apply_revoke(1));
    assert_eq!(lessor.next_deadline_ms(), None);
    assert!(lessor.expired(u64::MAX, 10).is_empty());
    assert!(lessor.checkpoints_due(u64::MAX, 10).is_empty());
    assert!(lessor.leases().is_empty());
    assert!(!lessor.apply_revoke(1), "a second revoke is a no-op");
    assert_eq!(lessor.renew(1, 0), Err(LeaseError::NotFound));
    assert_eq!(lessor.time_to_live(1, 0), None);
}

#[test]
fn no_checkpoint_of_a_lease_follows_its_revoke_into_the_log() {
    // Found by the model test: a client revoked lease 3 and granted it
    // again at once; before either was applied, the old lease's checkpoint
    // came due and was proposed. The log read revoke, grant, checkpoint(3,
    // 1 s), so the new 2 s lease was persisted with 1 s left, and a leader
    // change would have cut it short. The revoke's proposer must stop the
    // old lease's checkpoints first.
    let mut lessor = primary();
    lessor.apply_grant(3, 60, 0).unwrap();
    lessor.note_revoke_proposed(3);
    assert!(lessor.checkpoints_due(u64::MAX - 1, 10).is_empty());
    assert_eq!(lessor.next_deadline_ms(), Some(60_000), "its expiry only");
    // Renewals go on until the revoke applies; their resets are safe.
    assert!(lessor.renew(3, 1_000).is_ok());
    assert!(lessor.apply_revoke(3));
    lessor.apply_grant(3, 60, 2_000).unwrap();
    assert_eq!(
        lessor.checkpoints_due(12_000, 10),
        vec![(3, 50)],
        "the new lease is"
    );
    lessor.note_revoke_proposed(9); // Unknown: a no-op.
}

#[test]
fn revoke_on_a_non_primary_removes_the_lease() {
    let mut lessor = Lessor::new(config());
    lessor.apply_grant(1, 60, 0).unwrap();
    assert!(lessor.apply_revoke(1));
    lessor.promote(0, 0);
    assert!(lessor.is_empty());
    assert_eq!(lessor.next_deadline_ms(), None);
}

#[test]
fn expired_honours_max_and_the_retry_delay() {
    let mut lessor = primary();
    lessor.apply_grant(3, 4, 0).unwrap();
    lessor.apply_grant(1, 2, 0).unwrap();
    lessor.apply_grant(2, 3, 0).unwrap();
    assert!(lessor.expired(10_000, 0).is_empty(), "max 0");
    assert_eq!(lessor.expired(10_000, 2), vec![1, 2], "earliest first");
    assert_eq!(lessor.expired(10_000, 2), vec![3], "the rest stay due");
    assert!(lessor.expired(10_000, 2).is_empty(), "not again at once");
    assert_eq!(lessor.next_deadline_ms(), Some(11_000));
    assert!(lessor.expired(10_999, 10).is_empty());
    // Not revoked meanwhile: returned again after the retry delay.
    assert!(lessor.apply_revoke(2));
    assert_eq!(lessor.expired(11_000, 10), vec![1, 3]);
}

#[test]
fn ties_in_expiry_come_out_in_id_order() {
    let mut lessor = primary();
    for id in [5, 3, 4] {
        lessor.apply_grant(id, 2, 0).unwrap();
    }
    assert_eq!(lessor.expired(2_000, 10), vec![3, 4, 5]);
}

#[test]
fn demote_stops_expiry_and_promote_restarts_it_with_extend() {
    let mut lessor = primary();
    lessor.apply_grant(1, 5, 0).unwrap();
    lessor.demote();
    assert!(!lessor.is_primary());
    assert!(lessor.expired(100_000, 10).is_empty());
    assert!(lessor.checkpoints_due(100_000, 10).is_empty());
    assert_eq!(lessor.next_deadline_ms(), None);
    assert_eq!(lessor.renew(1, 100_000), Err(LeaseError::NotPrimary));
    // A follower's view does not count down.
    assert_eq!(lessor.remaining_ms(1, 100_000), Some(5_000));

    lessor.promote(100_000, 1_500);
    assert!(lessor.is_primary());
    assert_eq!(lessor.remaining_ms(1, 100_000), Some(6_500));
    assert!(lessor.expired(106_499, 10).is_empty());
    assert_eq!(lessor.expired(106_500, 10), vec![1]);
}

#[test]
fn promote_while_primary_starts_over_from_the_persisted_state() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    lessor.renew(1, 30_000).unwrap();
    lessor.promote(40_000, 0);
    assert_eq!(lessor.remaining_ms(1, 40_000), Some(60_000));
}

#[test]
fn checkpoints_come_due_at_the_interval_and_round_up() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    assert!(lessor.checkpoints_due(9_999, 10).is_empty());
    assert_eq!(lessor.checkpoints_due(10_000, 10), vec![(1, 50)]);
    assert!(
        lessor.checkpoints_due(10_000, 10).is_empty(),
        "next one in an interval"
    );
    assert_eq!(lessor.next_deadline_ms(), Some(20_000));
    // Polled late: the next one is an interval after this one.
    assert_eq!(
        lessor.checkpoints_due(20_500, 10),
        vec![(1, 40)],
        "39.5 s rounds up"
    );
    assert_eq!(lessor.checkpoints_due(30_500, 10), vec![(1, 30)]);
    // The checkpoint never understates the true remaining TTL.
    assert!(30_000 >= lessor.remaining_ms(1, 30_500).unwrap());
}

#[test]
fn checkpoints_are_skipped_when_nothing_changed_and_for_short_leases() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    lessor.apply_grant(2, 10, 0).unwrap(); // TTL = the interval: never checkpointed.
    assert_eq!(
        lessor.renew(1, 9_999),
        Ok(renewed(60, ResetCheckpoint::NotNeeded))
    );
    // 59.999 s rounds up to the granted 60: nothing to record.
    assert!(lessor.checkpoints_due(10_000, 10).is_empty());
    // Skipped, not dropped: due again an interval later.
    assert_eq!(lessor.checkpoints_due(20_000, 10), vec![(1, 50)]);
    lessor.renew(2, 9_000).unwrap();
    assert!(lessor
        .checkpoints_due(1_000_000, 10)
        .iter()
        .all(|&(id, _)| id != 2));
}

#[test]
fn checkpoints_due_honours_max_and_the_rest_stay_due() {
    let mut lessor = primary();
    for id in 1..=3 {
        lessor.apply_grant(id, 60, 0).unwrap();
    }
    assert_eq!(lessor.checkpoints_due(10_000, 2), vec![(1, 50), (2, 50)]);
    assert_eq!(lessor.next_deadline_ms(), Some(10_000), "lease 3 still due");
    assert_eq!(lessor.checkpoints_due(12_000, 2), vec![(3, 48)]);
}

#[test]
fn an_expired_lease_gets_no_checkpoint() {
    let mut lessor = primary();
    lessor.apply_grant(1, 12, 0).unwrap();
    assert_eq!(lessor.checkpoints_due(10_000, 10), vec![(1, 2)]);
    assert!(
        lessor.checkpoints_due(20_000, 10).is_empty(),
        "expired at 12 000"
    );
    assert_eq!(
        lessor.next_deadline_ms(),
        Some(12_000),
        "only its revoke is left"
    );
}

#[test]
fn applying_a_checkpoint_does_not_move_the_primarys_expiry() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    assert!(lessor.apply_checkpoint(1, 10));
    assert_eq!(lessor.remaining_ms(1, 0), Some(60_000));
    assert_eq!(lessor.persisted_ttl_secs(1), Some(10));
    lessor.demote();
    assert_eq!(
        lessor.time_to_live(1, 0),
        Some(TimeToLive {
            ttl_secs: 10,
            granted_ttl_secs: 60
        }),
        "a follower answers from the mirror"
    );
    assert!(!lessor.apply_checkpoint(9, 10), "unknown lease: ignored");
}

#[test]
fn restore_with_a_checkpoint_then_promote_gives_the_remaining_ttl() {
    // The "remaining TTL survives a restart or leader change" property:
    // etcd would give lease 7 its full hour again.
    let mut lessor = Lessor::new(config());
    lessor.restore(7, 3_600, 1_200);
    lessor.restore(8, 3_600, 0);
    lessor.promote(50_000, 0);
    assert_eq!(
        lessor.time_to_live(7, 50_000),
        Some(TimeToLive {
            ttl_secs: 1_200,
            granted_ttl_secs: 3_600
        })
    );
    assert_eq!(
        lessor.remaining_ms(8, 50_000),
        Some(3_600_000),
        "none recorded: full TTL"
    );
    assert!(lessor.expired(1_249_999, 10).is_empty());
    assert_eq!(lessor.expired(1_250_000, 10), vec![7]);
}

#[test]
fn the_remaining_ttl_survives_a_leader_change_end_to_end() {
    let mut leader = primary();
    let mut follower = Lessor::new(config());
    for lessor in [&mut leader, &mut follower] {
        lessor.apply_grant(1, 3_600, 0).unwrap();
    }
    let due = leader.checkpoints_due(10_000, 10);
    assert_eq!(due, vec![(1, 3_590)]);
    for lessor in [&mut leader, &mut follower] {
        assert!(lessor.apply_checkpoint(1, 3_590));
    }
    // The leader dies at 15 000; the follower takes over at 17 000.
    follower.promote(17_000, 1_000);
    assert_eq!(follower.remaining_ms(1, 17_000), Some(3_591_000));
}

#[test]
fn a_restore_record_above_the_granted_ttl_is_clamped() {
    let mut lessor = Lessor::new(config());
    lessor.restore(1, 10, 99);
    assert_eq!(lessor.persisted_ttl_secs(1), Some(10));
    lessor.promote(0, 0);
    assert_eq!(lessor.remaining_ms(1, 0), Some(10_000));
}

#[test]
fn renew_asks_for_a_reset_once_and_the_safety_rule_holds() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    assert_eq!(lessor.checkpoints_due(10_000, 10), vec![(1, 50)]);
    assert!(lessor.apply_checkpoint(1, 50));

    assert_eq!(
        lessor.renew(1, 15_000),
        Ok(renewed(60, ResetCheckpoint::Propose))
    );
    assert_eq!(
        lessor.persisted_ttl_secs(1),
        Some(50),
        "mirror waits for the log"
    );
    assert_eq!(
        lessor.renew(1, 15_100),
        Ok(renewed(60, ResetCheckpoint::InFlight))
    );

    assert!(lessor.apply_checkpoint(1, 0));
    assert_eq!(lessor.persisted_ttl_secs(1), Some(60));
    assert_eq!(
        lessor.renew(1, 16_000),
        Ok(renewed(60, ResetCheckpoint::NotNeeded))
    );
    let persisted_ms = 1_000 * lessor.persisted_ttl_secs(1).unwrap() as u64;
    assert!(persisted_ms >= lessor.remaining_ms(1, 16_000).unwrap());
}

#[test]
fn a_checkpoint_issued_after_an_in_flight_reset_needs_another_reset() {
    // The log holds the reset, then the later checkpoint: once both apply,
    // the mirror says 50 s while the client, renewed after the checkpoint
    // was issued, was promised 60 s. "Reset in flight" must not cover it,
    // and the first reset coming back must not release the second renew.
    let mut lessor = Lessor::new(LessorConfig {
        proposal_retry_ms: 60_000, // Nothing is presumed lost here.
        ..config()
    });
    lessor.promote(0, 0);
    lessor.apply_grant(1, 60, 0).unwrap();
    assert_eq!(lessor.checkpoints_due(10_000, 10), vec![(1, 50)]);
    assert!(lessor.apply_checkpoint(1, 50));
    assert_eq!(
        lessor.renew(1, 15_000),
        Ok(renewed(60, ResetCheckpoint::Propose))
    );
    assert_eq!(lessor.checkpoints_due(20_000, 10), vec![(1, 55)]);
    assert_eq!(
        lessor.renew(1, 21_000),
        Ok(renewed(60, ResetCheckpoint::Propose))
    );
    // In log order: reset, checkpoint, reset.
    assert!(lessor.apply_checkpoint(1, 0));
    assert!(
        lessor.reset_in_flight(1),
        "the second reset is still needed"
    );
    assert_eq!(
        lessor.renew(1, 22_000),
        Ok(renewed(60, ResetCheckpoint::InFlight))
    );
    assert!(lessor.apply_checkpoint(1, 55));
    assert_eq!(
        lessor.persisted_ttl_secs(1),
        Some(55),
        "short of the promise, for now"
    );
    assert!(lessor.apply_checkpoint(1, 0));
    assert!(!lessor.reset_in_flight(1));
    assert_eq!(lessor.persisted_ttl_secs(1), Some(60));
    assert_eq!(
        lessor.renew(1, 23_000),
        Ok(renewed(60, ResetCheckpoint::NotNeeded))
    );
}

#[test]
fn a_reset_unanswered_for_the_retry_delay_is_asked_for_again() {
    let mut lessor = primary();
    lessor.apply_grant(1, 60, 0).unwrap();
    assert!(lessor.apply_checkpoint(1, 50));
    assert_eq!(
        lessor.renew(1, 15_000).unwrap().reset_checkpoint,
        ResetCheckpoint::Propose
    );
    assert_eq!(
        lessor.renew(1, 15_999).unwrap().reset_checkpoint,
        ResetCheckpoint::InFlight
    );
    assert_eq!(
        lessor.renew(1, 16_000).unwrap().reset_checkpoint,
        ResetCheckpoint::Propose
    );
    // The fresh reset replaces the presumed-lost one: one apply clears both.
    assert!(lessor.apply_checkpoint(1, 0));
    assert!(!lessor.reset_in_flight(1));
    lessor.demote();
    assert!(
        !lessor.reset_in_flight(1),
        "nothing in flight on a follower"
    );
}

#[test]
fn a_recorded_checkpoint_is_reset_by_the_first_renew_after_promote() {
    let mut lessor = Lessor::new(config());
    lessor.restore(1, 60, 30);
    lessor.restore(2, 60, 0);
    lessor.promote(0, 0);
    assert_eq!(
        lessor.renew(1, 1_000).unwrap().reset_checkpoint,
        ResetCheckpoint::Propose
    );
    assert_eq!(
        lessor.renew(2, 1_000).unwrap().reset_checkpoint,
        ResetCheckpoint::NotNeeded
    );
    // A checkpoint of an earlier leader applied after promote counts too.
    assert!(lessor.apply_checkpoint(2, 40));
    assert_eq!(
        lessor.renew(2, 2_000).unwrap().reset_checkpoint,
        ResetCheckpoint::Propose
    );
}

#[test]
fn grants_reject_duplicates_and_id_zero() {
    let mut lessor = primary();
    lessor.apply_grant(2, 5, 0).unwrap();
    lessor.apply_grant(1, 5, 0).unwrap();
    assert_eq!(lessor.apply_grant(1, 9, 0), Err(LeaseError::AlreadyExists));
    assert_eq!(
        lessor.time_to_live(1, 0).unwrap().granted_ttl_secs,
        5,
        "unchanged"
    );
    assert_eq!(lessor.apply_grant(0, 5, 0), Err(LeaseError::NotFound));
    assert_eq!(lessor.leases(), vec![1, 2]);
    assert_eq!(lessor.len(), 2);
}

#[test]
fn time_to_live_rounds_down_like_etcd() {
    let mut lessor = primary();
    lessor.apply_grant(1, 5, 0).unwrap();
    let ttl = |lessor: &Lessor, now_ms| lessor.time_to_live(1, now_ms).unwrap().ttl_secs;
    assert_eq!(ttl(&lessor, 0), 5);
    assert_eq!(ttl(&lessor, 1), 4);
    assert_eq!(ttl(&lessor, 4_000), 1);
    assert_eq!(ttl(&lessor, 4_001), 0, "last second: 0, still alive");
    assert_eq!(ttl(&lessor, 9_000), 0, "expired, not yet revoked");
    assert_eq!(lessor.time_to_live(2, 0), None);
}

#[test]
fn next_deadline_is_the_earliest_expiry_or_checkpoint() {
    let mut lessor = primary();
    assert_eq!(lessor.next_deadline_ms(), None);
    lessor.apply_grant(1, 60, 0).unwrap();
    assert_eq!(
        lessor.next_deadline_ms(),
        Some(10_000),
        "checkpoint before expiry"
    );
    lessor.apply_grant(2, 5, 1_000).unwrap();
    assert_eq!(lessor.next_deadline_ms(), Some(6_000));
    assert_eq!(lessor.expired(6_000, 10), vec![2]);
    assert_eq!(lessor.next_deadline_ms(), Some(7_000), "its retry");
    assert!(lessor.apply_revoke(2));
    assert_eq!(lessor.next_deadline_ms(), Some(10_000));
}

#[test]
#[should_panic(expected = "restore while primary")]
fn restore_while_primary_is_a_bug() {
    primary().restore(1, 5, 0);
}

#[test]
#[should_panic(expected = "checkpoint interval")]
fn a_zero_checkpoint_interval_is_a_bug() {
    let _ = Lessor::new(LessorConfig {
        checkpoint_interval_ms: 0,
        ..config()
    });
}

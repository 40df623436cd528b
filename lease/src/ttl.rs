//! Lease IDs and the TTL rules: the minimum, the maximum, and the rounding
//! between milliseconds and the whole seconds etcd speaks.

use crate::LeaseError;

/// A lease ID, as etcd's `int64 ID`.
pub type LeaseId = i64;

/// The ID that means "no lease" (etcd's `NoLease`): a put with it attaches
/// nothing, and a grant with it asks the server to pick an ID. The lessor
/// never holds a lease with this ID.
pub const NO_LEASE: LeaseId = 0;

/// The largest TTL a lease may be granted, in seconds (etcd's
/// `MaxLeaseTTL`, about 285 years). It keeps `ttl × 1000` far from `u64`
/// overflow when TTLs are turned into millisecond deadlines.
pub const MAX_LEASE_TTL_SECS: i64 = 9_000_000_000;

/// The minimum lease TTL for a cluster with these Raft timings, in whole
/// seconds: 1.5 × the election timeout, rounded up, and at least 1.
///
/// Why: when the leader dies, nobody tracks expiry or accepts keep-alives
/// until a new leader is elected, which takes about one election timeout.
/// A lease shorter than that could lapse in an election that its client
/// could do nothing about; the extra half gives the client a keep-alive
/// round trip on top. This is etcd's rule, computed the way etcd does in
/// ticks: `(3 × election_ticks / 2) × heartbeat` with integer division,
/// `election_ticks = election_timeout / heartbeat`, then rounded up to
/// seconds. At etcd's defaults (1000 ms election timeout, 100 ms heartbeat)
/// that is 1500 ms, so 2 s.
///
/// Edge cases: `heartbeat_ms == 0` (no tick size) uses the election timeout
/// directly, ceil(1.5 × election); a heartbeat longer than the election
/// timeout makes zero ticks and so the floor of 1 s.
pub fn min_ttl_secs(election_timeout_ms: u64, heartbeat_ms: u64) -> i64 {
    let min_ttl_ms = match election_timeout_ms.checked_div(heartbeat_ms) {
        Some(election_ticks) => (election_ticks.saturating_mul(3) / 2).saturating_mul(heartbeat_ms),
        None => election_timeout_ms.saturating_mul(3).div_ceil(2),
    };
    let secs = min_ttl_ms.div_ceil(1000).max(1);
    // Clamped, so the cast below cannot wrap.
    secs.min(MAX_LEASE_TTL_SECS as u64) as i64
}

/// The TTL a grant actually gets: the requested one, raised to `min_ttl_secs`
/// if below it (this includes 0 and negative requests, which etcd also
/// raises rather than rejects).
///
/// # Errors
///
/// [`LeaseError::TtlTooLarge`] if `requested_secs > MAX_LEASE_TTL_SECS`
/// (checked before the minimum, as etcd does; exactly the maximum is fine).
pub fn effective_ttl(requested_secs: i64, min_ttl_secs: i64) -> Result<i64, LeaseError> {
    if requested_secs > MAX_LEASE_TTL_SECS {
        return Err(LeaseError::TtlTooLarge);
    }
    Ok(requested_secs.max(min_ttl_secs))
}

/// Whole seconds in milliseconds, for a TTL already checked to lie in
/// `0..=MAX_LEASE_TTL_SECS` (so neither the cast nor the product can wrap).
pub(crate) fn secs_to_ms(secs: i64) -> u64 {
    assert!(secs >= 0, "a TTL in seconds is never negative: {secs}");
    (secs as u64).saturating_mul(1000)
}

/// Milliseconds rounded UP to whole seconds: the rounding for values that
/// are persisted as remaining TTLs, which must never understate the truth.
pub(crate) fn ms_to_secs_ceil(ms: u64) -> i64 {
    ms.div_ceil(1000) as i64
}

/// Milliseconds rounded DOWN to whole seconds: the rounding etcd's
/// `LeaseTimeToLive` reports (`int64(Remaining().Seconds())`).
pub(crate) fn ms_to_secs_floor(ms: u64) -> i64 {
    (ms / 1000) as i64
}

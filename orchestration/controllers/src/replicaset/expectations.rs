//! Expectations: what a controller waits to see from its watch before it
//! acts again on one key, so that a slow watch never makes it create or
//! delete twice (`ControllerExpectations` and
//! `UIDTrackingControllerExpectations` in `pkg/controller/controller_utils.go`).
//!
//! ```text
//!   sync: expect_creations(key, n) / expect_deletions(key, pod keys) ─► act
//!   watch: pod added ─► creation_observed(key)
//!          pod deleted, or its deletionTimestamp set ─► deletion_observed(key, pod key)
//!   next sync: satisfied(key, now)? ── all seen, or set over 5 minutes ago ─► act again
//!                                   └─ otherwise ─► only write status
//! ```
//!
//! Time is passed in; nothing here reads a clock.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

/// How long expectations hold before the controller acts anyway (a watch
/// that dropped an event must not put a controller to sleep forever):
/// Kubernetes' `ExpectationsTimeout`, 5 minutes.
pub const EXPECTATIONS_TIMEOUT_SECS: i64 = 5 * 60;

/// What one key still waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    /// Creations not yet seen (≤ 0: none).
    creations: i64,
    /// Deletions not yet seen (≤ 0: none).
    deletions: i64,
    /// The pods (`namespace/name`) whose deletion is awaited: a deletion is
    /// counted once, whether the watch shows the deletionTimestamp or the
    /// delete.
    pods_to_delete: BTreeSet<String>,
    /// When these expectations were set.
    set_at: Timestamp,
}

/// Expectations of every controller key (`namespace/name`).
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    by_key: BTreeMap<String, Expected>,
}

impl Expectations {
    /// An empty set: every key is satisfied.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `key` may act: it expects nothing, has seen all it
    /// expected, or its expectations are older than
    /// [`EXPECTATIONS_TIMEOUT_SECS`] at `now`.
    pub fn satisfied(&self, key: &str, now: Timestamp) -> bool {
        let Some(expected) = self.by_key.get(key) else {
            return true;
        };
        let fulfilled = expected.creations <= 0 && expected.deletions <= 0;
        let expired = now.duration_since(expected.set_at)
            > SignedDuration::from_secs(EXPECTATIONS_TIMEOUT_SECS);
        fulfilled || expired
    }

    /// `key` is about to create `count` pods; it waits for their watch
    /// events (replaces earlier expectations).
    pub fn expect_creations(&mut self, key: &str, count: usize, now: Timestamp) {
        self.by_key.insert(
            key.to_owned(),
            Expected {
                creations: count as i64,
                deletions: 0,
                pods_to_delete: BTreeSet::new(),
                set_at: now,
            },
        );
    }

    /// `key` is about to delete these pods (`namespace/name` each); it
    /// waits for their deletions (replaces earlier expectations).
    pub fn expect_deletions(&mut self, key: &str, pod_keys: &[String], now: Timestamp) {
        let pods_to_delete: BTreeSet<String> = pod_keys.iter().cloned().collect();
        self.by_key.insert(
            key.to_owned(),
            Expected {
                creations: 0,
                deletions: pods_to_delete.len() as i64,
                pods_to_delete,
                set_at: now,
            },
        );
    }

    /// A pod controlled by `key` was created (the watch showed it), or a
    /// creation was skipped or failed and will never show.
    pub fn creation_observed(&mut self, key: &str) {
        if let Some(expected) = self.by_key.get_mut(key) {
            expected.creations -= 1;
        }
    }

    /// The pod `pod_key` controlled by `key` was deleted or got its
    /// deletionTimestamp (or its delete failed); counted once per pod,
    /// and only for pods `key` meant to delete.
    pub fn deletion_observed(&mut self, key: &str, pod_key: &str) {
        if let Some(expected) = self.by_key.get_mut(key) {
            if expected.pods_to_delete.remove(pod_key) {
                expected.deletions -= 1;
            }
        }
    }

    /// Forgets `key` (its controller was deleted).
    pub fn forget(&mut self, key: &str) {
        self.by_key.remove(key);
    }

    /// The number of keys with expectations held (for bounds and metrics).
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no key holds expectations.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn a_key_waits_for_every_creation_it_expects() {
        let mut expectations = Expectations::new();
        assert!(
            expectations.satisfied("ns/rs", at(0)),
            "no expectations: act"
        );
        expectations.expect_creations("ns/rs", 2, at(0));
        assert!(!expectations.satisfied("ns/rs", at(1)));
        expectations.creation_observed("ns/rs");
        assert!(
            !expectations.satisfied("ns/rs", at(2)),
            "a slow watch: still waiting"
        );
        expectations.creation_observed("ns/rs");
        assert!(expectations.satisfied("ns/rs", at(3)));
        assert!(expectations.satisfied("ns/other", at(3)));
    }

    #[test]
    fn expectations_expire_after_five_minutes() {
        let mut expectations = Expectations::new();
        expectations.expect_creations("ns/rs", 1, at(0));
        assert!(!expectations.satisfied("ns/rs", at(EXPECTATIONS_TIMEOUT_SECS)));
        assert!(expectations.satisfied("ns/rs", at(EXPECTATIONS_TIMEOUT_SECS + 1)));
    }

    #[test]
    fn a_deletion_counts_once_and_only_for_the_pods_meant() {
        let mut expectations = Expectations::new();
        let pods = vec!["ns/a".to_owned(), "ns/b".to_owned()];
        expectations.expect_deletions("ns/rs", &pods, at(0));
        expectations.deletion_observed("ns/rs", "ns/a");
        expectations.deletion_observed("ns/rs", "ns/a");
        expectations.deletion_observed("ns/rs", "ns/unrelated");
        assert!(!expectations.satisfied("ns/rs", at(1)));
        expectations.deletion_observed("ns/rs", "ns/b");
        assert!(expectations.satisfied("ns/rs", at(1)));
        expectations.forget("ns/rs");
        assert!(expectations.is_empty());
    }
}

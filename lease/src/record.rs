//! What every member knows about one lease: the replicated part.

/// The mirror of one lease's persisted record, the same on every member
/// because it only changes when a replicated command is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseRecord {
    /// The TTL the lease was granted (already raised to the minimum).
    pub(crate) granted_ttl_secs: i64,
    /// The last checkpointed remaining TTL; 0 means none recorded, i.e. the
    /// full granted TTL (etcd's `remainingTTL` convention).
    pub(crate) persisted_remaining_secs: i64,
}

impl LeaseRecord {
    /// The TTL a leader taking over now would start this lease with: the
    /// checkpointed remaining TTL if one is recorded, else the granted one.
    /// Clamped to the granted TTL, because a lease is never promised more
    /// than that, so a larger recorded value could only be an artefact.
    pub(crate) fn persisted_ttl_secs(self) -> i64 {
        if self.persisted_remaining_secs > 0 {
            self.persisted_remaining_secs.min(self.granted_ttl_secs)
        } else {
            self.granted_ttl_secs
        }
    }

    /// Whether a checkpoint below the granted TTL is recorded, i.e. a renew
    /// must be followed by a reset checkpoint before the persisted value is
    /// again at least the true remaining TTL.
    pub(crate) fn has_partial_checkpoint(self) -> bool {
        self.persisted_remaining_secs > 0 && self.persisted_remaining_secs < self.granted_ttl_secs
    }
}

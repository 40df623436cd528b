//! The lessor's one error type.

/// What can go wrong in a lessor operation: bad input or the wrong member,
/// never a broken invariant (those panic).
///
/// The messages are those of etcd's `lease` package; the gRPC code and the
/// `etcdserver: ...` wire message each maps to live in the server's error
/// table, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// No lease with that ID, or the lease is past its expiry (an expired
    /// lease cannot be revived, only revoked). Also returned for a grant of
    /// ID 0, which etcd reserves for "no lease".
    #[error("lease not found")]
    NotFound,
    /// The requested TTL is above [`MAX_LEASE_TTL_SECS`](crate::MAX_LEASE_TTL_SECS).
    #[error("too large lease TTL")]
    TtlTooLarge,
    /// A grant named an ID that is already in use.
    #[error("lease already exists")]
    AlreadyExists,
    /// A leader-only operation (keep-alive) on a member that is not the
    /// primary lessor; the caller should forward it to the leader.
    #[error("not a primary lessor")]
    NotPrimary,
}

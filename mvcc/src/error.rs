//! The store's error type. Every variant but [`MvccError::Backend`] is an
//! answer etcd gives a client; the server's error table maps each to etcd's
//! gRPC code and exact message.

use crate::backend::BackendError;

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    /// A key (of a request or a compare) is empty. etcd: `ErrGRPCEmptyKey`.
    #[error("key is not provided")]
    EmptyKey,
    /// `ignore_value` with a non-empty value. etcd: `ErrGRPCValueProvided`.
    #[error("value is provided")]
    ValueProvided,
    /// `ignore_lease` with a non-zero lease. etcd: `ErrGRPCLeaseProvided`.
    #[error("lease is provided")]
    LeaseProvided,
    /// A transaction branch or its compares exceed `max_txn_ops`.
    /// etcd: `ErrGRPCTooManyOps`.
    #[error("too many operations in txn request")]
    TooManyOps,
    /// A transaction writes one key twice, or puts a key it also deletes.
    /// etcd: `ErrGRPCDuplicateKey`.
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    /// `ignore_value` / `ignore_lease` on a key that does not exist.
    /// etcd: `ErrGRPCKeyNotFound`.
    #[error("key not found")]
    KeyNotFound,
    /// The requested revision was compacted away. etcd: `ErrCompacted`.
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    /// The requested revision is above the current one. etcd: `ErrFutureRev`.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    /// A put names a lease that does not exist, or a revoke names an
    /// unknown lease. etcd: `ErrLeaseNotFound`.
    #[error("lease not found")]
    LeaseNotFound,
    /// A grant names a lease ID that is in use. etcd: `ErrLeaseExists`.
    #[error("lease already exists")]
    LeaseExists,
    /// Storage failed; the state machine cannot go on.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl MvccError {
    /// Whether this is a storage failure rather than an answer to the request.
    pub fn is_storage(&self) -> bool {
        matches!(self, MvccError::Backend(_))
    }
}

//! The error table: every error keeld returns to a client, with the gRPC
//! code and the exact message an etcd 3.4 / 3.5 server sends for it.
//!
//! Clients recognise etcd errors by their message string (clientv3 keeps a
//! map from message to error), so a message is part of the wire contract,
//! down to the last character. [`EtcdError::code`] and
//! [`EtcdError::message`] read both from one `match`, the only place in
//! keel where codes and messages are written; `tests/error_table.rs` pins
//! every row.
//!
//! ```text
//!   MvccError ────From──┐
//!   ConvertError ─From──┼──> EtcdError ──code()/message()──> tonic::Status
//!   (lease, auth,       │
//!    cluster, raft) ────┘
//! ```
//!
//! Where etcd's versions disagree, the table follows 3.4 / 3.5, the
//! versions keel is measured against; rows that come from elsewhere say so.

use std::fmt;

use tonic::Code;

/// An error keeld reports to a client, one variant per distinct etcd answer.
///
/// All variants but [`EtcdError::Internal`] carry a fixed code and message;
/// [`EtcdError::KNOWN`] lists them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    // ---- Request validation and MVCC ----
    /// A request (or a compare of a transaction) names an empty key.
    EmptyKey,
    /// A put asked to keep the current value or lease of a key that does
    /// not exist.
    KeyNotFound,
    /// A put set `ignore_value` yet also carried a value.
    ValueProvided,
    /// A put set `ignore_lease` yet also carried a lease.
    LeaseProvided,
    /// A transaction has more compares, or a branch more operations, than
    /// the server's limit (`--max-txn-ops`).
    TooManyOps,
    /// A transaction writes the same key twice, or puts a key it deletes.
    DuplicateKey,
    /// A range asked for a sort order or sort target outside the enums.
    /// etcd 3.4 / 3.5 do not check this; the row is etcd 3.6's.
    InvalidSortOption,
    /// The revision asked for has been compacted away.
    Compacted,
    /// The revision asked for is above the store's current revision.
    FutureRev,
    /// The backend quota is used up; writes are refused until an operator
    /// compacts, defragments and disarms the NOSPACE alarm.
    NoSpace,

    // ---- Leases ----
    /// No lease has the given ID.
    LeaseNotFound,
    /// A grant asked for an ID that is already in use.
    LeaseExist,
    /// A grant asked for a TTL above the maximum (9 000 000 000 s).
    LeaseTTLTooLarge,

    // ---- Cluster membership ----
    /// A member with that ID is already in the cluster.
    MemberExist,
    /// Another member already advertises one of these peer URLs.
    PeerURLExist,
    /// Too few members are started for the change to keep a quorum.
    ///
    /// etcd's server hands this one to gRPC without a status, so a real
    /// etcd puts code Unknown on the wire; clients restore the code below
    /// from the message.
    MemberNotEnoughStarted,
    /// A member's URLs do not parse.
    MemberBadURLs,
    /// No member has that ID (or it was removed).
    MemberNotFound,
    /// Only a learner can be promoted.
    MemberNotLearner,
    /// The learner has not caught up with the leader enough to be promoted.
    LearnerNotReady,
    /// The cluster already has as many learners as it allows.
    TooManyLearners,

    // ---- Load limits ----
    /// The request is larger than `--max-request-bytes`.
    RequestTooLarge,
    /// Too many proposals are waiting to be applied; the server sheds load.
    ///
    /// As with [`EtcdError::MemberNotEnoughStarted`], a real etcd puts code
    /// Unknown on the wire and clients restore the code below.
    TooManyRequests,

    // ---- Authentication and authorisation ----
    /// Auth cannot be enabled without a `root` user.
    RootUserNotExist,
    /// Auth cannot be enabled while `root` lacks the `root` role.
    RootRoleNotExist,
    /// A user of that name already exists.
    UserAlreadyExist,
    /// A user name is empty.
    UserEmpty,
    /// No user has that name.
    UserNotFound,
    /// A role of that name already exists.
    RoleAlreadyExist,
    /// No role has that name.
    RoleNotFound,
    /// A role name is empty.
    RoleEmpty,
    /// The user name or password is wrong.
    AuthFailed,
    /// A password was given for a user created without one. etcd sends it
    /// unmapped: code Unknown and the auth store's own message.
    NoPasswordUser,
    /// A grant-permission request carried no permission. (etcd 3.5.)
    PermissionNotGiven,
    /// The caller's roles do not allow the operation on these keys.
    PermissionDenied,
    /// The user does not have the role being revoked.
    RoleNotGranted,
    /// The role does not have the permission being revoked.
    PermissionNotGranted,
    /// An auth operation needs auth to be enabled.
    AuthNotEnabled,
    /// The token is unknown, expired or malformed.
    InvalidAuthToken,
    /// The operation would break auth management, such as revoking the
    /// `root` role from `root` while auth is on.
    InvalidAuthMgmt,
    /// The token was issued before the auth store last changed, so its
    /// permissions may be stale. (etcd 3.5.)
    AuthOldRevision,

    // ---- Raft, leadership and server state ----
    /// The member knows of no leader, so it cannot serve the request.
    NoLeader,
    /// The request must go to the leader and this member is not it.
    NotLeader,
    /// Leadership changed while the request was in flight.
    LeaderChanged,
    /// The cluster version is too old for the request.
    NotCapable,
    /// The server is shutting down.
    Stopped,
    /// The request did not commit in time.
    Timeout,
    /// The request did not commit in time, probably because the previous
    /// leader failed.
    TimeoutDueToLeaderFail,
    /// The request did not commit in time, probably because a connection
    /// to a peer was lost.
    TimeoutDueToConnectionLost,
    /// A linearizable read waited too long for the state machine to apply
    /// up to its read index. (etcd 3.5.)
    TimeoutWaitAppliedIndex,
    /// A leader transfer did not finish in time. etcd sends it unmapped,
    /// with code Unknown.
    TimeoutLeaderTransfer,
    /// The cluster is not healthy enough for the request (for example,
    /// removing a member would lose quorum).
    Unhealthy,
    /// Members disagree about the data: the cluster is corrupt.
    Corrupt,
    /// A learner may only serve Status and serializable reads.
    NotSupportedForLearner,
    /// The member named to take over leadership cannot.
    BadLeaderTransferee,

    // ---- Downgrades (etcd 3.5) ----
    /// The cluster version is not known, so no downgrade can be planned.
    ClusterVersionUnavailable,
    /// The downgrade target is not a `major.minor` version.
    WrongDowngradeVersionFormat,
    /// The downgrade target is not one minor version below the cluster's.
    InvalidDowngradeTargetVersion,
    /// A downgrade is already under way.
    DowngradeInProcess,
    /// There is no downgrade to cancel.
    NoInflightDowngrade,

    // ---- Election service ----
    /// Proclaim or Resign came without a leader key.
    ElectionLeaderKeyMissing,
    /// Proclaim or Resign came with a leader key that no longer leads.
    ElectionNotLeader,
    /// The election has no leader.
    ElectionNoLeader,

    // ---- Anything else ----
    /// A failure with no etcd counterpart, such as a storage error. Like
    /// etcd, keel sends it with code Unknown and the failure's own text.
    Internal(String),
    /// The leader's answer to a forwarded request: its code and message,
    /// relayed to the client as they are (the leader took them from this
    /// table).
    Relayed {
        /// The gRPC code, as a number.
        code: i32,
        /// The message.
        message: String,
    },
}

impl EtcdError {
    /// Every variant whose code and message are fixed: all but
    /// [`EtcdError::Internal`], in table order.
    pub const KNOWN: &'static [EtcdError] = &[
        EtcdError::EmptyKey,
        EtcdError::KeyNotFound,
        EtcdError::ValueProvided,
        EtcdError::LeaseProvided,
        EtcdError::TooManyOps,
        EtcdError::DuplicateKey,
        EtcdError::InvalidSortOption,
        EtcdError::Compacted,
        EtcdError::FutureRev,
        EtcdError::NoSpace,
        EtcdError::LeaseNotFound,
        EtcdError::LeaseExist,
        EtcdError::LeaseTTLTooLarge,
        EtcdError::MemberExist,
        EtcdError::PeerURLExist,
        EtcdError::MemberNotEnoughStarted,
        EtcdError::MemberBadURLs,
        EtcdError::MemberNotFound,
        EtcdError::MemberNotLearner,
        EtcdError::LearnerNotReady,
        EtcdError::TooManyLearners,
        EtcdError::RequestTooLarge,
        EtcdError::TooManyRequests,
        EtcdError::RootUserNotExist,
        EtcdError::RootRoleNotExist,
        EtcdError::UserAlreadyExist,
        EtcdError::UserEmpty,
        EtcdError::UserNotFound,
        EtcdError::RoleAlreadyExist,
        EtcdError::RoleNotFound,
        EtcdError::RoleEmpty,
        EtcdError::AuthFailed,
        EtcdError::NoPasswordUser,
        EtcdError::PermissionNotGiven,
        EtcdError::PermissionDenied,
        EtcdError::RoleNotGranted,
        EtcdError::PermissionNotGranted,
        EtcdError::AuthNotEnabled,
        EtcdError::InvalidAuthToken,
        EtcdError::InvalidAuthMgmt,
        EtcdError::AuthOldRevision,
        EtcdError::NoLeader,
        EtcdError::NotLeader,
        EtcdError::LeaderChanged,
        EtcdError::NotCapable,
        EtcdError::Stopped,
        EtcdError::Timeout,
        EtcdError::TimeoutDueToLeaderFail,
        EtcdError::TimeoutDueToConnectionLost,
        EtcdError::TimeoutWaitAppliedIndex,
        EtcdError::TimeoutLeaderTransfer,
        EtcdError::Unhealthy,
        EtcdError::Corrupt,
        EtcdError::NotSupportedForLearner,
        EtcdError::BadLeaderTransferee,
        EtcdError::ClusterVersionUnavailable,
        EtcdError::WrongDowngradeVersionFormat,
        EtcdError::InvalidDowngradeTargetVersion,
        EtcdError::DowngradeInProcess,
        EtcdError::NoInflightDowngrade,
        EtcdError::ElectionLeaderKeyMissing,
        EtcdError::ElectionNotLeader,
        EtcdError::ElectionNoLeader,
    ];

    /// The gRPC status code etcd answers with.
    pub fn code(&self) -> Code {
        self.wire().0
    }

    /// The exact message etcd answers with.
    pub fn message(&self) -> &str {
        self.wire().1
    }

    /// The table: the only place codes and messages are written. One row
    /// per line, so rustfmt is told to leave it alone.
    #[rustfmt::skip]
    fn wire(&self) -> (Code, &str) {
        use EtcdError as E;
        match self {
            E::EmptyKey => (Code::InvalidArgument, "etcdserver: key is not provided"),
            E::KeyNotFound => (Code::InvalidArgument, "etcdserver: key not found"),
            E::ValueProvided => (Code::InvalidArgument, "etcdserver: value is provided"),
            E::LeaseProvided => (Code::InvalidArgument, "etcdserver: lease is provided"),
            E::TooManyOps => (Code::InvalidArgument, "etcdserver: too many operations in txn request"),
            E::DuplicateKey => (Code::InvalidArgument, "etcdserver: duplicate key given in txn request"),
            E::InvalidSortOption => (Code::InvalidArgument, "etcdserver: invalid sort option"),
            E::Compacted => (Code::OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
            E::FutureRev => (Code::OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
            E::NoSpace => (Code::ResourceExhausted, "etcdserver: mvcc: database space exceeded"),

            E::LeaseNotFound => (Code::NotFound, "etcdserver: requested lease not found"),
            E::LeaseExist => (Code::FailedPrecondition, "etcdserver: lease already exists"),
            E::LeaseTTLTooLarge => (Code::OutOfRange, "etcdserver: too large lease TTL"),

            E::MemberExist => (Code::FailedPrecondition, "etcdserver: member ID already exist"),
            E::PeerURLExist => (Code::FailedPrecondition, "etcdserver: Peer URLs already exists"),
            E::MemberNotEnoughStarted => (Code::FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members"),
            E::MemberBadURLs => (Code::InvalidArgument, "etcdserver: given member URLs are invalid"),
            E::MemberNotFound => (Code::NotFound, "etcdserver: member not found"),
            E::MemberNotLearner => (Code::FailedPrecondition, "etcdserver: can only promote a learner member"),
            E::LearnerNotReady => (Code::FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader"),
            E::TooManyLearners => (Code::FailedPrecondition, "etcdserver: too many learner members in cluster"),

            E::RequestTooLarge => (Code::InvalidArgument, "etcdserver: request is too large"),
            E::TooManyRequests => (Code::ResourceExhausted, "etcdserver: too many requests"),

            E::RootUserNotExist => (Code::FailedPrecondition, "etcdserver: root user does not exist"),
            E::RootRoleNotExist => (Code::FailedPrecondition, "etcdserver: root user does not have root role"),
            E::UserAlreadyExist => (Code::FailedPrecondition, "etcdserver: user name already exists"),
            E::UserEmpty => (Code::InvalidArgument, "etcdserver: user name is empty"),
            E::UserNotFound => (Code::FailedPrecondition, "etcdserver: user name not found"),
            E::RoleAlreadyExist => (Code::FailedPrecondition, "etcdserver: role name already exists"),
            E::RoleNotFound => (Code::FailedPrecondition, "etcdserver: role name not found"),
            E::RoleEmpty => (Code::InvalidArgument, "etcdserver: role name is empty"),
            E::AuthFailed => (Code::InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
            E::NoPasswordUser => (Code::Unknown, "auth: authentication failed, password was given for no password user"),
            E::PermissionNotGiven => (Code::InvalidArgument, "etcdserver: permission not given"),
            E::PermissionDenied => (Code::PermissionDenied, "etcdserver: permission denied"),
            E::RoleNotGranted => (Code::FailedPrecondition, "etcdserver: role is not granted to the user"),
            E::PermissionNotGranted => (Code::FailedPrecondition, "etcdserver: permission is not granted to the role"),
            E::AuthNotEnabled => (Code::FailedPrecondition, "etcdserver: authentication is not enabled"),
            E::InvalidAuthToken => (Code::Unauthenticated, "etcdserver: invalid auth token"),
            E::InvalidAuthMgmt => (Code::InvalidArgument, "etcdserver: invalid auth management"),
            E::AuthOldRevision => (Code::InvalidArgument, "etcdserver: revision of auth store is old"),

            E::NoLeader => (Code::Unavailable, "etcdserver: no leader"),
            E::NotLeader => (Code::FailedPrecondition, "etcdserver: not leader"),
            E::LeaderChanged => (Code::Unavailable, "etcdserver: leader changed"),
            E::NotCapable => (Code::Unavailable, "etcdserver: not capable"),
            E::Stopped => (Code::Unavailable, "etcdserver: server stopped"),
            E::Timeout => (Code::Unavailable, "etcdserver: request timed out"),
            E::TimeoutDueToLeaderFail => (Code::Unavailable, "etcdserver: request timed out, possibly due to previous leader failure"),
            E::TimeoutDueToConnectionLost => (Code::Unavailable, "etcdserver: request timed out, possibly due to connection lost"),
            E::TimeoutWaitAppliedIndex => (Code::Unavailable, "etcdserver: request timed out, waiting for the applied index took too long"),
            E::TimeoutLeaderTransfer => (Code::Unknown, "etcdserver: request timed out, leader transfer took too long"),
            E::Unhealthy => (Code::Unavailable, "etcdserver: unhealthy cluster"),
            E::Corrupt => (Code::DataLoss, "etcdserver: corrupt cluster"),
            E::NotSupportedForLearner => (Code::Unavailable, "etcdserver: rpc not supported for learner"),
            E::BadLeaderTransferee => (Code::FailedPrecondition, "etcdserver: bad leader transferee"),

            E::ClusterVersionUnavailable => (Code::Unavailable, "etcdserver: cluster version not found during downgrade"),
            E::WrongDowngradeVersionFormat => (Code::InvalidArgument, "etcdserver: wrong downgrade target version format"),
            E::InvalidDowngradeTargetVersion => (Code::InvalidArgument, "etcdserver: invalid downgrade target version"),
            E::DowngradeInProcess => (Code::FailedPrecondition, "etcdserver: cluster has a downgrade job in progress"),
            E::NoInflightDowngrade => (Code::FailedPrecondition, "etcdserver: no inflight downgrade job"),

            E::ElectionLeaderKeyMissing => (Code::Unknown, "\"leader\" field must be provided"),
            E::ElectionNotLeader => (Code::Unknown, "election: not leader"),
            E::ElectionNoLeader => (Code::Unknown, "election: no leader"),

            E::Internal(message) => (Code::Unknown, message),
            E::Relayed { code, message } => (Code::from_i32(*code), message),
        }
    }

    /// The error a peer's gRPC status stands for: a known row of the table
    /// when the message is one, else the status relayed as it is. A
    /// transport failure (the leader went away mid-request) is etcd's
    /// "connection lost" timeout, since the outcome is unknown; but a
    /// leader that could not even be dialled (it died, and no new one is
    /// known yet) got nothing, which is "no leader": clients may send the
    /// request again elsewhere without risk of applying it twice.
    pub fn relayed(status: &tonic::Status) -> Self {
        if never_reached_peer(status) {
            return EtcdError::NoLeader;
        }
        if let Some(known) = Self::KNOWN
            .iter()
            .find(|known| known.message() == status.message() && known.code() == status.code())
        {
            return known.clone();
        }
        if status.code() == Code::Unavailable && !status.message().starts_with("etcdserver:") {
            return EtcdError::TimeoutDueToConnectionLost;
        }
        EtcdError::Relayed {
            code: status.code() as i32,
            message: status.message().to_string(),
        }
    }
}

/// Whether a peer request failed while dialling the peer, before any of it
/// was sent: tonic puts a `ConnectError` in such a status' source chain.
#[cfg(not(madsim))]
fn never_reached_peer(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The simulated transport has no `ConnectError`; every failure there
/// counts as possibly delivered.
#[cfg(madsim)]
fn never_reached_peer(_status: &tonic::Status) -> bool {
    false
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<EtcdError> for tonic::Status {
    fn from(error: EtcdError) -> Self {
        tonic::Status::new(error.code(), error.message())
    }
}

impl From<keel_mvcc::MvccError> for EtcdError {
    fn from(error: keel_mvcc::MvccError) -> Self {
        use keel_mvcc::MvccError as M;
        match error {
            M::EmptyKey => EtcdError::EmptyKey,
            M::ValueProvided => EtcdError::ValueProvided,
            M::LeaseProvided => EtcdError::LeaseProvided,
            M::TooManyOps => EtcdError::TooManyOps,
            M::DuplicateKey => EtcdError::DuplicateKey,
            M::KeyNotFound => EtcdError::KeyNotFound,
            M::Compacted => EtcdError::Compacted,
            M::FutureRevision => EtcdError::FutureRev,
            M::LeaseNotFound => EtcdError::LeaseNotFound,
            M::LeaseExists => EtcdError::LeaseExist,
            M::Backend(backend) => EtcdError::Internal(backend.to_string()),
        }
    }
}

impl From<crate::convert::ConvertError> for EtcdError {
    fn from(error: crate::convert::ConvertError) -> Self {
        use crate::convert::ConvertError as C;
        match error {
            C::InvalidSortOption => EtcdError::InvalidSortOption,
            // etcd answers a `RequestOp` that carries no request this way.
            C::EmptyRequestOp => EtcdError::KeyNotFound,
            // etcd has no answer for these (it quietly evaluates an unknown
            // compare), so they go out as a failure of keel's own: code
            // Unknown with the converter's text.
            C::InvalidCompareResult | C::InvalidCompareTarget => {
                EtcdError::Internal(error.to_string())
            }
        }
    }
}

#[cfg(test)]
mod relayed_tests {
    use super::*;

    #[cfg(not(madsim))]
    #[test]
    fn a_leader_that_could_not_be_dialled_is_no_leader() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let status = tonic::Status::from_error(Box::new(tonic::ConnectError(Box::new(refused))));
        assert_eq!(EtcdError::relayed(&status), EtcdError::NoLeader);
    }

    #[test]
    fn a_connection_lost_mid_request_is_an_unknown_outcome() {
        let status = tonic::Status::unavailable("connection reset");
        assert_eq!(
            EtcdError::relayed(&status),
            EtcdError::TimeoutDueToConnectionLost
        );
        let known = tonic::Status::from(EtcdError::LeaderChanged);
        assert_eq!(EtcdError::relayed(&known), EtcdError::LeaderChanged);
    }
}

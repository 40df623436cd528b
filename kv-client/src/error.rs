//! What can go wrong with a request, and which failures may be retried.
//!
//! A request ends in one of three ways, and the client never confuses them:
//!
//! - it **succeeded**;
//! - it **failed** and had no effect: the server refused it
//!   ([`Error::Server`]), or no member could take it before the deadline
//!   ([`Error::Unavailable`]);
//! - its **outcome is unknown** ([`Error::UnknownOutcome`]): a write was sent
//!   and the connection broke, the leader changed, or the deadline passed
//!   before an answer came. The write may have been applied or not; only a
//!   later read can tell.
//!
//! [`judge`] is the one place that decides, per failed attempt, whether the
//! client may try again on another member. It is a plain function over the
//! attempt's gRPC status and the request's [`Safety`], so its rules are
//! unit-tested without a server.

use std::error::Error as _;

use tonic::{Code, Status};

/// Whether a request may be sent twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Safety {
    /// Running it twice is the same as running it once: reads, status
    /// queries, keep-alives. Retried after any transient failure.
    Idempotent,
    /// Running it twice may differ from running it once: puts, deletes,
    /// transactions, lease grants. Retried only when the failed attempt
    /// provably had no effect.
    Mutating,
}

/// The client's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request; it had no effect. `status` carries
    /// etcd's code and message (`etcdserver: ...`); [`Error::etcd`] names
    /// the ones clients react to.
    #[error("{}", .status.message())]
    Server {
        /// The server's answer.
        status: Status,
    },
    /// No member took the request before its deadline, so it had no effect:
    /// every endpoint was down, or said there is no leader.
    #[error("no endpoint of [{}] could serve the request ({attempts} attempts); the last said: {}", .endpoints.join(","), .last.message())]
    Unavailable {
        /// The endpoints that were tried.
        endpoints: Vec<String>,
        /// How many attempts were made.
        attempts: u32,
        /// What the last attempt got back.
        last: Status,
    },
    /// The request was sent and may or may not have been applied. Read the
    /// affected keys to find out before trying again.
    #[error("the outcome of the request is unknown (endpoint {endpoint}): {}", .status.message())]
    UnknownOutcome {
        /// The endpoint the request was last sent to.
        endpoint: String,
        /// What ended the attempt.
        status: Status,
    },
    /// A watch asked for history that compaction removed. Relist at the
    /// current revision and watch from there.
    #[error(
        "required revision {requested} has been compacted; the oldest kept is {compact_revision}"
    )]
    Compacted {
        /// The revision that was asked for.
        requested: i64,
        /// The compaction revision: the oldest revision still kept.
        compact_revision: i64,
    },
    /// A lease that the client was keeping alive is gone: it expired or was
    /// revoked.
    #[error("lease {id:x} expired or was revoked")]
    LeaseLost {
        /// The lease's ID.
        id: i64,
    },
    /// The caller passed something the client cannot send.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An endpoint is not a URL the client can dial.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// The etcd errors a client program commonly reacts to, recognised by
/// etcd's exact message (as etcd's own clients do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdError {
    /// `etcdserver: mvcc: required revision has been compacted`
    Compacted,
    /// `etcdserver: mvcc: required revision is a future revision`
    FutureRevision,
    /// `etcdserver: requested lease not found`
    LeaseNotFound,
    /// `etcdserver: mvcc: database space exceeded`
    NoSpace,
    /// `etcdserver: request is too large`
    RequestTooLarge,
    /// `etcdserver: too many requests`
    TooManyRequests,
    /// `etcdserver: key not found`
    KeyNotFound,
    /// `etcdserver: too many operations in txn request`
    TooManyOps,
    /// `etcdserver: duplicate key given in txn request`
    DuplicateKey,
    /// `etcdserver: member not found`
    MemberNotFound,
    /// `etcdserver: rpc not supported for learner`
    NotSupportedForLearner,
    /// `etcdserver: no leader`
    NoLeader,
    /// `etcdserver: not leader`
    NotLeader,
}

/// etcd's messages for [`EtcdError`], one row each.
const ETCD_MESSAGES: [(&str, EtcdError); 13] = [
    (
        "etcdserver: mvcc: required revision has been compacted",
        EtcdError::Compacted,
    ),
    (
        "etcdserver: mvcc: required revision is a future revision",
        EtcdError::FutureRevision,
    ),
    (
        "etcdserver: requested lease not found",
        EtcdError::LeaseNotFound,
    ),
    (
        "etcdserver: mvcc: database space exceeded",
        EtcdError::NoSpace,
    ),
    (
        "etcdserver: request is too large",
        EtcdError::RequestTooLarge,
    ),
    ("etcdserver: too many requests", EtcdError::TooManyRequests),
    ("etcdserver: key not found", EtcdError::KeyNotFound),
    (
        "etcdserver: too many operations in txn request",
        EtcdError::TooManyOps,
    ),
    (
        "etcdserver: duplicate key given in txn request",
        EtcdError::DuplicateKey,
    ),
    ("etcdserver: member not found", EtcdError::MemberNotFound),
    (
        "etcdserver: rpc not supported for learner",
        EtcdError::NotSupportedForLearner,
    ),
    ("etcdserver: no leader", EtcdError::NoLeader),
    ("etcdserver: not leader", EtcdError::NotLeader),
];

impl EtcdError {
    /// The known error a server's message stands for.
    pub fn from_message(message: &str) -> Option<Self> {
        ETCD_MESSAGES
            .iter()
            .find(|(known, _)| *known == message)
            .map(|(_, error)| *error)
    }
}

impl Error {
    /// The etcd error the server answered with, when it is one of the
    /// known ones.
    pub fn etcd(&self) -> Option<EtcdError> {
        match self {
            Error::Server { status } => EtcdError::from_message(status.message()),
            _ => None,
        }
    }

    /// The gRPC status behind this error, when there is one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Server { status }
            | Error::UnknownOutcome { status, .. }
            | Error::Unavailable { last: status, .. } => Some(status),
            _ => None,
        }
    }

    /// Whether the request may have been applied.
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(self, Error::UnknownOutcome { .. })
    }
}

/// What to do after one failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The attempt had no effect and another member may serve it: try the
    /// next endpoint.
    TryNext,
    /// The attempt may have had effect and may not be repeated.
    Unknown,
    /// The server refused the request for good.
    Refused,
}

/// Decides what one failed attempt means (see the module docs).
///
/// - The connection could not be made: nothing was sent, try the next
///   member.
/// - A member said there is no leader, that it is not the leader, or that
///   a learner cannot serve this: keel and etcd say so before proposing
///   anything, so nothing was applied; try the next member.
/// - The connection broke after the request went out, a deadline passed,
///   or the server answered with a transient `Unavailable` (leader
///   changed, request timed out): a read tries again, a write's outcome
///   is unknown.
/// - Anything else the server said is its final answer.
pub(crate) fn judge(status: &Status, safety: Safety) -> Verdict {
    if never_sent(status) {
        return Verdict::TryNext;
    }
    if let Some(EtcdError::NoLeader | EtcdError::NotLeader | EtcdError::NotSupportedForLearner) =
        EtcdError::from_message(status.message())
    {
        return Verdict::TryNext;
    }
    let transient = made_by_transport(status)
        || matches!(
            status.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
        );
    match (transient, safety) {
        (false, _) => Verdict::Refused,
        (true, Safety::Idempotent) => Verdict::TryNext,
        (true, Safety::Mutating) => Verdict::Unknown,
    }
}

/// Whether the attempt failed while connecting, before any byte of the
/// request left the client. tonic marks such failures with a
/// `ConnectError` in the status' source chain.
#[cfg(not(madsim))]
fn never_sent(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether the status was made on the client's side from a transport
/// failure (a reset connection, a broken HTTP/2 stream, a local timeout)
/// rather than sent by a server: tonic keeps the underlying error as the
/// source of such statuses, and a status decoded from a server's trailers
/// has none.
fn made_by_transport(status: &Status) -> bool {
    status.source().is_some() || simulated_transport_failure(status)
}

/// madsim's simulated tonic turns a refused connection into a plain
/// `Unavailable` status without a source.
#[cfg(madsim)]
fn never_sent(status: &Status) -> bool {
    status.code() == Code::Unavailable && status.message().contains("connection refused")
}

/// madsim's simulated tonic reports a connection that broke mid-request
/// with this fixed message and no source.
#[cfg(madsim)]
fn simulated_transport_failure(status: &Status) -> bool {
    status
        .message()
        .starts_with("error reading a body from connection")
}

#[cfg(not(madsim))]
fn simulated_transport_failure(_status: &Status) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(madsim))]
    fn connect_failure() -> Status {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        Status::from_error(Box::new(tonic::ConnectError(Box::new(refused))))
    }

    fn broken_connection() -> Status {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let mut status = Status::unknown("transport error");
        status.set_source(std::sync::Arc::new(reset));
        status
    }

    #[cfg(not(madsim))]
    #[test]
    fn a_connection_that_was_never_made_is_retried_even_for_writes() {
        let status = connect_failure();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(judge(&status, Safety::Mutating), Verdict::TryNext);
        assert_eq!(judge(&status, Safety::Idempotent), Verdict::TryNext);
    }

    #[test]
    fn no_leader_and_not_leader_are_retried_elsewhere_even_for_writes() {
        let no_leader = Status::unavailable("etcdserver: no leader");
        let not_leader = Status::failed_precondition("etcdserver: not leader");
        let learner = Status::unavailable("etcdserver: rpc not supported for learner");
        for status in [no_leader, not_leader, learner] {
            assert_eq!(judge(&status, Safety::Mutating), Verdict::TryNext);
        }
    }

    #[test]
    fn a_write_cut_off_mid_flight_has_an_unknown_outcome_and_a_read_is_retried() {
        let status = broken_connection();
        assert_eq!(judge(&status, Safety::Mutating), Verdict::Unknown);
        assert_eq!(judge(&status, Safety::Idempotent), Verdict::TryNext);
        let leader_changed = Status::unavailable("etcdserver: leader changed");
        assert_eq!(judge(&leader_changed, Safety::Mutating), Verdict::Unknown);
        let timed_out = Status::deadline_exceeded("context deadline exceeded");
        assert_eq!(judge(&timed_out, Safety::Mutating), Verdict::Unknown);
    }

    #[test]
    fn a_server_refusal_is_final_for_reads_and_writes() {
        let compacted =
            Status::out_of_range("etcdserver: mvcc: required revision has been compacted");
        assert_eq!(judge(&compacted, Safety::Idempotent), Verdict::Refused);
        let too_large = Status::invalid_argument("etcdserver: request is too large");
        assert_eq!(judge(&too_large, Safety::Mutating), Verdict::Refused);
        // An Unknown status sent by the server (no local source) is an
        // answer, not a transport failure.
        let election = Status::unknown("election: not leader");
        assert_eq!(judge(&election, Safety::Idempotent), Verdict::Refused);
    }

    #[test]
    fn known_messages_are_named() {
        let error = Error::Server {
            status: Status::not_found("etcdserver: requested lease not found"),
        };
        assert_eq!(error.etcd(), Some(EtcdError::LeaseNotFound));
        let other = Error::Server {
            status: Status::unknown("something else"),
        };
        assert_eq!(other.etcd(), None);
        for (message, known) in ETCD_MESSAGES {
            assert_eq!(EtcdError::from_message(message), Some(known));
        }
    }
}

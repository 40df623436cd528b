//! Golden test of the error table. Clients match etcd errors by their exact
//! message, so each row below is copied by hand from etcd's sources (3.4 /
//! 3.5 `rpctypes/error.go` and the unmapped server errors) and must not be
//! changed to make a test pass: a failure here means the wire contract
//! moved.

use std::collections::HashSet;

use keel_mvcc::backend::BackendError;
use keel_mvcc::MvccError;
use keel_server::convert::ConvertError;
use keel_server::error::EtcdError;

/// How many variants have a fixed code and message. Adding a variant breaks
/// the build at `golden` below; after adding its row there, bump this, and
/// the test checks that `EtcdError::KNOWN` lists it too.
const KNOWN_VARIANTS: usize = 63;

/// The expected gRPC code (by name) and exact message of each variant.
/// The `match` has no wildcard, so a new variant cannot go unpinned.
#[rustfmt::skip]
fn golden(error: &EtcdError) -> (&'static str, &'static str) {
    use EtcdError as E;
    match error {
        E::EmptyKey => ("InvalidArgument", "etcdserver: key is not provided"),
        E::KeyNotFound => ("InvalidArgument", "etcdserver: key not found"),
        E::ValueProvided => ("InvalidArgument", "etcdserver: value is provided"),
        E::LeaseProvided => ("InvalidArgument", "etcdserver: lease is provided"),
        E::TooManyOps => ("InvalidArgument", "etcdserver: too many operations in txn request"),
        E::DuplicateKey => ("InvalidArgument", "etcdserver: duplicate key given in txn request"),
        E::InvalidSortOption => ("InvalidArgument", "etcdserver: invalid sort option"),
        E::Compacted => ("OutOfRange", "etcdserver: mvcc: required revision has been compacted"),
        E::FutureRev => ("OutOfRange", "etcdserver: mvcc: required revision is a future revision"),
        E::NoSpace => ("ResourceExhausted", "etcdserver: mvcc: database space exceeded"),
        E::LeaseNotFound => ("NotFound", "etcdserver: requested lease not found"),
        E::LeaseExist => ("FailedPrecondition", "etcdserver: lease already exists"),
        E::LeaseTTLTooLarge => ("OutOfRange", "etcdserver: too large lease TTL"),
        E::MemberExist => ("FailedPrecondition", "etcdserver: member ID already exist"),
        E::PeerURLExist => ("FailedPrecondition", "etcdserver: Peer URLs already exists"),
        E::MemberNotEnoughStarted => ("FailedPrecondition", "etcdserver: re-configuration failed due to not enough started members"),
        E::MemberBadURLs => ("InvalidArgument", "etcdserver: given member URLs are invalid"),
        E::MemberNotFound => ("NotFound", "etcdserver: member not found"),
        E::MemberNotLearner => ("FailedPrecondition", "etcdserver: can only promote a learner member"),
        E::LearnerNotReady => ("FailedPrecondition", "etcdserver: can only promote a learner member which is in sync with leader"),
        E::TooManyLearners => ("FailedPrecondition", "etcdserver: too many learner members in cluster"),
        E::RequestTooLarge => ("InvalidArgument", "etcdserver: request is too large"),
        E::TooManyRequests => ("ResourceExhausted", "etcdserver: too many requests"),
        E::RootUserNotExist => ("FailedPrecondition", "etcdserver: root user does not exist"),
        E::RootRoleNotExist => ("FailedPrecondition", "etcdserver: root user does not have root role"),
        E::UserAlreadyExist => ("FailedPrecondition", "etcdserver: user name already exists"),
        E::UserEmpty => ("InvalidArgument", "etcdserver: user name is empty"),
        E::UserNotFound => ("FailedPrecondition", "etcdserver: user name not found"),
        E::RoleAlreadyExist => ("FailedPrecondition", "etcdserver: role name already exists"),
        E::RoleNotFound => ("FailedPrecondition", "etcdserver: role name not found"),
        E::RoleEmpty => ("InvalidArgument", "etcdserver: role name is empty"),
        E::AuthFailed => ("InvalidArgument", "etcdserver: authentication failed, invalid user ID or password"),
        E::NoPasswordUser => ("Unknown", "auth: authentication failed, password was given for no password user"),
        E::PermissionNotGiven => ("InvalidArgument", "etcdserver: permission not given"),
        E::PermissionDenied => ("PermissionDenied", "etcdserver: permission denied"),
        E::RoleNotGranted => ("FailedPrecondition", "etcdserver: role is not granted to the user"),
        E::PermissionNotGranted => ("FailedPrecondition", "etcdserver: permission is not granted to the role"),
        E::AuthNotEnabled => ("FailedPrecondition", "etcdserver: authentication is not enabled"),
        E::InvalidAuthToken => ("Unauthenticated", "etcdserver: invalid auth token"),
        E::InvalidAuthMgmt => ("InvalidArgument", "etcdserver: invalid auth management"),
        E::AuthOldRevision => ("InvalidArgument", "etcdserver: revision of auth store is old"),
        E::NoLeader => ("Unavailable", "etcdserver: no leader"),
        E::NotLeader => ("FailedPrecondition", "etcdserver: not leader"),
        E::LeaderChanged => ("Unavailable", "etcdserver: leader changed"),
        E::NotCapable => ("Unavailable", "etcdserver: not capable"),
        E::Stopped => ("Unavailable", "etcdserver: server stopped"),
        E::Timeout => ("Unavailable", "etcdserver: request timed out"),
        E::TimeoutDueToLeaderFail => ("Unavailable", "etcdserver: request timed out, possibly due to previous leader failure"),
        E::TimeoutDueToConnectionLost => ("Unavailable", "etcdserver: request timed out, possibly due to connection lost"),
        E::TimeoutWaitAppliedIndex => ("Unavailable", "etcdserver: request timed out, waiting for the applied index took too long"),
        E::TimeoutLeaderTransfer => ("Unknown", "etcdserver: request timed out, leader transfer took too long"),
        E::Unhealthy => ("Unavailable", "etcdserver: unhealthy cluster"),
        E::Corrupt => ("DataLoss", "etcdserver: corrupt cluster"),
        E::NotSupportedForLearner => ("Unavailable", "etcdserver: rpc not supported for learner"),
        E::BadLeaderTransferee => ("FailedPrecondition", "etcdserver: bad leader transferee"),
        E::ClusterVersionUnavailable => ("Unavailable", "etcdserver: cluster version not found during downgrade"),
        E::WrongDowngradeVersionFormat => ("InvalidArgument", "etcdserver: wrong downgrade target version format"),
        E::InvalidDowngradeTargetVersion => ("InvalidArgument", "etcdserver: invalid downgrade target version"),
        E::DowngradeInProcess => ("FailedPrecondition", "etcdserver: cluster has a downgrade job in progress"),
        E::NoInflightDowngrade => ("FailedPrecondition", "etcdserver: no inflight downgrade job"),
        E::ElectionLeaderKeyMissing => ("Unknown", "\"leader\" field must be provided"),
        E::ElectionNotLeader => ("Unknown", "election: not leader"),
        E::ElectionNoLeader => ("Unknown", "election: no leader"),
        E::Internal(_) => ("Unknown", "<the failure's own text>"),
        E::Relayed { .. } => ("<the leader's code>", "<the leader's message>"),
    }
}

/// The variants whose etcd message does not start with "etcdserver: ":
/// errors etcd's server passes to gRPC unmapped, with their own prefix.
fn without_etcdserver_prefix() -> Vec<EtcdError> {
    vec![
        EtcdError::NoPasswordUser,
        EtcdError::ElectionLeaderKeyMissing,
        EtcdError::ElectionNotLeader,
        EtcdError::ElectionNoLeader,
    ]
}

#[test]
fn known_lists_every_fixed_variant_once() {
    let distinct: HashSet<String> = EtcdError::KNOWN.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(
        distinct.len(),
        EtcdError::KNOWN.len(),
        "KNOWN lists a variant twice"
    );
    assert_eq!(
        EtcdError::KNOWN.len(),
        KNOWN_VARIANTS,
        "KNOWN misses a variant, or KNOWN_VARIANTS is stale"
    );
    assert!(!EtcdError::KNOWN
        .iter()
        .any(|e| matches!(e, EtcdError::Internal(_))));
}

/// A follower relays the leader's answer to a forwarded request: a known
/// error comes back as itself, anything else as it was sent.
#[test]
fn relayed_statuses_keep_their_code_and_message() {
    for error in EtcdError::KNOWN {
        let status = tonic::Status::from(error.clone());
        assert_eq!(&EtcdError::relayed(&status), error);
    }
    let odd = tonic::Status::new(tonic::Code::Unknown, "election: something new");
    let relayed = EtcdError::relayed(&odd);
    assert_eq!(relayed.code(), tonic::Code::Unknown);
    assert_eq!(relayed.message(), "election: something new");
    let lost = tonic::Status::unavailable("transport error: connection refused");
    assert_eq!(
        EtcdError::relayed(&lost),
        EtcdError::TimeoutDueToConnectionLost,
        "a leader gone mid-request leaves the outcome unknown"
    );
}

#[test]
fn every_variant_has_etcds_code_and_message() {
    for error in EtcdError::KNOWN {
        let (code_name, message) = golden(error);
        assert_eq!(
            format!("{:?}", error.code()),
            code_name,
            "code of {error:?}"
        );
        assert_eq!(error.message(), message, "message of {error:?}");
        assert_eq!(error.to_string(), message, "Display of {error:?}");
    }
}

#[test]
fn status_carries_the_code_and_message() {
    for error in EtcdError::KNOWN {
        let (code_name, message) = golden(error);
        let status = tonic::Status::from(error.clone());
        assert_eq!(
            format!("{:?}", status.code()),
            code_name,
            "status code of {error:?}"
        );
        assert_eq!(status.message(), message, "status message of {error:?}");
    }
}

#[test]
fn internal_is_unknown_with_its_own_text() {
    let error = EtcdError::Internal("storage engine: disk on fire".to_owned());
    assert_eq!(golden(&error).0, "Unknown");
    assert_eq!(format!("{:?}", error.code()), "Unknown");
    assert_eq!(error.message(), "storage engine: disk on fire");
    let status = tonic::Status::from(error);
    assert_eq!(status.code(), tonic::Code::Unknown);
    assert_eq!(status.message(), "storage engine: disk on fire");
}

#[test]
fn messages_carry_the_etcdserver_prefix_where_etcds_do() {
    let exceptions = without_etcdserver_prefix();
    for error in EtcdError::KNOWN {
        let has_prefix = error.message().starts_with("etcdserver: ");
        assert_eq!(
            golden(error).1.starts_with("etcdserver: "),
            has_prefix,
            "prefix of {error:?}"
        );
        assert_eq!(
            !exceptions.contains(error),
            has_prefix,
            "prefix of {error:?}"
        );
    }
}

#[test]
fn no_two_variants_share_a_message() {
    let mut seen = HashSet::new();
    for error in EtcdError::KNOWN {
        assert!(
            seen.insert(error.message()),
            "message of {error:?} is used twice"
        );
    }
}

#[test]
fn mvcc_errors_map_to_their_etcd_answers() {
    let cases = [
        (MvccError::EmptyKey, EtcdError::EmptyKey),
        (MvccError::ValueProvided, EtcdError::ValueProvided),
        (MvccError::LeaseProvided, EtcdError::LeaseProvided),
        (MvccError::TooManyOps, EtcdError::TooManyOps),
        (MvccError::DuplicateKey, EtcdError::DuplicateKey),
        (MvccError::KeyNotFound, EtcdError::KeyNotFound),
        (MvccError::Compacted, EtcdError::Compacted),
        (MvccError::FutureRevision, EtcdError::FutureRev),
    ];
    for (mvcc, expected) in cases {
        assert_eq!(EtcdError::from(mvcc), expected);
    }
    let backend = MvccError::Backend(BackendError::Engine("io error".to_owned()));
    assert_eq!(
        EtcdError::from(backend),
        EtcdError::Internal("storage engine: io error".to_owned())
    );
}

#[test]
fn conversion_errors_map_to_their_etcd_answers() {
    assert_eq!(
        EtcdError::from(ConvertError::InvalidSortOption),
        EtcdError::InvalidSortOption
    );
    // etcd's checkRequestOp answers an empty RequestOp with "key not found".
    assert_eq!(
        EtcdError::from(ConvertError::EmptyRequestOp),
        EtcdError::KeyNotFound
    );
    for error in [
        ConvertError::InvalidCompareResult,
        ConvertError::InvalidCompareTarget,
    ] {
        assert_eq!(
            EtcdError::from(error),
            EtcdError::Internal(error.to_string())
        );
    }
}

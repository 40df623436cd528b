//! Fields, tags and enums of the Lease, Cluster, Maintenance and Auth
//! messages, of `authpb`, and of the Lock and Election messages.

use crate::descriptor::{assert_enum, assert_fields};

#[test]
fn lease_messages() {
    assert_fields(
        "etcdserverpb.LeaseGrantRequest",
        &[("TTL", 1, "int64"), ("ID", 2, "int64")],
    );
    assert_fields(
        "etcdserverpb.LeaseGrantResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("ID", 2, "int64"),
            ("TTL", 3, "int64"),
            ("error", 4, "string"),
        ],
    );
    assert_fields("etcdserverpb.LeaseRevokeRequest", &[("ID", 1, "int64")]);
    assert_fields("etcdserverpb.LeaseKeepAliveRequest", &[("ID", 1, "int64")]);
    assert_fields(
        "etcdserverpb.LeaseKeepAliveResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("ID", 2, "int64"),
            ("TTL", 3, "int64"),
        ],
    );
    assert_fields(
        "etcdserverpb.LeaseTimeToLiveRequest",
        &[("ID", 1, "int64"), ("keys", 2, "bool")],
    );
    assert_fields(
        "etcdserverpb.LeaseTimeToLiveResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("ID", 2, "int64"),
            ("TTL", 3, "int64"),
            ("grantedTTL", 4, "int64"),
            ("keys", 5, "repeated bytes"),
        ],
    );
    assert_fields(
        "etcdserverpb.LeaseLeasesResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("leases", 2, "repeated etcdserverpb.LeaseStatus"),
        ],
    );
    assert_fields("etcdserverpb.LeaseStatus", &[("ID", 1, "int64")]);
    assert_fields(
        "etcdserverpb.LeaseCheckpoint",
        &[("ID", 1, "int64"), ("remaining_TTL", 2, "int64")],
    );
}

#[test]
fn cluster_and_maintenance_messages() {
    assert_fields(
        "etcdserverpb.Member",
        &[
            ("ID", 1, "uint64"),
            ("name", 2, "string"),
            ("peerURLs", 3, "repeated string"),
            ("clientURLs", 4, "repeated string"),
            ("isLearner", 5, "bool"),
        ],
    );
    assert_fields(
        "etcdserverpb.MemberAddRequest",
        &[("peerURLs", 1, "repeated string"), ("isLearner", 2, "bool")],
    );
    assert_fields(
        "etcdserverpb.MemberAddResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("member", 2, "etcdserverpb.Member"),
            ("members", 3, "repeated etcdserverpb.Member"),
        ],
    );
    assert_fields(
        "etcdserverpb.MemberListRequest",
        &[("linearizable", 1, "bool")],
    );
    assert_fields("etcdserverpb.MemberPromoteRequest", &[("ID", 1, "uint64")]);
    assert_fields(
        "etcdserverpb.MoveLeaderRequest",
        &[("targetID", 1, "uint64")],
    );
    assert_fields(
        "etcdserverpb.StatusResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("version", 2, "string"),
            ("dbSize", 3, "int64"),
            ("leader", 4, "uint64"),
            ("raftIndex", 5, "uint64"),
            ("raftTerm", 6, "uint64"),
            ("raftAppliedIndex", 7, "uint64"),
            ("errors", 8, "repeated string"),
            ("dbSizeInUse", 9, "int64"),
            ("isLearner", 10, "bool"),
            ("storageVersion", 11, "string"),
            ("dbSizeQuota", 12, "int64"),
            ("downgradeInfo", 13, "etcdserverpb.DowngradeInfo"),
        ],
    );
    assert_fields(
        "etcdserverpb.HashKVResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("hash", 2, "uint32"),
            ("compact_revision", 3, "int64"),
            ("hash_revision", 4, "int64"),
        ],
    );
    assert_fields(
        "etcdserverpb.SnapshotResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("remaining_bytes", 2, "uint64"),
            ("blob", 3, "bytes"),
            ("version", 4, "string"),
        ],
    );
    assert_fields(
        "etcdserverpb.AlarmRequest",
        &[
            ("action", 1, "etcdserverpb.AlarmRequest.AlarmAction"),
            ("memberID", 2, "uint64"),
            ("alarm", 3, "etcdserverpb.AlarmType"),
        ],
    );
    assert_enum(
        "etcdserverpb.AlarmRequest.AlarmAction",
        &[("GET", 0), ("ACTIVATE", 1), ("DEACTIVATE", 2)],
    );
    assert_enum(
        "etcdserverpb.AlarmType",
        &[("NONE", 0), ("NOSPACE", 1), ("CORRUPT", 2)],
    );
    assert_fields(
        "etcdserverpb.AlarmMember",
        &[
            ("memberID", 1, "uint64"),
            ("alarm", 2, "etcdserverpb.AlarmType"),
        ],
    );
    assert_fields(
        "etcdserverpb.DowngradeRequest",
        &[
            ("action", 1, "etcdserverpb.DowngradeRequest.DowngradeAction"),
            ("version", 2, "string"),
        ],
    );
    assert_enum(
        "etcdserverpb.DowngradeRequest.DowngradeAction",
        &[("VALIDATE", 0), ("ENABLE", 1), ("CANCEL", 2)],
    );
}

#[test]
fn auth_messages() {
    assert_fields(
        "etcdserverpb.AuthStatusResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("enabled", 2, "bool"),
            ("authRevision", 3, "uint64"),
        ],
    );
    assert_fields(
        "etcdserverpb.AuthUserAddRequest",
        &[
            ("name", 1, "string"),
            ("password", 2, "string"),
            ("options", 3, "authpb.UserAddOptions"),
            ("hashedPassword", 4, "string"),
        ],
    );
    assert_fields(
        "etcdserverpb.AuthenticateResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("token", 2, "string"),
        ],
    );
    assert_fields(
        "etcdserverpb.AuthRoleGrantPermissionRequest",
        &[("name", 1, "string"), ("perm", 2, "authpb.Permission")],
    );
    assert_fields(
        "authpb.Permission",
        &[
            ("permType", 1, "authpb.Permission.Type"),
            ("key", 2, "bytes"),
            ("range_end", 3, "bytes"),
        ],
    );
    assert_enum(
        "authpb.Permission.Type",
        &[("READ", 0), ("WRITE", 1), ("READWRITE", 2)],
    );
    assert_fields(
        "authpb.User",
        &[
            ("name", 1, "bytes"),
            ("password", 2, "bytes"),
            ("roles", 3, "repeated string"),
            ("options", 4, "authpb.UserAddOptions"),
        ],
    );
    assert_fields(
        "authpb.Role",
        &[
            ("name", 1, "bytes"),
            ("keyPermission", 2, "repeated authpb.Permission"),
        ],
    );
}

#[test]
fn lock_and_election_messages() {
    assert_fields(
        "v3lockpb.LockRequest",
        &[("name", 1, "bytes"), ("lease", 2, "int64")],
    );
    assert_fields(
        "v3lockpb.LockResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("key", 2, "bytes"),
        ],
    );
    assert_fields(
        "v3electionpb.LeaderKey",
        &[
            ("name", 1, "bytes"),
            ("key", 2, "bytes"),
            ("rev", 3, "int64"),
            ("lease", 4, "int64"),
        ],
    );
    assert_fields(
        "v3electionpb.CampaignRequest",
        &[
            ("name", 1, "bytes"),
            ("lease", 2, "int64"),
            ("value", 3, "bytes"),
        ],
    );
    assert_fields(
        "v3electionpb.LeaderResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("kv", 2, "mvccpb.KeyValue"),
        ],
    );
}

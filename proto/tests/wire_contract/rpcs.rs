//! Method paths, streaming shapes and request/response types of every
//! service.

use std::collections::BTreeMap;

use crate::descriptor::{method_io, methods_of_package};

/// How a method streams: (client streams, server streams).
const UNARY: (bool, bool) = (false, false);
const SERVER_STREAM: (bool, bool) = (false, true);
const CLIENT_STREAM: (bool, bool) = (true, false);
const BIDI: (bool, bool) = (true, true);

#[test]
fn etcdserverpb_has_exactly_the_41_etcd_rpcs() {
    let expected: &[(&str, (bool, bool))] = &[
        ("/etcdserverpb.KV/Range", UNARY),
        ("/etcdserverpb.KV/Put", UNARY),
        ("/etcdserverpb.KV/DeleteRange", UNARY),
        ("/etcdserverpb.KV/Txn", UNARY),
        ("/etcdserverpb.KV/Compact", UNARY),
        ("/etcdserverpb.Watch/Watch", BIDI),
        ("/etcdserverpb.Lease/LeaseGrant", UNARY),
        ("/etcdserverpb.Lease/LeaseRevoke", UNARY),
        ("/etcdserverpb.Lease/LeaseKeepAlive", BIDI),
        ("/etcdserverpb.Lease/LeaseTimeToLive", UNARY),
        ("/etcdserverpb.Lease/LeaseLeases", UNARY),
        ("/etcdserverpb.Cluster/MemberAdd", UNARY),
        ("/etcdserverpb.Cluster/MemberRemove", UNARY),
        ("/etcdserverpb.Cluster/MemberUpdate", UNARY),
        ("/etcdserverpb.Cluster/MemberList", UNARY),
        ("/etcdserverpb.Cluster/MemberPromote", UNARY),
        ("/etcdserverpb.Maintenance/Alarm", UNARY),
        ("/etcdserverpb.Maintenance/Status", UNARY),
        ("/etcdserverpb.Maintenance/Defragment", UNARY),
        ("/etcdserverpb.Maintenance/Hash", UNARY),
        ("/etcdserverpb.Maintenance/HashKV", UNARY),
        ("/etcdserverpb.Maintenance/Snapshot", SERVER_STREAM),
        ("/etcdserverpb.Maintenance/MoveLeader", UNARY),
        ("/etcdserverpb.Maintenance/Downgrade", UNARY),
        ("/etcdserverpb.Auth/AuthEnable", UNARY),
        ("/etcdserverpb.Auth/AuthDisable", UNARY),
        ("/etcdserverpb.Auth/AuthStatus", UNARY),
        ("/etcdserverpb.Auth/Authenticate", UNARY),
        ("/etcdserverpb.Auth/UserAdd", UNARY),
        ("/etcdserverpb.Auth/UserGet", UNARY),
        ("/etcdserverpb.Auth/UserList", UNARY),
        ("/etcdserverpb.Auth/UserDelete", UNARY),
        ("/etcdserverpb.Auth/UserChangePassword", UNARY),
        ("/etcdserverpb.Auth/UserGrantRole", UNARY),
        ("/etcdserverpb.Auth/UserRevokeRole", UNARY),
        ("/etcdserverpb.Auth/RoleAdd", UNARY),
        ("/etcdserverpb.Auth/RoleGet", UNARY),
        ("/etcdserverpb.Auth/RoleList", UNARY),
        ("/etcdserverpb.Auth/RoleDelete", UNARY),
        ("/etcdserverpb.Auth/RoleGrantPermission", UNARY),
        ("/etcdserverpb.Auth/RoleRevokePermission", UNARY),
    ];
    assert_eq!(expected.len(), 41);
    assert_eq!(methods_of_package("etcdserverpb"), to_map(expected));
}

#[test]
fn etcdserverpb_request_and_response_types() {
    let io = method_io();
    let expected: &[(&str, &str, &str)] = &[
        ("/etcdserverpb.KV/Range", "RangeRequest", "RangeResponse"),
        ("/etcdserverpb.KV/Put", "PutRequest", "PutResponse"),
        (
            "/etcdserverpb.KV/DeleteRange",
            "DeleteRangeRequest",
            "DeleteRangeResponse",
        ),
        ("/etcdserverpb.KV/Txn", "TxnRequest", "TxnResponse"),
        (
            "/etcdserverpb.KV/Compact",
            "CompactionRequest",
            "CompactionResponse",
        ),
        ("/etcdserverpb.Watch/Watch", "WatchRequest", "WatchResponse"),
        (
            "/etcdserverpb.Lease/LeaseKeepAlive",
            "LeaseKeepAliveRequest",
            "LeaseKeepAliveResponse",
        ),
        (
            "/etcdserverpb.Maintenance/Snapshot",
            "SnapshotRequest",
            "SnapshotResponse",
        ),
        (
            "/etcdserverpb.Maintenance/HashKV",
            "HashKVRequest",
            "HashKVResponse",
        ),
        (
            "/etcdserverpb.Auth/UserAdd",
            "AuthUserAddRequest",
            "AuthUserAddResponse",
        ),
        (
            "/etcdserverpb.Auth/RoleRevokePermission",
            "AuthRoleRevokePermissionRequest",
            "AuthRoleRevokePermissionResponse",
        ),
    ];
    for (path, input, output) in expected {
        let (actual_input, actual_output) = &io[*path];
        assert_eq!(actual_input, &format!(".etcdserverpb.{input}"), "{path}");
        assert_eq!(actual_output, &format!(".etcdserverpb.{output}"), "{path}");
    }
}

#[test]
fn lock_and_election_rpcs() {
    assert_eq!(
        methods_of_package("v3lockpb"),
        to_map(&[
            ("/v3lockpb.Lock/Lock", UNARY),
            ("/v3lockpb.Lock/Unlock", UNARY),
        ])
    );
    assert_eq!(
        methods_of_package("v3electionpb"),
        to_map(&[
            ("/v3electionpb.Election/Campaign", UNARY),
            ("/v3electionpb.Election/Proclaim", UNARY),
            ("/v3electionpb.Election/Leader", UNARY),
            ("/v3electionpb.Election/Observe", SERVER_STREAM),
            ("/v3electionpb.Election/Resign", UNARY),
        ])
    );
    let io = method_io();
    assert_eq!(
        io["/v3electionpb.Election/Observe"],
        (
            ".v3electionpb.LeaderRequest".to_owned(),
            ".v3electionpb.LeaderResponse".to_owned()
        )
    );
}

#[test]
fn health_and_keel_peer_rpcs() {
    assert_eq!(
        methods_of_package("grpc.health.v1"),
        to_map(&[
            ("/grpc.health.v1.Health/Check", UNARY),
            ("/grpc.health.v1.Health/Watch", SERVER_STREAM),
        ])
    );
    assert_eq!(
        methods_of_package("keelpb"),
        to_map(&[
            ("/keelpb.RaftPeer/Vote", UNARY),
            ("/keelpb.RaftPeer/PreVote", UNARY),
            ("/keelpb.RaftPeer/AppendEntries", UNARY),
            ("/keelpb.RaftPeer/StreamAppend", BIDI),
            ("/keelpb.RaftPeer/InstallSnapshot", CLIENT_STREAM),
            ("/keelpb.RaftPeer/TransferLeader", UNARY),
            ("/keelpb.RaftPeer/Forward", UNARY),
            ("/keelpb.RaftPeer/ReadIndex", UNARY),
        ])
    );
}

fn to_map(methods: &[(&str, (bool, bool))]) -> BTreeMap<String, (bool, bool)> {
    let map: BTreeMap<String, (bool, bool)> = methods
        .iter()
        .map(|(path, streaming)| ((*path).to_owned(), *streaming))
        .collect();
    assert_eq!(map.len(), methods.len(), "duplicate method in expectation");
    map
}

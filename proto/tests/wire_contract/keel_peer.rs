//! Fields and tags of keel's own peer protocol (`keelpb`).

use crate::descriptor::{assert_enum, assert_fields, assert_oneof};

#[test]
fn keel_peer_messages() {
    assert_fields(
        "keelpb.LogId",
        &[
            ("term", 1, "uint64"),
            ("leader_node_id", 2, "uint64"),
            ("index", 3, "uint64"),
        ],
    );
    assert_fields(
        "keelpb.Vote",
        &[
            ("term", 1, "uint64"),
            ("node_id", 2, "uint64"),
            ("committed", 3, "bool"),
        ],
    );
    assert_fields(
        "keelpb.Entry",
        &[
            ("log_id", 1, "keelpb.LogId"),
            ("blank", 2, "keelpb.Blank"),
            ("normal", 3, "bytes"),
            ("membership", 4, "keelpb.Membership"),
        ],
    );
    assert_oneof(
        "keelpb.Entry",
        "payload",
        &["blank", "normal", "membership"],
    );
    assert_fields(
        "keelpb.AppendEntriesRequest",
        &[
            ("vote", 1, "keelpb.Vote"),
            ("prev_log_id", 2, "keelpb.LogId"),
            ("entries", 3, "repeated keelpb.Entry"),
            ("leader_commit", 4, "keelpb.LogId"),
        ],
    );
    assert_oneof(
        "keelpb.AppendEntriesResponse",
        "outcome",
        &["success", "partial_success", "conflict", "higher_vote"],
    );
    assert_oneof(
        "keelpb.InstallSnapshotRequest",
        "part",
        &["header", "chunk", "done"],
    );
    assert_fields(
        "keelpb.SnapshotMeta",
        &[
            ("last_log_id", 1, "keelpb.LogId"),
            ("last_membership", 2, "keelpb.StoredMembership"),
            ("snapshot_id", 3, "string"),
        ],
    );
    assert_fields(
        "keelpb.VoteRequest",
        &[
            ("vote", 1, "keelpb.Vote"),
            ("last_log_id", 2, "keelpb.LogId"),
            ("leadership_transfer", 3, "bool"),
        ],
    );
    assert_fields(
        "keelpb.VoteResponse",
        &[
            ("vote", 1, "keelpb.Vote"),
            ("vote_granted", 2, "bool"),
            ("last_log_id", 3, "keelpb.LogId"),
        ],
    );
    assert_fields(
        "keelpb.Membership",
        &[
            ("configs", 1, "repeated keelpb.NodeIdSet"),
            ("nodes", 2, "repeated keelpb.Membership.NodesEntry"),
        ],
    );
    assert_fields(
        "keelpb.Node",
        &[
            ("name", 1, "string"),
            ("peer_urls", 2, "repeated string"),
            ("client_urls", 3, "repeated string"),
        ],
    );
    assert_fields(
        "keelpb.SnapshotHeader",
        &[
            ("vote", 1, "keelpb.Vote"),
            ("meta", 2, "keelpb.SnapshotMeta"),
            ("size_bytes", 3, "uint64"),
        ],
    );
    assert_fields(
        "keelpb.SnapshotChunk",
        &[("offset", 1, "uint64"), ("data", 2, "bytes")],
    );
    assert_fields("keelpb.SnapshotDone", &[("crc32", 1, "uint32")]);
    assert_fields(
        "keelpb.ForwardRequest",
        &[
            ("method", 1, "string"),
            ("request", 2, "bytes"),
            ("auth_token", 3, "string"),
            ("from_node_id", 4, "uint64"),
            ("username", 5, "string"),
            ("auth_revision", 6, "uint64"),
        ],
    );
    assert_fields("keelpb.ForwardResponse", &[("response", 1, "bytes")]);
    assert_fields(
        "keelpb.ReadIndexRequest",
        &[
            ("from_node_id", 1, "uint64"),
            ("policy", 2, "keelpb.ReadPolicy"),
        ],
    );
    assert_enum("keelpb.ReadPolicy", &[("READ_INDEX", 0), ("LEASE_READ", 1)]);
    assert_fields(
        "keelpb.ReadIndexResponse",
        &[
            ("read_log_id", 1, "keelpb.LogId"),
            ("applied", 2, "keelpb.LogId"),
            ("leader_vote", 3, "keelpb.Vote"),
        ],
    );
}

//! Fields, tags and enums of the KV (Range, Put, DeleteRange, Txn,
//! Compact) and Watch messages, and of `mvccpb`.

use crate::descriptor::{assert_enum, assert_fields, assert_oneof};

#[test]
fn kv_messages() {
    assert_fields(
        "etcdserverpb.ResponseHeader",
        &[
            ("cluster_id", 1, "uint64"),
            ("member_id", 2, "uint64"),
            ("revision", 3, "int64"),
            ("raft_term", 4, "uint64"),
        ],
    );
    assert_fields(
        "mvccpb.KeyValue",
        &[
            ("key", 1, "bytes"),
            ("create_revision", 2, "int64"),
            ("mod_revision", 3, "int64"),
            ("version", 4, "int64"),
            ("value", 5, "bytes"),
            ("lease", 6, "int64"),
        ],
    );
    assert_fields(
        "mvccpb.Event",
        &[
            ("type", 1, "mvccpb.Event.EventType"),
            ("kv", 2, "mvccpb.KeyValue"),
            ("prev_kv", 3, "mvccpb.KeyValue"),
        ],
    );
    assert_enum("mvccpb.Event.EventType", &[("PUT", 0), ("DELETE", 1)]);
    assert_fields(
        "etcdserverpb.RangeRequest",
        &[
            ("key", 1, "bytes"),
            ("range_end", 2, "bytes"),
            ("limit", 3, "int64"),
            ("revision", 4, "int64"),
            ("sort_order", 5, "etcdserverpb.RangeRequest.SortOrder"),
            ("sort_target", 6, "etcdserverpb.RangeRequest.SortTarget"),
            ("serializable", 7, "bool"),
            ("keys_only", 8, "bool"),
            ("count_only", 9, "bool"),
            ("min_mod_revision", 10, "int64"),
            ("max_mod_revision", 11, "int64"),
            ("min_create_revision", 12, "int64"),
            ("max_create_revision", 13, "int64"),
        ],
    );
    assert_enum(
        "etcdserverpb.RangeRequest.SortOrder",
        &[("NONE", 0), ("ASCEND", 1), ("DESCEND", 2)],
    );
    assert_enum(
        "etcdserverpb.RangeRequest.SortTarget",
        &[
            ("KEY", 0),
            ("VERSION", 1),
            ("CREATE", 2),
            ("MOD", 3),
            ("VALUE", 4),
        ],
    );
    assert_fields(
        "etcdserverpb.RangeResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("kvs", 2, "repeated mvccpb.KeyValue"),
            ("more", 3, "bool"),
            ("count", 4, "int64"),
        ],
    );
    assert_fields(
        "etcdserverpb.PutRequest",
        &[
            ("key", 1, "bytes"),
            ("value", 2, "bytes"),
            ("lease", 3, "int64"),
            ("prev_kv", 4, "bool"),
            ("ignore_value", 5, "bool"),
            ("ignore_lease", 6, "bool"),
        ],
    );
    assert_fields(
        "etcdserverpb.PutResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("prev_kv", 2, "mvccpb.KeyValue"),
        ],
    );
    assert_fields(
        "etcdserverpb.DeleteRangeRequest",
        &[
            ("key", 1, "bytes"),
            ("range_end", 2, "bytes"),
            ("prev_kv", 3, "bool"),
        ],
    );
    assert_fields(
        "etcdserverpb.DeleteRangeResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("deleted", 2, "int64"),
            ("prev_kvs", 3, "repeated mvccpb.KeyValue"),
        ],
    );
    assert_fields(
        "etcdserverpb.CompactionRequest",
        &[("revision", 1, "int64"), ("physical", 2, "bool")],
    );
}

#[test]
fn txn_messages() {
    assert_fields(
        "etcdserverpb.Compare",
        &[
            ("result", 1, "etcdserverpb.Compare.CompareResult"),
            ("target", 2, "etcdserverpb.Compare.CompareTarget"),
            ("key", 3, "bytes"),
            ("version", 4, "int64"),
            ("create_revision", 5, "int64"),
            ("mod_revision", 6, "int64"),
            ("value", 7, "bytes"),
            ("lease", 8, "int64"),
            ("range_end", 64, "bytes"),
        ],
    );
    assert_oneof(
        "etcdserverpb.Compare",
        "target_union",
        &[
            "version",
            "create_revision",
            "mod_revision",
            "value",
            "lease",
        ],
    );
    assert_enum(
        "etcdserverpb.Compare.CompareResult",
        &[("EQUAL", 0), ("GREATER", 1), ("LESS", 2), ("NOT_EQUAL", 3)],
    );
    assert_enum(
        "etcdserverpb.Compare.CompareTarget",
        &[
            ("VERSION", 0),
            ("CREATE", 1),
            ("MOD", 2),
            ("VALUE", 3),
            ("LEASE", 4),
        ],
    );
    assert_fields(
        "etcdserverpb.TxnRequest",
        &[
            ("compare", 1, "repeated etcdserverpb.Compare"),
            ("success", 2, "repeated etcdserverpb.RequestOp"),
            ("failure", 3, "repeated etcdserverpb.RequestOp"),
        ],
    );
    assert_fields(
        "etcdserverpb.TxnResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("succeeded", 2, "bool"),
            ("responses", 3, "repeated etcdserverpb.ResponseOp"),
        ],
    );
    assert_fields(
        "etcdserverpb.RequestOp",
        &[
            ("request_range", 1, "etcdserverpb.RangeRequest"),
            ("request_put", 2, "etcdserverpb.PutRequest"),
            ("request_delete_range", 3, "etcdserverpb.DeleteRangeRequest"),
            ("request_txn", 4, "etcdserverpb.TxnRequest"),
        ],
    );
    assert_oneof(
        "etcdserverpb.RequestOp",
        "request",
        &[
            "request_range",
            "request_put",
            "request_delete_range",
            "request_txn",
        ],
    );
    assert_fields(
        "etcdserverpb.ResponseOp",
        &[
            ("response_range", 1, "etcdserverpb.RangeResponse"),
            ("response_put", 2, "etcdserverpb.PutResponse"),
            (
                "response_delete_range",
                3,
                "etcdserverpb.DeleteRangeResponse",
            ),
            ("response_txn", 4, "etcdserverpb.TxnResponse"),
        ],
    );
    assert_oneof(
        "etcdserverpb.ResponseOp",
        "response",
        &[
            "response_range",
            "response_put",
            "response_delete_range",
            "response_txn",
        ],
    );
}

#[test]
fn watch_messages() {
    assert_fields(
        "etcdserverpb.WatchRequest",
        &[
            ("create_request", 1, "etcdserverpb.WatchCreateRequest"),
            ("cancel_request", 2, "etcdserverpb.WatchCancelRequest"),
            ("progress_request", 3, "etcdserverpb.WatchProgressRequest"),
        ],
    );
    assert_oneof(
        "etcdserverpb.WatchRequest",
        "request_union",
        &["create_request", "cancel_request", "progress_request"],
    );
    assert_fields(
        "etcdserverpb.WatchCreateRequest",
        &[
            ("key", 1, "bytes"),
            ("range_end", 2, "bytes"),
            ("start_revision", 3, "int64"),
            ("progress_notify", 4, "bool"),
            (
                "filters",
                5,
                "repeated etcdserverpb.WatchCreateRequest.FilterType",
            ),
            ("prev_kv", 6, "bool"),
            ("watch_id", 7, "int64"),
            ("fragment", 8, "bool"),
        ],
    );
    assert_enum(
        "etcdserverpb.WatchCreateRequest.FilterType",
        &[("NOPUT", 0), ("NODELETE", 1)],
    );
    assert_fields(
        "etcdserverpb.WatchCancelRequest",
        &[("watch_id", 1, "int64")],
    );
    assert_fields("etcdserverpb.WatchProgressRequest", &[]);
    assert_fields(
        "etcdserverpb.WatchResponse",
        &[
            ("header", 1, "etcdserverpb.ResponseHeader"),
            ("watch_id", 2, "int64"),
            ("created", 3, "bool"),
            ("canceled", 4, "bool"),
            ("compact_revision", 5, "int64"),
            ("cancel_reason", 6, "string"),
            ("fragment", 7, "bool"),
            ("events", 11, "repeated mvccpb.Event"),
        ],
    );
}

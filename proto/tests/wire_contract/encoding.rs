//! Byte-level checks: the generated Rust types encode and decode exactly as
//! the descriptor (and etcd) say they must.

use keel_proto::{etcdserverpb, keelpb, mvccpb};
use prost::Message;

#[test]
fn range_request_with_only_limit_is_two_bytes() {
    let request = etcdserverpb::RangeRequest {
        limit: 5,
        ..Default::default()
    };
    // Field 3, wire type 0 (varint): (3 << 3) | 0 = 0x18.
    assert_eq!(request.encode_to_vec(), [0x18, 0x05]);
}

#[test]
fn put_request_encodes_key_and_value_as_fields_1_and_2() {
    let request = etcdserverpb::PutRequest {
        key: b"a".to_vec(),
        value: b"b".to_vec(),
        prev_kv: true,
        ..Default::default()
    };
    assert_eq!(
        request.encode_to_vec(),
        [0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x20, 0x01]
    );
}

#[test]
fn compare_range_end_uses_tag_64() {
    let compare = etcdserverpb::Compare {
        range_end: b"z".to_vec(),
        ..Default::default()
    };
    // Field 64, wire type 2: (64 << 3) | 2 = 514 = varint [0x82, 0x04].
    assert_eq!(compare.encode_to_vec(), [0x82, 0x04, 0x01, b'z']);

    let compare = etcdserverpb::Compare {
        target_union: Some(etcdserverpb::compare::TargetUnion::ModRevision(7)),
        ..Default::default()
    };
    assert_eq!(compare.encode_to_vec(), [0x30, 0x07]);
}

#[test]
fn lease_grant_request_ttl_and_id() {
    let request = etcdserverpb::LeaseGrantRequest { ttl: 10, id: 0x7f };
    assert_eq!(request.encode_to_vec(), [0x08, 0x0a, 0x10, 0x7f]);
}

#[test]
fn watch_oneofs_and_events_tag() {
    let progress = etcdserverpb::WatchRequest {
        request_union: Some(etcdserverpb::watch_request::RequestUnion::ProgressRequest(
            etcdserverpb::WatchProgressRequest {},
        )),
    };
    assert_eq!(progress.encode_to_vec(), [0x1a, 0x00]);

    let response = etcdserverpb::WatchResponse {
        events: vec![mvccpb::Event::default()],
        ..Default::default()
    };
    // Field 11, wire type 2: (11 << 3) | 2 = 0x5a, then an empty Event.
    assert_eq!(response.encode_to_vec(), [0x5a, 0x00]);

    let nested_txn = etcdserverpb::RequestOp {
        request: Some(etcdserverpb::request_op::Request::RequestTxn(
            etcdserverpb::TxnRequest::default(),
        )),
    };
    assert_eq!(nested_txn.encode_to_vec(), [0x22, 0x00]);
}

#[test]
fn delete_event_decodes_from_etcd_bytes() {
    // An Event as etcd sends it: type=DELETE, kv={key:"k", mod_revision:9}.
    let bytes = [0x08, 0x01, 0x12, 0x05, 0x0a, 0x01, b'k', 0x18, 0x09];
    let event = mvccpb::Event::decode(&bytes[..]).unwrap();
    assert_eq!(event.r#type(), mvccpb::event::EventType::Delete);
    let kv = event.kv.unwrap();
    assert_eq!(kv.key, b"k");
    assert_eq!(kv.mod_revision, 9);
    assert!(event.prev_kv.is_none());
}

#[test]
fn enum_values_match_the_generated_rust_enums() {
    use etcdserverpb::range_request::{SortOrder, SortTarget};
    assert_eq!(SortOrder::Descend as i32, 2);
    assert_eq!(SortTarget::Mod as i32, 3);
    assert_eq!(etcdserverpb::compare::CompareTarget::Lease as i32, 4);
    assert_eq!(etcdserverpb::compare::CompareResult::NotEqual as i32, 3);
    assert_eq!(etcdserverpb::AlarmType::Nospace as i32, 1);
    assert_eq!(
        etcdserverpb::watch_create_request::FilterType::Nodelete as i32,
        1
    );
}

#[test]
fn keel_entry_round_trips() {
    let entry = keelpb::Entry {
        log_id: Some(keelpb::LogId {
            term: 2,
            leader_node_id: 1,
            index: 3,
        }),
        payload: Some(keelpb::entry::Payload::Normal(vec![0xaa])),
    };
    let bytes = entry.encode_to_vec();
    assert_eq!(
        bytes,
        [0x0a, 0x06, 0x08, 0x02, 0x10, 0x01, 0x18, 0x03, 0x1a, 0x01, 0xaa]
    );
    assert_eq!(keelpb::Entry::decode(&bytes[..]).unwrap(), entry);
}

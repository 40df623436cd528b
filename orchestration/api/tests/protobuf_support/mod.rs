//! Protobuf bodies built as client-go sends them: an object's message,
//! written out in the message's own shape (proto field names; Quantity as
//! `{"string": ..}`, IntOrString as `{"type": .., "intVal": ..}`, Time as
//! `{"seconds": ..}`), wrapped in the `runtime.Unknown` envelope after the
//! magic `k8s\0`.
//!
//! Go's protobuf encoder writes every non-pointer scalar and struct of an
//! object, zero or not; the tests spell those zeros out where kubectl's
//! object has them, so the decoder sees what it sees from kubectl.

use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, Value as Proto};
use serde_json::Value;

/// A protobuf body of `api_version`/`kind` holding `object` as message
/// `message_name` (e.g. "k8s.io.api.core.v1.ConfigMap").
pub fn body(api_version: &str, kind: &str, message_name: &str, object: &Value) -> Vec<u8> {
    let raw = message(message_name, object).encode_to_vec();
    let envelope = serde_json::json!({
        "typeMeta": {"apiVersion": api_version, "kind": kind},
        "raw": Value::Null,
        "contentEncoding": "",
        "contentType": "",
    });
    let mut unknown = message("k8s.io.apimachinery.pkg.runtime.Unknown", &envelope);
    unknown.set_field_by_name("raw", Proto::Bytes(raw.into()));
    envelope_bytes(&unknown)
}

/// The magic and an encoded envelope.
pub fn envelope_bytes(unknown: &DynamicMessage) -> Vec<u8> {
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// A message of `message_name` from its proto-shaped JSON (a `null` field
/// is left unset).
pub fn message(message_name: &str, object: &Value) -> DynamicMessage {
    let descriptor = keel_api::protobuf::descriptors()
        .get_message_by_name(message_name)
        .unwrap_or_else(|| panic!("no message {message_name}"));
    build(&descriptor, object)
}

fn build(descriptor: &MessageDescriptor, object: &Value) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for (name, value) in object.as_object().expect("a message is a JSON object") {
        if value.is_null() {
            continue;
        }
        let field = descriptor
            .get_field_by_name(name)
            .unwrap_or_else(|| panic!("{} has no field {name}", descriptor.full_name()));
        let proto = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                unreachable!("a map's kind is its entry message")
            };
            let value_kind = entry.map_entry_value_field().kind();
            let entries = value.as_object().expect("a map is a JSON object");
            Proto::Map(
                entries
                    .iter()
                    .map(|(key, item)| (MapKey::String(key.clone()), single(&value_kind, item)))
                    .collect(),
            )
        } else if field.is_list() {
            let items = value.as_array().expect("a repeated field is a JSON array");
            Proto::List(
                items
                    .iter()
                    .map(|item| single(&field.kind(), item))
                    .collect(),
            )
        } else {
            single(&field.kind(), value)
        };
        message.set_field(&field, proto);
    }
    message
}

fn single(kind: &Kind, value: &Value) -> Proto {
    match kind {
        Kind::Message(descriptor) => Proto::Message(build(descriptor, value)),
        Kind::String => Proto::String(value.as_str().expect("a string").to_owned()),
        Kind::Bytes => Proto::Bytes(
            value
                .as_str()
                .expect("bytes as text")
                .as_bytes()
                .to_vec()
                .into(),
        ),
        Kind::Bool => Proto::Bool(value.as_bool().expect("a bool")),
        Kind::Int32 => Proto::I32(value.as_i64().expect("an int32") as i32),
        Kind::Int64 => Proto::I64(value.as_i64().expect("an int64")),
        other => panic!("no Kubernetes field is {other:?}"),
    }
}

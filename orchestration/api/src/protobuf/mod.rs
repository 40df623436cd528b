//! Kubernetes' protobuf request bodies (`Content-Type:
//! application/vnd.kubernetes.protobuf`), read into the JSON form keel
//! keeps objects in. kubectl's typed commands (`create configmap`, `create
//! deployment`, `run`, ...) send only this encoding, so the HTTP front
//! turns their bodies into the JSON their JSON encoding would have been.
//!
//! ```text
//!   body = "k8s\0" + runtime.Unknown             (runtime/serializer/protobuf/protobuf.go)
//!                     ├─ typeMeta {apiVersion, kind} ─► message name (kinds.rs)
//!                     └─ raw: the object's message, e.g. k8s.io.api.core.v1.ConfigMap
//!        │ prost-reflect, against Kubernetes 1.33's generated.proto files
//!        │ (proto/, compiled into a descriptor set by build.rs)
//!        ▼
//!   DynamicMessage ─► JSON as Go writes it (json.rs, special.rs)
//!                     + apiVersion and kind from typeMeta
//! ```
//!
//! Decoding is all this module does: defaults, validation and the rest
//! follow on the JSON as for a JSON body. Unlike kube-apiserver it takes no
//! default kind from the URL: a body without kind or apiVersion is an error
//! (client-go always sets both).

mod error;
mod go_json;
mod json;
mod kinds;
mod special;

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value as Proto};
use serde_json::Value;

pub use error::ProtobufError;

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with: "k8s" and the
/// encoding style, 0 for a `runtime.Unknown` envelope.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// The envelope's message.
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

/// Kubernetes' messages, compiled from proto/ by build.rs.
static DESCRIPTORS: LazyLock<DescriptorPool> = LazyLock::new(|| {
    let encoded = include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes_descriptor_set.bin"));
    // protox checked these files at build time and encoded the set itself.
    DescriptorPool::decode(&encoded[..]).expect("build.rs encodes a valid descriptor set")
});

/// Kubernetes' messages as keel reads them (Kubernetes 1.33's
/// generated.proto files): for encoding protobuf bodies in tests, as a
/// client-go client would send them.
pub fn descriptors() -> &'static DescriptorPool {
    &DESCRIPTORS
}

/// The JSON object a Kubernetes protobuf body holds, as Kubernetes' JSON
/// encoding writes the same object, with `apiVersion` and `kind` from the
/// envelope.
///
/// Errors carry kube-apiserver's words, except the reason a message is not
/// valid protobuf: that is prost's ("buffer underflow" where Go's gogo
/// code says "unexpected EOF"), and prost also refuses a `string` that is
/// not UTF-8, which Go would accept.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let raw_envelope = strip_magic(body)?;
    let envelope = DynamicMessage::decode(descriptor(UNKNOWN), raw_envelope).map_err(|error| {
        ProtobufError::Envelope {
            reason: error.to_string(),
            summary: error::summarize(body),
        }
    })?;
    let (api_version, kind) = type_meta(&envelope);
    if kind.is_empty() {
        return Err(ProtobufError::MissingKind {
            api_version,
            summary: error::summarize(body),
        });
    }
    if api_version.is_empty() {
        return Err(ProtobufError::MissingVersion { kind });
    }
    let Some(message_name) = kinds::message_name(&api_version, &kind) else {
        return Err(ProtobufError::NotRegistered { api_version, kind });
    };
    let raw = match envelope.get_field_by_name("raw").as_deref() {
        Some(Proto::Bytes(raw)) => raw.clone(),
        _ => prost_reflect::bytes::Bytes::new(),
    };
    let object_error = |reason: String| ProtobufError::Object {
        api_version: api_version.clone(),
        kind: kind.clone(),
        reason,
    };
    let message = DynamicMessage::decode(descriptor(&message_name), raw)
        .map_err(|error| object_error(error.to_string()))?;
    let mut object = json::object(&message).map_err(object_error)?;
    let Value::Object(fields) = &mut object else {
        unreachable!("json::object returns an object")
    };
    fields.insert("apiVersion".to_owned(), Value::String(api_version));
    fields.insert("kind".to_owned(), Value::String(kind));
    Ok(object)
}

/// The body after the magic, or the serializer's error for a body that is
/// empty, is not protobuf, or is the magic alone.
fn strip_magic(body: &[u8]) -> Result<&[u8], ProtobufError> {
    if body.is_empty() {
        return Err(ProtobufError::EmptyData);
    }
    let Some(rest) = body.strip_prefix(&MAGIC) else {
        return Err(ProtobufError::NotProtobuf {
            summary: error::summarize(body),
        });
    };
    if rest.is_empty() {
        return Err(ProtobufError::EmptyBody);
    }
    Ok(rest)
}

/// The descriptor of a message the set holds.
fn descriptor(full_name: &str) -> MessageDescriptor {
    DESCRIPTORS
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("the descriptor set has no message {full_name}"))
}

/// The envelope's typeMeta: apiVersion and kind ("" where unset).
fn type_meta(envelope: &DynamicMessage) -> (String, String) {
    let Some(Proto::Message(type_meta)) =
        envelope.get_field_by_name("typeMeta").as_deref().cloned()
    else {
        return (String::new(), String::new());
    };
    let text = |name: &str| match type_meta.get_field_by_name(name).as_deref() {
        Some(Proto::String(text)) => text.clone(),
        _ => String::new(),
    };
    (text("apiVersion"), text("kind"))
}

#[cfg(test)]
mod tests;

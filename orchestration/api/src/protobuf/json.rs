//! A decoded message as the JSON Go's `encoding/json` writes for the same
//! Kubernetes object:
//!
//! ```text
//!   field set on the wire ─┬─ message      ─► its JSON (Kubernetes' own
//!                          │                  types: see special.rs)
//!                          ├─ repeated     ─► array, left out when empty
//!                          ├─ map          ─► object, left out when empty
//!                          └─ scalar       ─► its value; a zero value only
//!                                             where Go's JSON writes zeros
//!   field not set          ─► left out
//! ```
//!
//! Field names are the proto names, which Kubernetes keeps equal to the
//! JSON names. Kubernetes' protobuf writes every non-pointer scalar of a Go
//! struct, zero or not, so a zero on the wire is a value Go's JSON leaves
//! out (`omitempty`) unless the field is a pointer or has no `omitempty`:
//! those are listed in [`super::go_json`], with the embedded Go structs
//! whose fields JSON writes into their parent's object (`json:",inline"`:
//! a probe's `handler`, a key selector's `localObjectReference`). `bytes`
//! are base64, as Go writes a `[]byte`.

use base64::Engine as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, MapKey, ReflectMessage as _, Value as Proto};
use serde_json::{Map, Number, Value};

use super::go_json::{INLINED, ZERO_KEPT};
use super::special;

/// A message as JSON; `None` where Go writes `null` (a zero time, an
/// empty raw extension). The error says what JSON cannot hold.
pub(super) fn message(message: &DynamicMessage) -> Result<Option<Value>, String> {
    match message.descriptor().full_name() {
        special::QUANTITY => Ok(Some(special::quantity(message))),
        special::TIME => special::time(message),
        special::MICRO_TIME => special::micro_time(message),
        special::DURATION => Ok(Some(special::duration(message))),
        special::INT_OR_STRING => special::int_or_string(message).map(Some),
        special::RAW_EXTENSION => special::raw_json(message, "runtime.RawExtension"),
        special::FIELDS_V1 => special::raw_json(message, "v1.FieldsV1"),
        special::VERBS => Ok(Some(special::verbs(message))),
        _ => object(message).map(Some),
    }
}

/// A plain message: a JSON object of its fields.
pub(super) fn object(message: &DynamicMessage) -> Result<Value, String> {
    let mut object = Map::new();
    for (field, value) in message.fields() {
        match (field_value(&field, value)?, is_inlined(&field)) {
            (Some(Value::Object(embedded)), true) => object.extend(embedded),
            (Some(json), _) => {
                object.insert(field.name().to_owned(), json);
            }
            (None, _) => {}
        }
    }
    Ok(Value::Object(object))
}

/// One set field, or `None` if Go's JSON leaves it out.
fn field_value(field: &FieldDescriptor, value: &Proto) -> Result<Option<Value>, String> {
    match value {
        Proto::List(items) if items.is_empty() => Ok(None),
        Proto::List(items) => items
            .iter()
            .map(element)
            .collect::<Result<_, _>>()
            .map(|items| Some(Value::Array(items))),
        Proto::Map(entries) if entries.is_empty() => Ok(None),
        Proto::Map(entries) => entries
            .iter()
            .map(|(key, value)| Ok((map_key(key), element(value)?)))
            .collect::<Result<Map<_, _>, String>>()
            .map(|entries| Some(Value::Object(entries))),
        Proto::Message(inner) => message(inner),
        _ if value.is_default_for_field(field) && !keeps_zero(field) => Ok(None),
        _ => scalar(value).map(Some),
    }
}

/// An item of a list or a value of a map (`null` where Go writes null).
fn element(value: &Proto) -> Result<Value, String> {
    match value {
        Proto::Message(inner) => message(inner).map(|json| json.unwrap_or(Value::Null)),
        _ => scalar(value),
    }
}

/// Whether Go's JSON writes this scalar field's zero value (a pointer, or
/// a value field without `omitempty`).
fn keeps_zero(field: &FieldDescriptor) -> bool {
    let key = (field.parent_message().full_name(), field.name());
    ZERO_KEPT.binary_search(&key).is_ok()
}

/// Whether the field is an embedded Go struct, written inline.
fn is_inlined(field: &FieldDescriptor) -> bool {
    let key = (field.parent_message().full_name(), field.name());
    INLINED.binary_search(&key).is_ok()
}

/// A map key as a JSON object key (every Kubernetes map is keyed by
/// strings; the others print their number or bool).
fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::String(text) => text.clone(),
        MapKey::Bool(flag) => flag.to_string(),
        MapKey::I32(number) => number.to_string(),
        MapKey::I64(number) => number.to_string(),
        MapKey::U32(number) => number.to_string(),
        MapKey::U64(number) => number.to_string(),
    }
}

/// A scalar value as JSON.
fn scalar(value: &Proto) -> Result<Value, String> {
    Ok(match value {
        Proto::Bool(flag) => Value::Bool(*flag),
        Proto::I32(number) | Proto::EnumNumber(number) => Value::from(*number),
        Proto::I64(number) => Value::from(*number),
        Proto::U32(number) => Value::from(*number),
        Proto::U64(number) => Value::from(*number),
        // Through its shortest text, so 0.1 stays 0.1 as Go writes a float32.
        Proto::F32(number) => float(number.to_string().parse().unwrap_or(f64::NAN))?,
        Proto::F64(number) => float(*number)?,
        Proto::String(text) => Value::String(text.clone()),
        Proto::Bytes(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Proto::Message(_) | Proto::List(_) | Proto::Map(_) => {
            unreachable!("field_value and element handle messages, lists and maps")
        }
    })
}

/// A float as a JSON number; NaN and infinities have none (Go's JSON fails
/// on them too).
fn float(number: f64) -> Result<Value, String> {
    Number::from_f64(number)
        .map(Value::Number)
        .ok_or_else(|| format!("json: unsupported value: {number}"))
}

//! `/openapi/v2` as protobuf: the JSON document turned into gnostic's
//! `openapi.v2.Document` (the messages of `proto/openapiv2.proto`), which
//! kubectl before 1.27 downloads to validate manifests client-side.
//! kube-openapi does the same turn (`handler.ToProtoBinary`: gnostic's
//! `ParseDocument` of the JSON, then `proto.Marshal`).
//!
//! ```text
//!   v2 JSON ─► document ─┬─ paths ─► path_item ─► operation ─► parameter, responses
//!                        └─ definitions ─► schema (recursive)
//!   free-form values (default, enum, x-* extensions) ─► Any { yaml: <JSON text> }
//! ```
//!
//! JSON is YAML, so a value's JSON text is what goes into `Any.yaml`;
//! kube-openapi's readers (`VendorExtensionToMap`) parse it back with a YAML
//! parser. Keys the documents never hold are not converted.

use prost::Message;
use serde_json::{Map, Value};

/// gnostic's OpenAPI v2 messages, as generated from `proto/openapiv2.proto`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    clippy::unwrap_used,
    rustdoc::all
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/openapi.v2.rs"));
}

/// The protobuf encoding of v2 document `document`.
pub fn encode(document: &Value) -> Vec<u8> {
    self::document(document).encode_to_vec()
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn texts(value: &Value, key: &str) -> Vec<String> {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or_default()
}

fn any(value: &Value) -> pb::Any {
    pb::Any {
        yaml: value.to_string(),
    }
}

/// The `x-` keys of `value`, as gnostic keeps vendor extensions.
fn extensions(value: &Value) -> Vec<pb::NamedAny> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.starts_with("x-"))
        .map(|(key, inner)| pb::NamedAny {
            name: key.clone(),
            value: Some(any(inner)),
        })
        .collect()
}

fn entries<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = (&'v String, &'v Value)> {
    value
        .get(key)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// The gnostic Document of v2 document `document`.
pub fn document(document: &Value) -> pb::Document {
    pb::Document {
        swagger: text(document, "swagger"),
        info: Some(pb::Info {
            title: text(&document["info"], "title"),
            version: text(&document["info"], "version"),
            ..pb::Info::default()
        }),
        paths: Some(pb::Paths {
            vendor_extension: Vec::new(),
            path: entries(document, "paths")
                .map(|(name, item)| pb::NamedPathItem {
                    name: name.clone(),
                    value: Some(path_item(item)),
                })
                .collect(),
        }),
        definitions: Some(pb::Definitions {
            additional_properties: entries(document, "definitions")
                .map(|(name, value)| named_schema(name, value))
                .collect(),
        }),
        vendor_extension: extensions(document),
        ..pb::Document::default()
    }
}

fn path_item(item: &Value) -> pb::PathItem {
    let operation = |method: &str| item.get(method).map(operation);
    pb::PathItem {
        get: operation("get"),
        put: operation("put"),
        post: operation("post"),
        delete: operation("delete"),
        options: operation("options"),
        head: operation("head"),
        patch: operation("patch"),
        parameters: parameters(item),
        vendor_extension: extensions(item),
    }
}

fn operation(operation: &Value) -> pb::Operation {
    pb::Operation {
        tags: texts(operation, "tags"),
        summary: text(operation, "summary"),
        description: text(operation, "description"),
        operation_id: text(operation, "operationId"),
        produces: texts(operation, "produces"),
        consumes: texts(operation, "consumes"),
        parameters: parameters(operation),
        responses: Some(pb::Responses {
            response_code: entries(operation, "responses")
                .map(|(code, response)| pb::NamedResponseValue {
                    name: code.clone(),
                    value: Some(pb::ResponseValue {
                        oneof: Some(pb::response_value::Oneof::Response(pb::Response {
                            description: text(response, "description"),
                            schema: response.get("schema").map(|schema| pb::SchemaItem {
                                oneof: Some(pb::schema_item::Oneof::Schema(self::schema(schema))),
                            }),
                            vendor_extension: extensions(response),
                        })),
                    }),
                })
                .collect(),
            vendor_extension: Vec::new(),
        }),
        schemes: texts(operation, "schemes"),
        deprecated: flag(operation, "deprecated"),
        vendor_extension: extensions(operation),
    }
}

fn parameters(value: &Value) -> Vec<pb::ParametersItem> {
    value
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|parameter| pb::ParametersItem {
            oneof: Some(pb::parameters_item::Oneof::Parameter(self::parameter(
                parameter,
            ))),
        })
        .collect()
}

fn parameter(parameter: &Value) -> pb::Parameter {
    use pb::non_body_parameter::Oneof as NonBody;
    let location = text(parameter, "in");
    let oneof = match location.as_str() {
        "body" => pb::parameter::Oneof::BodyParameter(pb::BodyParameter {
            description: text(parameter, "description"),
            name: text(parameter, "name"),
            r#in: location,
            required: flag(parameter, "required"),
            schema: parameter.get("schema").map(schema),
            vendor_extension: extensions(parameter),
        }),
        "path" => pb::parameter::Oneof::NonBodyParameter(pb::NonBodyParameter {
            oneof: Some(NonBody::PathParameterSubSchema(
                pb::PathParameterSubSchema {
                    required: flag(parameter, "required"),
                    r#in: location,
                    description: text(parameter, "description"),
                    name: text(parameter, "name"),
                    r#type: text(parameter, "type"),
                    format: text(parameter, "format"),
                    unique_items: flag(parameter, "uniqueItems"),
                    vendor_extension: extensions(parameter),
                },
            )),
        }),
        // The documents hold body, path and query parameters only.
        _ => pb::parameter::Oneof::NonBodyParameter(pb::NonBodyParameter {
            oneof: Some(NonBody::QueryParameterSubSchema(
                pb::QueryParameterSubSchema {
                    required: flag(parameter, "required"),
                    r#in: location,
                    description: text(parameter, "description"),
                    name: text(parameter, "name"),
                    r#type: text(parameter, "type"),
                    format: text(parameter, "format"),
                    unique_items: flag(parameter, "uniqueItems"),
                    vendor_extension: extensions(parameter),
                },
            )),
        }),
    };
    pb::Parameter { oneof: Some(oneof) }
}

fn named_schema(name: &str, value: &Value) -> pb::NamedSchema {
    pb::NamedSchema {
        name: name.to_owned(),
        value: Some(schema(value)),
    }
}

fn properties(properties: &Map<String, Value>) -> pb::Properties {
    pb::Properties {
        additional_properties: properties
            .iter()
            .map(|(name, value)| named_schema(name, value))
            .collect(),
    }
}

fn number(value: &Value, key: &str) -> f64 {
    value.get(key).and_then(Value::as_f64).unwrap_or_default()
}

fn integer(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or_default()
}

/// A JSON schema as gnostic's Schema.
pub fn schema(value: &Value) -> pb::Schema {
    let type_item = match value.get("type") {
        Some(Value::String(name)) => Some(pb::TypeItem {
            value: vec![name.clone()],
        }),
        Some(Value::Array(_)) => Some(pb::TypeItem {
            value: texts(value, "type"),
        }),
        _ => None,
    };
    let items = match value.get("items") {
        Some(Value::Array(items)) => Some(pb::ItemsItem {
            schema: items.iter().map(schema).collect(),
        }),
        Some(item) => Some(pb::ItemsItem {
            schema: vec![schema(item)],
        }),
        None => None,
    };
    let additional_properties = match value.get("additionalProperties") {
        Some(Value::Bool(allowed)) => Some(pb::AdditionalPropertiesItem {
            oneof: Some(pb::additional_properties_item::Oneof::Boolean(*allowed)),
        }),
        Some(inner) => Some(pb::AdditionalPropertiesItem {
            oneof: Some(pb::additional_properties_item::Oneof::Schema(Box::new(
                schema(inner),
            ))),
        }),
        None => None,
    };
    pb::Schema {
        r#ref: text(value, "$ref"),
        format: text(value, "format"),
        title: text(value, "title"),
        description: text(value, "description"),
        default: value.get("default").map(any),
        multiple_of: number(value, "multipleOf"),
        maximum: number(value, "maximum"),
        exclusive_maximum: flag(value, "exclusiveMaximum"),
        minimum: number(value, "minimum"),
        exclusive_minimum: flag(value, "exclusiveMinimum"),
        max_length: integer(value, "maxLength"),
        min_length: integer(value, "minLength"),
        pattern: text(value, "pattern"),
        max_items: integer(value, "maxItems"),
        min_items: integer(value, "minItems"),
        unique_items: flag(value, "uniqueItems"),
        max_properties: integer(value, "maxProperties"),
        min_properties: integer(value, "minProperties"),
        required: texts(value, "required"),
        r#enum: value
            .get("enum")
            .and_then(Value::as_array)
            .map(|values| values.iter().map(any).collect())
            .unwrap_or_default(),
        additional_properties: additional_properties.map(Box::new),
        r#type: type_item,
        items,
        all_of: value
            .get("allOf")
            .and_then(Value::as_array)
            .map(|schemas| schemas.iter().map(schema).collect())
            .unwrap_or_default(),
        properties: value
            .get("properties")
            .and_then(Value::as_object)
            .map(properties),
        discriminator: text(value, "discriminator"),
        read_only: flag(value, "readOnly"),
        example: value.get("example").map(any),
        vendor_extension: extensions(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_schema_keeps_references_types_and_extensions() {
        let converted = schema(&json!({
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/definitions/x.Y"},
                          "x-kubernetes-patch-merge-key": "name"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Y", "version": "v1"}],
        }));
        assert_eq!(converted.r#type.expect("a type").value, ["object"]);
        assert_eq!(converted.required, ["items"]);
        let properties = converted
            .properties
            .expect("properties")
            .additional_properties;
        let items = properties
            .iter()
            .find(|named| named.name == "items")
            .and_then(|named| named.value.clone())
            .expect("items");
        assert_eq!(
            items.items.expect("items").schema[0].r#ref,
            "#/definitions/x.Y"
        );
        assert_eq!(
            items.vendor_extension[0].name,
            "x-kubernetes-patch-merge-key"
        );
        assert_eq!(
            items.vendor_extension[0]
                .value
                .as_ref()
                .expect("a value")
                .yaml,
            "\"name\""
        );
        let gvk = &converted.vendor_extension[0];
        assert_eq!(gvk.name, "x-kubernetes-group-version-kind");
        assert_eq!(
            serde_json::from_str::<Value>(&gvk.value.as_ref().expect("a value").yaml)
                .expect("JSON"),
            json!([{"group": "", "kind": "Y", "version": "v1"}])
        );
    }
}

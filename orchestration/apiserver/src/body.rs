//! Request bodies read as kube-apiserver reads them: JSON, YAML or
//! Kubernetes protobuf (kubectl's typed commands send it) into an
//! object of the target's kind, type and namespace checked against the
//! path, and fields the kind does not have reported as the request's
//! `fieldValidation` asks (Strict: 400; Warn, the default: a `Warning`
//! header; Ignore: nothing).
//!
//! ```text
//!   Content-Type ─► JSON | YAML | protobuf ─► apiVersion / kind / namespace vs path
//!                               └─► unknown fields ─► Strict? 400 : warnings
//! ```

use keel_api::ResourceInfo;
use serde_json::{Map, Value};

use crate::failure::Failure;
use crate::paths::Target;

/// How the request asks unknown fields to be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Fail the request.
    Strict,
    /// Answer with a `Warning` header per field (kube-apiserver's default).
    Warn,
    /// Drop them silently.
    Ignore,
}

impl FieldValidation {
    /// The query's `fieldValidation`.
    pub(crate) fn from_query(value: Option<&str>) -> Result<Self, Failure> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Strict" => Ok(Self::Strict),
            "Ignore" => Ok(Self::Ignore),
            other => Err(Failure::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn, or Strict; got {other}"
            ))),
        }
    }
}

/// The media types a body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    Json,
    Yaml,
    Protobuf,
}

fn media(content_type: &str) -> Option<Media> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence {
        "" | "application/json" => Some(Media::Json),
        "application/yaml" => Some(Media::Yaml),
        keel_api::protobuf::MEDIA_TYPE => Some(Media::Protobuf),
        _ => None,
    }
}

/// The 415 kube-apiserver answers for a body it cannot read.
pub(crate) fn unsupported_media_type(content_type: &str) -> Failure {
    Failure::new(
        axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type})"
        ),
    )
}

/// Any JSON, YAML or Kubernetes protobuf body, as a value; `kind` names
/// the kind expected, for protobuf's messages.
pub(crate) fn parse_as(kind: &str, content_type: &str, body: &[u8]) -> Result<Value, Failure> {
    if media(content_type) == Some(Media::Protobuf) {
        return keel_api::protobuf::decode(body)
            .map_err(|error| Failure::bad_request(error.bad_request_message(kind)));
    }
    parse(content_type, body)
}

/// Any JSON or YAML body, as a value.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Result<Value, Failure> {
    let decoded = match media(content_type) {
        Some(Media::Protobuf) => return parse_as("", content_type, body),
        Some(Media::Json) => {
            serde_json::from_slice::<Value>(body).map_err(|error| error.to_string())
        }
        Some(Media::Yaml) => {
            serde_saphyr::from_slice::<Value>(body).map_err(|error| error.to_string())
        }
        None => return Err(unsupported_media_type(content_type)),
    };
    decoded.map_err(|error| {
        Failure::bad_request(format!(
            "the body of the request could not be decoded: {error}"
        ))
    })
}

/// The body as an object of `resource`'s kind, in the target's namespace,
/// and the warnings to answer with.
pub(crate) fn object(
    target: &Target,
    content_type: &str,
    body: &[u8],
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), Failure> {
    let resource = target.resource;
    let mut object = parse_as(resource.kind, content_type, body)?;
    check_type(resource, &mut object)?;
    let fields = object.as_object_mut().expect("checked to be an object");
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Failure::bad_request("metadata must be an object"))?;
    if resource.namespaced {
        match metadata.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                metadata.insert("namespace".into(), target.namespace.clone().into());
            }
            Some(namespace) if namespace == target.namespace => {}
            Some(_) => {
                return Err(Failure::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
        }
    }
    let warnings = unknown_fields(resource, &object, validation)?;
    Ok((object, warnings))
}

/// Checks the body's `apiVersion` and `kind` against the path's (filling
/// them in when absent).
pub(crate) fn check_type(resource: &ResourceInfo, object: &mut Value) -> Result<(), Failure> {
    let fields = object
        .as_object_mut()
        .ok_or_else(|| Failure::bad_request("the body of the request is not an object"))?;
    match fields.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            fields.insert("apiVersion".into(), resource.api_version.into());
        }
        Some(version) if version == resource.api_version => {}
        Some(version) => {
            return Err(Failure::bad_request(format!(
            "the API version in the data ({version}) does not match the expected API version ({})",
            resource.api_version
        )))
        }
    }
    match fields.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            fields.insert("kind".into(), resource.kind.into());
        }
        Some(kind) if kind == resource.kind => {}
        Some(kind) => {
            return Err(Failure::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                resource.kind
            )))
        }
    }
    Ok(())
}

/// The unknown fields of `object`, as `validation` asks: Strict fails,
/// Warn answers warnings, Ignore neither.
pub(crate) fn unknown_fields(
    resource: &ResourceInfo,
    object: &Value,
    validation: FieldValidation,
) -> Result<Vec<String>, Failure> {
    if validation == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let unknown: Vec<String> = keel_api::validation::unknown_fields(resource, object)
        .into_iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    if unknown.is_empty() || validation == FieldValidation::Warn {
        return Ok(unknown);
    }
    Err(Failure::bad_request(format!(
        "strict decoding error: {}",
        unknown.join(", ")
    )))
}

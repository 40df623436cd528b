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
    let api_version = match fields.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => resource.api_version.to_owned(),
        Some(version) => version.to_owned(),
    };
    let kind = match fields.get("kind").and_then(Value::as_str) {
        None | Some("") => resource.kind.to_owned(),
        Some(kind) => kind.to_owned(),
    };
    if api_version != resource.api_version || kind != resource.kind {
        return Err(Failure::bad_request(type_mismatch(
            resource,
            &api_version,
            &kind,
        )));
    }
    fields.insert("apiVersion".into(), api_version.into());
    fields.insert("kind".into(), kind.into());
    Ok(())
}

/// Older versions of served kinds that kube-apiserver's scheme still
/// registers (pkg/apis/apps/install, pkg/apis/coordination/install): a
/// body of one of them converts to the served version, and only the
/// group-version check refuses it.
const OLDER_REGISTERED: &[(&str, &[&str])] = &[
    (
        "apps/v1beta1",
        &["ControllerRevision", "Deployment", "StatefulSet"],
    ),
    (
        "apps/v1beta2",
        &[
            "ControllerRevision",
            "DaemonSet",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
        ],
    ),
    ("coordination.k8s.io/v1beta1", &["Lease"]),
];

/// The scheme kube-apiserver decodes built-in kinds with, named as
/// `runtime.NewScheme` names it: the file and line that made it.
const LEGACY_SCHEME: &str = "pkg/api/legacyscheme/scheme.go:30";

/// Why kube-apiserver refuses a body of `api_version` and `kind` sent to
/// `resource`'s path. Its decoder reads the body as the type the body
/// names, then converts that to the path's internal type
/// (k8s.io/apiserver's handlers/create.go and update.go,
/// `transformDecodeError`; k8s.io/apimachinery's runtime/scheme.go and
/// conversion/converter.go word the causes):
///
/// ```text
///   body's type not in the scheme ─► "<kind> in version "<v>" cannot be handled as a <Kind>:
///                                     no kind "<kind>" is registered for version "<g/v>" in scheme ..."
///   another kind ───────────────────► "... cannot be handled as a <Kind>:
///                                     converting (<v>.<kind>) to (<group>.<Kind>): unknown conversion"
///   same kind, older version ───────► "the API version in the data (<g/v>) does not match
///                                     the expected API version (<g/v>)"
/// ```
///
/// keel knows the kinds it serves and their older registered versions;
/// other Kubernetes kinds count as unregistered here, where Kubernetes'
/// scheme would find them and fail their conversion instead.
fn type_mismatch(resource: &ResourceInfo, api_version: &str, kind: &str) -> String {
    let registered = keel_api::resources::by_kind(api_version, kind).is_some()
        || OLDER_REGISTERED
            .iter()
            .any(|(version, kinds)| *version == api_version && kinds.contains(&kind));
    let version = api_version
        .rsplit_once('/')
        .map_or(api_version, |(_, version)| version);
    let cannot = format!(
        "{kind} in version \"{version}\" cannot be handled as a {}",
        resource.kind
    );
    if !registered {
        return format!(
            "{cannot}: no kind \"{kind}\" is registered for version \"{api_version}\" in scheme \"{LEGACY_SCHEME}\""
        );
    }
    if kind == resource.kind {
        return format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version
        );
    }
    // Go's reflect names a type by its package's last element: the
    // version for k8s.io/api's types, the group's first label for the
    // internal ones (pkg/apis/core, pkg/apis/coordination).
    let internal = match resource.group {
        "" => "core",
        group => group.split('.').next().unwrap_or(group),
    };
    format!(
        "{cannot}: converting ({version}.{kind}) to ({internal}.{}): unknown conversion",
        resource.kind
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(api_version: &str, kind: &str) -> &'static ResourceInfo {
        keel_api::resources::by_kind(api_version, kind).unwrap()
    }

    #[test]
    fn a_body_of_another_type_is_refused_as_kube_apiserver_words_it() {
        let config_maps = resource("v1", "ConfigMap");
        let jobs = resource("batch/v1", "Job");
        let deployments = resource("apps/v1", "Deployment");
        // (path's resource, body's apiVersion and kind, the Status message)
        // as kube-apiserver 1.33 answers them.
        let cases = [
            // A lowercase kind (a hand-written manifest): no such type.
            (
                config_maps,
                "v1",
                "configmap",
                "configmap in version \"v1\" cannot be handled as a ConfigMap: no kind \"configmap\" is registered for version \"v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
            ),
            // The group of another kind.
            (
                config_maps,
                "apps/v1",
                "ConfigMap",
                "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: no kind \"ConfigMap\" is registered for version \"apps/v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
            ),
            // Another registered kind: read, then not convertible.
            (
                config_maps,
                "v1",
                "Secret",
                "Secret in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion",
            ),
            (
                jobs,
                "apps/v1",
                "Deployment",
                "Deployment in version \"v1\" cannot be handled as a Job: converting (v1.Deployment) to (batch.Job): unknown conversion",
            ),
            // An older version of the same kind converts; the group
            // version check refuses it.
            (
                deployments,
                "apps/v1beta2",
                "Deployment",
                "the API version in the data (apps/v1beta2) does not match the expected API version (apps/v1)",
            ),
        ];
        for (resource, api_version, kind, message) in cases {
            assert_eq!(type_mismatch(resource, api_version, kind), message);
        }
    }

    #[test]
    fn a_missing_api_version_or_kind_is_the_paths() {
        let mut object = serde_json::json!({"metadata": {"name": "a"}});
        check_type(resource("v1", "ConfigMap"), &mut object).unwrap();
        assert_eq!(object["apiVersion"], "v1");
        assert_eq!(object["kind"], "ConfigMap");
        let mut wrong = serde_json::json!({"apiVersion": "v1", "kind": "Secret"});
        assert!(check_type(resource("v1", "ConfigMap"), &mut wrong).is_err());
    }
}

//! Kubernetes' validation of the kinds keel serves, as kube-apiserver 1.33
//! does it before storing an object: what it rejects, and the field paths,
//! cause types and messages of its 422 Invalid answer.
//!
//! ```text
//!   object (defaulted JSON)
//!        │ validate_create / validate_update
//!        ▼
//!   meta ─► pod, container (Pods and every pod template) ─► workloads (Deployment,
//!   ReplicaSet, DaemonSet, Job, ControllerRevision) / core (Service,
//!   ConfigMap, Secret, Namespace, Node, Endpoints, Event, Lease)
//!        │ Vec<Cause>
//!        ▼
//!   invalid_message + invalid_details ─► the Status of reason Invalid
//!
//!   unknown_fields ─► `unknown field "spec.replica"` (fieldValidation=Strict)
//! ```
//!
//! Rules and messages come from Kubernetes' `pkg/apis/core/validation`,
//! `pkg/apis/apps/validation`, `pkg/apis/batch/validation`,
//! `pkg/apis/coordination/validation`, the registry strategies'
//! `ValidateUpdate`, and apimachinery's `pkg/api/validation` and
//! `pkg/util/validation`. Objects are read as JSON, after defaulting, so a
//! missing field reads as Go's zero value.

pub mod container;
pub mod core;
pub mod field;
pub mod gostring;
pub mod meta;
pub mod names;
pub mod pod;
pub mod quantity;
pub mod strict;
pub mod workloads;

use serde_json::{json, Map, Value};

use crate::resources::ResourceInfo;

pub use strict::unknown_fields;

/// `metav1.CauseType`: why a field is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseType {
    /// A required value is missing or empty.
    FieldValueRequired,
    /// A value is malformed or out of range.
    FieldValueInvalid,
    /// A value is not one of the enumerated ones.
    FieldValueNotSupported,
    /// A value that must be unique is repeated.
    FieldValueDuplicate,
    /// A value is valid in form but not allowed here.
    FieldValueForbidden,
    /// A value is too long.
    FieldValueTooLong,
    /// A list has too many items.
    FieldValueTooMany,
    /// A referenced value does not exist.
    FieldValueNotFound,
}

impl CauseType {
    /// The cause's `reason` as it appears in a Status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldValueRequired => "FieldValueRequired",
            Self::FieldValueInvalid => "FieldValueInvalid",
            Self::FieldValueNotSupported => "FieldValueNotSupported",
            Self::FieldValueDuplicate => "FieldValueDuplicate",
            Self::FieldValueForbidden => "FieldValueForbidden",
            Self::FieldValueTooLong => "FieldValueTooLong",
            Self::FieldValueTooMany => "FieldValueTooMany",
            Self::FieldValueNotFound => "FieldValueNotFound",
        }
    }
}

/// One reason an object is invalid: a `field.Error` as a Status cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The field path (`spec.containers[0].image`); "" for the whole object.
    pub field: String,
    /// The kind of problem.
    pub kind: CauseType,
    /// The message without the field (`Required value`).
    pub message: String,
}

impl Cause {
    /// The error as Go's `field.Error.Error()` prints it: `<field>: <message>`.
    pub fn error_text(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// What kube-apiserver finds wrong with `object` on create.
pub fn validate_create(resource: &ResourceInfo, object: &Value) -> Vec<Cause> {
    match (resource.group, resource.plural) {
        ("", "pods") => pod::pod_create(object),
        ("", "services") => core::service(object),
        ("", "configmaps") => core::config_map(object),
        ("", "secrets") => core::secret(object),
        ("", "namespaces") => core::namespace(object),
        ("", "nodes") => core::node(object),
        ("", "endpoints") => core::endpoints(object),
        ("", "events") => core::event(object),
        ("apps", "deployments") => workloads::deployment(object),
        ("apps", "replicasets") => workloads::replica_set(object),
        ("apps", "daemonsets") => workloads::daemon_set(object),
        ("apps", "controllerrevisions") => workloads::controller_revision(object),
        ("batch", "jobs") => workloads::job(object),
        ("coordination.k8s.io", "leases") => core::lease(object),
        _ => meta::object_meta(object, resource.namespaced, names::NameRule::Subdomain),
    }
}

/// What kube-apiserver finds wrong with replacing `old` by `new`.
pub fn validate_update(resource: &ResourceInfo, old: &Value, new: &Value) -> Vec<Cause> {
    match (resource.group, resource.plural) {
        ("", "pods") => pod::pod_update(old, new),
        ("", "services") => core::service_update(old, new),
        ("", "configmaps") => core::config_map_update(old, new),
        ("", "secrets") => core::secret_update(old, new),
        ("", "nodes") => core::node_update(old, new),
        ("apps", "deployments" | "replicasets" | "daemonsets") => {
            workloads::controller_update(resource, old, new)
        }
        ("apps", "controllerrevisions") => workloads::controller_revision_update(old, new),
        ("batch", "jobs") => workloads::job_update(old, new),
        _ => {
            let mut causes = meta::object_meta_update(old, new);
            causes.extend(validate_create(resource, new));
            causes
        }
    }
}

/// The kind as Status messages name it: `Deployment.apps`, `Pod`.
fn qualified_kind(resource: &ResourceInfo) -> String {
    if resource.group.is_empty() {
        resource.kind.to_owned()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    }
}

/// kube-apiserver's message for an Invalid Status (`errors.NewInvalid`):
/// `<Kind>[.<group>] "<name>" is invalid: <errors>`, where one error shows
/// alone and several show as `[a, b]`, repeated ones once.
pub fn invalid_message(resource: &ResourceInfo, name: &str, causes: &[Cause]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for cause in causes {
        let text = cause.error_text();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    let kind = qualified_kind(resource);
    let name = field::go_quote(name);
    match seen.as_slice() {
        [] => format!("{kind} {name} is invalid"),
        [one] => format!("{kind} {name} is invalid: {one}"),
        many => format!("{kind} {name} is invalid: [{}]", many.join(", ")),
    }
}

/// The Status `details` of an Invalid answer: name, group, kind and one
/// cause per error (`reason`, `message`, `field`), empty fields left out as
/// kube-apiserver's JSON leaves them out.
pub fn invalid_details(resource: &ResourceInfo, name: &str, causes: &[Cause]) -> Value {
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), name.into());
    }
    if !resource.group.is_empty() {
        details.insert("group".into(), resource.group.into());
    }
    details.insert("kind".into(), resource.kind.into());
    let causes: Vec<Value> = causes
        .iter()
        .map(|cause| {
            let mut entry = json!({"reason": cause.kind.as_str(), "message": cause.message});
            if !cause.field.is_empty() {
                entry["field"] = cause.field.clone().into();
            }
            entry
        })
        .collect();
    details.insert("causes".into(), causes.into());
    Value::Object(details)
}

/// The value at `key`, if present and not null.
fn get<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// The string at `key`, "" if absent (Go's zero value).
fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `key`, if present.
fn int(object: &Value, key: &str) -> Option<i64> {
    object.get(key).and_then(Value::as_i64)
}

/// The list at `key`, empty if absent.
fn list<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The entries of the object at `key`, sorted by key, none if absent.
fn entries<'a>(object: &'a Value, key: &str) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<(&String, &Value)> = object
        .get(key)
        .and_then(Value::as_object)
        .map(|map| map.iter().collect())
        .unwrap_or_default();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

#[cfg(test)]
mod tests;

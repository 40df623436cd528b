//! Unknown fields, for `fieldValidation=Strict`: the fields of a body that
//! its kind does not have, named as kube-apiserver's strict decoding
//! (sigs.k8s.io/json) names them, `spec.replica` or
//! `spec.template.spec.containers[0].imagePullPolicyy`; the front answers
//! `strict decoding error: unknown field "spec.replica", ...`.
//!
//! ```text
//!   body ─► k8s-openapi type ─► JSON again ─► keys of the body that did
//!                                             not come back are unknown
//! ```
//!
//! A body that does not decode has no unknown fields here: its decoding
//! error is reported instead.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::resources::ResourceInfo;

fn round_trip<K: DeserializeOwned + Serialize>(object: &Value) -> Option<Value> {
    let typed: K = serde_json::from_value(object.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

fn compare(given: &Value, known: &Value, path: &str, unknown: &mut Vec<String>) {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => {
            for (key, value) in given {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match known.get(key) {
                    Some(kept) => compare(value, kept, &at, unknown),
                    // A null is no field: it decodes to nothing.
                    None if value.is_null() => {}
                    None => unknown.push(at),
                }
            }
        }
        (Value::Array(given), Value::Array(known)) => {
            for (i, (value, kept)) in given.iter().zip(known).enumerate() {
                compare(value, kept, &format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

/// The paths of `object`'s fields that its kind does not have, in the
/// body's key order.
pub fn unknown_fields(resource: &ResourceInfo, object: &Value) -> Vec<String> {
    use k8s_openapi::api::{apps, batch, coordination, core};
    let known = match (resource.group, resource.plural) {
        ("", "pods") => round_trip::<core::v1::Pod>(object),
        ("", "services") => round_trip::<core::v1::Service>(object),
        ("", "configmaps") => round_trip::<core::v1::ConfigMap>(object),
        ("", "secrets") => round_trip::<core::v1::Secret>(object),
        ("", "namespaces") => round_trip::<core::v1::Namespace>(object),
        ("", "nodes") => round_trip::<core::v1::Node>(object),
        ("", "endpoints") => round_trip::<core::v1::Endpoints>(object),
        ("", "events") => round_trip::<core::v1::Event>(object),
        ("apps", "deployments") => round_trip::<apps::v1::Deployment>(object),
        ("apps", "replicasets") => round_trip::<apps::v1::ReplicaSet>(object),
        ("apps", "daemonsets") => round_trip::<apps::v1::DaemonSet>(object),
        ("apps", "controllerrevisions") => round_trip::<apps::v1::ControllerRevision>(object),
        ("batch", "jobs") => round_trip::<batch::v1::Job>(object),
        ("coordination.k8s.io", "leases") => round_trip::<coordination::v1::Lease>(object),
        _ => None,
    };
    let mut unknown = Vec::new();
    if let Some(known) = known {
        compare(object, &known, "", &mut unknown);
    }
    unknown
}

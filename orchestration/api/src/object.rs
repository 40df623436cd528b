//! Objects as kube-apiserver's generic registry handles them, whatever
//! their kind: the system fields set on create and kept on update, and the
//! form they take in keel.
//!
//! ```text
//!   create: defaults ─► prepare_for_create (uid, creationTimestamp,
//!           generation 1, no resourceVersion) ─► to_stored ─► keel
//!   update: defaults ─► prepare_for_update (system fields from the old
//!           object; generation + 1 when the spec changed) ─► to_stored
//!   read:   keel ─► from_stored (resourceVersion = the key's mod_revision)
//! ```
//!
//! Objects are JSON values here ([`serde_json::Value`]), as they cross the
//! HTTP front and patches; the typed views are k8s-openapi's.

use serde_json::{Map, Value};

use crate::defaults;
use crate::resources::ResourceInfo;

/// Why an object could not be read or defaulted.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The body is not an object of the kind it claims.
    #[error("{0}")]
    Decode(String),
}

/// The kinds whose `metadata.generation` counts changes of their spec
/// (their registry strategies set it, Kubernetes 1.33).
fn tracks_generation(resource: &ResourceInfo) -> bool {
    matches!(
        (resource.group, resource.plural),
        ("apps", "deployments" | "replicasets" | "daemonsets") | ("batch", "jobs") | ("", "pods")
    )
}

/// The object's `metadata`, created if missing.
fn metadata(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let fields = object.as_object_mut().expect("made an object above");
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    metadata.as_object_mut().expect("made an object above")
}

/// Runs kube-apiserver's defaulting for the object's kind over its JSON.
pub fn apply_defaults(resource: &ResourceInfo, object: &mut Value) -> Result<(), ObjectError> {
    use k8s_openapi::api::{apps, batch, core};
    fn typed<K>(object: &mut Value, default: fn(&mut K)) -> Result<(), ObjectError>
    where
        K: serde::de::DeserializeOwned + serde::Serialize,
    {
        let mut typed: K = serde_json::from_value(object.take())
            .map_err(|error| ObjectError::Decode(error.to_string()))?;
        default(&mut typed);
        *object =
            serde_json::to_value(typed).map_err(|error| ObjectError::Decode(error.to_string()))?;
        Ok(())
    }
    match (resource.group, resource.plural) {
        ("", "pods") => typed::<core::v1::Pod>(object, defaults::pod::pod),
        ("", "services") => typed::<core::v1::Service>(object, defaults::core::service),
        ("", "namespaces") => typed::<core::v1::Namespace>(object, defaults::core::namespace),
        ("", "nodes") => typed::<core::v1::Node>(object, defaults::core::node),
        ("", "secrets") => typed::<core::v1::Secret>(object, defaults::core::secret),
        ("", "endpoints") => typed::<core::v1::Endpoints>(object, defaults::core::endpoints),
        ("apps", "deployments") => {
            typed::<apps::v1::Deployment>(object, defaults::workloads::deployment)
        }
        ("apps", "replicasets") => {
            typed::<apps::v1::ReplicaSet>(object, defaults::workloads::replica_set)
        }
        ("apps", "daemonsets") => {
            typed::<apps::v1::DaemonSet>(object, defaults::workloads::daemon_set)
        }
        ("batch", "jobs") => typed::<batch::v1::Job>(object, defaults::workloads::job),
        _ => Ok(()),
    }
}

/// Sets what the server owns on a new object, as kube-apiserver's
/// `BeforeCreate` does: a fresh `uid`, `creationTimestamp` (RFC 3339, whole
/// seconds), `generation` 1 for the kinds that track it; no
/// `resourceVersion`, deletion fields or `selfLink`.
pub fn prepare_for_create(resource: &ResourceInfo, object: &mut Value, uid: &str, now: &str) {
    let metadata = metadata(object);
    metadata.insert("uid".into(), uid.into());
    metadata.insert("creationTimestamp".into(), now.into());
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        metadata.remove(field);
    }
    if tracks_generation(resource) {
        metadata.insert("generation".into(), 1.into());
    } else {
        metadata.remove("generation");
    }
    if !resource.namespaced {
        metadata.remove("namespace");
    }
}

/// Carries the server's fields from `old` to its replacement `new`, as
/// kube-apiserver's `BeforeUpdate` does (uid, creationTimestamp, deletion
/// fields are not the client's to change), and counts a change of the spec
/// in `generation`.
pub fn prepare_for_update(resource: &ResourceInfo, old: &Value, new: &mut Value) {
    let old_metadata = old.get("metadata").and_then(Value::as_object);
    let spec_changed = old.get("spec") != new.get("spec");
    let metadata = metadata(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_metadata.and_then(|m| m.get(field)) {
            Some(value) => metadata.insert(field.into(), value.clone()),
            None => metadata.remove(field),
        };
    }
    metadata.remove("selfLink");
    if tracks_generation(resource) && spec_changed {
        let generation = metadata
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata.insert("generation".into(), (generation + 1).into());
    }
}

/// The bytes keel stores for `object`: its JSON without `resourceVersion`
/// (which is the key's mod_revision, never stored), as kube-apiserver
/// writes to etcd with `--storage-media-type=application/json`.
pub fn to_stored(object: &Value) -> Vec<u8> {
    let mut stored = object.clone();
    metadata(&mut stored).remove("resourceVersion");
    serde_json::to_vec(&stored).expect("a JSON value serializes")
}

/// The object stored as `bytes` at `mod_revision`, with its
/// `resourceVersion`.
pub fn from_stored(bytes: &[u8], mod_revision: i64) -> Result<Value, ObjectError> {
    let mut object: Value = serde_json::from_slice(bytes)
        .map_err(|error| ObjectError::Decode(format!("stored object: {error}")))?;
    if !object.is_object() {
        return Err(ObjectError::Decode("stored value is not an object".into()));
    }
    set_resource_version(&mut object, mod_revision);
    Ok(object)
}

/// Sets the object's `resourceVersion` to `revision`.
pub fn set_resource_version(object: &mut Value, revision: i64) {
    metadata(object).insert("resourceVersion".into(), revision.to_string().into());
}

/// The object's name ("" if it has none).
pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{by_plural, of};
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use serde_json::json;

    #[test]
    fn a_created_object_gets_the_servers_fields_and_loses_the_clients() {
        let mut object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7",
                         "uid": "forged", "generation": 9, "selfLink": "/x",
                         "deletionTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {}
        });
        let deployments = by_plural("apps", "deployments").expect("served");
        prepare_for_create(deployments, &mut object, "u-1", "2026-12-07T10:00:00Z");
        assert_eq!(
            object["metadata"],
            json!({"name": "web", "namespace": "default", "uid": "u-1",
                   "creationTimestamp": "2026-12-07T10:00:00Z", "generation": 1})
        );
        let mut map = json!({"metadata": {"name": "cfg", "generation": 3}});
        prepare_for_create(of::<ConfigMap>(), &mut map, "u-2", "2026-12-07T10:00:00Z");
        assert!(map["metadata"].get("generation").is_none(), "not tracked");
    }

    #[test]
    fn an_update_keeps_the_servers_fields_and_counts_spec_changes() {
        let pods = of::<Pod>();
        let old = json!({"metadata": {"name": "p", "uid": "u-1", "generation": 1,
                                      "creationTimestamp": "2026-12-07T10:00:00Z"},
                         "spec": {"containers": [{"name": "c", "image": "a:1"}]}});
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"x": "y"});
        relabelled["metadata"]["uid"] = json!("forged");
        prepare_for_update(pods, &old, &mut relabelled);
        assert_eq!(relabelled["metadata"]["uid"], "u-1");
        assert_eq!(
            relabelled["metadata"]["generation"], 1,
            "metadata is not spec"
        );
        let mut new_image = old.clone();
        new_image["spec"]["containers"][0]["image"] = json!("a:2");
        prepare_for_update(pods, &old, &mut new_image);
        assert_eq!(new_image["metadata"]["generation"], 2);
    }

    #[test]
    fn resource_version_is_the_keys_revision_and_never_stored() {
        let object = json!({"metadata": {"name": "a", "resourceVersion": "12"}, "data": {}});
        let stored = to_stored(&object);
        let text = String::from_utf8(stored.clone()).expect("utf-8");
        assert!(!text.contains("resourceVersion"), "{text}");
        let read = from_stored(&stored, 40).expect("decodes");
        assert_eq!(read["metadata"]["resourceVersion"], "40");
        assert!(from_stored(b"[1]", 3).is_err());
        assert!(from_stored(b"{", 3).is_err());
    }

    #[test]
    fn defaults_run_by_kind_over_json() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                             "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        apply_defaults(of::<Pod>(), &mut pod).expect("a pod");
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["apiVersion"], "v1", "type fields survive");
        let mut bad = json!({"spec": {"containers": "not a list"}});
        let error = apply_defaults(of::<Pod>(), &mut bad).expect_err("not a pod");
        assert!(error.to_string().contains("invalid type"), "{error}");
    }
}

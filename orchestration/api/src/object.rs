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

use serde_json::{json, Map, Value};

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

/// The kinds with a status subresource: their status is the server's and
/// the controllers' (written through `/status`), never a create's or a
/// main-resource update's.
pub fn has_status(resource: &ResourceInfo) -> bool {
    matches!(
        (resource.group, resource.plural),
        ("", "pods" | "services" | "namespaces" | "nodes")
            | ("apps", "deployments" | "replicasets" | "daemonsets")
            | ("batch", "jobs")
    )
}

/// The status a new object starts with, as each kind's strategy sets it in
/// `PrepareForCreate` (`None`: the client's is kept, as for nodes, which
/// the kubelet registers with their capacity).
fn initial_status(resource: &ResourceInfo, object: &Value) -> Option<Value> {
    match (resource.group, resource.plural) {
        ("", "nodes") => None,
        ("", "pods") => Some(json!({"phase": "Pending", "qosClass": qos_class(object)})),
        ("", "namespaces") => Some(json!({"phase": "Active"})),
        _ if has_status(resource) => Some(json!({})),
        _ => None,
    }
}

/// A pod's quality-of-service class (pkg/apis/core/helper/qos `GetPodQOS`):
/// BestEffort without any cpu or memory request or limit, Guaranteed when
/// every container limits both and requests what it limits, else
/// Burstable.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .collect();
    let quantity = |container: &Value, kind: &str, resource: &str| {
        container
            .pointer(&format!("/resources/{kind}/{resource}"))
            .and_then(Value::as_str)
            .filter(|q| !q.trim_start_matches(['0', '.']).is_empty())
            .map(str::to_owned)
    };
    let mut any = false;
    let mut guaranteed = true;
    for container in &containers {
        for resource in ["cpu", "memory"] {
            let request = quantity(container, "requests", resource);
            let limit = quantity(container, "limits", resource);
            any |= request.is_some() || limit.is_some();
            // Requests default to limits, so an absent request with a
            // limit is equal to it.
            guaranteed &= limit.is_some() && (request.is_none() || request == limit);
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
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
    if let Some(status) = initial_status(resource, object) {
        object["status"] = status;
    }
    if (resource.group, resource.plural) == ("batch", "jobs") {
        generate_job_selector(object, uid);
    }
    if resource.plural == "namespaces" && resource.group.is_empty() {
        // Every namespace waits for the namespace controller's cleanup
        // before it goes (pkg/registry/core/namespace/strategy.go).
        let finalizers = object["spec"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == "kubernetes") {
            let mut finalizers = finalizers;
            finalizers.push("kubernetes".into());
            object["spec"]["finalizers"] = finalizers.into();
        }
    }
}

/// A Job's selector and its pods' labels, from its uid, unless the Job
/// chose its own (`manualSelector`), as the Job registry's
/// `generateSelector` does: the template gets `batch.kubernetes.io/
/// controller-uid`, `batch.kubernetes.io/job-name` and their legacy
/// unprefixed twins where it lacks them; the selector matches the uid.
fn generate_job_selector(job: &mut Value, uid: &str) {
    if job.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let name = job
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::Null);
    let labels = &mut job["spec"]["template"]["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    for (key, value) in [
        ("controller-uid", Value::from(uid)),
        ("batch.kubernetes.io/controller-uid", Value::from(uid)),
        ("job-name", name.clone()),
        ("batch.kubernetes.io/job-name", name),
    ] {
        if labels.get(key).is_none() {
            labels[key] = value;
        }
    }
    let match_labels = &mut job["spec"]["selector"]["matchLabels"];
    if !match_labels.is_object() {
        *match_labels = json!({});
    }
    if match_labels
        .get("batch.kubernetes.io/controller-uid")
        .is_none()
    {
        match_labels["batch.kubernetes.io/controller-uid"] = uid.into();
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
    if has_status(resource) {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(fields) = new.as_object_mut() {
                    fields.remove("status");
                }
            }
        }
    }
    if (resource.group, resource.plural) == ("", "services") {
        keep_cluster_ip(old, new);
    }
    if resource.plural == "namespaces" && resource.group.is_empty() {
        // A namespace's finalizers change only through /finalize.
        new["spec"]["finalizers"] = old
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or(Value::Null);
    }
    let metadata = self::metadata(new);
    if tracks_generation(resource) && spec_changed {
        let generation = metadata
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata.insert("generation".into(), (generation + 1).into());
    }
}

/// Makes `new` an update of `old` through the status subresource, as the
/// kinds' status strategies do (`PrepareForUpdate` and
/// `ResetObjectMetaForStatus`): only the status is taken from `new`; the
/// spec and the metadata stay as they were.
pub fn prepare_for_status_update(old: &Value, new: &mut Value) {
    let status = new.get("status").cloned();
    let mut merged = old.clone();
    match status {
        Some(status) => merged["status"] = status,
        None => {
            if let Some(fields) = merged.as_object_mut() {
                fields.remove("status");
            }
        }
    }
    *new = merged;
}

/// A Service update that leaves its cluster IP out keeps the one it was
/// given (the Service REST's `patchAllocatedValues`); one that names
/// another is refused by validation.
fn keep_cluster_ip(old: &Value, new: &mut Value) {
    let given = |service: &Value| {
        service
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_some_and(|ip| !ip.is_empty())
    };
    if !given(old) || given(new) || !new.get("spec").is_some_and(Value::is_object) {
        return;
    }
    for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        let missing = new["spec"].get(field).is_none_or(Value::is_null);
        if let (true, Some(value)) = (missing, old["spec"].get(field)) {
            new["spec"][field] = value.clone();
        }
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

/// Puts `condition` into the object's `status.conditions` (made if
/// missing): any condition of its `type` goes, and it comes last, as
/// Kubernetes' condition setters leave a list.
pub fn put_condition(object: &mut Value, condition: Value) {
    let conditions = &mut object["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = Value::Array(Vec::new());
    }
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c["type"] != condition["type"]);
        list.push(condition);
    }
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

    #[test]
    fn a_condition_replaces_its_type_and_comes_last() {
        let mut pod = json!({"metadata": {"name": "p"}});
        put_condition(&mut pod, json!({"type": "Ready", "status": "False"}));
        assert_eq!(
            pod["status"]["conditions"],
            json!([{"type": "Ready", "status": "False"}])
        );
        put_condition(&mut pod, json!({"type": "PodScheduled", "status": "True"}));
        put_condition(&mut pod, json!({"type": "Ready", "status": "True"}));
        assert_eq!(
            pod["status"]["conditions"],
            json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}])
        );
    }
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

    #[test]
    fn status_is_the_servers_on_create_and_on_update() {
        let deployments = by_plural("apps", "deployments").expect("served");
        let mut created = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2},
                                 "status": {"replicas": 9}});
        prepare_for_create(deployments, &mut created, "u", "2026-12-07T10:00:00Z");
        assert_eq!(created["status"], json!({}), "a create's status is dropped");
        let old = json!({"metadata": {"name": "d", "generation": 1}, "spec": {"replicas": 2},
                         "status": {"replicas": 2}});
        let mut updated = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3},
                                 "status": {"replicas": 7}});
        prepare_for_update(deployments, &old, &mut updated);
        assert_eq!(
            updated["status"],
            json!({"replicas": 2}),
            "kept from the old object"
        );
        assert_eq!(updated["metadata"]["generation"], 2);
        let mut through_status = json!({"metadata": {"name": "d", "labels": {"x": "y"}},
                                        "spec": {"replicas": 5}, "status": {"replicas": 3}});
        prepare_for_status_update(&old, &mut through_status);
        assert_eq!(through_status["spec"], json!({"replicas": 2}), "spec kept");
        assert_eq!(through_status["status"], json!({"replicas": 3}));
        assert!(
            through_status["metadata"].get("labels").is_none(),
            "metadata kept"
        );
    }

    #[test]
    fn namespaces_start_active_with_the_kubernetes_finalizer() {
        let namespaces = by_plural("", "namespaces").expect("served");
        let mut namespace = json!({"metadata": {"name": "team"}});
        prepare_for_create(namespaces, &mut namespace, "u", "2026-12-07T10:00:00Z");
        assert_eq!(namespace["status"], json!({"phase": "Active"}));
        assert_eq!(namespace["spec"]["finalizers"], json!(["kubernetes"]));
        let mut emptied = namespace.clone();
        emptied["spec"]["finalizers"] = json!([]);
        prepare_for_update(namespaces, &namespace, &mut emptied);
        assert_eq!(
            emptied["spec"]["finalizers"],
            json!(["kubernetes"]),
            "only /finalize may"
        );
    }

    #[test]
    fn pods_start_pending_with_their_qos_class() {
        let pod = |resources: Value| {
            let mut pod = json!({"metadata": {"name": "p"},
                                 "spec": {"containers": [{"name": "c", "resources": resources}]}});
            prepare_for_create(of::<Pod>(), &mut pod, "u", "2026-12-07T10:00:00Z");
            pod["status"].clone()
        };
        assert_eq!(
            pod(json!({})),
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        let limits = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(pod(json!({"limits": limits}))["qosClass"], "Guaranteed");
        assert_eq!(
            pod(json!({"limits": limits, "requests": {"cpu": "500m"}}))["qosClass"],
            "Burstable"
        );
        assert_eq!(
            pod(json!({"requests": {"memory": "1Gi"}}))["qosClass"],
            "Burstable"
        );
    }

    #[test]
    fn a_job_gets_a_selector_of_its_uid() {
        let jobs = by_plural("batch", "jobs").expect("served");
        let mut job = json!({"metadata": {"name": "pi"},
                             "spec": {"template": {"spec": {"containers": []}}}});
        prepare_for_create(jobs, &mut job, "u-9", "2026-12-07T10:00:00Z");
        assert_eq!(
            job["spec"]["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-9"}})
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"],
            json!({"controller-uid": "u-9", "batch.kubernetes.io/controller-uid": "u-9",
                   "job-name": "pi", "batch.kubernetes.io/job-name": "pi"})
        );
        let mut manual = json!({"metadata": {"name": "m"},
                                "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        prepare_for_create(jobs, &mut manual, "u-1", "2026-12-07T10:00:00Z");
        assert_eq!(
            manual["spec"]["selector"],
            json!({"matchLabels": {"a": "b"}})
        );
    }

    #[test]
    fn a_service_update_without_its_cluster_ip_keeps_it() {
        let services = by_plural("", "services").expect("served");
        let old = json!({"metadata": {"name": "web"},
                         "spec": {"clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"],
                                  "ports": [{"port": 80}]}});
        let mut new = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 81}]}});
        prepare_for_update(services, &old, &mut new);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.7");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.7"]));
        assert_eq!(new["spec"]["ports"], json!([{"port": 81}]));
    }
}

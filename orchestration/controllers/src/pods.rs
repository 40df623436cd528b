//! What the controllers read from pods and from any object's metadata:
//! phase, activity, readiness and availability (`pkg/api/v1/pod/util.go`,
//! `pkg/controller/controller_utils.go`), controller references
//! (`metav1.GetControllerOf`, `metav1.NewControllerRef`), timestamps, and
//! the pod a controller makes from its template (`GetPodFromTemplate`).
//!
//! ```text
//!   pod JSON ─┐                    is_active / is_ready / is_terminal /
//!             ├─ PodFields ─►      is_terminating / phase_of
//!   typed Pod ┘
//!   pod JSON ─► ready_since / is_available(minReadySeconds, now)
//!   any object JSON ─► name_of, uid_of, controller_of, annotation, ...
//!   owner + template ─► pod_from_template ─► the body of a pod create
//! ```
//!
//! The adapters and the ReplicaSet, Deployment and DaemonSet cores hold
//! kube-apiserver's JSON; the Job and Endpoints cores hold k8s-openapi's
//! [`Pod`]. The pod predicates read either through [`PodFields`], so each
//! rule is written once. A field that is missing reads as Kubernetes'
//! zero value.

use jiff::Timestamp;
use keel_api::k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Map, Value};

/// Which object an action is about: its namespace and name, and its uid
/// for a precondition (so an action never lands on a successor of the
/// same name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

impl ObjectRef {
    /// The reference to `object`.
    pub fn to(object: &Value) -> Self {
        Self {
            namespace: namespace_of(object).to_owned(),
            name: name_of(object).to_owned(),
            uid: uid_of(object).to_owned(),
        }
    }

    /// The informer key, `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The string at `pointer` ("" when missing).
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The integer at `pointer`, if there is one.
pub fn i64_at(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

/// The object's `metadata.name`.
pub fn name_of(object: &Value) -> &str {
    str_at(object, "/metadata/name")
}

/// The object's `metadata.namespace`.
pub fn namespace_of(object: &Value) -> &str {
    str_at(object, "/metadata/namespace")
}

/// The object's `metadata.uid`.
pub fn uid_of(object: &Value) -> &str {
    str_at(object, "/metadata/uid")
}

/// The object's `metadata.generation` (0 when missing).
pub fn generation_of(object: &Value) -> i64 {
    i64_at(object, "/metadata/generation").unwrap_or(0)
}

/// The annotation `key` of the object, if set.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(key))
        .and_then(Value::as_str)
}

/// Whether the object has a `metadata.deletionTimestamp` (it is being
/// deleted, gracefully or behind finalizers).
pub fn is_being_deleted(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Reads a metav1.Time (RFC 3339) at `pointer`.
pub fn timestamp_at(object: &Value, pointer: &str) -> Option<Timestamp> {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
}

/// The object's `metadata.creationTimestamp`.
pub fn created_at(object: &Value) -> Option<Timestamp> {
    timestamp_at(object, "/metadata/creationTimestamp")
}

/// A time as metav1.Time writes it: RFC 3339 in UTC, whole seconds.
pub fn format_time(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The owner reference with `controller: true`, if any
/// (`metav1.GetControllerOf`).
pub fn controller_of(object: &Value) -> Option<&Value> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|reference| reference.get("controller").and_then(Value::as_bool) == Some(true))
}

/// The controller reference `owner` puts on what it makes
/// (`metav1.NewControllerRef`): it controls, and blocks the owner's
/// foreground deletion.
pub fn controller_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The uid of the object's controller (the owner reference with
/// `controller: true`), if any.
pub fn controller_uid_of(object: &Value) -> Option<&str> {
    controller_of(object)?.get("uid").and_then(Value::as_str)
}

/// What the pod predicates read of a pod, in either form a controller
/// holds it.
pub trait PodFields {
    /// `status.phase` ("" when missing, which ranks as Pending).
    fn phase(&self) -> &str;
    /// The status ("True", "False", "Unknown") of the pod's first
    /// condition of type `kind`, if it has one.
    fn condition_status(&self, kind: &str) -> Option<&str>;
    /// Whether `metadata.deletionTimestamp` is set.
    fn has_deletion_timestamp(&self) -> bool;
    /// `metadata.name` ("" when missing).
    fn name(&self) -> &str;
    /// `metadata.uid` ("" when missing).
    fn uid(&self) -> &str;
}

impl PodFields for Value {
    fn phase(&self) -> &str {
        str_at(self, "/status/phase")
    }

    fn condition_status(&self, kind: &str) -> Option<&str> {
        condition_of(self, kind)?
            .get("status")
            .and_then(Value::as_str)
    }

    fn has_deletion_timestamp(&self) -> bool {
        is_being_deleted(self)
    }

    fn name(&self) -> &str {
        name_of(self)
    }

    fn uid(&self) -> &str {
        uid_of(self)
    }
}

impl PodFields for Pod {
    fn phase(&self) -> &str {
        self.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("")
    }

    fn condition_status(&self, kind: &str) -> Option<&str> {
        self.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == kind)
            .map(|c| c.status.as_str())
    }

    fn has_deletion_timestamp(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    fn uid(&self) -> &str {
        self.metadata.uid.as_deref().unwrap_or("")
    }
}

impl<P: PodFields + ?Sized> PodFields for &P {
    fn phase(&self) -> &str {
        (**self).phase()
    }

    fn condition_status(&self, kind: &str) -> Option<&str> {
        (**self).condition_status(kind)
    }

    fn has_deletion_timestamp(&self) -> bool {
        (**self).has_deletion_timestamp()
    }

    fn name(&self) -> &str {
        (**self).name()
    }

    fn uid(&self) -> &str {
        (**self).uid()
    }
}

/// The pod's `status.phase` ("" when missing, which ranks as Pending).
pub fn phase_of(pod: &impl PodFields) -> &str {
    pod.phase()
}

/// Whether the pod has finished for good: Succeeded or Failed
/// (`podutil.IsPodTerminal`).
pub fn is_terminal(pod: &impl PodFields) -> bool {
    matches!(pod.phase(), "Succeeded" | "Failed")
}

/// Whether the pod is being deleted (it has a deletionTimestamp).
pub fn is_terminating(pod: &impl PodFields) -> bool {
    pod.has_deletion_timestamp()
}

/// Whether the pod still counts for its controller: not Succeeded, not
/// Failed, not being deleted (`controller.IsPodActive`).
pub fn is_active(pod: &impl PodFields) -> bool {
    !is_terminal(pod) && !is_terminating(pod)
}

/// Whether the pod's Ready condition is True (`podutil.IsPodReady`).
pub fn is_ready(pod: &impl PodFields) -> bool {
    pod.condition_status("Ready") == Some("True")
}

/// The object's first `status.conditions` entry of type `kind`, if any.
fn condition_of<'v>(object: &'v Value, kind: &str) -> Option<&'v Value> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
}

/// When a ready pod became ready: its Ready condition's
/// `lastTransitionTime` (`None` when not ready or not recorded).
pub fn ready_since(pod: &Value) -> Option<Timestamp> {
    if !is_ready(pod) {
        return None;
    }
    condition_of(pod, "Ready")?
        .get("lastTransitionTime")
        .and_then(Value::as_str)?
        .parse()
        .ok()
}

/// Whether the pod is available: ready, and for `min_ready_seconds` at
/// least, strictly before `now` (`podutil.IsPodAvailable`). A ready pod
/// with no transition time is available only when `min_ready_seconds` is 0.
pub fn is_available(pod: &Value, min_ready_seconds: i64, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds == 0 {
        return true;
    }
    ready_since(pod).is_some_and(|since| {
        since
            .checked_add(jiff::SignedDuration::from_secs(min_ready_seconds))
            .is_ok_and(|available_at| available_at < now)
    })
}

/// The most restarts of any one of the pod's containers.
pub fn max_container_restarts(pod: &Value) -> i64 {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|status| status.get("restartCount").and_then(Value::as_i64))
        .max()
        .unwrap_or(0)
}

/// The body of a pod that `owner` makes from `template`
/// (`controller.GetPodFromTemplate`): the template's labels, annotations,
/// finalizers and spec, the owner's namespace, `generateName` of the
/// owner's name and a dash, and `owner_ref` as its controller.
pub fn pod_from_template(owner: &Value, template: &Value, owner_ref: Value) -> Value {
    let mut metadata = Map::new();
    metadata.insert("generateName".into(), format!("{}-", name_of(owner)).into());
    metadata.insert("namespace".into(), namespace_of(owner).into());
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(value) = template.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), value.clone());
        }
    }
    metadata.insert("ownerReferences".into(), Value::Array(vec![owner_ref]));
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::at;

    fn ready_pod(since: &str) -> Value {
        json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": since}]}})
    }

    #[test]
    fn a_pod_is_available_once_ready_for_min_ready_seconds_strictly_before_now() {
        let pod = ready_pod("2025-01-01T00:00:00Z");
        let cases = [
            (0, "2025-01-01T00:00:00Z", true),
            (10, "2025-01-01T00:00:10Z", false),
            (10, "2025-01-01T00:00:11Z", true),
        ];
        for (min_ready_seconds, now, available) in cases {
            assert_eq!(
                is_available(&pod, min_ready_seconds, at(now)),
                available,
                "minReadySeconds {min_ready_seconds} at {now}"
            );
        }
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(!is_available(&not_ready, 0, at("2025-01-01T00:00:00Z")));
    }

    #[test]
    fn finished_or_deleted_pods_are_not_active() {
        for (pod, active) in [
            (json!({"status": {"phase": "Running"}}), true),
            (json!({"status": {}}), true),
            (json!({"status": {"phase": "Succeeded"}}), false),
            (json!({"status": {"phase": "Failed"}}), false),
            (
                json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}, "status": {"phase": "Running"}}),
                false,
            ),
        ] {
            assert_eq!(is_active(&pod), active, "{pod}");
        }
    }

    #[test]
    fn a_pod_from_a_template_carries_its_labels_and_a_controller_reference() {
        let owner = json!({"metadata": {"name": "web-abc", "namespace": "ns", "uid": "u1"}});
        let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}});
        let pod = pod_from_template(
            &owner,
            &template,
            controller_ref(&owner, "apps/v1", "ReplicaSet"),
        );
        assert_eq!(pod["metadata"]["generateName"], "web-abc-");
        assert_eq!(pod["metadata"]["namespace"], "ns");
        assert_eq!(pod["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            pod["metadata"]["ownerReferences"],
            json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "u1",
                    "controller": true, "blockOwnerDeletion": true}])
        );
        assert_eq!(pod["spec"], template["spec"]);
    }
}

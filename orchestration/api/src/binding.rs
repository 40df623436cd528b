//! A pod's binding to a node, as kube-apiserver's pod registry assigns it
//! (pkg/registry/core/pod/storage/storage.go `assignPod` and
//! `setPodNodeAndMetadata`): once, never while the pod is being deleted,
//! and only to the pod the binding names by uid when it names one. The
//! same rule serves the HTTP front's `pods/binding` and the scheduler's
//! own binds, so no scheduler can overwrite another's.

use serde_json::{json, Value};

/// Why a pod cannot be bound (each is a Conflict in kube-apiserver).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The pod is being deleted.
    #[error("pod {0} is being deleted, cannot be assigned to a host")]
    Deleting(String),
    /// The pod is bound already.
    #[error("pod {pod} is already assigned to node \"{node}\"")]
    Assigned {
        /// The pod's name.
        pod: String,
        /// The node it is bound to.
        node: String,
    },
    /// The binding names another pod of the same name (by uid).
    #[error("Precondition failed: UID in precondition: {expected}, UID in object meta: {actual}")]
    Uid {
        /// The uid the binding names.
        expected: String,
        /// The pod's uid.
        actual: String,
    },
}

/// `pod` bound to `node` at `now` (RFC 3339): its `spec.nodeName` set and
/// its PodScheduled condition True; `uid`, when given, must be the pod's.
pub fn assign(pod: &Value, node: &str, uid: Option<&str>, now: &str) -> Result<Value, BindError> {
    let text = |pointer| pod.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let name = text("/metadata/name");
    if let Some(expected) = uid.filter(|uid| !uid.is_empty()) {
        if expected != text("/metadata/uid") {
            return Err(BindError::Uid {
                expected: expected.to_owned(),
                actual: text("/metadata/uid").to_owned(),
            });
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Err(BindError::Deleting(name.to_owned()));
    }
    let bound = text("/spec/nodeName");
    if !bound.is_empty() {
        return Err(BindError::Assigned {
            pod: name.to_owned(),
            node: bound.to_owned(),
        });
    }
    let mut new = pod.clone();
    new["spec"]["nodeName"] = node.into();
    let scheduled = json!({"type": "PodScheduled", "status": "True",
                           "lastProbeTime": null, "lastTransitionTime": now});
    crate::object::put_condition(&mut new, scheduled);
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00Z";

    fn pod(extra_metadata: &Value, node: &str) -> Value {
        let mut metadata = json!({"name": "web", "namespace": "default", "uid": "u1"});
        for (key, value) in extra_metadata.as_object().unwrap() {
            metadata[key] = value.clone();
        }
        json!({"metadata": metadata, "spec": {"nodeName": node},
               "status": {"phase": "Pending", "conditions": [
                   {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}})
    }

    #[test]
    fn binding_sets_the_node_and_replaces_the_scheduled_condition() {
        let bound = assign(&pod(&json!({}), ""), "n1", Some("u1"), NOW).unwrap();
        assert_eq!(bound["spec"]["nodeName"], "n1");
        assert_eq!(
            bound["status"]["conditions"],
            json!([{"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": NOW}])
        );
        assert_eq!(bound["status"]["phase"], "Pending");
    }

    #[test]
    fn a_bound_deleting_or_other_pod_is_refused_with_kubernetes_messages() {
        let error = assign(&pod(&json!({}), "n2"), "n1", None, NOW).unwrap_err();
        assert_eq!(
            error.to_string(),
            "pod web is already assigned to node \"n2\""
        );
        let deleting = pod(&json!({"deletionTimestamp": NOW}), "");
        let error = assign(&deleting, "n1", None, NOW).unwrap_err();
        assert_eq!(
            error.to_string(),
            "pod web is being deleted, cannot be assigned to a host"
        );
        let error = assign(&pod(&json!({}), ""), "n1", Some("u2"), NOW).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Precondition failed: UID in precondition: u2, UID in object meta: u1"
        );
    }
}

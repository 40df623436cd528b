//! What the scheduler writes to keel, each a task of its own whose
//! [`Outcome`] comes back to the scheduling loop: the bind of a placed pod
//! and the PodScheduled=False condition of a pod that fits nowhere.
//!
//! ```text
//!   bind(pod, node)        ─► Store::bind_seen: CAS on the pod at the version the
//!                             cache holds (read again if it moved on), only if
//!                             still unbound, not being deleted, the same uid
//!                             ─► Bound | BindFailed
//!   unschedulable(pod, msg) ─► Store::update_part_with(Status): the condition,
//!                             written only when it changes ─► ConditionWritten
//! ```
//!
//! A failed bind is [`BindFailure::Settled`] when the pod no longer waits
//! for this scheduler (bound by another, being deleted, gone, replaced by
//! a pod of the same name): it just leaves the queue. Anything else
//! ([`BindFailure::Retry`]) sends it back through its backoff.

use keel_api::binding::BindError;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::object::put_condition;
use keel_api::resources;
use keel_runtime::{Part, Store, StoreError};
use serde_json::Value;

use crate::diagnosis::unschedulable_condition;
use crate::model::PodKey;

/// What a write did.
#[derive(Debug)]
pub enum Outcome {
    /// The pod is bound to `node`; `pod` is as written.
    Bound {
        /// The pod.
        key: PodKey,
        /// Its node.
        node: String,
        /// The pod as written (for the Scheduled event).
        pod: Value,
    },
    /// The bind failed.
    BindFailed {
        /// The pod.
        key: PodKey,
        /// The node it was assumed on.
        node: String,
        /// Why.
        error: StoreError,
    },
    /// The PodScheduled=False condition was written (or found unchanged),
    /// or could not be.
    ConditionWritten {
        /// The pod.
        key: PodKey,
        /// Whether it was.
        result: Result<(), StoreError>,
    },
}

/// What a failed bind means for the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindFailure {
    /// The pod no longer waits for this scheduler: it leaves the queue.
    Settled,
    /// Try again after the pod's backoff.
    Retry,
}

/// What `error`, a bind's, means for the pod.
pub fn bind_failure(error: &StoreError) -> BindFailure {
    match error {
        StoreError::NotFound { .. }
        | StoreError::Bind {
            error: BindError::Assigned { .. } | BindError::Deleting(_) | BindError::Uid { .. },
            ..
        } => BindFailure::Settled,
        _ => BindFailure::Retry,
    }
}

/// Binds the pod `key`, as the scheduler saw it (`seen`, from its cache),
/// to `node`: one compare-and-swap at the resourceVersion seen, the pod
/// read again only if it changed since.
/// With `read_first`, the pod is read before the compare-and-swap, as
/// `pods/binding` does (two round trips; for comparison).
pub async fn bind(
    store: Store,
    key: PodKey,
    seen: Value,
    node: String,
    read_first: bool,
) -> Outcome {
    let bound = if read_first {
        let (namespace, name) = super::feed::namespace_and_name(&key);
        let uid = seen.pointer("/metadata/uid").and_then(Value::as_str);
        store.bind(namespace, name, &node, uid).await
    } else {
        store.bind_seen(&seen, &node).await
    };
    match bound {
        Ok(pod) => Outcome::Bound { key, node, pod },
        Err(error) => Outcome::BindFailed { key, node, error },
    }
}

/// Writes the PodScheduled=False condition with `message` on the pod
/// `key` of `uid`, if it is still pending and the condition changes.
pub async fn unschedulable(store: Store, key: PodKey, uid: String, message: String) -> Outcome {
    let (namespace, name) = super::feed::namespace_and_name(&key);
    let pods = resources::of::<Pod>();
    let written = store
        .update_part_with(pods, namespace, name, Part::Status, |current, _| {
            let pending = current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            let same_pod = current.pointer("/metadata/uid").and_then(Value::as_str) == Some(&uid);
            let changed = (pending && same_pod)
                .then(|| with_unschedulable_condition(current, &message, &super::wall_clock()))
                .flatten();
            // Unchanged: the store writes nothing.
            Ok::<_, StoreError>(changed.unwrap_or_else(|| current.clone()))
        })
        .await;
    Outcome::ConditionWritten {
        key,
        result: written.map(drop),
    }
}

/// `pod` with its PodScheduled condition False for `message`, or `None`
/// when it says so already (`podutil.UpdatePodCondition`: the transition
/// time moves only when the status does; an equal condition is not
/// written again).
pub fn with_unschedulable_condition(pod: &Value, message: &str, now: &str) -> Option<Value> {
    let conditions = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let existing = conditions.iter().find(|c| c["type"] == "PodScheduled");
    let transition = existing
        .filter(|c| c["status"] == "False")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now);
    let condition = unschedulable_condition(message, transition);
    if existing.is_some_and(|c| {
        ["status", "reason", "message"]
            .iter()
            .all(|field| c[*field] == condition[*field])
    }) {
        return None;
    }
    let mut updated = pod.clone();
    put_condition(&mut updated, condition);
    Some(updated)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EARLIER: &str = "2026-01-01T00:00:00Z";
    const NOW: &str = "2026-01-01T00:01:00Z";

    fn pod_with(conditions: &Value) -> Value {
        json!({"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": conditions}})
    }

    #[test]
    fn the_condition_is_written_when_it_changes_and_keeps_its_transition_time() {
        let fresh = with_unschedulable_condition(&pod_with(&json!([])), "0/3 nodes", NOW)
            .expect("a new condition");
        let condition = &fresh["status"]["conditions"][0];
        assert_eq!(
            (
                &condition["status"],
                &condition["reason"],
                &condition["lastTransitionTime"]
            ),
            (&json!("False"), &json!("Unschedulable"), &json!(NOW))
        );

        let same = pod_with(&json!([unschedulable_condition("0/3 nodes", EARLIER)]));
        assert_eq!(
            with_unschedulable_condition(&same, "0/3 nodes", NOW),
            None,
            "unchanged: not written"
        );

        let other_message = with_unschedulable_condition(&same, "0/4 nodes", NOW).expect("new");
        let condition = &other_message["status"]["conditions"][0];
        assert_eq!(condition["message"], "0/4 nodes");
        assert_eq!(condition["lastTransitionTime"], EARLIER, "status unchanged");

        let was_true = pod_with(&json!([
            {"type": "Initialized", "status": "True"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": EARLIER},
        ]));
        let flipped = with_unschedulable_condition(&was_true, "0/3 nodes", NOW).expect("new");
        let conditions = flipped["status"]["conditions"].as_array().expect("list");
        assert_eq!(conditions.len(), 2, "one PodScheduled condition");
        assert_eq!(conditions[0]["type"], "Initialized", "others kept");
        assert_eq!(conditions[1]["lastTransitionTime"], NOW, "status changed");
    }

    #[test]
    fn a_bind_that_lost_to_another_settles_and_others_are_retried() {
        let bind = |error| StoreError::Bind {
            name: "p".into(),
            error,
        };
        let settled = [
            bind(BindError::Assigned {
                pod: "p".into(),
                node: "n".into(),
            }),
            bind(BindError::Deleting("p".into())),
            StoreError::NotFound {
                resource: "pods".into(),
                name: "p".into(),
            },
        ];
        for error in &settled {
            assert_eq!(bind_failure(error), BindFailure::Settled, "{error}");
        }
        let conflict = StoreError::Conflict {
            resource: "pods".into(),
            name: "p".into(),
        };
        assert_eq!(bind_failure(&conflict), BindFailure::Retry);
    }
}

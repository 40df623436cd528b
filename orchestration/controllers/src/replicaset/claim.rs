//! Who owns what: a controller claims the objects its selector matches,
//! as `pkg/controller/controller_ref_manager.go` (`ClaimObject`) decides,
//! for the ReplicaSet controller's pods and the Deployment controller's
//! ReplicaSets alike.
//!
//! ```text
//!   controlled by another ─────────────────────────────► Ignore
//!   controlled by us ── selector matches ──────────────► Owned
//!                    └─ no longer matches ─────────────► Release (unless we are being deleted)
//!   orphan ── matches, alive, same namespace, we alive ► Adopt
//!          └─ otherwise ───────────────────────────────► Ignore
//! ```

use keel_api::selector::LabelSelector;
use serde_json::Value;

use crate::pods::{controller_of, is_being_deleted, namespace_of, uid_of};

/// What a controller does with one object its informer shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already controlled by this controller, and still selected.
    Owned,
    /// An orphan the selector matches: take it (patch in a controller
    /// reference, with the object's uid as a precondition).
    Adopt,
    /// Controlled by this controller but no longer selected: remove this
    /// controller's owner reference.
    Release,
    /// Not this controller's business: controlled by another, not
    /// selected, or being deleted.
    Ignore,
}

impl Claim {
    /// Whether the controller counts the object as its own after the
    /// claim (owned or adopted).
    pub fn is_claimed(self) -> bool {
        matches!(self, Self::Owned | Self::Adopt)
    }
}

/// How `owner`, selecting with `selector`, claims `object`.
pub fn claim(owner: &Value, selector: &LabelSelector, object: &Value) -> Claim {
    let matches = selector.matches_object(object);
    if let Some(reference) = controller_of(object) {
        if reference.get("uid").and_then(Value::as_str) != Some(uid_of(owner)) {
            return Claim::Ignore;
        }
        if matches {
            return Claim::Owned;
        }
        // A controller being deleted lets go of nothing: the garbage
        // collector deletes what it owns.
        if is_being_deleted(owner) {
            return Claim::Ignore;
        }
        return Claim::Release;
    }
    if is_being_deleted(owner) || !matches || is_being_deleted(object) {
        return Claim::Ignore;
    }
    if namespace_of(owner) != namespace_of(object) {
        return Claim::Ignore;
    }
    Claim::Adopt
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(deleted: bool) -> Value {
        let mut owner = json!({"metadata": {"name": "rs", "namespace": "ns", "uid": "rs-uid"}});
        if deleted {
            owner["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        }
        owner
    }

    fn pod(labels: Value, controller_uid: Option<&str>, deleted: bool, namespace: &str) -> Value {
        let mut pod = json!({"metadata": {"name": "p", "namespace": namespace}});
        pod["metadata"]["labels"] = labels;
        if let Some(uid) = controller_uid {
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": uid, "controller": true}]);
        }
        if deleted {
            pod["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        }
        pod
    }

    #[test]
    fn claims_follow_controller_ref_manager() {
        let selector = LabelSelector::from_json(&json!({"matchLabels": {"app": "web"}})).unwrap();
        let web = json!({"app": "web"});
        let other = json!({"app": "db"});
        let cases = [
            (
                "ours and matching",
                owner(false),
                pod(web.clone(), Some("rs-uid"), false, "ns"),
                Claim::Owned,
            ),
            (
                "ours, no longer matching",
                owner(false),
                pod(other.clone(), Some("rs-uid"), false, "ns"),
                Claim::Release,
            ),
            (
                "ours, not matching, owner deleted",
                owner(true),
                pod(other.clone(), Some("rs-uid"), false, "ns"),
                Claim::Ignore,
            ),
            (
                "another controller's",
                owner(false),
                pod(web.clone(), Some("other"), false, "ns"),
                Claim::Ignore,
            ),
            (
                "matching orphan",
                owner(false),
                pod(web.clone(), None, false, "ns"),
                Claim::Adopt,
            ),
            (
                "orphan being deleted",
                owner(false),
                pod(web.clone(), None, true, "ns"),
                Claim::Ignore,
            ),
            (
                "orphan, owner being deleted",
                owner(true),
                pod(web.clone(), None, false, "ns"),
                Claim::Ignore,
            ),
            (
                "orphan not matching",
                owner(false),
                pod(other, None, false, "ns"),
                Claim::Ignore,
            ),
            (
                "orphan in another namespace",
                owner(false),
                pod(web, None, false, "other"),
                Claim::Ignore,
            ),
        ];
        for (name, owner, pod, expected) in cases {
            assert_eq!(claim(&owner, &selector, &pod), expected, "{name}");
        }
    }
}

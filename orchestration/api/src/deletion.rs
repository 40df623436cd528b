//! What a delete does to an object, as kube-apiserver's generic registry
//! decides it (`staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go`
//! `Delete`, `pkg/registry/rest/delete.go` `BeforeDelete`, the pod
//! strategy's graceful deletion and the namespace registry's `Delete`):
//!
//! ```text
//!   preconditions (uid, resourceVersion) ─ mismatch ─► Conflict
//!   propagationPolicy ─► finalizers: Orphan "orphan", Foreground
//!                        "foregroundDeletion", Background neither
//!   namespace with spec.finalizers ─► Terminating (deletionTimestamp, phase)
//!   bound pod, grace > 0 ──────────► deletionTimestamp = now + grace
//!   finalizers left ───────────────► deletionTimestamp = now, grace 0
//!   otherwise ─────────────────────► gone now
//! ```
//!
//! The controllers that finish what is marked here (the kubelet for
//! graceful pods, the namespace controller, the garbage collector) remove
//! their finalizers by updates; an update that leaves a deleting object
//! with no finalizers and no grace period deletes it ([`finished`]).

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use crate::resources::ResourceInfo;

/// The finalizer that orphans an object's dependents.
pub const ORPHAN: &str = "orphan";
/// The finalizer that deletes an object's dependents before it.
pub const FOREGROUND: &str = "foregroundDeletion";
/// A pod's grace period when neither the request nor the pod names one.
const GRACE_SECONDS_DEFAULT: i64 = 30;

/// How a delete treats the object's dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Leave them, without an owner.
    Orphan,
    /// Delete them in the background, after the object.
    Background,
    /// Delete them first, then the object.
    Foreground,
}

/// A `DeleteOptions` body and query, as far as a delete reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`, or the deprecated `orphanDependents`.
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// Why a `DeleteOptions` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(pub String);

impl DeleteOptions {
    /// Reads a DeleteOptions JSON body (empty: none) and the query's
    /// `gracePeriodSeconds` and `propagationPolicy`, which the body
    /// overrides.
    pub fn read(
        body: &[u8],
        query_grace: Option<&str>,
        query_propagation: Option<&str>,
    ) -> Result<Self, OptionsError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(body)
                .map_err(|error| OptionsError(format!("invalid DeleteOptions: {error}")))?
        };
        let mut options = Self::default();
        if let Some(grace) = query_grace.filter(|g| !g.is_empty()) {
            options.grace_period_seconds = Some(
                grace
                    .parse()
                    .map_err(|_| OptionsError(format!("invalid gracePeriodSeconds {grace:?}")))?,
            );
        }
        if let Some(grace) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            options.grace_period_seconds = Some(grace);
        }
        let policy = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or(query_propagation.filter(|p| !p.is_empty()));
        options.propagation = match policy {
            None => match body.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some(Propagation::Orphan),
                Some(false) => Some(Propagation::Background),
                None => None,
            },
            Some("Orphan") => Some(Propagation::Orphan),
            Some("Background") => Some(Propagation::Background),
            Some("Foreground") => Some(Propagation::Foreground),
            Some(other) => {
                return Err(OptionsError(format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                )))
            }
        };
        let text = |pointer: &str| {
            body.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        options.uid = text("/preconditions/uid");
        options.resource_version = text("/preconditions/resourceVersion");
        Ok(options)
    }
}

/// What the delete does.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// Remove the object now.
    Now,
    /// Keep the object, marked for deletion as given (graceful, with
    /// finalizers, or a Terminating namespace).
    Mark(Value),
}

/// Why a delete is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteError {
    /// A precondition does not hold (409 Conflict).
    #[error("Precondition failed: {field} in precondition: {expected}, {field} in object meta: {actual}")]
    Precondition {
        /// "UID" or "ResourceVersion".
        field: &'static str,
        /// What the precondition named.
        expected: String,
        /// What the object has.
        actual: String,
    },
}

fn text_at<'v>(object: &'v Value, pointer: &str) -> &'v str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The propagation a delete of `resource` uses when the request names
/// none: what the kind's strategy defaults to (batch/v1 Jobs orphan their
/// pods; everything else cascades in the background).
fn default_propagation(resource: &ResourceInfo) -> Propagation {
    if (resource.group, resource.plural) == ("batch", "jobs") {
        Propagation::Orphan
    } else {
        Propagation::Background
    }
}

/// The object's finalizers.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect()
}

/// Whether a deleting object's last finalizer is gone and its grace period
/// is over, so that an update writing it deletes it instead (a namespace
/// also waits for its spec's finalizers, as the namespace registry's
/// `ShouldDeleteNamespaceDuringUpdate` does).
pub fn finished(resource: &ResourceInfo, object: &Value) -> bool {
    let namespace_finalizers = (resource.group, resource.plural) == ("", "namespaces")
        && object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    !namespace_finalizers
        && object
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
        && finalizers(object).is_empty()
        && object
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0
}

fn rfc3339(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Decides the delete of `current` (of `resource`, read at
/// `resource_version`) under `options`, at `now`.
pub fn plan(
    resource: &ResourceInfo,
    current: &Value,
    resource_version: i64,
    options: &DeleteOptions,
    now: Timestamp,
) -> Result<Deletion, DeleteError> {
    if let Some(uid) = &options.uid {
        let actual = text_at(current, "/metadata/uid");
        if uid != actual {
            return Err(DeleteError::Precondition {
                field: "UID",
                expected: uid.clone(),
                actual: actual.to_owned(),
            });
        }
    }
    if let Some(rv) = &options.resource_version {
        if *rv != resource_version.to_string() {
            return Err(DeleteError::Precondition {
                field: "ResourceVersion",
                expected: rv.clone(),
                actual: resource_version.to_string(),
            });
        }
    }
    let mut marked = current.clone();
    let deleting = current
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());

    // The dependents' fate, as finalizers. An object already marked keeps
    // its choice unless the request names one.
    let mut finalizers = finalizers(current);
    let propagation = options
        .propagation
        .or((!deleting).then(|| default_propagation(resource)));
    if let Some(propagation) = propagation {
        finalizers.retain(|f| f != ORPHAN && f != FOREGROUND);
        match propagation {
            Propagation::Orphan => finalizers.push(ORPHAN.into()),
            Propagation::Foreground => finalizers.push(FOREGROUND.into()),
            Propagation::Background => {}
        }
    }
    let metadata = marked
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("a stored object has metadata");
    if finalizers.is_empty() {
        metadata.remove("finalizers");
    } else {
        metadata.insert("finalizers".into(), finalizers.clone().into());
    }

    if (resource.group, resource.plural) == ("", "namespaces") {
        let spec_finalizers = current
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if !spec_finalizers && finalizers.is_empty() && !deleting {
            return Ok(Deletion::Now);
        }
        if !deleting {
            metadata.insert("deletionTimestamp".into(), rfc3339(now).into());
            metadata.insert("deletionGracePeriodSeconds".into(), 0.into());
        }
        marked["status"]["phase"] = "Terminating".into();
        return Ok(Deletion::Mark(marked));
    }

    let grace = if (resource.group, resource.plural) == ("", "pods") {
        pod_grace(current, options)
    } else {
        0
    };
    let metadata = marked
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("a stored object has metadata");
    if deleting {
        // A second delete may only shorten the grace period.
        let old_grace = current
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if grace < old_grace {
            metadata.insert(
                "deletionTimestamp".into(),
                rfc3339(now + SignedDuration::from_secs(grace)).into(),
            );
            metadata.insert("deletionGracePeriodSeconds".into(), grace.into());
        }
        return Ok(if finished(resource, &marked) {
            Deletion::Now
        } else {
            Deletion::Mark(marked)
        });
    }
    if grace == 0 && finalizers.is_empty() {
        return Ok(Deletion::Now);
    }
    metadata.insert(
        "deletionTimestamp".into(),
        rfc3339(now + SignedDuration::from_secs(grace)).into(),
    );
    metadata.insert("deletionGracePeriodSeconds".into(), grace.into());
    Ok(Deletion::Mark(marked))
}

/// A pod's grace period (pkg/registry/core/pod/strategy.go
/// `CheckGracefulDelete`): the request's, else the pod's
/// terminationGracePeriodSeconds, else 30; 0 for a pod no kubelet runs
/// (unscheduled, or finished); a negative one is 1.
fn pod_grace(pod: &Value, options: &DeleteOptions) -> i64 {
    let unscheduled = text_at(pod, "/spec/nodeName").is_empty();
    let finished = matches!(text_at(pod, "/status/phase"), "Failed" | "Succeeded");
    if unscheduled || finished {
        return 0;
    }
    let grace = options.grace_period_seconds.unwrap_or_else(|| {
        pod.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(GRACE_SECONDS_DEFAULT)
    });
    if grace < 0 {
        1
    } else {
        grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{by_plural, of};
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().expect("a time")
    }

    fn marked(deletion: Deletion) -> Value {
        match deletion {
            Deletion::Mark(object) => object,
            Deletion::Now => panic!("expected the object to be kept, marked"),
        }
    }

    #[test]
    fn a_plain_object_goes_at_once() {
        let map = json!({"metadata": {"name": "a", "uid": "u1"}});
        let plan = plan(of::<ConfigMap>(), &map, 5, &DeleteOptions::default(), now());
        assert_eq!(plan, Ok(Deletion::Now));
    }

    #[test]
    fn preconditions_are_checked_with_kubernetes_words() {
        let map = json!({"metadata": {"name": "a", "uid": "u1"}});
        let options = DeleteOptions {
            uid: Some("u2".into()),
            ..DeleteOptions::default()
        };
        let error = plan(of::<ConfigMap>(), &map, 5, &options, now()).expect_err("stale");
        assert_eq!(
            error.to_string(),
            "Precondition failed: UID in precondition: u2, UID in object meta: u1"
        );
        let options = DeleteOptions {
            resource_version: Some("4".into()),
            ..DeleteOptions::default()
        };
        let error = plan(of::<ConfigMap>(), &map, 5, &options, now()).expect_err("stale");
        assert_eq!(
            error.to_string(),
            "Precondition failed: ResourceVersion in precondition: 4, ResourceVersion in object meta: 5"
        );
    }

    #[test]
    fn a_bound_pod_is_deleted_gracefully_and_an_unbound_one_at_once() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1",
                         "terminationGracePeriodSeconds": 30}});
        let object =
            marked(plan(of::<Pod>(), &pod, 5, &DeleteOptions::default(), now()).expect("ok"));
        assert_eq!(
            object["metadata"]["deletionTimestamp"],
            "2026-12-07T12:00:30Z"
        );
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 30);
        // A second delete may shorten it, to nothing.
        let now_options = DeleteOptions {
            grace_period_seconds: Some(0),
            ..DeleteOptions::default()
        };
        assert_eq!(
            plan(of::<Pod>(), &object, 6, &now_options, now()),
            Ok(Deletion::Now)
        );
        let unbound = json!({"metadata": {"name": "p"}, "spec": {}});
        assert_eq!(
            plan(of::<Pod>(), &unbound, 5, &DeleteOptions::default(), now()),
            Ok(Deletion::Now)
        );
    }

    #[test]
    fn propagation_policies_become_finalizers() {
        let deployment = json!({"metadata": {"name": "d", "finalizers": ["example.com/x"]}});
        let deployments = by_plural("apps", "deployments").expect("served");
        for (propagation, expected) in [
            (Propagation::Orphan, json!(["example.com/x", "orphan"])),
            (
                Propagation::Foreground,
                json!(["example.com/x", "foregroundDeletion"]),
            ),
            (Propagation::Background, json!(["example.com/x"])),
        ] {
            let options = DeleteOptions {
                propagation: Some(propagation),
                ..DeleteOptions::default()
            };
            let object = marked(plan(deployments, &deployment, 3, &options, now()).expect("ok"));
            assert_eq!(
                object["metadata"]["finalizers"], expected,
                "{propagation:?}"
            );
            assert_eq!(
                object["metadata"]["deletionTimestamp"],
                "2026-12-07T12:00:00Z"
            );
            assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
        }
        // A Job's delete orphans its pods unless told otherwise.
        let job = json!({"metadata": {"name": "j"}});
        let jobs = by_plural("batch", "jobs").expect("served");
        let object = marked(plan(jobs, &job, 3, &DeleteOptions::default(), now()).expect("ok"));
        assert_eq!(object["metadata"]["finalizers"], json!(["orphan"]));
    }

    #[test]
    fn a_namespace_with_finalizers_terminates() {
        let namespace = json!({"metadata": {"name": "team"}, "spec": {"finalizers": ["kubernetes"]},
                               "status": {"phase": "Active"}});
        let object = marked(
            plan(
                of::<Namespace>(),
                &namespace,
                3,
                &DeleteOptions::default(),
                now(),
            )
            .expect("ok"),
        );
        assert_eq!(object["status"]["phase"], "Terminating");
        assert_eq!(
            object["metadata"]["deletionTimestamp"],
            "2026-12-07T12:00:00Z"
        );
        assert!(
            !finished(of::<Namespace>(), &object),
            "the namespace controller empties spec.finalizers first"
        );
        let mut finalized = object.clone();
        finalized["spec"]["finalizers"] = json!([]);
        assert!(finished(of::<Namespace>(), &finalized));
        let bare = json!({"metadata": {"name": "team"}, "spec": {}});
        assert_eq!(
            plan(
                of::<Namespace>(),
                &bare,
                3,
                &DeleteOptions::default(),
                now()
            ),
            Ok(Deletion::Now)
        );
    }

    #[test]
    fn options_read_from_body_and_query() {
        let options = DeleteOptions::read(
            br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground",
                 "preconditions":{"uid":"u1"}}"#,
            Some("5"),
            None,
        )
        .expect("valid");
        assert_eq!(options.propagation, Some(Propagation::Foreground));
        assert_eq!(options.grace_period_seconds, Some(5));
        assert_eq!(options.uid.as_deref(), Some("u1"));
        let orphan =
            DeleteOptions::read(br#"{"orphanDependents": true}"#, None, None).expect("valid");
        assert_eq!(orphan.propagation, Some(Propagation::Orphan));
        assert!(DeleteOptions::read(b"", None, Some("Sideways")).is_err());
        assert!(DeleteOptions::read(b"{", None, None).is_err());
    }
}

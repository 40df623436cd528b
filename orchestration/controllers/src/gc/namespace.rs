//! The namespace deleter (`namespaced_resources_deleter.go` and
//! `status_condition_utils.go`): a Terminating namespace is emptied, its
//! status says what remains, and then its "kubernetes" finalizer goes.

use std::collections::BTreeMap;

use keel_api::deletion::{self, DeleteOptions, Deletion, Propagation};
use keel_api::k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceStatus};
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use keel_api::resources::by_kind;
use serde_json::Value;

use super::{deleting, ObjectId};

/// The finalizer in a namespace's `spec.finalizers` that this controller
/// removes once the namespace is empty.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";
/// How soon to look again while something remains and nothing says when
/// it will go.
const RECHECK: SignedDuration = SignedDuration::from_secs(5);

/// The deleter's conditions, in order, with their reason and message when
/// all is well (`okReasons`, `okMessages`).
const CONDITIONS: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// What to do about a namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespacePlan {
    /// Delete these objects (propagation Background).
    pub delete: Vec<ObjectId>,
    /// The namespace's new status, when it changed.
    pub status: Option<NamespaceStatus>,
    /// The namespace is empty: remove [`NAMESPACE_FINALIZER`] from its
    /// `spec.finalizers` through `/finalize`.
    pub finalize: bool,
    /// Look again after this long if nothing else wakes the controller.
    pub requeue_after: Option<SignedDuration>,
}

/// The resource name in messages: "pods." for the core group,
/// "deployments.apps" otherwise (`"%s.%s"` of resource and group).
fn resource_name(object: &Value) -> String {
    let id = ObjectId::of(object);
    if let Some(info) = by_kind(&id.api_version, &id.kind) {
        format!("{}.{}", info.plural, info.group)
    } else {
        let group = id.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        format!("{}.{group}", id.kind.to_lowercase())
    }
}

/// What `object` looks like after a Background delete at `now`: `None`
/// if it goes at once.
fn after_delete(object: &Value, now: Timestamp) -> Option<Value> {
    let id = ObjectId::of(object);
    let Some(resource) = by_kind(&id.api_version, &id.kind) else {
        return Some(object.clone());
    };
    let options = DeleteOptions {
        propagation: Some(Propagation::Background),
        ..DeleteOptions::default()
    };
    match deletion::plan(resource, object, 0, &options, now) {
        Ok(Deletion::Now) => None,
        Ok(Deletion::Mark(marked)) => Some(marked),
        Err(_) => Some(object.clone()),
    }
}

/// Plans the deletion of `namespace`'s content (`objects`, every object
/// in it) at `now`.
pub fn plan(namespace: &Namespace, objects: &[Value], now: Timestamp) -> NamespacePlan {
    let mut out = NamespacePlan::default();
    let finalizing = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == NAMESPACE_FINALIZER));
    if namespace.metadata.deletion_timestamp.is_none() || !finalizing {
        return out;
    }
    // Delete what is not being deleted; keep what would remain.
    let mut remaining = Vec::new();
    for object in objects {
        if deleting(object) {
            remaining.push(object.clone());
        } else {
            out.delete.push(ObjectId::of(object));
            remaining.extend(after_delete(object, now));
        }
    }
    let mut by_resource: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_finalizer: BTreeMap<String, usize> = BTreeMap::new();
    for object in &remaining {
        *by_resource.entry(resource_name(object)).or_default() += 1;
        for finalizer in deletion::finalizers(object) {
            *by_finalizer.entry(finalizer).or_default() += 1;
        }
    }
    let mut failing: BTreeMap<&str, (&str, String)> = BTreeMap::new();
    if !by_resource.is_empty() {
        let mut parts: Vec<String> = by_resource
            .iter()
            .map(|(resource, n)| format!("{resource} has {n} resource instances"))
            .collect();
        parts.sort();
        failing.insert(
            "NamespaceContentRemaining",
            (
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", parts.join(", ")),
            ),
        );
    }
    if !by_finalizer.is_empty() {
        let mut parts: Vec<String> = by_finalizer
            .iter()
            .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
            .collect();
        parts.sort();
        failing.insert(
            "NamespaceFinalizersRemaining",
            (
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    parts.join(", ")
                ),
            ),
        );
    }
    let old = namespace.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.phase = Some("Terminating".into());
    update_conditions(&mut status, &failing, now);
    if status != old {
        out.status = Some(status);
    }
    if remaining.is_empty() {
        out.finalize = true;
    } else {
        // A graceful pod says when it will be gone.
        let grace = remaining
            .iter()
            .filter_map(|o| {
                o.pointer("/metadata/deletionTimestamp")?
                    .as_str()?
                    .parse::<Timestamp>()
                    .ok()
            })
            .map(|t| t.duration_since(now))
            .max()
            .unwrap_or(SignedDuration::ZERO);
        out.requeue_after = Some(grace.max(RECHECK));
    }
    out
}

/// `updateConditions`: every condition present, failing or ok; the
/// transition time moves only when the status does.
fn update_conditions(
    status: &mut NamespaceStatus,
    failing: &BTreeMap<&str, (&str, String)>,
    now: Timestamp,
) {
    let list = status.conditions.get_or_insert_with(Vec::new);
    for (kind, ok_reason, ok_message) in CONDITIONS {
        let (state, reason, message) = match failing.get(kind) {
            Some((reason, message)) => ("True", *reason, message.clone()),
            None => ("False", ok_reason, ok_message.to_owned()),
        };
        match list.iter_mut().find(|c| c.type_ == kind) {
            None => list.push(NamespaceCondition {
                type_: kind.to_owned(),
                status: state.to_owned(),
                reason: Some(reason.to_owned()),
                message: Some(message),
                last_transition_time: Some(Time(now)),
            }),
            Some(c) => {
                if c.status != state {
                    c.last_transition_time = Some(Time(now));
                }
                state.clone_into(&mut c.status);
                c.reason = Some(reason.to_owned());
                c.message = Some(message);
            }
        }
    }
}

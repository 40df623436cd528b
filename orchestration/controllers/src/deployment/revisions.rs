//! A Deployment's ReplicaSets as versions of its template: which one is new
//! (same template), the revision numbers `kubectl rollout history` lists,
//! and the annotations the controller keeps on them
//! (`pkg/controller/deployment/util/deployment_util.go`).
//!
//! ```text
//!   new RS  = the oldest RS whose template equals the Deployment's (hash label aside)
//!   revision of a new RS = max(revisions of the old ones) + 1
//!     (rollout undo puts an old template back: that RS becomes new again and
//!      gets the next revision; its old numbers go to revision-history)
//!   RS annotations = the Deployment's (but the skipped ones) + revision,
//!                    desired-replicas, max-replicas
//! ```

use std::cmp::Ordering;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::spec::{rs_replicas, template};
use crate::pods::{annotation, created_at, name_of};

/// The revision of a Deployment's ReplicaSet (and of the Deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The revisions a ReplicaSet served before it became new again.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last
/// scaled (proportional scaling reads it).
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Why a revision was made; copied from the Deployment to its new
/// ReplicaSet, shown as CHANGE-CAUSE by `kubectl rollout history`.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// The label on a ReplicaSet, its selector and its pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// The longest revision-history annotation kept (`maxRevHistoryLengthInChars`).
pub const REVISION_HISTORY_CHARS_MAX: usize = 2000;

/// Annotations of the Deployment never copied to its ReplicaSets
/// (`annotationsToSkip`).
const SKIPPED_ANNOTATIONS: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// Whether a Deployment annotation stays off its ReplicaSets.
pub fn is_skipped_annotation(key: &str) -> bool {
    SKIPPED_ANNOTATIONS.contains(&key)
}

/// The object's revision: 0 when it has none, `None` when unreadable
/// (such ReplicaSets are left out of revision arithmetic).
pub fn revision_of(object: &Value) -> Option<i64> {
    match annotation(object, REVISION_ANNOTATION) {
        None => Some(0),
        Some(text) => text.parse().ok(),
    }
}

/// The highest revision among `replica_sets` (0 for none).
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a Value>) -> i64 {
    replica_sets
        .into_iter()
        .filter_map(revision_of)
        .max()
        .unwrap_or(0)
}

/// The creation time an RS sorts by; one created by this very sync has
/// none yet and sorts as the newest.
fn creation_key(replica_set: &Value) -> (Option<Timestamp>, bool) {
    let created = created_at(replica_set);
    (created, created.is_none())
}

/// Oldest first, ties by name (`ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &Value, b: &Value) -> Ordering {
    let (ta, newa) = creation_key(a);
    let (tb, newb) = creation_key(b);
    newa.cmp(&newb)
        .then(ta.cmp(&tb))
        .then_with(|| name_of(a).cmp(name_of(b)))
}

/// Lowest revision first, ties by creation (`ReplicaSetsByRevision`).
pub fn by_revision(a: &Value, b: &Value) -> Ordering {
    match (revision_of(a), revision_of(b)) {
        (Some(ra), Some(rb)) if ra != rb => ra.cmp(&rb),
        _ => by_creation(a, b),
    }
}

/// Whether a field is one semantic equality ignores. A container's
/// `resources` is a struct, not a pointer, in Go: `{}` and no field are
/// one value there (kubectl's `rollout undo` sends `{}` back where the
/// stored template had none).
fn is_ignored(key: &str, value: &Value) -> bool {
    let empty_map = matches!(key, "labels" | "annotations" | "nodeSelector" | "resources")
        && value.as_object().is_some_and(Map::is_empty);
    value.is_null() || value.as_array().is_some_and(Vec::is_empty) || empty_map
}

/// Removes what semantic equality ignores: nulls, empty lists, empty
/// label or annotation maps and empty container resources (Go's nil and empty maps and slices compare
/// equal in `apiequality.Semantic`).
fn normalized(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(key, v)| !is_ignored(key, v))
                .map(|(key, v)| (key.clone(), normalized(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        scalar => scalar.clone(),
    }
}

/// Whether two pod templates are the same but for the pod-template-hash
/// label (`EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    let strip = |template: &Value| {
        let mut template = template.clone();
        if let Some(labels) = template
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
        }
        normalized(&template)
    };
    strip(a) == strip(b)
}

/// The index of the Deployment's new ReplicaSet among `replica_sets`: the
/// oldest whose template equals the Deployment's (`FindNewReplicaSet`).
pub fn find_new(deployment: &Value, replica_sets: &[Value]) -> Option<usize> {
    let wanted = template(deployment);
    let mut matching: Vec<usize> = (0..replica_sets.len())
        .filter(|&i| {
            equal_ignore_hash(
                replica_sets[i]
                    .pointer("/spec/template")
                    .unwrap_or(&Value::Null),
                wanted,
            )
        })
        .collect();
    matching.sort_by(|&a, &b| by_creation(&replica_sets[a], &replica_sets[b]));
    matching.first().copied()
}

fn annotations_mut(object: &mut Value) -> &mut Map<String, Value> {
    let metadata = object
        .as_object_mut()
        .expect("a Kubernetes object is a JSON object")
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let annotations = metadata
        .as_object_mut()
        .expect("metadata is a JSON object")
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    annotations.as_object_mut().expect("made an object above")
}

/// Sets an annotation; whether it changed.
pub fn set_annotation(object: &mut Value, key: &str, value: &str) -> bool {
    let annotations = annotations_mut(object);
    if annotations.get(key).and_then(Value::as_str) == Some(value) {
        return false;
    }
    annotations.insert(key.into(), value.into());
    true
}

/// Records the Deployment's replicas and its replicas plus surge on a
/// ReplicaSet; whether they changed (`SetReplicasAnnotations`).
pub fn set_replicas_annotations(replica_set: &mut Value, desired: i64, max: i64) -> bool {
    let desired_changed = set_annotation(
        replica_set,
        DESIRED_REPLICAS_ANNOTATION,
        &desired.to_string(),
    );
    let max_changed = set_annotation(replica_set, MAX_REPLICAS_ANNOTATION, &max.to_string());
    desired_changed || max_changed
}

/// Whether the replicas annotations differ from these numbers.
pub fn replicas_annotations_differ(replica_set: &Value, desired: i64, max: i64) -> bool {
    annotation(replica_set, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(replica_set, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

/// Brings the new ReplicaSet's annotations up to date: the Deployment's own
/// (those not skipped), the revision raised to `new_revision` (keeping the
/// ones it replaces in the revision history), and, for one about to be
/// created, the replicas annotations. Whether anything changed
/// (`SetNewReplicaSetAnnotations`).
pub fn set_new_replica_set_annotations(
    deployment: &Value,
    replica_set: &mut Value,
    new_revision: i64,
    replicas: (i64, i64),
    exists: bool,
) -> bool {
    let mut changed = false;
    let copied: Vec<(String, String)> = deployment
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| !is_skipped_annotation(key))
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or("").to_owned()))
        .collect();
    for (key, value) in copied {
        changed |= set_annotation(replica_set, &key, &value);
    }
    let old_text = annotation(replica_set, REVISION_ANNOTATION).map(str::to_owned);
    let old_revision = match old_text.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(revision) => revision,
            // An unreadable revision is left alone, as Kubernetes does.
            Err(_) => return false,
        },
    };
    if old_revision < new_revision {
        set_annotation(replica_set, REVISION_ANNOTATION, &new_revision.to_string());
        changed = true;
        if let Some(old_text) = old_text {
            push_revision_history(replica_set, &old_text);
        }
    }
    if !exists {
        changed |= set_replicas_annotations(replica_set, replicas.0, replicas.1);
    }
    changed
}

/// Appends `old` to the revision history, dropping the oldest entries to
/// stay within [`REVISION_HISTORY_CHARS_MAX`].
fn push_revision_history(replica_set: &mut Value, old: &str) {
    let history = annotation(replica_set, REVISION_HISTORY_ANNOTATION)
        .unwrap_or("")
        .to_owned();
    if history.is_empty() {
        set_annotation(replica_set, REVISION_HISTORY_ANNOTATION, old);
        return;
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut length = history.len() + old.len() + 1;
    while length > REVISION_HISTORY_CHARS_MAX && !entries.is_empty() {
        length -= entries.remove(0).len() + 1;
    }
    if length <= REVISION_HISTORY_CHARS_MAX {
        entries.push(old);
        set_annotation(replica_set, REVISION_HISTORY_ANNOTATION, &entries.join(","));
    }
}

/// The ReplicaSets with pods wanted (`FilterActiveReplicaSets`).
pub fn is_active(replica_set: &Value) -> bool {
    rs_replicas(replica_set) > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, revision: Option<&str>, created: &str, image: &str) -> Value {
        let mut rs = json!({
            "metadata": {"name": name, "creationTimestamp": created, "annotations": {}},
            "spec": {"replicas": 1, "template": {
                "metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: name}},
                "spec": {"containers": [{"name": "c", "image": image}]}}},
        });
        if let Some(revision) = revision {
            rs["metadata"]["annotations"][REVISION_ANNOTATION] = json!(revision);
        }
        rs
    }

    #[test]
    fn the_new_replica_set_is_the_oldest_with_the_template_hash_aside() {
        let deployment = json!({"spec": {"template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "v2"}]}}}});
        let replica_sets = vec![
            rs("b", Some("2"), "2025-01-02T00:00:00Z", "v2"),
            rs("old", Some("1"), "2025-01-01T00:00:00Z", "v1"),
            rs("a", Some("3"), "2025-01-01T12:00:00Z", "v2"),
        ];
        assert_eq!(find_new(&deployment, &replica_sets), Some(2));
        assert_eq!(max_revision(&replica_sets), 3);
        let none =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v3"}]}}}});
        assert_eq!(find_new(&none, &replica_sets), None);
    }

    #[test]
    fn templates_compare_semantically() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"volumes": [], "x": null}});
        let b = json!({"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: "h"}}, "spec": {}});
        assert!(equal_ignore_hash(&a, &b));
        let c = json!({"metadata": {"labels": {"app": "db"}}, "spec": {}});
        assert!(!equal_ignore_hash(&a, &c));
        // What `kubectl rollout undo` sends back (Go prints the struct).
        let stored = json!({"spec": {"containers": [{"name": "c", "image": "v1"}]}});
        let undone =
            json!({"spec": {"containers": [{"name": "c", "image": "v1", "resources": {}}]}});
        assert!(equal_ignore_hash(&stored, &undone));
        let limited = json!({"spec": {"containers": [{"name": "c", "image": "v1",
                                                      "resources": {"limits": {"cpu": "1"}}}]}});
        assert!(!equal_ignore_hash(&stored, &limited));
    }

    #[test]
    fn a_reused_replica_set_gets_the_next_revision_and_keeps_its_old_one() {
        let deployment = json!({"metadata": {"annotations": {
            CHANGE_CAUSE_ANNOTATION: "kubectl rollout undo",
            REVISION_ANNOTATION: "3",
            "kubectl.kubernetes.io/last-applied-configuration": "{}"}}});
        let mut old = rs("web-1", Some("1"), "2025-01-01T00:00:00Z", "v1");
        assert!(set_new_replica_set_annotations(
            &deployment,
            &mut old,
            4,
            (3, 4),
            true
        ));
        let annotations = &old["metadata"]["annotations"];
        assert_eq!(annotations[REVISION_ANNOTATION], "4");
        assert_eq!(annotations[REVISION_HISTORY_ANNOTATION], "1");
        assert_eq!(annotations[CHANGE_CAUSE_ANNOTATION], "kubectl rollout undo");
        assert!(annotations
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none());
        assert!(
            annotations.get(DESIRED_REPLICAS_ANNOTATION).is_none(),
            "only set on creation"
        );
        // Undone again later: the history grows.
        assert!(set_new_replica_set_annotations(
            &deployment,
            &mut old,
            6,
            (3, 4),
            true
        ));
        assert_eq!(
            old["metadata"]["annotations"][REVISION_HISTORY_ANNOTATION],
            "1,4"
        );
        // Nothing to do the second time.
        assert!(!set_new_replica_set_annotations(
            &deployment,
            &mut old,
            6,
            (3, 4),
            true
        ));
    }

    #[test]
    fn a_created_replica_set_gets_the_replicas_annotations() {
        let mut new = json!({"metadata": {}});
        assert!(set_new_replica_set_annotations(
            &json!({}),
            &mut new,
            1,
            (10, 13),
            false
        ));
        assert_eq!(
            new["metadata"]["annotations"],
            json!({REVISION_ANNOTATION: "1", DESIRED_REPLICAS_ANNOTATION: "10", MAX_REPLICAS_ANNOTATION: "13"})
        );
    }

    #[test]
    fn replica_sets_sort_by_revision_then_creation() {
        let mut list = [
            rs("c", Some("3"), "2025-01-01T00:00:00Z", "v"),
            rs("b", Some("1"), "2025-01-03T00:00:00Z", "v"),
            rs("a", Some("1"), "2025-01-02T00:00:00Z", "v"),
        ];
        list.sort_by(by_revision);
        let names: Vec<&str> = list.iter().map(name_of).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
    }
}

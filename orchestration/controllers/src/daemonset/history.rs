//! A DaemonSet's history as ControllerRevisions (pkg/controller/daemon/
//! update.go `constructHistory`, `cleanupHistory`; pkg/controller/history):
//! one revision per template, named `<daemonset>-<hash>`, holding the
//! template as a patch that replaces it, numbered in the order templates
//! were current. `kubectl rollout history` and `rollout undo` read them.

use serde_json::{json, Value};

use crate::deployment::hash::pod_template_hash;
use crate::pods::{controller_ref, i64_at, name_of, namespace_of};

/// The label daemon pods and revisions carry: the template's hash.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The DaemonSet's current template hash.
pub fn current_hash(daemon_set: &Value) -> String {
    let template = daemon_set
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    pod_template_hash(&template, i64_at(daemon_set, "/status/collisionCount"))
}

/// A revision's data: the template as a patch that replaces it
/// (`getPatch`).
fn data_of(daemon_set: &Value) -> Value {
    let mut template = daemon_set
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    template["$patch"] = "replace".into();
    json!({"spec": {"template": template}})
}

/// The revision for the DaemonSet's current template, numbered `revision`.
pub fn revision_object(daemon_set: &Value, hash: &str, revision: i64) -> Value {
    let mut labels = daemon_set
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    labels[REVISION_HASH_LABEL] = hash.into();
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": format!("{}-{hash}", name_of(daemon_set)),
            "namespace": namespace_of(daemon_set),
            "labels": labels,
            "ownerReferences": [controller_ref(daemon_set, "apps/v1", "DaemonSet")],
        },
        "data": data_of(daemon_set),
        "revision": revision,
    })
}

/// What the history needs written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryPlan {
    /// A revision to create for the current template.
    pub create: Option<Value>,
    /// An existing revision of the current template brought forward to
    /// this number (a rollback to an older template): (name, revision).
    pub renumber: Option<(String, i64)>,
    /// Old revisions beyond `revisionHistoryLimit` that no pod uses.
    pub delete: Vec<String>,
}

/// The history's changes, given the DaemonSet's `revisions` and the hashes
/// its live pods carry.
pub fn plan(daemon_set: &Value, revisions: &[Value], pod_hashes: &[&str]) -> HistoryPlan {
    let hash = current_hash(daemon_set);
    let name = format!("{}-{hash}", name_of(daemon_set));
    let highest = revisions
        .iter()
        .filter_map(|r| r.get("revision").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    let mut history = HistoryPlan::default();
    match revisions.iter().find(|r| name_of(r) == name) {
        None => history.create = Some(revision_object(daemon_set, &hash, highest + 1)),
        Some(current) => {
            let number = current.get("revision").and_then(Value::as_i64).unwrap_or(0);
            if number < highest {
                history.renumber = Some((name.clone(), highest + 1));
            }
        }
    }
    let limit = usize::try_from(i64_at(daemon_set, "/spec/revisionHistoryLimit").unwrap_or(10))
        .unwrap_or(0);
    let mut old: Vec<&Value> = revisions
        .iter()
        .filter(|r| name_of(r) != name)
        .filter(|r| {
            let hash = r
                .pointer(&format!("/metadata/labels/{REVISION_HASH_LABEL}"))
                .and_then(Value::as_str)
                .unwrap_or("");
            !pod_hashes.contains(&hash)
        })
        .collect();
    if old.len() > limit {
        old.sort_by_key(|r| r.get("revision").and_then(Value::as_i64).unwrap_or(0));
        let excess = old.len() - limit;
        history.delete = old[..excess]
            .iter()
            .map(|r| name_of(r).to_owned())
            .collect();
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon_set(image: &str, limit: i64) -> Value {
        json!({"metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-1"},
               "spec": {"revisionHistoryLimit": limit,
                        "template": {"metadata": {"labels": {"app": "agent"}},
                                     "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn the_first_template_gets_revision_1_with_a_replacing_patch() {
        let ds = daemon_set("agent:1", 10);
        let history = plan(&ds, &[], &[]);
        let created = history.create.unwrap();
        let hash = current_hash(&ds);
        assert_eq!(created["metadata"]["name"], format!("agent-{hash}"));
        assert_eq!(created["revision"], 1);
        assert_eq!(
            created["metadata"]["labels"][REVISION_HASH_LABEL],
            hash.as_str()
        );
        assert_eq!(created["metadata"]["labels"]["app"], "agent");
        assert_eq!(created["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(
            created["metadata"]["ownerReferences"][0]["kind"],
            "DaemonSet"
        );
    }

    #[test]
    fn a_template_seen_before_is_renumbered_and_old_unused_revisions_go() {
        let first = daemon_set("agent:1", 1);
        let second = daemon_set("agent:2", 1);
        let third = daemon_set("agent:3", 1);
        let revisions = vec![
            revision_object(&first, &current_hash(&first), 1),
            revision_object(&second, &current_hash(&second), 2),
            revision_object(&third, &current_hash(&third), 3),
        ];
        // Back to the first template: it becomes revision 4; of the two
        // others, one is kept (the limit), the oldest unused goes.
        let history = plan(&first, &revisions, &[]);
        assert_eq!(history.create, None);
        assert_eq!(
            history.renumber,
            Some((format!("agent-{}", current_hash(&first)), 4))
        );
        assert_eq!(history.delete, [format!("agent-{}", current_hash(&second))]);
        // A revision a live pod still runs is kept.
        let second_hash = current_hash(&second);
        let history = plan(&first, &revisions, &[second_hash.as_str()]);
        assert!(history.delete.is_empty(), "{:?}", history.delete);
    }
}

//! The new ReplicaSet of a Deployment (`getNewReplicaSet` in `sync.go`):
//! found among its ReplicaSets by template and brought up to date, or
//! created, named `<deployment>-<pod-template-hash>`.
//!
//! ```text
//!   found ─► annotations (revision = max old + 1, the Deployment's own) and
//!            minReadySeconds updated; else the Deployment's revision annotation
//!            and Progressing=True FoundNewReplicaSet (when none is recorded)
//!   missing ─► name taken by another ReplicaSet? collisionCount + 1, stop
//!          └─► create: template and selector with the hash label, replicas
//!              by the strategy, revision and replicas annotations;
//!              Progressing=True NewReplicaSetCreated
//! ```

use serde_json::{json, Map, Value};

use super::fenceposts::max_surge;
use super::hash::pod_template_hash;
use super::plan::{DeploymentAction, Work};
use super::revisions::{
    equal_ignore_hash, find_new, max_revision, set_annotation, set_new_replica_set_annotations,
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION,
};
use super::rolling::new_rs_new_replicas;
use super::spec::{min_ready_seconds, progress_deadline_seconds, replicas, template};
use super::status::{
    condition, get_condition, set_condition, FOUND_NEW_REPLICA_SET_REASON, NEW_REPLICA_SET_REASON,
};
use crate::pods::{
    annotation, controller_of, controller_ref, i64_at, name_of, namespace_of, uid_of,
};

/// The sync ended early (a hash collision: the status carries a new
/// collisionCount, and the next sync tries another name).
pub(crate) struct Stop;

/// Finds the new ReplicaSet and brings its revision, annotations and
/// minReadySeconds up to date, or creates it when `create`
/// (`getNewReplicaSet`). Its index, if any.
pub(crate) fn new_replica_set(work: &mut Work, create: bool) -> Result<Option<usize>, Stop> {
    let found = find_new(&work.deployment, &work.replica_sets);
    let old_revision = max_revision(
        (0..work.replica_sets.len())
            .filter(|&i| Some(i) != found)
            .map(|i| &work.replica_sets[i]),
    );
    let new_revision = old_revision + 1;
    let desired = replicas(&work.deployment);
    let max = desired + max_surge(&work.deployment);
    if let Some(index) = found {
        let min_ready = min_ready_seconds(&work.deployment);
        let rs = &mut work.replica_sets[index];
        let annotations_changed = set_new_replica_set_annotations(
            &work.deployment,
            rs,
            new_revision,
            (desired, max),
            true,
        );
        let min_ready_changed = i64_at(rs, "/spec/minReadySeconds").unwrap_or(0) != min_ready;
        if annotations_changed || min_ready_changed {
            rs["spec"]["minReadySeconds"] = min_ready.into();
            work.write(index);
            return Ok(Some(index));
        }
        let revision = annotation(&work.replica_sets[index], REVISION_ANNOTATION)
            .unwrap_or("")
            .to_owned();
        set_revision(work, &revision);
        let has_progressing = work
            .deployment
            .get("status")
            .is_some_and(|s| get_condition(s, "Progressing").is_some());
        if progress_deadline_seconds(&work.deployment).is_some() && !has_progressing {
            let message = format!(
                "Found new replica set \"{}\"",
                name_of(&work.replica_sets[index])
            );
            let found = condition(
                "Progressing",
                "True",
                FOUND_NEW_REPLICA_SET_REASON,
                &message,
                work.now,
            );
            set_status_condition(work, found);
        }
        return Ok(Some(index));
    }
    if !create {
        return Ok(None);
    }
    let collision_count = i64_at(&work.deployment, "/status/collisionCount");
    let hash = pod_template_hash(template(&work.deployment), collision_count);
    let name = format!("{}-{hash}", name_of(&work.deployment));
    if work.taken_names.contains(&name) {
        // Another ReplicaSet holds the name (its template differs, or the
        // Deployment would have found it): a hash collision. Kubernetes
        // learns it from the create's AlreadyExists; the cache shows it here.
        bump_collision_count(&mut work.deployment);
        return Err(Stop);
    }
    let mut body = new_replica_set_body(&work.deployment, &name, &hash);
    let all: Vec<&Value> = work.replica_sets.iter().chain([&body]).collect();
    let count = new_rs_new_replicas(&work.deployment, &all, &body);
    body["spec"]["replicas"] = count.into();
    set_new_replica_set_annotations(
        &work.deployment,
        &mut body,
        new_revision,
        (desired, max),
        false,
    );
    work.replica_sets.push(body.clone());
    work.taken_names.push(name.clone());
    work.plan
        .actions
        .push(DeploymentAction::CreateReplicaSet(body));
    if count > 0 {
        work.event(
            "Normal",
            "ScalingReplicaSet",
            format!("Scaled up replica set {name} from 0 to {count}"),
        );
    }
    set_revision(work, &new_revision.to_string());
    if progress_deadline_seconds(&work.deployment).is_some() {
        let message = format!("Created new replica set \"{name}\"");
        let created = condition(
            "Progressing",
            "True",
            NEW_REPLICA_SET_REASON,
            &message,
            work.now,
        );
        set_status_condition(work, created);
    }
    Ok(Some(work.replica_sets.len() - 1))
}

/// The Deployment's status after a create failed with AlreadyExists on
/// `existing`: `None` when `existing` is in fact its new ReplicaSet (a
/// stale cache; sync again), else the status with collisionCount raised.
pub fn status_after_create_conflict(deployment: &Value, existing: &Value) -> Option<Value> {
    let ours = controller_of(existing)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        == Some(uid_of(deployment));
    let same = equal_ignore_hash(
        existing.pointer("/spec/template").unwrap_or(&Value::Null),
        template(deployment),
    );
    if ours && same {
        return None;
    }
    let mut deployment = deployment.clone();
    bump_collision_count(&mut deployment);
    deployment.get("status").cloned()
}

fn bump_collision_count(deployment: &mut Value) {
    let count = i64_at(deployment, "/status/collisionCount").unwrap_or(0);
    if !deployment.get("status").is_some_and(Value::is_object) {
        deployment["status"] = json!({});
    }
    deployment["status"]["collisionCount"] = (count + 1).into();
}

/// The body of the new ReplicaSet: the template with the hash label, the
/// selector with it too, the Deployment as controller.
fn new_replica_set_body(deployment: &Value, name: &str, hash: &str) -> Value {
    let mut template = template(deployment).clone();
    if !template.is_object() {
        template = json!({});
    }
    let mut labels: Map<String, Value> = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    if !template.get("metadata").is_some_and(Value::is_object) {
        template["metadata"] = json!({});
    }
    template["metadata"]["labels"] = Value::Object(labels.clone());
    let mut selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !selector.get("matchLabels").is_some_and(Value::is_object) {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][POD_TEMPLATE_HASH_LABEL] = hash.into();
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": namespace_of(deployment),
            "labels": labels,
            "ownerReferences": [controller_ref(deployment, "apps/v1", "Deployment")],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": min_ready_seconds(deployment),
            "selector": selector,
            "template": template,
        },
    })
}

/// Records the Deployment's revision annotation, if it changed
/// (`SetDeploymentRevision`).
fn set_revision(work: &mut Work, revision: &str) {
    if annotation(&work.deployment, REVISION_ANNOTATION) == Some(revision) {
        return;
    }
    set_annotation(&mut work.deployment, REVISION_ANNOTATION, revision);
    work.plan.revision = Some(revision.to_owned());
}

fn set_status_condition(work: &mut Work, new: Value) {
    if !work.deployment.get("status").is_some_and(Value::is_object) {
        work.deployment["status"] = json!({});
    }
    set_condition(&mut work.deployment["status"], new);
}

//! One sync of one Deployment (`syncDeployment` in
//! `deployment_controller.go`, with `sync.go`, `rolling.go` and
//! `recreate.go`), as a plain function: the Deployment, the ReplicaSets and
//! pods its informers hold, and `now` in; the plan out.
//!
//! ```text
//!   empty selector ─► only observedGeneration, Warning SelectingAll
//!   claim ReplicaSets (adopt / release)
//!   being deleted ─► status only
//!   paused condition (Progressing=Unknown DeploymentPaused / DeploymentResumed)
//!   paused, or replicas changed (scaling event) ─► scale (proportionally), status;
//!                                                   paused: clean up old revisions too
//!   Recreate ─► old to 0, wait for their pods, new RS to replicas
//!   RollingUpdate ─► new RS up within maxSurge, else old RSs down within maxUnavailable;
//!                    complete ─► clean up old revisions past revisionHistoryLimit
//! ```
//!
//! `kubectl rollout undo` (kubectl 1.27 and later) patches the Deployment's
//! template back to an old ReplicaSet's (hash label removed) and its
//! annotations to that ReplicaSet's: the sync then finds that ReplicaSet
//! as the new one (templates compare with the hash aside) and raises its
//! revision to the next one, keeping the old number in
//! `deployment.kubernetes.io/revision-history`. The `deprecated.deployment.rollback.to`
//! annotation of extensions/v1beta1 does not exist in apps/v1 and is not read.
//! `kubectl rollout restart` sets the `kubectl.kubernetes.io/restartedAt`
//! template annotation: a template change like any other.

use jiff::Timestamp;
use keel_api::selector::LabelSelector;
use serde_json::{json, Map, Value};

use super::fenceposts::max_surge;
use super::hash::pod_template_hash;
use super::plan::{DeploymentAction, DeploymentPlan, Work};
use super::recreate::{old_pods_running, scale_down_old};
use super::revisions::{
    by_revision, find_new, max_revision, set_new_replica_set_annotations, POD_TEMPLATE_HASH_LABEL,
    REVISION_ANNOTATION,
};
use super::rolling::{new_rs_new_replicas, reconcile_new, reconcile_old};
use super::scale::{is_scaling_event, scale};
use super::spec::{
    is_paused, is_rolling_update, min_ready_seconds, progress_deadline_seconds, replicas,
    revision_history_limit, rs_replicas, status_count, template,
};
use super::status::{
    calculate_status, condition, get_condition, is_complete, rollout_status, same_status,
    set_condition, set_paused_condition, FOUND_NEW_REPLICA_SET_REASON, NEW_REPLICA_SET_REASON,
};
use crate::pods::{
    annotation, controller_ref, generation_of, i64_at, is_being_deleted, name_of, namespace_of,
    ObjectRef,
};
use crate::replicaset::claim::{claim, Claim};

/// What one Deployment sync sees.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentInput<'a> {
    /// The Deployment, as cached.
    pub deployment: &'a Value,
    /// The ReplicaSets of its namespace the adapter holds (those it
    /// controls, orphans, and others: their names are taken).
    pub replica_sets: &'a [Value],
    /// The pods of its namespace its selector matches (Recreate waits for
    /// the old ones to finish).
    pub pods: &'a [Value],
    /// The time of the sync.
    pub now: Timestamp,
}

/// The sync ended early (a hash collision: the status carries a new
/// collisionCount, and the next sync tries another name).
struct Stop;

/// Plans one sync of `input.deployment`.
pub fn reconcile_deployment(input: DeploymentInput<'_>) -> DeploymentPlan {
    let deployment = input.deployment;
    let selector = deployment
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_json(s).ok())
        .filter(|s| !s.is_empty());
    let Some(selector) = selector else {
        return selecting_everything(deployment);
    };
    let mut claimed = Vec::new();
    let mut claims = Vec::new();
    for rs in input.replica_sets {
        match claim(deployment, &selector, rs) {
            Claim::Owned => claimed.push(rs.clone()),
            Claim::Adopt => {
                claims.push(DeploymentAction::AdoptReplicaSet(ObjectRef::to(rs)));
                claimed.push(rs.clone());
            }
            Claim::Release => claims.push(DeploymentAction::ReleaseReplicaSet(ObjectRef::to(rs))),
            Claim::Ignore => {}
        }
    }
    let mut work = Work::new(deployment.clone(), claimed, input.now);
    work.taken_names = input
        .replica_sets
        .iter()
        .map(|rs| name_of(rs).to_owned())
        .collect();
    work.plan.actions = claims;

    let _ = if is_being_deleted(deployment) {
        sync_status_only(&mut work)
    } else {
        set_paused_condition(&mut work.deployment, input.now);
        if is_paused(deployment) || is_scaling_event(deployment, &work.replica_sets) {
            sync_scale(&mut work)
        } else if is_rolling_update(deployment) {
            rollout_rolling(&mut work)
        } else {
            rollout_recreate(&mut work, input.pods)
        }
    };
    finish(work, deployment)
}

/// A Deployment selecting every pod does nothing but observe its
/// generation (`syncDeployment`'s guard).
fn selecting_everything(deployment: &Value) -> DeploymentPlan {
    let mut plan = DeploymentPlan::default();
    plan.events.push(super::plan::DeploymentEvent {
        kind: "Warning",
        reason: "SelectingAll",
        message: "This deployment is selecting all pods. A non-empty selector is required.".into(),
    });
    let observed = status_count(deployment, "observedGeneration");
    if observed < generation_of(deployment) {
        let mut status = deployment
            .get("status")
            .cloned()
            .unwrap_or_else(|| json!({}));
        status["observedGeneration"] = generation_of(deployment).into();
        plan.status = Some(status);
    }
    plan
}

/// The plan with the status and revision changes relative to the cached
/// Deployment.
fn finish(mut work: Work, original: &Value) -> DeploymentPlan {
    let empty = json!({});
    let old_status = original.get("status").unwrap_or(&empty);
    let new_status = work.deployment.get("status").unwrap_or(&empty);
    if !same_status(old_status, new_status) {
        work.plan.status = Some(new_status.clone());
    }
    work.plan
}

/// Finds the new ReplicaSet and brings its revision, annotations and
/// minReadySeconds up to date, or creates it when `create`
/// (`getNewReplicaSet`). Its index, if any.
fn new_replica_set(work: &mut Work, create: bool) -> Result<Option<usize>, Stop> {
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
    let ours = crate::pods::controller_of(existing)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        == Some(crate::pods::uid_of(deployment));
    let same = super::revisions::equal_ignore_hash(
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
    super::revisions::set_annotation(&mut work.deployment, REVISION_ANNOTATION, revision);
    work.plan.revision = Some(revision.to_owned());
}

fn set_status_condition(work: &mut Work, new: Value) {
    if !work.deployment.get("status").is_some_and(Value::is_object) {
        work.deployment["status"] = json!({});
    }
    set_condition(&mut work.deployment["status"], new);
}

fn all_and_new(work: &Work, new: Option<usize>) -> (Vec<&Value>, Option<&Value>) {
    (
        work.replica_sets.iter().collect(),
        new.map(|i| &work.replica_sets[i]),
    )
}

/// Writes the plain status (`syncDeploymentStatus`).
fn write_status(work: &mut Work, new: Option<usize>) {
    let (all, new_rs) = all_and_new(work, new);
    let status = calculate_status(&work.deployment, &all, new_rs, work.now);
    work.deployment["status"] = status;
}

/// Writes the status with progress estimated (`syncRolloutStatus`).
fn write_rollout_status(work: &mut Work, new: Option<usize>) {
    let (all, new_rs) = all_and_new(work, new);
    let (status, requeue) = rollout_status(&work.deployment, &all, new_rs, work.now);
    work.plan.requeue_after_secs = requeue;
    work.deployment["status"] = status;
}

fn sync_status_only(work: &mut Work) -> Result<(), Stop> {
    let new = new_replica_set(work, false)?;
    write_status(work, new);
    Ok(())
}

/// A paused Deployment or a scaling event: scale, clean up when paused,
/// write the status (`sync`).
fn sync_scale(work: &mut Work) -> Result<(), Stop> {
    let new = new_replica_set(work, false)?;
    scale(work, new);
    if is_paused(&work.deployment) {
        cleanup(work, new);
    }
    write_status(work, new);
    Ok(())
}

fn rollout_rolling(work: &mut Work) -> Result<(), Stop> {
    let new = new_replica_set(work, true)?.expect("created when missing");
    if reconcile_new(work, new) || reconcile_old(work, new) {
        write_rollout_status(work, Some(new));
        return Ok(());
    }
    let status = work
        .deployment
        .get("status")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if is_complete(&work.deployment, &status) {
        cleanup(work, Some(new));
    }
    write_rollout_status(work, Some(new));
    Ok(())
}

fn rollout_recreate(work: &mut Work, pods: &[Value]) -> Result<(), Stop> {
    let mut new = new_replica_set(work, false)?;
    if scale_down_old(work, new) || old_pods_running(&work.replica_sets, new, pods) {
        write_rollout_status(work, new);
        return Ok(());
    }
    if new.is_none() {
        new = new_replica_set(work, true)?;
    }
    let new = new.expect("created when missing");
    work.scale(new, replicas(&work.deployment));
    let status = work
        .deployment
        .get("status")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if is_complete(&work.deployment, &status) {
        cleanup(work, Some(new));
    }
    write_rollout_status(work, Some(new));
    Ok(())
}

/// Deletes the oldest old ReplicaSets past revisionHistoryLimit, those
/// with no replicas wanted or running and their spec observed
/// (`cleanupDeployment`).
fn cleanup(work: &mut Work, new: Option<usize>) {
    let Some(limit) = revision_history_limit(&work.deployment) else {
        return;
    };
    let mut cleanable: Vec<&Value> = (0..work.replica_sets.len())
        .filter(|&i| Some(i) != new && !is_being_deleted(&work.replica_sets[i]))
        .map(|i| &work.replica_sets[i])
        .collect();
    let excess = cleanable.len() as i64 - limit;
    if excess <= 0 {
        return;
    }
    cleanable.sort_by(|a, b| by_revision(a, b));
    let doomed: Vec<ObjectRef> = cleanable
        .into_iter()
        .take(excess as usize)
        .filter(|rs| {
            status_count(rs, "replicas") == 0
                && rs_replicas(rs) == 0
                && generation_of(rs) <= status_count(rs, "observedGeneration")
        })
        .map(ObjectRef::to)
        .collect();
    for rs in doomed {
        work.plan
            .actions
            .push(DeploymentAction::DeleteReplicaSet(rs));
    }
}

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
use serde_json::{json, Value};

use super::new_replica_set::new_replica_set;
pub use super::new_replica_set::status_after_create_conflict;
use super::new_replica_set::Stop;
use super::plan::{DeploymentAction, DeploymentPlan, Work};
use super::recreate::{old_pods_running, scale_down_old};
use super::revisions::by_revision;
use super::rolling::{reconcile_new, reconcile_old};
use super::scale::{is_scaling_event, scale};
use super::spec::{
    is_paused, is_rolling_update, replicas, revision_history_limit, rs_replicas, status_count,
};
use super::status::{
    calculate_status, is_complete, rollout_status, same_status, set_paused_condition,
};
use crate::pods::{generation_of, is_being_deleted, name_of, ObjectRef};
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

/// The end of a rollout's sync: the old ReplicaSets past the history
/// limit go once the rollout is complete, then the status is written.
fn finish_rollout(work: &mut Work, new: usize) {
    let status = work
        .deployment
        .get("status")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if is_complete(&work.deployment, &status) {
        cleanup(work, Some(new));
    }
    write_rollout_status(work, Some(new));
}

fn rollout_rolling(work: &mut Work) -> Result<(), Stop> {
    let new = new_replica_set(work, true)?.expect("created when missing");
    if reconcile_new(work, new) || reconcile_old(work, new) {
        write_rollout_status(work, Some(new));
        return Ok(());
    }
    finish_rollout(work, new);
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
    finish_rollout(work, new);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::hash::pod_template_hash;
    use crate::deployment::revisions::{
        DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, REVISION_ANNOTATION,
    };
    use crate::deployment::spec::template;
    use crate::deployment::status::{get_condition, NEW_REPLICA_SET_REASON};

    fn now() -> Timestamp {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 1,
                         "annotations": {"kubernetes.io/change-cause": "first"}},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}},
        })
    }

    fn sync(deployment: &Value, replica_sets: &[Value]) -> DeploymentPlan {
        reconcile_deployment(DeploymentInput {
            deployment,
            replica_sets,
            pods: &[],
            now: now(),
        })
    }

    #[test]
    fn the_first_sync_creates_the_replica_set_of_the_template() {
        let d = deployment();
        let plan = sync(&d, &[]);
        let hash = pod_template_hash(template(&d), None);
        let name = format!("web-{hash}");
        let [DeploymentAction::CreateReplicaSet(rs)] = plan.actions.as_slice() else {
            panic!("{:?}", plan.actions);
        };
        assert_eq!(
            rs,
            &json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": name, "namespace": "ns",
                    "labels": {"app": "web", "pod-template-hash": hash},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                         "uid": "d-uid", "controller": true, "blockOwnerDeletion": true}],
                    "annotations": {"kubernetes.io/change-cause": "first", REVISION_ANNOTATION: "1",
                                    DESIRED_REPLICAS_ANNOTATION: "4", MAX_REPLICAS_ANNOTATION: "5"},
                },
                "spec": {
                    "replicas": 4, "minReadySeconds": 0,
                    "selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}},
                    "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": hash}},
                                 "spec": {"containers": [{"name": "c", "image": "v1"}]}},
                },
            })
        );
        assert_eq!(plan.revision.as_deref(), Some("1"));
        let status = plan.status.unwrap();
        let progressing = get_condition(&status, "Progressing").unwrap();
        assert_eq!(progressing["reason"], NEW_REPLICA_SET_REASON);
        assert_eq!(
            progressing["message"],
            format!("Created new replica set \"{name}\"")
        );
        assert_eq!(
            get_condition(&status, "Available").unwrap()["status"],
            "False"
        );
        assert_eq!(
            plan.events[0].message,
            format!("Scaled up replica set {name} from 0 to 4")
        );
    }

    #[test]
    fn an_orphan_replica_set_is_adopted_and_found_as_the_new_one() {
        let d = deployment();
        let mut rs = json!({"metadata": {"name": "web-x", "namespace": "ns", "uid": "rs-uid", "creationTimestamp": "2024-12-31T00:00:00Z",
                                         "labels": {"app": "web"}, "annotations": {REVISION_ANNOTATION: "1",
                                         "kubernetes.io/change-cause": "first"}},
                            "spec": {"replicas": 4, "minReadySeconds": 0, "template": template(&d).clone()},
                            "status": {"replicas": 4, "readyReplicas": 4, "availableReplicas": 4}});
        rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = json!("x");
        let plan = sync(&d, &[rs]);
        assert_eq!(
            plan.actions[0],
            DeploymentAction::AdoptReplicaSet(ObjectRef {
                namespace: "ns".into(),
                name: "web-x".into(),
                uid: "rs-uid".into()
            })
        );
        assert_eq!(
            plan.actions.len(),
            1,
            "found, not created; nothing to scale"
        );
        assert_eq!(plan.revision.as_deref(), Some("1"));
        let status = plan.status.unwrap();
        assert_eq!(
            get_condition(&status, "Progressing").unwrap()["reason"],
            "NewReplicaSetAvailable"
        );
        assert_eq!(status["availableReplicas"], 4);
    }

    #[test]
    fn a_taken_name_is_a_hash_collision_that_bumps_the_collision_count() {
        let d = deployment();
        let name = format!("web-{}", pod_template_hash(template(&d), None));
        let stranger = json!({"metadata": {"name": name, "namespace": "ns", "uid": "s", "labels": {"app": "other"}},
                              "spec": {"replicas": 1}});
        let plan = sync(&d, std::slice::from_ref(&stranger));
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status.unwrap()["collisionCount"], 1);
        assert_eq!(
            status_after_create_conflict(&d, &stranger).unwrap()["collisionCount"],
            1
        );
        let mut ours = stranger;
        ours["metadata"]["ownerReferences"] = json!([{"uid": "d-uid", "controller": true}]);
        ours["spec"]["template"] = template(&d).clone();
        assert_eq!(
            status_after_create_conflict(&d, &ours),
            None,
            "a stale cache, not a collision"
        );
    }

    #[test]
    fn a_deployment_selecting_everything_only_observes_its_generation() {
        let mut d = deployment();
        d["spec"]["selector"] = json!({});
        let plan = sync(&d, &[]);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status, Some(json!({"observedGeneration": 1})));
        assert_eq!(plan.events[0].reason, "SelectingAll");
    }

    #[test]
    fn a_deployment_being_deleted_only_writes_its_status() {
        let mut d = deployment();
        d["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        let plan = sync(&d, &[]);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.status.unwrap()["observedGeneration"], 1);
    }
}

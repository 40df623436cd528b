//! What one Deployment sync decides, and the working copy it decides on:
//! each write the controller would make is applied to the copy at once, so
//! later steps of the same sync see it, as kube-controller-manager's do
//! after each API call returns.

use jiff::Timestamp;
use serde_json::Value;

use super::fenceposts::max_surge;
use super::revisions::{replicas_annotations_differ, set_replicas_annotations};
use super::spec::{replicas, rs_replicas};
use crate::pods::{name_of, ObjectRef};

/// A write to one of the Deployment's ReplicaSets.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentAction {
    /// Adopt an orphan ReplicaSet: add the Deployment's controller
    /// reference, with the ReplicaSet's uid as a precondition.
    AdoptReplicaSet(ObjectRef),
    /// Release a ReplicaSet the selector no longer matches: remove the
    /// Deployment's owner reference.
    ReleaseReplicaSet(ObjectRef),
    /// Create this ReplicaSet (name `<deployment>-<pod-template-hash>`).
    /// AlreadyExists: see [`super::reconcile::status_after_create_conflict`].
    CreateReplicaSet(Value),
    /// Update the ReplicaSet to this body (its replicas, annotations and
    /// minReadySeconds changed; `resourceVersion` is the cached one, so a
    /// stale cache fails with a conflict and the sync is retried).
    UpdateReplicaSet(Value),
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit`.
    DeleteReplicaSet(ObjectRef),
}

/// An Event on the Deployment, as kube-controller-manager records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentEvent {
    /// "Normal" or "Warning".
    pub kind: &'static str,
    /// The reason, e.g. "ScalingReplicaSet".
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// What one Deployment sync does: the ReplicaSet writes in order, then
/// the Deployment's revision annotation and status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentPlan {
    /// The writes to ReplicaSets, in order; stop at the first failure and
    /// retry the sync.
    pub actions: Vec<DeploymentAction>,
    /// The Deployment's new `deployment.kubernetes.io/revision`
    /// annotation, when it changed (a metadata update: keel's `/status`
    /// keeps metadata as it was).
    pub revision: Option<String>,
    /// The Deployment's new status, when it changed (written through
    /// `/status`).
    pub status: Option<Value>,
    /// Events to record.
    pub events: Vec<DeploymentEvent>,
    /// Sync again after this many seconds to check progressDeadlineSeconds
    /// (0: at once, rate-limited).
    pub requeue_after_secs: Option<i64>,
}

/// The working copy of one sync: the Deployment (its status and revision
/// as updated so far) and its claimed ReplicaSets, with the writes made.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    pub deployment: Value,
    pub replica_sets: Vec<Value>,
    pub plan: DeploymentPlan,
    pub now: Timestamp,
    /// Names of every ReplicaSet in the namespace, claimed or not (a new
    /// ReplicaSet's name must be free).
    pub taken_names: Vec<String>,
}

impl Work {
    /// A working copy of `deployment` with its claimed `replica_sets`.
    pub fn new(deployment: Value, replica_sets: Vec<Value>, now: Timestamp) -> Self {
        let taken_names = replica_sets
            .iter()
            .map(|rs| name_of(rs).to_owned())
            .collect();
        Self {
            deployment,
            replica_sets,
            plan: DeploymentPlan::default(),
            now,
            taken_names,
        }
    }

    /// Records a write of the ReplicaSet at `index` (its new body is
    /// already in the working copy); a second write to one ReplicaSet in
    /// the same sync folds into the first (its create or update).
    pub fn write(&mut self, index: usize) {
        let body = self.replica_sets[index].clone();
        let name = name_of(&body).to_owned();
        for action in &mut self.plan.actions {
            match action {
                DeploymentAction::CreateReplicaSet(existing)
                | DeploymentAction::UpdateReplicaSet(existing)
                    if name_of(existing) == name =>
                {
                    *existing = body;
                    return;
                }
                _ => {}
            }
        }
        self.plan
            .actions
            .push(DeploymentAction::UpdateReplicaSet(body));
    }

    /// Records an Event.
    pub fn event(&mut self, kind: &'static str, reason: &'static str, message: String) {
        self.plan.events.push(DeploymentEvent {
            kind,
            reason,
            message,
        });
    }

    /// Scales the ReplicaSet at `index` to `new_scale` and brings its
    /// replicas annotations up to date; whether its size changed
    /// (`scaleReplicaSet`). `operation` ("up" or "down") words the Event.
    pub fn scale_as(&mut self, index: usize, new_scale: i64, operation: &str) -> bool {
        let desired = replicas(&self.deployment);
        let max = desired + max_surge(&self.deployment);
        let rs = &self.replica_sets[index];
        let old_scale = rs_replicas(rs);
        let size_changed = old_scale != new_scale;
        if !size_changed && !replicas_annotations_differ(rs, desired, max) {
            return false;
        }
        let rs = &mut self.replica_sets[index];
        rs["spec"]["replicas"] = new_scale.into();
        set_replicas_annotations(rs, desired, max);
        let name = name_of(rs).to_owned();
        self.write(index);
        if size_changed {
            self.event(
                "Normal",
                "ScalingReplicaSet",
                format!("Scaled {operation} replica set {name} from {old_scale} to {new_scale}"),
            );
        }
        size_changed
    }

    /// Scales the ReplicaSet at `index` to `new_scale`, if that is a change
    /// (`scaleReplicaSetAndRecordEvent`); whether it scaled.
    pub fn scale(&mut self, index: usize, new_scale: i64) -> bool {
        let old_scale = rs_replicas(&self.replica_sets[index]);
        if old_scale == new_scale {
            return false;
        }
        let operation = if old_scale < new_scale { "up" } else { "down" };
        self.scale_as(index, new_scale, operation)
    }
}

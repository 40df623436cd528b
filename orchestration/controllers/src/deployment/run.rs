//! The Deployment controller at work: the runtime's runner over the
//! shared Deployment informer, woken by its ReplicaSets and by their
//! pods, each sync the pure [`reconcile_deployment`] applied through the
//! store (`pkg/controller/deployment/deployment_controller.go`).
//!
//! ```text
//!   Deployment / owned ReplicaSet / pod of one changed ─► reconcile(key)
//!     plan (ReplicaSets of the namespace, pods its selector matches)
//!     ─► ReplicaSet writes in order (stop at the first failure: retry)
//!     ─► revision annotation (a metadata update) ─► status (/status)
//!     ─► events ─► requeue for the progress deadline
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use keel_api::resources::of;
use keel_api::selector::LabelSelector;
use keel_runtime::controller::controller_key;
use keel_runtime::events::Notice;
use keel_runtime::{Action, Cache, Controller, Index, ObjectKey, Recorder, StoreError};
use serde_json::Value;

use super::revisions::{set_annotation, REVISION_ANNOTATION};
use super::{
    reconcile_deployment, status_after_create_conflict, DeploymentAction, DeploymentEvent,
    DeploymentInput,
};
use crate::adapter::wall_clock;
use crate::adapter::writes::{adopt, delete_object, release, write_status};
use crate::manager::{Context, Stop};
use crate::pods::{controller_ref, name_of, namespace_of, uid_of};

/// The name Events of this controller carry.
pub const COMPONENT: &str = "deployment-controller";

/// How soon a Deployment whose progress deadline is about to pass is
/// synced again (the plan's "now", which Kubernetes rate-limits).
pub const DEADLINE_RECHECK: Duration = Duration::from_secs(1);

/// Runs the Deployment controller until `stop` (an entry of
/// [`crate::manager::CONTROLLERS`]).
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let recorder = context.recorder(COMPONENT);
        let informers = &context.informers;
        let replica_sets = informers.replica_sets.cache();
        let deployments = informers.deployments.cache();
        let shared = Arc::clone(&context);
        Controller::new(&informers.deployments)
            .owns(&informers.replica_sets, "Deployment")
            .watches(&informers.pods, move |pod| {
                // Only Recreate waits on pods (for the old ones to stop);
                // a RollingUpdate reads its ReplicaSets' status alone.
                deployment_of_pod(&replica_sets, pod)
                    .into_iter()
                    .filter(|key| deployments.get_key(key).is_some_and(|d| is_recreate(&d)))
                    .collect()
            })
            .run(
                move |key, object| {
                    let context = Arc::clone(&shared);
                    let recorder = recorder.clone();
                    async move { sync(&context, &recorder, key, object).await }
                },
                context.controller_options(),
                stop.wait(),
            )
            .await;
    })
}

/// Whether a Deployment's strategy is Recreate.
fn is_recreate(deployment: &Value) -> bool {
    deployment
        .pointer("/spec/strategy/type")
        .and_then(Value::as_str)
        == Some("Recreate")
}

/// The Deployment controlling the ReplicaSet that controls `pod`.
fn deployment_of_pod(replica_sets: &Cache, pod: &Value) -> Vec<ObjectKey> {
    controller_key(pod, "ReplicaSet")
        .and_then(|rs| replica_sets.get_key(&rs))
        .and_then(|rs| controller_key(&rs, "Deployment"))
        .into_iter()
        .collect()
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// A write failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The new ReplicaSet exists but the cache has not shown it yet.
    #[error("replica set {0} exists but is not cached yet")]
    NotCached(String),
}

async fn sync(
    context: &Context,
    recorder: &Recorder,
    key: ObjectKey,
    object: Option<Value>,
) -> Result<Action, SyncError> {
    let Some(deployment) = object else {
        return Ok(Action::Done);
    };
    let replica_sets = context
        .informers
        .replica_sets
        .cache()
        .by_index(Index::Namespace, &key.namespace);
    let selector = deployment
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_json(s).ok());
    // Pods matter to a Recreate only: reading them for every Deployment
    // would copy the namespace's pods on every sync.
    let pods: Vec<Value> = if is_recreate(&deployment) {
        context
            .informers
            .pods
            .cache()
            .by_index(Index::Namespace, &key.namespace)
            .into_iter()
            .filter(|pod| selector.as_ref().is_some_and(|s| s.matches_object(pod)))
            .collect()
    } else {
        Vec::new()
    };
    let plan = reconcile_deployment(DeploymentInput {
        deployment: &deployment,
        replica_sets: &replica_sets,
        pods: &pods,
        now: wall_clock(),
    });
    for action in &plan.actions {
        if !apply(context, &deployment, action).await? {
            return Ok(Action::Done);
        }
    }
    let deployments = of::<Deployment>();
    if let Some(revision) = &plan.revision {
        let uid = uid_of(&deployment);
        context
            .store
            .update_with(deployments, &key.namespace, &key.name, |current, _| {
                let mut new = current.clone();
                if uid_of(current) == uid {
                    set_annotation(&mut new, REVISION_ANNOTATION, revision);
                }
                Ok::<_, StoreError>(new)
            })
            .await?;
    }
    if let Some(status) = &plan.status {
        write_status(&context.store, deployments, &deployment, status).await?;
    }
    for DeploymentEvent {
        kind,
        reason,
        message,
    } in &plan.events
    {
        let notice = if *kind == "Warning" {
            Notice::warning(reason, message)
        } else {
            Notice::normal(reason, message)
        };
        recorder.record(&deployment, notice);
    }
    Ok(match plan.requeue_after_secs {
        Some(0) => Action::RequeueAfter(DEADLINE_RECHECK),
        Some(secs) => Action::RequeueAfter(Duration::from_secs(secs.max(0) as u64)),
        None => Action::Done,
    })
}

/// Applies one ReplicaSet write; `false` when the sync ends here (a hash
/// collision recorded in the status).
async fn apply(
    context: &Context,
    deployment: &Value,
    action: &DeploymentAction,
) -> Result<bool, SyncError> {
    let store = &context.store;
    let replica_sets = of::<ReplicaSet>();
    match action {
        DeploymentAction::AdoptReplicaSet(rs) => {
            let reference = controller_ref(deployment, "apps/v1", "Deployment");
            adopt(store, replica_sets, rs, &reference).await?;
        }
        DeploymentAction::ReleaseReplicaSet(rs) => {
            release(store, replica_sets, rs, uid_of(deployment)).await?;
        }
        DeploymentAction::CreateReplicaSet(body) => {
            let namespace = namespace_of(deployment);
            match store.create(replica_sets, namespace, body.clone()).await {
                Ok(_) => {}
                Err(StoreError::AlreadyExists { .. }) => {
                    let existing = store.get(replica_sets, namespace, name_of(body)).await?;
                    let Some(status) = status_after_create_conflict(deployment, &existing) else {
                        return Err(SyncError::NotCached(name_of(body).to_owned()));
                    };
                    write_status(store, of::<Deployment>(), deployment, &status).await?;
                    return Ok(false);
                }
                Err(error) => return Err(error.into()),
            }
        }
        DeploymentAction::UpdateReplicaSet(body) => {
            store
                .update(replica_sets, namespace_of(body), body.clone())
                .await?;
        }
        DeploymentAction::DeleteReplicaSet(rs) => {
            delete_object(store, replica_sets, rs, DeleteOptions::default()).await?;
        }
    }
    Ok(true)
}

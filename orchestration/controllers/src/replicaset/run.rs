//! The ReplicaSet controller at work: the runtime's runner over the
//! shared ReplicaSet and pod informers, each sync the pure
//! [`reconcile_replica_set`] applied through the store
//! (`pkg/controller/replicaset/replica_set.go`'s `syncReplicaSet`).
//!
//! ```text
//!   ReplicaSet / owned pod changed ─► reconcile(key)
//!     awaited writes seen in the pod cache? ─► plan (pods of the namespace,
//!                                               the Deployment's other pods)
//!     adopt / release ─► create (slow start) or delete ─► status ─► requeue
//! ```
//!
//! The writes and the awaited creations and deletions are
//! [`crate::adapter`]'s, shared with the Job and Deployment controllers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_api::k8s_openapi::api::apps::v1::ReplicaSet;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_api::selector::LabelSelector;
use keel_runtime::{Action, Controller, Index, ObjectKey, Recorder, StoreError};
use serde_json::Value;

use super::claim::claim;
use super::status::{replica_set_status, ReplicaFailure};
use super::{reconcile_replica_set, ReplicaSetInput};
use crate::adapter::awaited::Awaited;
use crate::adapter::writes::{adopt, create_pods, delete_pods, release, write_status};
use crate::adapter::{controlled_by, wall_clock};
use crate::manager::{Context, Stop};
use crate::pods::{controller_uid_of, is_active, uid_of};

/// The name Events of this controller carry.
pub const COMPONENT: &str = "replicaset-controller";

/// What every sync of this controller shares.
struct Shared {
    context: Arc<Context>,
    recorder: Recorder,
    awaited: Awaited,
}

/// Runs the ReplicaSet controller until `stop` (an entry of
/// [`crate::manager::CONTROLLERS`]).
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let shared = Arc::new(Shared {
            recorder: context.recorder(COMPONENT),
            awaited: Awaited::new(),
            context: Arc::clone(&context),
        });
        let informers = &context.informers;
        Controller::new(&informers.replica_sets)
            .owns(&informers.pods, "ReplicaSet")
            .run(
                move |key, object| {
                    let shared = Arc::clone(&shared);
                    async move { sync(&shared, key, object).await }
                },
                context.controller_options(),
                stop.wait(),
            )
            .await;
    })
}

/// The pods of the ReplicaSets that share `rs`'s controller (its
/// Deployment's), for ranking deletions; empty without a controller.
fn related_pods(context: &Context, rs: &Value) -> Vec<Value> {
    let Some(owner_uid) = controller_uid_of(rs) else {
        return Vec::new();
    };
    let pods = context.informers.pods.cache();
    controlled_by(&context.informers.replica_sets.cache(), owner_uid)
        .iter()
        .flat_map(|sibling| pods.by_index(Index::Owner, uid_of(sibling)))
        .collect()
}

/// The active pods `rs` counts as its own after its claims.
fn claimed<'p>(rs: &Value, pods: &'p [Value]) -> Vec<&'p Value> {
    let Some(selector) = rs
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_json(s).ok())
    else {
        return Vec::new();
    };
    pods.iter()
        .filter(|pod| is_active(pod) && claim(rs, &selector, pod).is_claimed())
        .collect()
}

async fn sync(
    shared: &Shared,
    key: ObjectKey,
    object: Option<Value>,
) -> Result<Action, StoreError> {
    let Some(rs) = object else {
        shared.awaited.forget(&key);
        return Ok(Action::Done);
    };
    let context = &shared.context;
    let store = &context.store;
    let pod_cache = context.informers.pods.cache();
    let expectations_satisfied = shared.awaited.seen(&pod_cache, &key);
    let pods = pod_cache.by_index(Index::Namespace, &key.namespace);
    let now = wall_clock();
    let input = ReplicaSetInput {
        replica_set: &rs,
        pods: &pods,
        related_pods: &[],
        expectations_satisfied,
        now,
    };
    let mut plan = reconcile_replica_set(input);
    // The sibling ReplicaSets' pods only rank deletions: read (copy) them
    // only when there is something to delete.
    if !plan.delete.is_empty() {
        let related = related_pods(context, &rs);
        if !related.is_empty() {
            plan = reconcile_replica_set(ReplicaSetInput {
                related_pods: &related,
                ..input
            });
        }
    }
    let reference = super::reconcile::controller_ref_of(&rs);
    for pod in &plan.adopt {
        adopt(store, of::<Pod>(), pod, &reference).await?;
    }
    for pod in &plan.release {
        release(store, of::<Pod>(), pod, uid_of(&rs)).await?;
    }
    let mut failure = None;
    if let (Some(body), true) = (&plan.pod, plan.create > 0) {
        let created = create_pods(store, &shared.recorder, &rs, body, plan.create).await;
        shared.awaited.created(&key, &created.pods);
        failure = created
            .error
            .map(|error| (ReplicaFailure::Create(error.to_string()), error));
    } else if !plan.delete.is_empty() {
        shared.awaited.deleting(&key, &plan.delete);
        failure = delete_pods(store, &shared.recorder, &rs, &plan.delete)
            .await
            .map(|error| (ReplicaFailure::Delete(error.to_string()), error));
    }
    let replica_sets = of::<ReplicaSet>();
    if let Some((failure, error)) = failure {
        let status = replica_set_status(&rs, &claimed(&rs, &pods), Some(&failure), now);
        write_status(store, replica_sets, &rs, &status).await?;
        return Err(error);
    }
    if let Some(status) = &plan.status {
        write_status(store, replica_sets, &rs, status).await?;
    }
    Ok(match plan.requeue_after_secs {
        Some(secs) => Action::RequeueAfter(Duration::from_secs(secs.max(0) as u64)),
        None => Action::Done,
    })
}

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
//! - [`awaited`]: the creations and deletions a key waits to see.
//! - [`writes`]: pod creates and deletes, owner references, status
//!   writes (shared with the Job and Deployment controllers).

pub mod awaited;
pub mod writes;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_api::k8s_openapi::api::apps::v1::ReplicaSet;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_api::selector::LabelSelector;
use keel_runtime::{Action, Cache, Controller, Index, ObjectKey, Recorder, StoreError};
use serde_json::Value;

use self::awaited::AwaitedWrites;
use self::writes::{adopt, create_pods, delete_pods, release, resource_version_of, wall_clock};
use super::claim::claim;
use super::status::{replica_set_status, ReplicaFailure};
use super::{reconcile_replica_set, ReplicaSetInput};
use crate::manager::{Context, Stop};
use crate::pods::{controller_of, is_active, is_being_deleted, uid_of, ObjectRef};

/// The name Events of this controller carry.
pub const COMPONENT: &str = "replicaset-controller";

/// What every sync of this controller shares.
struct Shared {
    context: Arc<Context>,
    recorder: Recorder,
    awaited: Mutex<AwaitedWrites>,
}

/// Runs the ReplicaSet controller until `stop` (an entry of
/// [`crate::manager::CONTROLLERS`]).
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let shared = Arc::new(Shared {
            recorder: context.recorder(COMPONENT),
            awaited: Mutex::new(AwaitedWrites::new()),
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

/// Whether the pod cache shows `pod` deleted: absent, another uid, or
/// being deleted.
pub(crate) fn shows_deleted(pods: &Cache, pod: &ObjectRef) -> bool {
    pods.get(&pod.namespace, &pod.name)
        .is_none_or(|cached| uid_of(&cached) != pod.uid || is_being_deleted(&cached))
}

/// Whether every write awaited for `key` is in the pod cache. The
/// revision is read before the pods are, so the pods read are at least
/// that new.
pub(crate) fn writes_seen(awaited: &Mutex<AwaitedWrites>, pods: &Cache, key: &ObjectKey) -> bool {
    let revision = pods.revision();
    awaited
        .lock()
        .expect("no sync panics holding the lock")
        .satisfied(key, revision, |pod| shows_deleted(pods, pod))
}

/// The pods of the ReplicaSets that share `rs`'s controller (its
/// Deployment's), for ranking deletions; empty without a controller.
fn related_pods(context: &Context, rs: &Value) -> Vec<Value> {
    let Some(owner_uid) = controller_of(rs)
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
    else {
        return Vec::new();
    };
    let pods = context.informers.pods.cache();
    context
        .informers
        .replica_sets
        .cache()
        .by_index(Index::Owner, owner_uid)
        .iter()
        .filter(|sibling| {
            controller_of(sibling).and_then(|r| r.get("uid")) == Some(&Value::from(owner_uid))
        })
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
        shared
            .awaited
            .lock()
            .expect("no sync panics holding the lock")
            .forget(&key);
        return Ok(Action::Done);
    };
    let context = &shared.context;
    let store = &context.store;
    let pod_cache = context.informers.pods.cache();
    let expectations_satisfied = writes_seen(&shared.awaited, &pod_cache, &key);
    let pods = pod_cache.by_index(Index::Namespace, &key.namespace);
    let related = related_pods(context, &rs);
    let now = wall_clock();
    let plan = reconcile_replica_set(ReplicaSetInput {
        replica_set: &rs,
        pods: &pods,
        related_pods: &related,
        expectations_satisfied,
        now,
    });
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
        {
            let mut awaited = shared
                .awaited
                .lock()
                .expect("no sync panics holding the lock");
            for pod in &created.pods {
                awaited.created(&key, resource_version_of(pod));
            }
        }
        failure = created
            .error
            .map(|error| (ReplicaFailure::Create(error.to_string()), error));
    } else if !plan.delete.is_empty() {
        {
            let mut awaited = shared
                .awaited
                .lock()
                .expect("no sync panics holding the lock");
            for pod in &plan.delete {
                awaited.deleting(&key, pod.clone());
            }
        }
        failure = delete_pods(store, &shared.recorder, &rs, &plan.delete)
            .await
            .map(|error| (ReplicaFailure::Delete(error.to_string()), error));
    }
    let replica_sets = of::<ReplicaSet>();
    if let Some((failure, error)) = failure {
        let status = replica_set_status(&rs, &claimed(&rs, &pods), Some(&failure), now);
        writes::write_status(store, replica_sets, &rs, &status).await?;
        return Err(error);
    }
    if let Some(status) = &plan.status {
        writes::write_status(store, replica_sets, &rs, status).await?;
    }
    Ok(match plan.requeue_after_secs {
        Some(secs) => Action::RequeueAfter(Duration::from_secs(secs.max(0) as u64)),
        None => Action::Done,
    })
}

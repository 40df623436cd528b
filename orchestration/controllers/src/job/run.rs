//! The Job controller at work, with the TTL-after-finished controller's
//! one decision folded in: the runtime's runner over the shared Job
//! informer, woken by the pods it owns, each sync the pure [`sync`](super::sync)
//! applied through the store in the order its doc gives
//! (`pkg/controller/job/job_controller.go`'s `syncJob`).
//!
//! ```text
//!   Job / owned pod changed ─► reconcile(key)
//!     managed by another controller ─► nothing
//!     finished ─► ttlSecondsAfterFinished: delete (foreground) or look again later
//!     awaited writes not yet in the pod cache ─► nothing (their events wake it)
//!     sync(job, its pods, now) ─► status ─► finalizers off ─► delete ─► create ─► events
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::SignedDuration;
use keel_api::deletion::{DeleteOptions, Propagation};
use keel_api::k8s_openapi::api::batch::v1::Job;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_runtime::{Action, Controller, ObjectKey, Recorder, StoreError};
use serde_json::Value;

use super::{is_finished, pod_for, sync as plan_sync, ttl_after_finished, JobTimings};
use super::{TtlDecision, TRACKING_FINALIZER};
use crate::adapter::awaited::Awaited;
use crate::adapter::writes::{create_pods, delete_object, delete_pods, write_status};
use crate::adapter::{controlled_by, gone_is_done, wall_clock};
use crate::manager::{Context, Stop};
use crate::pods::{name_of, uid_of, ObjectRef};

/// The name Events of this controller carry.
pub const COMPONENT: &str = "job-controller";

/// The `spec.managedBy` of Jobs this controller manages (and unset).
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";

/// Pod finalizer removals at once.
pub const FINALIZER_REMOVALS_CONCURRENT_MAX: usize = 64;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// A write failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Job or a pod does not decode.
    #[error("a job or pod does not decode: {0}")]
    Decode(#[from] serde_json::Error),
}

/// What every sync of this controller shares.
struct Shared {
    context: Arc<Context>,
    recorder: Recorder,
    awaited: Awaited,
    timings: JobTimings,
}

/// Runs the Job controller until `stop` (an entry of
/// [`crate::manager::CONTROLLERS`]).
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let backoff = SignedDuration::try_from(context.options.job_pod_failure_backoff)
            .unwrap_or(JobTimings::default().pod_failure_backoff);
        let shared = Arc::new(Shared {
            recorder: context.recorder(COMPONENT),
            awaited: Awaited::new(),
            timings: JobTimings {
                pod_failure_backoff: backoff,
                ..JobTimings::default()
            },
            context: Arc::clone(&context),
        });
        let informers = &context.informers;
        Controller::new(&informers.jobs)
            .owns(&informers.pods, "Job")
            .run(
                move |key, object| {
                    let shared = Arc::clone(&shared);
                    async move { reconcile(&shared, key, object).await }
                },
                context.controller_options(),
                stop.wait(),
            )
            .await;
    })
}

fn requeue(after: SignedDuration) -> Action {
    Action::RequeueAfter(after.unsigned_abs().max(Duration::from_millis(1)))
}

async fn reconcile(
    shared: &Shared,
    key: ObjectKey,
    object: Option<Value>,
) -> Result<Action, SyncError> {
    let Some(value) = object else {
        shared.awaited.forget(&key);
        return Ok(Action::Done);
    };
    let job: Job = serde_json::from_value(value.clone())?;
    let managed_by = job.spec.as_ref().and_then(|s| s.managed_by.as_deref());
    if managed_by.is_some_and(|m| m != MANAGED_BY) {
        return Ok(Action::Done);
    }
    let store = &shared.context.store;
    let now = wall_clock();
    if is_finished(&job) {
        return match ttl_after_finished(&job, now) {
            TtlDecision::Keep => Ok(Action::Done),
            TtlDecision::DeleteAfter(left) => Ok(requeue(left)),
            TtlDecision::DeleteNow => {
                let options = DeleteOptions {
                    propagation: Some(Propagation::Foreground),
                    ..DeleteOptions::default()
                };
                delete_object(store, of::<Job>(), &ObjectRef::to(&value), options).await?;
                Ok(Action::Done)
            }
        };
    }
    let pod_cache = shared.context.informers.pods.cache();
    if !shared.awaited.seen(&pod_cache, &key) {
        return Ok(Action::Done);
    }
    let owned = controlled_by(&pod_cache, uid_of(&value));
    let pods: Vec<Pod> = owned
        .iter()
        .map(|pod| serde_json::from_value(pod.clone()))
        .collect::<Result<_, _>>()?;
    let plan = plan_sync(&job, &pods, &shared.timings, now);

    if let Some(status) = &plan.status {
        write_status(store, of::<Job>(), &value, &serde_json::to_value(status)?).await?;
    }
    remove_finalizers(shared, &owned, &plan.remove_finalizer).await?;
    let victims: Vec<ObjectRef> = owned
        .iter()
        .filter(|pod| plan.delete.iter().any(|name| name == name_of(pod)))
        .map(ObjectRef::to)
        .collect();
    if !victims.is_empty() {
        shared.awaited.deleting(&key, &victims);
        if let Some(error) = delete_pods(store, &shared.recorder, &value, &victims).await {
            return Err(error.into());
        }
    }
    if plan.create > 0 {
        let mut body = serde_json::to_value(pod_for(&job))?;
        body["apiVersion"] = "v1".into();
        body["kind"] = "Pod".into();
        let created = create_pods(store, &shared.recorder, &value, &body, plan.create).await;
        shared.awaited.created(&key, &created.pods);
        if let Some(error) = created.error {
            return Err(error.into());
        }
    }
    for notice in plan.events {
        shared.recorder.record(&value, notice);
    }
    Ok(plan.requeue_after.map_or(Action::Done, requeue))
}

/// Takes the tracking finalizer off the pods named (the status has
/// counted them); a pod gone already is done.
async fn remove_finalizers(
    shared: &Shared,
    owned: &[Value],
    names: &[String],
) -> Result<(), StoreError> {
    let store = &shared.context.store;
    let pods: Vec<ObjectRef> = owned
        .iter()
        .filter(|pod| names.iter().any(|name| name == name_of(pod)))
        .map(ObjectRef::to)
        .collect();
    for chunk in pods.chunks(FINALIZER_REMOVALS_CONCURRENT_MAX) {
        let answers = join_all(chunk.iter().map(|pod| {
            store.update_with(of::<Pod>(), &pod.namespace, &pod.name, |current, _| {
                let mut new = current.clone();
                if uid_of(current) == pod.uid {
                    if let Some(finalizers) = new
                        .pointer_mut("/metadata/finalizers")
                        .and_then(Value::as_array_mut)
                    {
                        finalizers.retain(|f| f != TRACKING_FINALIZER);
                    }
                }
                Ok::<_, StoreError>(new)
            })
        }))
        .await;
        for answer in answers {
            gone_is_done(answer)?;
        }
    }
    Ok(())
}

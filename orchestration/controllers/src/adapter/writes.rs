//! The writes several controllers' adapters make: pods created in
//! slow-start batches and deleted as the registry deletes them, owner
//! references adopted and released, a status written through `/status`.
//!
//! ```text
//!   create_pods(body, n) ─ batches 1, 2, 4, ... (stop at a failed batch) ─► created pods
//!   delete_pods(refs)    ─ all at once, uid precondition, the pod's grace ─► failures
//!   mark_and_delete      ─ /status marked (this uid only), then a delete of this uid
//!   adopt / release      ─ update of ownerReferences, uid checked, nothing if done already
//!   write_status         ─ update of /status, unless the object is another of that name
//! ```

use futures::future::join_all;
use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::k8s_openapi::jiff::Timestamp;
use keel_api::resources::of;
use keel_api::ResourceInfo;
use keel_runtime::events::Notice;
use keel_runtime::{Part, Recorder, Store, StoreError};
use serde_json::Value;

use super::{gone_is_done, wall_clock};
use crate::pods::{controller_of, name_of, namespace_of, uid_of, ObjectRef};
use crate::replicaset::slow_start::SlowStart;

/// What a run of pod creations did.
#[derive(Debug, Default)]
pub struct Created {
    /// The pods created, as stored.
    pub pods: Vec<Value>,
    /// The first error, if a batch failed (the rest was not tried).
    pub error: Option<StoreError>,
}

/// Creates `count` pods from `body` in `owner`'s namespace, in slow-start
/// batches (each batch's creates at once); records SuccessfulCreate or
/// FailedCreate on `owner` as the ReplicaSet and Job controllers do.
pub async fn create_pods(
    store: &Store,
    recorder: &Recorder,
    owner: &Value,
    body: &Value,
    count: usize,
) -> Created {
    let pods = of::<Pod>();
    let namespace = namespace_of(owner);
    let mut run = SlowStart::new(count);
    let mut created = Created::default();
    while let Some(batch) = run.next_batch() {
        let answers =
            join_all((0..batch).map(|_| store.create(pods, namespace, body.clone()))).await;
        let mut succeeded = 0;
        for answer in answers {
            match answer {
                Ok(pod) => {
                    succeeded += 1;
                    let message = format!("Created pod: {}", name_of(&pod));
                    recorder.record(owner, Notice::normal("SuccessfulCreate", &message));
                    created.pods.push(pod);
                }
                Err(error) => {
                    let message = format!("Error creating: {error}");
                    recorder.record(owner, Notice::warning("FailedCreate", &message));
                    created.error.get_or_insert(error);
                }
            }
        }
        run.record(succeeded);
    }
    created
}

/// Deletes `pod` as a client's delete does (its uid a precondition, its
/// own grace period); gone already counts as done.
pub async fn delete_pod(store: &Store, pod: &ObjectRef) -> Result<(), StoreError> {
    delete_object(store, of::<Pod>(), pod, DeleteOptions::default()).await
}

/// Deletes `object` of `resource` under `options`, with its uid as a
/// precondition; gone already (or replaced by another of its name)
/// counts as done.
pub async fn delete_object(
    store: &Store,
    resource: &'static ResourceInfo,
    object: &ObjectRef,
    options: DeleteOptions,
) -> Result<(), StoreError> {
    delete_this(store, resource, object, options, wall_clock())
        .await
        .map(drop)
}

/// Deletes `object` under `options` with its uid as a precondition;
/// answers whether this call deleted it (false: gone already, or another
/// of its name now).
async fn delete_this(
    store: &Store,
    resource: &'static ResourceInfo,
    object: &ObjectRef,
    mut options: DeleteOptions,
    now: Timestamp,
) -> Result<bool, StoreError> {
    options.uid = Some(object.uid.clone());
    let deleted = store
        .delete_as_planned(resource, &object.namespace, &object.name, &options, now)
        .await;
    match deleted {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound { .. } | StoreError::Precondition(_)) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Writes `mark(pod)` through `/status`, then deletes the pod under
/// `options`, both of this pod only (its uid): how the taint eviction
/// controller evicts and the pod garbage collector collects. Answers
/// whether this call deleted it (false: gone already, or another pod of
/// its name now).
pub async fn mark_and_delete(
    store: &Store,
    pod: &ObjectRef,
    mark: impl Fn(&Value) -> Value,
    options: DeleteOptions,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let pods = of::<Pod>();
    let marked = store
        .update_part_with(
            pods,
            &pod.namespace,
            &pod.name,
            Part::Status,
            |current, _| {
                let new = if uid_of(current) == pod.uid {
                    mark(current)
                } else {
                    current.clone()
                };
                Ok::<_, StoreError>(new)
            },
        )
        .await;
    match marked {
        Ok(_) => {}
        Err(StoreError::NotFound { .. }) => return Ok(false),
        Err(error) => return Err(error),
    }
    delete_this(store, pods, pod, options, now).await
}

/// Deletes `victims` at once; records SuccessfulDelete or FailedDelete on
/// `owner`; answers the first error.
pub async fn delete_pods(
    store: &Store,
    recorder: &Recorder,
    owner: &Value,
    victims: &[ObjectRef],
) -> Option<StoreError> {
    let answers = join_all(victims.iter().map(|pod| delete_pod(store, pod))).await;
    let mut first = None;
    for (pod, answer) in victims.iter().zip(answers) {
        match answer {
            Ok(()) => {
                let message = format!("Deleted pod: {}", pod.name);
                recorder.record(owner, Notice::normal("SuccessfulDelete", &message));
            }
            Err(error) => {
                let message = format!("Error deleting: {error}");
                recorder.record(owner, Notice::warning("FailedDelete", &message));
                first.get_or_insert(error);
            }
        }
    }
    first
}

/// Puts `reference` (a controller reference of the owner) on `object` of
/// `resource` if it is still the orphan of that uid
/// (`AdoptPod`/`AdoptReplicaSet`); gone counts as done.
pub async fn adopt(
    store: &Store,
    resource: &'static ResourceInfo,
    object: &ObjectRef,
    reference: &Value,
) -> Result<(), StoreError> {
    let written = store
        .update_with(resource, &object.namespace, &object.name, |current, _| {
            let mut new = current.clone();
            if uid_of(current) != object.uid || controller_of(current).is_some() {
                return Ok(new);
            }
            let references = new["metadata"]
                .as_object_mut()
                .expect("a stored object has metadata")
                .entry("ownerReferences")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(references) = references.as_array_mut() {
                references.push(reference.clone());
            }
            Ok(new)
        })
        .await;
    gone_is_done(written)
}

/// Removes the owner reference to `owner_uid` from `object`
/// (`ReleasePod`/`ReleaseReplicaSet`); gone counts as done.
pub async fn release(
    store: &Store,
    resource: &'static ResourceInfo,
    object: &ObjectRef,
    owner_uid: &str,
) -> Result<(), StoreError> {
    let written = store
        .update_with(resource, &object.namespace, &object.name, |current, _| {
            let mut new = current.clone();
            if uid_of(current) != object.uid {
                return Ok(new);
            }
            if let Some(references) = new
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                references.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            }
            Ok(new)
        })
        .await;
    gone_is_done(written)
}

/// Writes `status` as `object`'s status through `/status`, unless the
/// stored object is another one of its name (another uid).
pub async fn write_status(
    store: &Store,
    resource: &'static ResourceInfo,
    object: &Value,
    status: &Value,
) -> Result<(), StoreError> {
    let uid = uid_of(object);
    let written = store
        .update_part_with(
            resource,
            namespace_of(object),
            name_of(object),
            Part::Status,
            |current, _| {
                let mut new = current.clone();
                if uid_of(current) == uid {
                    new["status"] = status.clone();
                }
                Ok::<_, StoreError>(new)
            },
        )
        .await;
    gone_is_done(written)
}

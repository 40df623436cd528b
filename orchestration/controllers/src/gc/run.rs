//! The garbage collector and the namespace controller at work: thin
//! adapters around [`super::plan`] and [`super::namespace_plan`].
//!
//! ```text
//!   garbage-collector-controller: one runner per kind the manager informs
//!   of (pods, replicasets, deployments, jobs, daemonsets, ...), each also
//!   told of every other kind's changes, mapped to its own keys:
//!     an object gone or being deleted ─► its dependents of this kind
//!     a dependent changed or gone     ─► its owners of this kind being deleted
//!   reconcile(object X):
//!     owners (cache; a live read when the cache lacks one) all there and
//!     X not being deleted ─► nothing
//!     else plan(X + its owners + its dependents), X's own actions:
//!       Delete (uid precondition, the propagation planned)
//!       RemoveOwnerReferences (X's dependents, when X orphans them)
//!       RemoveFinalizer (after them)
//!
//!   namespace-controller: namespaces (+ every informed kind, mapped to
//!   its namespace while that is Terminating)
//!     reconcile(namespace): list everything in it (every namespaced
//!     kind) ─► namespace_plan ─► delete · status · /finalize
//! ```
//!
//! The planner sees a small snapshot around X, so only the actions about
//! X itself (and X's orphaning of its dependents) are taken: those about
//! the others in the snapshot would be planned without all of their
//! owners or dependents; their own keys take them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::future::join_all;
use keel_api::deletion::{DeleteOptions, Propagation, FOREGROUND, ORPHAN};
use keel_api::k8s_openapi::api::core::v1::Namespace;
use keel_api::resources::{by_kind, of, ResourceInfo, RESOURCES};
use keel_runtime::{
    Action, Cache, Controller, Index, ListOptions, ObjectKey, Part, SharedInformer, StoreError,
};
use serde_json::Value;

use super::{has_finalizer, namespace_plan, plan, GcAction, ObjectId, NAMESPACE_FINALIZER};
use crate::adapter::writes::delete_object;
use crate::adapter::{decode, encode, gone_is_done, wait_of, wall_clock};
use crate::manager::{Context, Informers, Stop};
use crate::pods::{is_being_deleted, namespace_of, uid_of, ObjectRef};

/// The garbage collector's entry in the manager's table.
pub fn start_garbage_collector(
    context: Arc<Context>,
    stop: Stop,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(garbage_collector(context, stop))
}

/// The namespace controller's entry in the manager's table.
pub fn start_namespace(
    context: Arc<Context>,
    stop: Stop,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(namespace_controller(context, stop))
}

/// The informed kinds whose objects own or are owned.
fn collected(informers: &Informers) -> Vec<&SharedInformer> {
    vec![
        &informers.pods,
        &informers.replica_sets,
        &informers.deployments,
        &informers.jobs,
        &informers.daemon_sets,
        &informers.controller_revisions,
        &informers.services,
        &informers.endpoints,
        &informers.nodes,
        &informers.leases,
    ]
}

fn owner_references(object: &Value) -> &[Value] {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'v>(object: &'v Value, field: &str) -> &'v str {
    object.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The keys of `resource`'s objects (in `cache`) that a change of
/// `related` (whose own kind's cache is `related_cache`) concerns.
fn concerned(
    resource: &ResourceInfo,
    cache: &Cache,
    related_cache: &Cache,
    related: &Value,
) -> Vec<ObjectKey> {
    let mut keys = Vec::new();
    let key = ObjectKey::of(related);
    let gone = || {
        related_cache
            .get_key(&key)
            .is_none_or(|now| uid_of(&now) != uid_of(related))
    };
    if is_being_deleted(related) || gone() {
        keys.extend(
            cache
                .by_index(Index::Owner, uid_of(related))
                .iter()
                .map(ObjectKey::of),
        );
    }
    for owner in owner_references(related) {
        if text(owner, "kind") != resource.kind || text(owner, "apiVersion") != resource.api_version
        {
            continue;
        }
        let namespace = if resource.namespaced {
            key.namespace.as_str()
        } else {
            ""
        };
        let owner_key = ObjectKey::new(namespace, text(owner, "name"));
        if cache
            .get_key(&owner_key)
            .is_some_and(|o| is_being_deleted(&o))
        {
            keys.push(owner_key);
        }
    }
    keys
}

/// Runs the garbage collector until `stop`: one runner per kind.
pub async fn garbage_collector(context: Arc<Context>, stop: Stop) {
    let kinds = collected(&context.informers);
    let mut runners = Vec::new();
    for primary in &kinds {
        let resource = primary.resource();
        let mut controller = Controller::new(primary);
        for related in &kinds {
            let cache = primary.cache();
            let related_cache = related.cache();
            controller = controller.watches(related, move |object| {
                concerned(resource, &cache, &related_cache, object)
            });
        }
        let collector = Arc::new(Collector {
            context: Arc::clone(&context),
        });
        runners.push(controller.run(
            move |key, object| {
                let collector = Arc::clone(&collector);
                async move { collector.reconcile(resource, &key, object).await }
            },
            context.controller_options(),
            stop.clone().wait(),
        ));
    }
    join_all(runners).await;
}

struct Collector {
    context: Arc<Context>,
}

impl Collector {
    /// The cache of `resource`, if the manager informs of it.
    fn cache_of(&self, resource: &ResourceInfo) -> Option<Cache> {
        collected(&self.context.informers)
            .into_iter()
            .find(|informer| informer.resource() == resource)
            .map(SharedInformer::cache)
    }

    /// The owner `reference` of `dependent` names, if it exists with that
    /// uid: from the cache, else read (`isDangling` reads too, so an owner
    /// the cache has not seen yet is not taken for gone). An owner of a
    /// kind keel does not serve is taken as there.
    async fn owner(
        &self,
        dependent: &Value,
        reference: &Value,
    ) -> Result<Option<Value>, StoreError> {
        let uid = text(reference, "uid");
        let Some(resource) = by_kind(text(reference, "apiVersion"), text(reference, "kind")) else {
            return Ok(Some(serde_json::json!({"metadata": {"uid": uid}})));
        };
        let namespace = if resource.namespaced {
            namespace_of(dependent)
        } else {
            ""
        };
        let name = text(reference, "name");
        let cached = self
            .cache_of(resource)
            .and_then(|cache| cache.get(namespace, name))
            .filter(|owner| uid_of(owner) == uid);
        if cached.is_some() {
            return Ok(cached);
        }
        match self.context.store.get(resource, namespace, name).await {
            Ok(owner) => Ok((uid_of(&owner) == uid).then_some(owner)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn reconcile(
        &self,
        resource: &ResourceInfo,
        key: &ObjectKey,
        object: Option<Value>,
    ) -> Result<Action, StoreError> {
        let Some(object) = object else {
            return Ok(Action::Done);
        };
        let deleting = is_being_deleted(&object)
            && (has_finalizer(&object, ORPHAN) || has_finalizer(&object, FOREGROUND));
        let references = owner_references(&object);
        if references.is_empty() && !deleting {
            return Ok(Action::Done);
        }
        let mut snapshot = vec![object.clone()];
        let mut all_solid = true;
        for reference in references {
            match self.owner(&object, reference).await? {
                Some(owner) => {
                    all_solid &= !(is_being_deleted(&owner) && has_finalizer(&owner, FOREGROUND));
                    snapshot.push(owner);
                }
                None => all_solid = false,
            }
        }
        if all_solid && !deleting {
            return Ok(Action::Done);
        }
        let uid = uid_of(&object).to_owned();
        for informer in collected(&self.context.informers) {
            snapshot.extend(informer.cache().by_index(Index::Owner, &uid));
        }
        let mut seen = std::collections::HashSet::new();
        snapshot.retain(|o| seen.insert(uid_of(o).to_owned()));
        let orphaning = is_being_deleted(&object) && has_finalizer(&object, ORPHAN);
        for action in plan(&snapshot) {
            let ours = match &action {
                GcAction::Delete { object, .. } | GcAction::RemoveFinalizer { object, .. } => {
                    object.uid == uid
                }
                GcAction::RemoveOwnerReferences { object, owner_uids } => {
                    object.uid == uid
                        || (orphaning && owner_uids.as_slice() == std::slice::from_ref(&uid))
                }
            };
            if ours {
                tracing::debug!(?action, %key, kind = resource.kind, "garbage collector");
                execute(&self.context, &action).await?;
            }
        }
        Ok(Action::Done)
    }
}

/// The resource of an object the planner names.
fn resource_of(object: &ObjectId) -> Option<&'static ResourceInfo> {
    by_kind(&object.api_version, &object.kind)
}

/// Deletes `object` (that uid only) with `propagation`, as a client's
/// delete does; gone already is done.
async fn delete(
    context: &Context,
    object: &ObjectId,
    propagation: Propagation,
) -> Result<(), StoreError> {
    let Some(resource) = resource_of(object) else {
        return Ok(());
    };
    let options = DeleteOptions {
        propagation: Some(propagation),
        ..DeleteOptions::default()
    };
    let target = ObjectRef {
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        uid: object.uid.clone(),
    };
    delete_object(&context.store, resource, &target, options).await
}

/// Rewrites `object`'s metadata with `change`, if it is still that uid.
async fn update_metadata(
    context: &Context,
    object: &ObjectId,
    change: impl Fn(&mut serde_json::Map<String, Value>),
) -> Result<(), StoreError> {
    let Some(resource) = resource_of(object) else {
        return Ok(());
    };
    let written = context
        .store
        .update_with(resource, &object.namespace, &object.name, |current, _| {
            let mut new = current.clone();
            if uid_of(current) == object.uid {
                if let Some(metadata) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    change(metadata);
                }
            }
            Ok::<_, StoreError>(new)
        })
        .await;
    gone_is_done(written)
}

/// Takes one of the planner's actions.
async fn execute(context: &Context, action: &GcAction) -> Result<(), StoreError> {
    match action {
        GcAction::Delete {
            object,
            propagation,
        } => delete(context, object, *propagation).await,
        GcAction::RemoveOwnerReferences { object, owner_uids } => {
            update_metadata(context, object, |metadata| {
                let Some(Value::Array(references)) = metadata.get_mut("ownerReferences") else {
                    return;
                };
                references.retain(|r| !owner_uids.iter().any(|uid| r["uid"] == uid.as_str()));
                if references.is_empty() {
                    metadata.remove("ownerReferences");
                }
            })
            .await
        }
        GcAction::RemoveFinalizer { object, finalizer } => {
            update_metadata(context, object, |metadata| {
                let Some(Value::Array(finalizers)) = metadata.get_mut("finalizers") else {
                    return;
                };
                finalizers.retain(|f| f != *finalizer);
                if finalizers.is_empty() {
                    metadata.remove("finalizers");
                }
            })
            .await
        }
    }
}

/// Runs the namespace controller until `stop`.
pub async fn namespace_controller(context: Arc<Context>, stop: Stop) {
    let informers = &context.informers;
    let mut controller = Controller::new(&informers.namespaces);
    for related in collected(informers) {
        if !related.resource().namespaced {
            continue;
        }
        let namespaces = informers.namespaces.cache();
        controller = controller.watches(related, move |object| {
            let key = ObjectKey::new("", namespace_of(object));
            namespaces
                .get_key(&key)
                .filter(is_being_deleted)
                .map(|_| key)
                .into_iter()
                .collect()
        });
    }
    let reconciling = Arc::clone(&context);
    controller
        .run(
            move |key, namespace| {
                let context = Arc::clone(&reconciling);
                async move { empty_namespace(&context, &key, namespace).await }
            },
            context.controller_options(),
            stop.wait(),
        )
        .await;
}

/// Everything in `namespace`, of every namespaced kind keel serves.
async fn contents(context: &Context, namespace: &str) -> Result<Vec<Value>, StoreError> {
    let mut objects = Vec::new();
    for resource in RESOURCES.iter().filter(|r| r.namespaced) {
        let list = context
            .store
            .list(resource, namespace, &ListOptions::default())
            .await?;
        objects.extend(list.items);
    }
    Ok(objects)
}

/// `namespaced_resources_deleter.Delete`: empties a Terminating
/// namespace, keeps its status current, and finalizes it once empty.
async fn empty_namespace(
    context: &Context,
    key: &ObjectKey,
    namespace: Option<Value>,
) -> Result<Action, StoreError> {
    let Some(namespace) = namespace else {
        return Ok(Action::Done);
    };
    if !is_being_deleted(&namespace) {
        return Ok(Action::Done);
    }
    let objects = contents(context, &key.name).await?;
    let now = wall_clock();
    let planned = namespace_plan(&decode::<Namespace>(&namespace)?, &objects, now);
    for object in &planned.delete {
        delete(context, object, Propagation::Background).await?;
    }
    let namespaces = of::<Namespace>();
    if let Some(status) = &planned.status {
        let written = context
            .store
            .update_part_with(namespaces, "", &key.name, Part::Status, |current, _| {
                let mut new = current.clone();
                new["status"] = encode(status);
                Ok::<_, StoreError>(new)
            })
            .await;
        gone_is_done(written)?;
    }
    if planned.finalize {
        let finalized = context
            .store
            .update_part_with(namespaces, "", &key.name, Part::Finalize, |current, _| {
                let mut new = current.clone();
                if let Some(Value::Array(finalizers)) = new.pointer_mut("/spec/finalizers") {
                    finalizers.retain(|f| f != NAMESPACE_FINALIZER);
                }
                Ok::<_, StoreError>(new)
            })
            .await;
        gone_is_done(finalized)?;
        return Ok(Action::Done);
    }
    Ok(planned
        .requeue_after
        .map_or(Action::Done, |after| Action::RequeueAfter(wait_of(after))))
}

//! The Endpoints controller at work: a thin adapter around
//! [`super::sync`].
//!
//! ```text
//!   services ◄── pods (each mapped to the Services of its namespace whose
//!            │         selector it matches, before and after a change)
//!            ◄── endpoints (each mapped to the Service of its name)
//!   reconcile(service):
//!     gone ─► delete the Endpoints of its name
//!     sync(service, the pods its selector picks, the cached Endpoints)
//!       Create / Update ─► write · Unchanged / Ignore ─► nothing
//! ```
//!
//! A pod's readiness change is one status write; its event reaches the
//! Service's key at once, so the Endpoints follow within the time of a
//! reconcile.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keel_api::k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use keel_api::resources::of;
use keel_runtime::{Action, Cache, Controller, Index, ObjectKey, StoreError};
use serde_json::Value;

use super::{sync, EndpointsSync};
use crate::adapter::{decode, encode, gone_is_done};
use crate::manager::{Context, Stop};
use crate::pods::namespace_of;

/// The Endpoints controller's entry in the manager's table.
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(run(context, stop))
}

/// Whether the selector of `service` (JSON) picks `pod` (JSON); a Service
/// without a selector picks nothing.
fn picks(service: &Value, pod: &Value) -> bool {
    let Some(selector) = service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    selector
        .iter()
        .all(|(key, value)| pod.pointer("/metadata/labels").and_then(|l| l.get(key)) == Some(value))
}

/// The keys of the Services in `pod`'s namespace that pick it.
fn services_of(services: &Cache, pod: &Value) -> Vec<ObjectKey> {
    let namespace = namespace_of(pod);
    services
        .by_index(Index::Namespace, namespace)
        .iter()
        .filter(|service| picks(service, pod))
        .map(ObjectKey::of)
        .collect()
}

/// Runs the Endpoints controller until `stop`.
pub async fn run(context: Arc<Context>, stop: Stop) {
    let informers = &context.informers;
    let services = informers.services.cache();
    let reconciling = Arc::clone(&context);
    Controller::new(&informers.services)
        .watches(&informers.pods, move |pod| services_of(&services, pod))
        .watches(&informers.endpoints, |endpoints| {
            vec![ObjectKey::of(endpoints)]
        })
        .run(
            move |key, service| {
                let context = Arc::clone(&reconciling);
                async move { reconcile(&context, &key, service).await }
            },
            context.controller_options(),
            stop.wait(),
        )
        .await;
}

/// The pods of the service's namespace its selector picks, decoded.
fn selected_pods(context: &Context, service: &Value) -> Result<Vec<Pod>, StoreError> {
    let namespace = namespace_of(service);
    context
        .informers
        .pods
        .cache()
        .by_index(Index::Namespace, namespace)
        .iter()
        .filter(|pod| picks(service, pod))
        .map(decode)
        .collect()
}

async fn reconcile(
    context: &Context,
    key: &ObjectKey,
    service: Option<Value>,
) -> Result<Action, StoreError> {
    let endpoints = of::<Endpoints>();
    let Some(service) = service else {
        // `onServiceDelete`: the Endpoints of a deleted Service go too.
        if context.informers.endpoints.cache().get_key(key).is_some() {
            let deleted = context
                .store
                .delete(endpoints, &key.namespace, &key.name, None)
                .await;
            gone_is_done(deleted)?;
        }
        return Ok(Action::Done);
    };
    let pods = selected_pods(context, &service)?;
    let current: Option<Endpoints> = context
        .informers
        .endpoints
        .cache()
        .get_key(key)
        .as_ref()
        .map(decode)
        .transpose()?;
    match sync(&decode::<Service>(&service)?, &pods, current.as_ref()) {
        EndpointsSync::Ignore | EndpointsSync::Unchanged => {}
        EndpointsSync::Create(new) => {
            context
                .store
                .create(endpoints, &key.namespace, encode(&new))
                .await?;
        }
        // With the cached resourceVersion: Conflict if the cache is
        // behind, and the retry reads the newer one.
        EndpointsSync::Update(new) => {
            context
                .store
                .update(endpoints, &key.namespace, encode(&new))
                .await?;
        }
    }
    Ok(Action::Done)
}

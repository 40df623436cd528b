//! Subresources, as their registries in kube-apiserver serve them:
//!
//! ```text
//!   <kind>/status      GET, PUT, PATCH   only the status is written
//!   <kind>/scale       GET, PUT, PATCH   autoscaling/v1 Scale of spec.replicas
//!                                        (deployments, replicasets)
//!   pods/binding       POST              spec.nodeName + PodScheduled, once
//!   pods/eviction      POST              a delete (no disruption budgets yet)
//!   namespaces/finalize PUT              spec.finalizers
//!
//! (`pods/log` and `pods/exec` are the kubelet's: kubelet_proxy.rs.)
//! ```

use axum::http::StatusCode;
use keel_api::deletion::DeleteOptions;
use keel_api::object::name_of;
use keel_api::patch::PatchType;
use keel_api::selector::LabelSelector;
use keel_api::ResourceInfo;
use keel_runtime::{Part, Store};
use serde_json::{json, Value};

use crate::body;
use crate::failure::Failure;
use crate::objects::{self, Answer, Request};
use crate::output;

/// Answers a request for a subresource of an object.
pub(crate) async fn handle(store: &Store, request: &Request) -> Result<Answer, Failure> {
    let target = &request.target;
    let name = target.name.as_deref().unwrap_or("");
    let subresource = target.subresource.as_deref().unwrap_or("");
    match (subresource, request.method.as_str()) {
        ("status", "GET") => {
            let object = store.get(target.resource, &target.namespace, name).await?;
            Ok(Answer::ok(output::one(
                target.resource,
                object,
                request.form()?,
            )?))
        }
        ("status", "PUT") => {
            let (object, warnings) = request.object()?;
            let updated = store
                .update_status(target.resource, &target.namespace, object)
                .await?;
            Ok(Answer {
                warnings,
                ..Answer::ok(output::with_type(target.resource, updated))
            })
        }
        ("status", "PATCH") => objects::patch(store, request, name, Part::Status).await,
        ("scale", "GET") => {
            let object = store.get(target.resource, &target.namespace, name).await?;
            Ok(Answer::ok(scale_of(&object)))
        }
        ("scale", "PUT" | "PATCH") => rescale(store, request, name).await,
        ("binding", "POST") => bind(store, request, name).await,
        ("eviction", "POST") => evict(store, request, name).await,
        ("finalize", "PUT") => finalize(store, request, name).await,
        (_, method) => Err(Failure::method_not_allowed(method)),
    }
}

/// The autoscaling/v1 Scale of a Deployment or ReplicaSet.
fn scale_of(object: &Value) -> Value {
    let metadata = &object["metadata"];
    let selector = object
        .pointer("/spec/selector")
        .map(|s| {
            LabelSelector::from_json(s)
                .map(|s| s.to_string())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

/// The Scale a PUT sends or a PATCH makes of the current one.
fn new_scale(
    request: &Request,
    resource: &ResourceInfo,
    current: &Value,
    revision: i64,
) -> Result<Value, Failure> {
    let scale = scale_of(current);
    let new = if request.method.as_str() == "PATCH" {
        let patch_type = PatchType::from_content_type(&request.content_type)
            .ok_or_else(|| Failure::from(keel_api::patch::PatchError::UnsupportedMediaType))?;
        // A Scale has no lists: every patch type applies as to any object.
        objects::patched(resource, &scale, revision, patch_type, &request.body)?
    } else {
        let new = body::parse_as("Scale", &request.content_type, &request.body)?;
        objects::at_revision(resource, current, revision, &new)?;
        new
    };
    match new.pointer("/spec/replicas") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => Ok(new),
        Some(Value::Number(n)) => Err(Failure {
            details: None,
            ..Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                format!(
                    "Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: {n}: must be greater than or equal to 0",
                    name_of(current)
                ),
            )
        }),
        _ => Ok(new),
    }
}

/// PUT or PATCH of a Scale: the object's spec.replicas.
async fn rescale(store: &Store, request: &Request, name: &str) -> Result<Answer, Failure> {
    let target = &request.target;
    let resource = target.resource;
    let updated = store
        .update_with(resource, &target.namespace, name, |current, revision| {
            let scale = new_scale(request, resource, current, revision)?;
            let mut new = current.clone();
            if let Some(replicas) = scale.pointer("/spec/replicas") {
                new["spec"]["replicas"] = replicas.clone();
            }
            Ok::<_, Failure>(new)
        })
        .await?;
    Ok(Answer::ok(scale_of(&updated)))
}

/// A pod's binding to a node (pkg/registry/core/pod/storage `assignPod`):
/// once, and not while the pod is being deleted.
async fn bind(store: &Store, request: &Request, name: &str) -> Result<Answer, Failure> {
    let target = &request.target;
    let binding = body::parse_as("Binding", &request.content_type, &request.body)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !kind.is_empty() && kind != "Node" {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("Binding \"{name}\" is invalid: target.kind: Unsupported value: \"{kind}\": supported values: \"Node\""),
        ));
    }
    let uid = binding.pointer("/metadata/uid").and_then(Value::as_str);
    store.bind(&target.namespace, name, &node, uid).await?;
    Ok(Answer::with(
        StatusCode::CREATED,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// A pod's eviction: without disruption budgets, a delete with the
/// eviction's options.
async fn evict(store: &Store, request: &Request, name: &str) -> Result<Answer, Failure> {
    let target = &request.target;
    let eviction = body::parse_as("Eviction", &request.content_type, &request.body)?;
    let options = match eviction.get("deleteOptions") {
        Some(options) if !options.is_null() => {
            DeleteOptions::read(options.to_string().as_bytes(), None, None)
                .map_err(|error| Failure::bad_request(error.to_string()))?
        }
        _ => DeleteOptions::default(),
    };
    objects::delete_one(store, target.resource, &target.namespace, name, &options).await?;
    Ok(Answer::with(
        StatusCode::CREATED,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

/// A namespace's finalize: its spec.finalizers.
async fn finalize(store: &Store, request: &Request, name: &str) -> Result<Answer, Failure> {
    let resource = request.target.resource;
    let mut object = body::parse_as("Namespace", &request.content_type, &request.body)?;
    body::check_type(resource, &mut object)?;
    let finalized = store
        .update_part_with(resource, "", name, Part::Finalize, |current, revision| {
            objects::at_revision(resource, current, revision, &object)?;
            let mut new = current.clone();
            new["spec"]["finalizers"] = object
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(Value::Null);
            Ok::<_, Failure>(new)
        })
        .await?;
    Ok(Answer::ok(output::with_type(resource, finalized)))
}

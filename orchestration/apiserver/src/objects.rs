//! Reading and writing objects over HTTP, as kube-apiserver's generic
//! handlers do, through the store:
//!
//! ```text
//!   GET    collection ─► list (limit, continue, resourceVersion)
//!   GET    object     ─► get
//!   POST   collection ─► create          201, or 409 AlreadyExists
//!   PUT    object     ─► update          409 Conflict on a stale resourceVersion
//!   DELETE object     ─► delete          gone: the object (pods, services,
//!                                        namespaces) or a Success Status;
//!                                        marked (grace, finalizers): the object
//!   DELETE collection ─► delete each selected object
//! ```
//!
//! Errors are `metav1.Status` with Kubernetes' reasons, codes and
//! messages. Subresources, patch, watch, selectors and Table output come
//! next.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_api::deletion::{self, DeleteOptions};
use keel_api::object::name_of;
use keel_api::selector::{FieldSelector, LabelSelector};
use keel_api::ResourceInfo;
use keel_runtime::{Deleted, ListOptions, Store, StoreError};
use serde_json::{json, Map, Value};

use crate::namespaces::IMMORTAL_NAMESPACES;
use crate::paths::Target;
use crate::server::{not_found, status, status_body};
use crate::watch::WatchRequest;

/// A failure with what `metav1.Status` carries.
pub(crate) struct Failure {
    /// The HTTP status.
    pub code: StatusCode,
    /// The Status reason ("NotFound").
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

impl Failure {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: StatusCode::BAD_REQUEST,
            reason: "BadRequest",
            message: message.into(),
        }
    }

    /// The failure as an HTTP answer.
    pub(crate) fn into_response(self) -> Response {
        status(self.code, self.reason, &self.message)
    }

    /// The failure's `metav1.Status`, as a watch's ERROR event carries it.
    pub(crate) fn status(&self) -> Value {
        status_body(self.code, self.reason, &self.message)
    }
}

/// Which objects a list or watch selects: `labelSelector` and
/// `fieldSelector`.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// The label selector.
    pub labels: LabelSelector,
    /// The field selector.
    pub fields: FieldSelector,
}

impl Selection {
    /// The selection a request's query asks for.
    fn from_query<S: BuildHasher>(
        resource: &ResourceInfo,
        query: &HashMap<String, String, S>,
    ) -> Result<Self, Failure> {
        let text = |name: &str| query.get(name).map_or("", String::as_str);
        let labels = LabelSelector::parse(text("labelSelector"))
            .map_err(|error| Failure::bad_request(error.to_string()))?;
        let fields = FieldSelector::parse(resource, text("fieldSelector"))
            .map_err(|error| Failure::bad_request(error.to_string()))?;
        Ok(Self { labels, fields })
    }

    /// Whether `object` of `resource` is selected.
    pub(crate) fn matches(&self, resource: &ResourceInfo, object: &Value) -> bool {
        self.labels.matches_object(object) && self.fields.matches(resource, object)
    }
}

/// A query parameter read as Go's `strconv.ParseBool` reads it.
fn flag<S: BuildHasher>(
    query: &HashMap<String, String, S>,
    name: &str,
) -> Result<Option<bool>, Failure> {
    match query.get(name).map(String::as_str) {
        None | Some("") => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(other) => Err(Failure::bad_request(format!(
            "invalid {name} {other:?}: must be a boolean"
        ))),
    }
}

/// A non-negative integer query parameter (0 when absent).
fn number<S: BuildHasher>(query: &HashMap<String, String, S>, name: &str) -> Result<i64, Failure> {
    match query.get(name).map(String::as_str) {
        None | Some("") => Ok(0),
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            Failure::bad_request(format!("invalid {name} {text:?}: must be a number"))
        }),
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        let (code, reason) = match error {
            StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "NotFound"),
            StoreError::AlreadyExists { .. } => (StatusCode::CONFLICT, "AlreadyExists"),
            StoreError::Conflict { .. } | StoreError::Precondition(_) => {
                (StatusCode::CONFLICT, "Conflict")
            }
            StoreError::Gone { .. } => (StatusCode::GONE, "Expired"),
            StoreError::BadContinue(_) | StoreError::Object(_) => {
                (StatusCode::BAD_REQUEST, "BadRequest")
            }
            StoreError::Keel(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        Self {
            code,
            reason,
            message,
        }
    }
}

/// Answers one request for `target`.
pub async fn handle<S: BuildHasher>(
    store: &Store,
    method: &Method,
    target: Target,
    query: &HashMap<String, String, S>,
    body: &[u8],
) -> Response {
    // No subresource is served yet.
    if target.subresource.is_some() {
        return not_found();
    }
    if method == Method::GET && target.name.is_none() {
        match flag(query, "watch") {
            Ok(Some(true)) => return watch(store, target, query).await,
            Ok(_) => {}
            Err(failure) => return failure.into_response(),
        }
    }
    let answer = match (method.as_str(), &target.name) {
        ("GET", None) => list(store, &target, query).await,
        ("GET", Some(name)) => store
            .get(target.resource, &target.namespace, name)
            .await
            .map(|object| (StatusCode::OK, with_type(target.resource, object)))
            .map_err(Failure::from),
        ("POST", None) => create(store, &target, body).await,
        ("PUT", Some(name)) => update(store, &target, name, body).await,
        ("DELETE", Some(name)) => delete(store, &target, name, query, body).await,
        ("DELETE", None) => delete_collection(store, &target, query, body).await,
        _ => Err(Failure {
            code: StatusCode::METHOD_NOT_ALLOWED,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method})"
            ),
        }),
    };
    match answer {
        Ok((code, object)) => (code, Json(object)).into_response(),
        Err(failure) => failure.into_response(),
    }
}

/// `object` with its kind and apiVersion, as single objects are served.
pub(crate) fn with_type(resource: &ResourceInfo, mut object: Value) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields.insert("apiVersion".into(), resource.api_version.into());
        fields.insert("kind".into(), resource.kind.into());
    }
    object
}

async fn list<S: BuildHasher>(
    store: &Store,
    target: &Target,
    query: &HashMap<String, String, S>,
) -> Result<(StatusCode, Value), Failure> {
    let selection = Selection::from_query(target.resource, query)?;
    let options = ListOptions {
        limit: number(query, "limit")?,
        continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
        revision: number(query, "resourceVersion")?,
    };
    let list = store
        .list(target.resource, &target.namespace, &options)
        .await?;
    let mut metadata = Map::new();
    metadata.insert(
        "resourceVersion".into(),
        list.resource_version.to_string().into(),
    );
    if let Some(token) = list.continue_token {
        metadata.insert("continue".into(), token.into());
    }
    let items: Vec<Value> = list
        .items
        .into_iter()
        .filter(|item| selection.matches(target.resource, item))
        .map(|mut item| {
            // Items of a list carry no type of their own.
            if let Some(fields) = item.as_object_mut() {
                fields.remove("apiVersion");
                fields.remove("kind");
            }
            item
        })
        .collect();
    Ok((
        StatusCode::OK,
        json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version,
            "metadata": metadata,
            "items": items,
        }),
    ))
}

/// A watch of the target's collection.
async fn watch<S: BuildHasher>(
    store: &Store,
    target: Target,
    query: &HashMap<String, String, S>,
) -> Response {
    let request = (|| {
        let after = number(query, "resourceVersion")?;
        let timeout = number(query, "timeoutSeconds")?;
        Ok::<_, Failure>(WatchRequest {
            resource: target.resource,
            namespace: target.namespace.clone(),
            after: (after > 0).then_some(after),
            selection: Selection::from_query(target.resource, query)?,
            bookmarks: flag(query, "allowWatchBookmarks")?.unwrap_or(false),
            send_initial_events: flag(query, "sendInitialEvents")?,
            timeout: (timeout > 0).then(|| Duration::from_secs(timeout as u64)),
        })
    })();
    match request {
        Ok(request) => crate::watch::serve(store, request).await,
        Err(failure) => failure.into_response(),
    }
}

/// The body as an object of the target's kind, in the target's namespace.
fn decode_body(target: &Target, body: &[u8]) -> Result<Value, Failure> {
    let mut object: Value = serde_json::from_slice(body).map_err(|error| {
        Failure::bad_request(format!(
            "the body of the request could not be decoded: {error}"
        ))
    })?;
    let fields = object
        .as_object_mut()
        .ok_or_else(|| Failure::bad_request("the body of the request is not an object"))?;
    let resource = target.resource;
    match fields.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            fields.insert("apiVersion".into(), resource.api_version.into());
        }
        Some(version) if version == resource.api_version => {}
        Some(version) => {
            return Err(Failure::bad_request(format!(
            "the API version in the data ({version}) does not match the expected API version ({})",
            resource.api_version
        )))
        }
    }
    match fields.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            fields.insert("kind".into(), resource.kind.into());
        }
        Some(kind) if kind == resource.kind => {}
        Some(kind) => {
            return Err(Failure::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                resource.kind
            )))
        }
    }
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Failure::bad_request("metadata must be an object"))?;
    if resource.namespaced {
        match metadata.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                metadata.insert("namespace".into(), target.namespace.clone().into());
            }
            Some(namespace) if namespace == target.namespace => {}
            Some(_) => {
                return Err(Failure::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
        }
    }
    Ok(object)
}

fn invalid(resource: &ResourceInfo, name: &str, field: &str, detail: &str) -> Failure {
    let kind = if resource.group.is_empty() {
        resource.kind.to_owned()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    };
    Failure {
        code: StatusCode::UNPROCESSABLE_ENTITY,
        reason: "Invalid",
        message: format!("{kind} \"{name}\" is invalid: {field}: {detail}"),
    }
}

async fn create(
    store: &Store,
    target: &Target,
    body: &[u8],
) -> Result<(StatusCode, Value), Failure> {
    if target.resource.namespaced && target.namespace.is_empty() {
        return Err(Failure::bad_request(
            "the namespace of the object must be set on the request",
        ));
    }
    let object = decode_body(target, body)?;
    if name_of(&object).is_empty() {
        return Err(invalid(
            target.resource,
            "",
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    }
    crate::namespaces::admit_create(store, target.resource, &target.namespace, name_of(&object))
        .await?;
    let created = store
        .create(target.resource, &target.namespace, object)
        .await?;
    Ok((StatusCode::CREATED, created))
}

async fn update(
    store: &Store,
    target: &Target,
    name: &str,
    body: &[u8],
) -> Result<(StatusCode, Value), Failure> {
    let object = decode_body(target, body)?;
    let named = name_of(&object);
    if named != name {
        return Err(Failure::bad_request(format!(
            "the name of the object ({named}) does not match the name on the URL ({name})"
        )));
    }
    let updated = store
        .update(target.resource, &target.namespace, object)
        .await?;
    Ok((StatusCode::OK, updated))
}

/// The kinds whose delete answers the deleted object rather than a
/// Success Status (their registries set `ReturnDeletedObject`).
fn returns_deleted_object(resource: &ResourceInfo) -> bool {
    matches!(
        (resource.group, resource.plural),
        ("", "pods" | "services" | "namespaces")
    )
}

/// The `DeleteOptions` of a delete request.
fn delete_options<S: BuildHasher>(
    query: &HashMap<String, String, S>,
    body: &[u8],
) -> Result<DeleteOptions, Failure> {
    DeleteOptions::read(
        body,
        query.get("gracePeriodSeconds").map(String::as_str),
        query.get("propagationPolicy").map(String::as_str),
    )
    .map_err(|error| Failure::bad_request(error.to_string()))
}

/// Deletes one object as its kind's registry does.
async fn delete_one(
    store: &Store,
    target: &Target,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deleted, Failure> {
    let resource = target.resource;
    if resource.plural == "namespaces" && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(Failure {
            code: StatusCode::FORBIDDEN,
            reason: "Forbidden",
            message: format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            ),
        });
    }
    let now = jiff::Timestamp::now();
    Ok(store
        .delete_with(resource, &target.namespace, name, |current, revision| {
            Ok(deletion::plan(resource, current, revision, options, now)?)
        })
        .await?)
}

async fn delete<S: BuildHasher>(
    store: &Store,
    target: &Target,
    name: &str,
    query: &HashMap<String, String, S>,
    body: &[u8],
) -> Result<(StatusCode, Value), Failure> {
    let options = delete_options(query, body)?;
    let deleted = delete_one(store, target, name, &options).await?;
    let resource = target.resource;
    if deleted.gone && !returns_deleted_object(resource) {
        let uid = deleted
            .object
            .pointer("/metadata/uid")
            .cloned()
            .unwrap_or_default();
        return Ok((
            StatusCode::OK,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "group": resource.group, "kind": resource.plural, "uid": uid},
            }),
        ));
    }
    Ok((StatusCode::OK, with_type(resource, deleted.object)))
}

async fn delete_collection<S: BuildHasher>(
    store: &Store,
    target: &Target,
    query: &HashMap<String, String, S>,
    body: &[u8],
) -> Result<(StatusCode, Value), Failure> {
    let options = delete_options(query, body)?;
    let selection = Selection::from_query(target.resource, query)?;
    let listed = store
        .list(target.resource, &target.namespace, &ListOptions::default())
        .await?;
    let mut items = Vec::new();
    for object in listed.items {
        if !selection.matches(target.resource, &object) {
            continue;
        }
        let mut one = target.clone();
        one.namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match delete_one(store, &one, name_of(&object), &options).await {
            Ok(deleted) => items.push(deleted.object),
            // Gone meanwhile, or one of the namespaces that stay.
            Err(failure)
                if matches!(failure.code, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN) => {}
            Err(failure) => return Err(failure),
        }
    }
    Ok((
        StatusCode::OK,
        json!({
            "kind": format!("{}List", target.resource.kind),
            "apiVersion": target.resource.api_version,
            "metadata": {"resourceVersion": listed.resource_version.to_string()},
            "items": items,
        }),
    ))
}

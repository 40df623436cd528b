//! Reading and writing objects over HTTP, as kube-apiserver's generic
//! handlers do, through the store:
//!
//! ```text
//!   GET    collection ─► list (selectors, limit, continue, resourceVersion)
//!                        or, with watch=true, a watch (watch.rs)
//!   GET    object     ─► get
//!   POST   collection ─► create    NamespaceLifecycle, defaults, validation
//!   PUT    object     ─► update    409 Conflict on a stale resourceVersion
//!   PATCH  object     ─► patch     JSON / merge / strategic merge, then update
//!   DELETE object     ─► delete    gone: the object (pods, services,
//!                                  namespaces) or a Success Status;
//!                                  marked (grace, finalizers): the object
//!   DELETE collection ─► delete each selected object
//!   .../<name>/<sub>  ─► subresources.rs
//! ```
//!
//! Reads answer objects or, when kubectl asks, Tables (output.rs). Errors
//! are `metav1.Status` with Kubernetes' reasons, codes and messages
//! (failure.rs).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keel_api::deletion::DeleteOptions;
use keel_api::object::name_of;
use keel_api::patch::{self, PatchType};
use keel_api::selector::{FieldSelector, LabelSelector};
use keel_api::ResourceInfo;
use keel_runtime::{Deleted, ListOptions, Part, Store, StoreError};
use serde_json::{json, Value};

use crate::body::{self, FieldValidation};
use crate::failure::Failure;
use crate::namespaces::IMMORTAL_NAMESPACES;
use crate::output::{self, Form};
use crate::paths::Target;
use crate::watch::WatchRequest;

/// One request for a resource path.
pub(crate) struct Request {
    /// The HTTP method.
    pub method: Method,
    /// What the path names.
    pub target: Target,
    /// The query parameters.
    pub query: HashMap<String, String>,
    /// The body's Content-Type ("" when none was sent).
    pub content_type: String,
    /// The Accept header ("" when none was sent).
    pub accept: String,
    /// The body.
    pub body: Bytes,
}

impl Request {
    /// A query parameter, if given and not empty.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A boolean query parameter, read as Go's `strconv.ParseBool` reads it.
    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>, Failure> {
        match self.param(name) {
            None => Ok(None),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
            Some(other) => Err(Failure::bad_request(format!(
                "invalid {name} {other:?}: must be a boolean"
            ))),
        }
    }

    /// A non-negative integer query parameter (0 when absent).
    pub(crate) fn number(&self, name: &str) -> Result<i64, Failure> {
        match self.param(name) {
            None => Ok(0),
            Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Failure::bad_request(format!("invalid {name} {text:?}: must be a number"))
            }),
        }
    }

    /// The form reads answer in.
    pub(crate) fn form(&self) -> Result<Form, Failure> {
        Form::negotiate(&self.accept, self.param("includeObject"))
    }

    /// The request's `fieldValidation`.
    pub(crate) fn field_validation(&self) -> Result<FieldValidation, Failure> {
        FieldValidation::from_query(self.param("fieldValidation"))
    }

    /// The body as an object of the target's kind, and its warnings.
    pub(crate) fn object(&self) -> Result<(Value, Vec<String>), Failure> {
        body::object(
            &self.target,
            &self.content_type,
            &self.body,
            self.field_validation()?,
        )
    }
}

/// A successful answer's body: a value, or JSON already encoded (a long
/// list, written a page at a time).
pub(crate) enum Payload {
    /// A value, encoded when answered.
    Value(Value),
    /// Encoded JSON.
    Encoded(Vec<u8>),
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self::Value(value)
    }
}

/// A successful answer: its status, body and `Warning`s.
pub(crate) struct Answer {
    /// The HTTP status.
    pub code: StatusCode,
    /// The body.
    pub body: Payload,
    /// Warnings, one `Warning: 299 - "<text>"` header each.
    pub warnings: Vec<String>,
}

impl Answer {
    /// 200 with `body`.
    pub(crate) fn ok(body: Value) -> Self {
        Self::with(StatusCode::OK, body)
    }

    /// `code` with `body`.
    pub(crate) fn with(code: StatusCode, body: Value) -> Self {
        Self {
            code,
            body: body.into(),
            warnings: Vec::new(),
        }
    }

    fn into_response(self) -> Response {
        let mut response = match self.body {
            Payload::Value(value) => (self.code, Json(value)).into_response(),
            Payload::Encoded(bytes) => (
                self.code,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                bytes,
            )
                .into_response(),
        };
        for warning in self.warnings {
            let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
            if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
                response.headers_mut().append("Warning", value);
            }
        }
        response
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
    fn of(request: &Request) -> Result<Self, Failure> {
        let labels = LabelSelector::parse(request.param("labelSelector").unwrap_or(""))
            .map_err(|error| Failure::bad_request(error.to_string()))?;
        let fields = FieldSelector::parse(
            request.target.resource,
            request.param("fieldSelector").unwrap_or(""),
        )
        .map_err(|error| Failure::bad_request(error.to_string()))?;
        Ok(Self { labels, fields })
    }

    /// Whether `object` of `resource` is selected.
    pub(crate) fn matches(&self, resource: &ResourceInfo, object: &Value) -> bool {
        self.labels.matches_object(object) && self.fields.matches(resource, object)
    }
}

/// Answers one request for a resource path.
pub(crate) async fn handle(store: &Store, request: Request) -> Response {
    if request.method == Method::GET && request.target.name.is_none() {
        match request.flag("watch") {
            Ok(Some(true)) => return watch(store, &request).await,
            Ok(_) => {}
            Err(failure) => return failure.into_response(),
        }
    }
    let answer = if request.target.subresource.is_some() {
        crate::subresources::handle(store, &request).await
    } else {
        resource(store, &request).await
    };
    match answer {
        Ok(answer) => answer.into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn resource(store: &Store, request: &Request) -> Result<Answer, Failure> {
    let target = &request.target;
    match (request.method.as_str(), target.name.as_deref()) {
        ("GET", None) => list(store, request).await,
        ("GET", Some(name)) => {
            let object = store.get(target.resource, &target.namespace, name).await?;
            Ok(Answer::ok(output::one(
                target.resource,
                object,
                request.form()?,
            )?))
        }
        ("POST", None) => create(store, request).await,
        ("PUT", Some(name)) => update(store, request, name).await,
        ("PATCH", Some(name)) => patch(store, request, name, Part::Main).await,
        ("DELETE", Some(name)) => delete(store, request, name).await,
        ("DELETE", None) => delete_collection(store, request).await,
        (method, _) => Err(Failure::method_not_allowed(method)),
    }
}

async fn list(store: &Store, request: &Request) -> Result<Answer, Failure> {
    let target = &request.target;
    let selection = Selection::of(request)?;
    let form = request.form()?;
    let options = ListOptions {
        limit: request.number("limit")?,
        continue_token: request.param("continue").map(str::to_owned),
        revision: request.number("resourceVersion")?,
    };
    if options.limit == 0 && form == Form::Objects {
        return whole_list(store, request, &selection, options).await;
    }
    let list = store
        .list(target.resource, &target.namespace, &options)
        .await?;
    let items: Vec<Value> = list
        .items
        .into_iter()
        .filter(|item| selection.matches(target.resource, item))
        .collect();
    Ok(Answer::ok(output::list(
        target.resource,
        items,
        list.resource_version,
        list.continue_token,
        form,
    )?))
}

/// How many objects a whole list reads from keel at a time.
const LIST_PAGE: i64 = 500;

/// A list the client did not page: read a page at a time at one revision
/// and encoded as it is read, so that the objects of only one page are
/// held decoded at once (a list of 10 000 pods is 18 MiB of JSON, and
/// many times that as values).
async fn whole_list(
    store: &Store,
    request: &Request,
    selection: &Selection,
    mut options: ListOptions,
) -> Result<Answer, Failure> {
    let resource = request.target.resource;
    options.limit = LIST_PAGE;
    let mut body = Vec::new();
    let mut first_item = true;
    loop {
        let page = store
            .list(resource, &request.target.namespace, &options)
            .await?;
        if body.is_empty() {
            // The list's head, as `output::list` would write it, items last.
            let head = json!({
                "kind": format!("{}List", resource.kind),
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": page.resource_version.to_string()},
            });
            let head = serde_json::to_vec(&head).expect("a JSON value serializes");
            body.extend_from_slice(&head[..head.len() - 1]);
            body.extend_from_slice(b",\"items\":[");
            options.revision = page.resource_version;
        }
        for item in page.items {
            if !selection.matches(resource, &item) {
                continue;
            }
            if !first_item {
                body.push(b',');
            }
            first_item = false;
            serde_json::to_writer(&mut body, &output::list_item(item))
                .expect("a JSON value serializes");
        }
        match page.continue_token {
            Some(token) => options.continue_token = Some(token),
            None => break,
        }
    }
    body.extend_from_slice(b"]}");
    Ok(Answer {
        code: StatusCode::OK,
        body: Payload::Encoded(body),
        warnings: Vec::new(),
    })
}

/// A watch of the target's collection.
async fn watch(store: &Store, request: &Request) -> Response {
    let watch = (|| {
        let after = request.number("resourceVersion")?;
        let timeout = request.number("timeoutSeconds")?;
        Ok::<_, Failure>(WatchRequest {
            resource: request.target.resource,
            namespace: request.target.namespace.clone(),
            after: (after > 0).then_some(after),
            selection: Selection::of(request)?,
            bookmarks: request.flag("allowWatchBookmarks")?.unwrap_or(false),
            send_initial_events: request.flag("sendInitialEvents")?,
            timeout: (timeout > 0).then(|| Duration::from_secs(timeout as u64)),
            form: request.form()?,
        })
    })();
    match watch {
        Ok(watch) => crate::watch::serve(store, watch).await,
        Err(failure) => failure.into_response(),
    }
}

async fn create(store: &Store, request: &Request) -> Result<Answer, Failure> {
    let target = &request.target;
    if target.resource.namespaced && target.namespace.is_empty() {
        return Err(Failure::bad_request(
            "the namespace of the object must be set on the request",
        ));
    }
    let (object, warnings) = request.object()?;
    crate::namespaces::admit_create(store, target.resource, &target.namespace, name_of(&object))
        .await?;
    let created = store
        .create(target.resource, &target.namespace, object)
        .await?;
    Ok(Answer {
        code: StatusCode::CREATED,
        body: output::with_type(target.resource, created).into(),
        warnings,
    })
}

async fn update(store: &Store, request: &Request, name: &str) -> Result<Answer, Failure> {
    let target = &request.target;
    let (object, warnings) = request.object()?;
    let named = name_of(&object);
    if named != name {
        return Err(Failure::bad_request(format!(
            "the name of the object ({named}) does not match the name on the URL ({name})"
        )));
    }
    let updated = store
        .update(target.resource, &target.namespace, object)
        .await?;
    Ok(Answer {
        code: StatusCode::OK,
        body: output::with_type(target.resource, updated).into(),
        warnings,
    })
}

/// The patch type of a PATCH request's Content-Type.
fn patch_type(request: &Request) -> Result<PatchType, Failure> {
    PatchType::from_content_type(&request.content_type)
        .ok_or_else(|| Failure::from(keel_api::patch::PatchError::UnsupportedMediaType))
}

/// Applies the request's patch to `current` (read at `revision`): the
/// patched object, which must keep its name and, when the patch names a
/// resourceVersion, be at it.
pub(crate) fn patched(
    resource: &ResourceInfo,
    current: &Value,
    revision: i64,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, Failure> {
    let new = patch::apply(resource, current, patch_type, body)?;
    at_revision(resource, current, revision, &new)?;
    Ok(new)
}

/// Conflict unless `new` names no resourceVersion or the one `current`
/// was read at (`revision`), as kube-apiserver checks a write's
/// precondition.
pub(crate) fn at_revision(
    resource: &ResourceInfo,
    current: &Value,
    revision: i64,
    new: &Value,
) -> Result<(), Failure> {
    let rv = new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !rv.is_empty() && rv != revision.to_string() {
        return Err(StoreError::Conflict {
            resource: resource.qualified(),
            name: name_of(current).to_owned(),
        }
        .into());
    }
    Ok(())
}

/// PATCH of an object or its status.
pub(crate) async fn patch(
    store: &Store,
    request: &Request,
    name: &str,
    part: Part,
) -> Result<Answer, Failure> {
    let target = &request.target;
    let resource = target.resource;
    let patch_type = patch_type(request)?;
    let validation = request.field_validation()?;
    let mut warnings = Vec::new();
    let change = |current: &Value, revision: i64| -> Result<Value, Failure> {
        let new = patched(resource, current, revision, patch_type, &request.body)?;
        warnings = body::unknown_fields(resource, &new, validation)?;
        Ok(new)
    };
    let updated = store
        .update_part_with(resource, &target.namespace, name, part, change)
        .await?;
    Ok(Answer {
        code: StatusCode::OK,
        body: output::with_type(resource, updated).into(),
        warnings,
    })
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
fn delete_options(request: &Request) -> Result<DeleteOptions, Failure> {
    // kubectl's typed deletes (drain's, when it cannot evict) send their
    // DeleteOptions as protobuf: read any body into JSON first.
    let body = if request.body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        body::parse_as("DeleteOptions", &request.content_type, &request.body)?
            .to_string()
            .into_bytes()
    };
    DeleteOptions::read(
        &body,
        request.param("gracePeriodSeconds"),
        request.param("propagationPolicy"),
    )
    .map_err(|error| Failure::bad_request(error.to_string()))
}

/// Deletes one object as its kind's registry does.
pub(crate) async fn delete_one(
    store: &Store,
    resource: &ResourceInfo,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deleted, Failure> {
    if resource.plural == "namespaces" && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
        ));
    }
    Ok(store
        .delete_as_planned(resource, namespace, name, options, jiff::Timestamp::now())
        .await?)
}

async fn delete(store: &Store, request: &Request, name: &str) -> Result<Answer, Failure> {
    let options = delete_options(request)?;
    let resource = request.target.resource;
    let deleted = delete_one(store, resource, &request.target.namespace, name, &options).await?;
    if deleted.gone && !returns_deleted_object(resource) {
        let uid = deleted
            .object
            .pointer("/metadata/uid")
            .cloned()
            .unwrap_or_default();
        return Ok(Answer::ok(json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": resource.group, "kind": resource.plural, "uid": uid},
        })));
    }
    Ok(Answer::ok(output::with_type(resource, deleted.object)))
}

async fn delete_collection(store: &Store, request: &Request) -> Result<Answer, Failure> {
    let target = &request.target;
    let options = delete_options(request)?;
    let selection = Selection::of(request)?;
    let listed = store
        .list(target.resource, &target.namespace, &ListOptions::default())
        .await?;
    let mut items = Vec::new();
    for object in listed.items {
        if !selection.matches(target.resource, &object) {
            continue;
        }
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        match delete_one(
            store,
            target.resource,
            namespace,
            name_of(&object),
            &options,
        )
        .await
        {
            Ok(deleted) => items.push(deleted.object),
            // Gone meanwhile, or one of the namespaces that stay.
            Err(failure)
                if matches!(failure.code, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN) => {}
            Err(failure) => return Err(failure),
        }
    }
    Ok(Answer::ok(output::list(
        target.resource,
        items,
        listed.resource_version,
        None,
        Form::Objects,
    )?))
}

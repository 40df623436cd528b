//! What a read answers, in the form the client's `Accept` asks for: the
//! object or list as JSON, or (`application/json;as=Table;g=meta.k8s.io;
//! v=v1`, as `kubectl get` asks) a meta.k8s.io/v1 Table of its rows with
//! kubectl's columns.
//!
//! ```text
//!   Accept: ...;as=Table;v=v1;g=meta.k8s.io,... ─► keel-api table (rows, columns)
//!   otherwise ─────────────────────────────────────► the object / <Kind>List
//! ```

use keel_api::table::{self, IncludeObject};
use keel_api::ResourceInfo;
use serde_json::{json, Map, Value};

use crate::failure::Failure;

/// The form of a read's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// Objects as they are.
    Objects,
    /// A meta.k8s.io Table, with rows holding what `includeObject` asks.
    Table(IncludeObject),
}

impl Form {
    /// The form `accept` (the Accept header) and `include_object` (the
    /// query's `includeObject`) ask for. A Table is answered when any of
    /// the accepted types is a meta.k8s.io v1 or v1beta1 Table.
    pub(crate) fn negotiate(accept: &str, include_object: Option<&str>) -> Result<Self, Failure> {
        let wants_table = accept.split(',').any(|media| {
            let mut params = media.split(';').skip(1).map(str::trim);
            let (mut table, mut group, mut version) = (false, true, true);
            for param in params.by_ref() {
                match param.split_once('=') {
                    Some(("as", value)) => table = value == "Table",
                    Some(("g", value)) => group = value == "meta.k8s.io",
                    Some(("v", value)) => version = matches!(value, "v1" | "v1beta1"),
                    _ => {}
                }
            }
            table && group && version
        });
        if !wants_table {
            return Ok(Self::Objects);
        }
        let include = include_object.unwrap_or("");
        IncludeObject::from_query(include)
            .map(Self::Table)
            .ok_or_else(|| {
                Failure::bad_request(format!("unrecognized includeObject value: {include:?}"))
            })
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

/// `item` as a list holds it: without a type of its own.
pub(crate) fn list_item(mut item: Value) -> Value {
    if let Some(fields) = item.as_object_mut() {
        fields.remove("apiVersion");
        fields.remove("kind");
    }
    item
}

/// A Table of `objects` with `metadata`.
fn table_of(
    resource: &ResourceInfo,
    objects: &[Value],
    include: IncludeObject,
    metadata: Map<String, Value>,
) -> Result<Value, Failure> {
    let now = jiff::Timestamp::now();
    let mut table = table::table(resource, objects, now, include).map_err(|error| {
        Failure::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            error.to_string(),
        )
    })?;
    table["metadata"] = Value::Object(metadata);
    Ok(table)
}

/// One object, in `form`.
pub(crate) fn one(resource: &ResourceInfo, object: Value, form: Form) -> Result<Value, Failure> {
    match form {
        Form::Objects => Ok(with_type(resource, object)),
        Form::Table(include) => {
            let mut metadata = Map::new();
            if let Some(rv) = object.pointer("/metadata/resourceVersion") {
                metadata.insert("resourceVersion".into(), rv.clone());
            }
            table_of(resource, &[with_type(resource, object)], include, metadata)
        }
    }
}

/// A list of `items` read at `resource_version`, continued by
/// `continue_token`, in `form`.
pub(crate) fn list(
    resource: &ResourceInfo,
    items: Vec<Value>,
    resource_version: i64,
    continue_token: Option<String>,
    form: Form,
) -> Result<Value, Failure> {
    let mut metadata = Map::new();
    metadata.insert(
        "resourceVersion".into(),
        resource_version.to_string().into(),
    );
    if let Some(token) = continue_token {
        metadata.insert("continue".into(), token.into());
    }
    match form {
        Form::Table(include) => {
            let typed: Vec<Value> = items.into_iter().map(|i| with_type(resource, i)).collect();
            table_of(resource, &typed, include, metadata)
        }
        Form::Objects => {
            let items: Vec<Value> = items.into_iter().map(list_item).collect();
            Ok(json!({
                "kind": format!("{}List", resource.kind),
                "apiVersion": resource.api_version,
                "metadata": metadata,
                "items": items,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Form::negotiate(kubectl, None).expect("valid"),
            Form::Table(IncludeObject::Metadata)
        );
        assert_eq!(
            Form::negotiate(kubectl, Some("Object")).expect("valid"),
            Form::Table(IncludeObject::Object)
        );
        assert_eq!(
            Form::negotiate("application/json", None).expect("valid"),
            Form::Objects
        );
        assert_eq!(Form::negotiate("", None).expect("valid"), Form::Objects);
        assert_eq!(
            Form::negotiate("application/json;as=Table;v=v2;g=meta.k8s.io", None).expect("valid"),
            Form::Objects
        );
        assert!(Form::negotiate(kubectl, Some("Everything")).is_err());
    }
}

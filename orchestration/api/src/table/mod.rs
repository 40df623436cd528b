//! The meta.k8s.io/v1 Table kube-apiserver answers when a client asks for
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, as `kubectl get`
//! does: the columns of the kind and one row of cells per object, as
//! Kubernetes 1.33's printers make them.
//!
//! ```text
//!   objects as stored (JSON)
//!        │ the kind's printer: columns + a row per object
//!        │   pkg/printers/internalversion/printers.go (kinds with a printer)
//!        │   apiserver/pkg/registry/rest/table.go     (the rest: Name, Created At)
//!        ▼
//!   each row's object, by includeObject
//!        │   Metadata (the default): PartialObjectMetadata of the object
//!        │   Object: the object itself          None: null
//!        │   apiserver/pkg/endpoints/handlers/response.go (transformResponseObject)
//!        ▼
//!   {"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},
//!    "columnDefinitions":[...],"rows":[{"cells":[...],"object":...}]}
//! ```
//!
//! kube-apiserver always prints wide (pkg/printers/storage: `Wide: true`):
//! every column comes back, and `kubectl get` hides those of priority 1
//! unless asked for `-o wide`. Times shown as ages are measured from the
//! `now` the caller passes in.
//!
//! The caller owns the list's metadata: it sets `metadata.resourceVersion`
//! (the list's revision, or the object's for a single get) and
//! `metadata.continue` / `metadata.remainingItemCount` when paging.

mod cells;
mod core;
pub mod duration;
mod pod;
mod workloads;

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use crate::resources::ResourceInfo;

/// One column of a Table (meta/v1 `TableColumnDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The header, as the printer names it ("Name", "Nominated Node");
    /// kubectl upper-cases it.
    pub name: &'static str,
    /// The OpenAPI type of the cells ("string", "integer", "date").
    pub value_type: &'static str,
    /// The OpenAPI format ("name" marks the object's name column), or "".
    pub format: &'static str,
    /// What the column shows.
    pub description: &'static str,
    /// 0 for the columns `kubectl get` shows, 1 for those only `-o wide`
    /// shows.
    pub priority: u8,
}

impl Column {
    /// A column shown by default.
    const fn new(name: &'static str, value_type: &'static str, description: &'static str) -> Self {
        Self {
            name,
            value_type,
            format: "",
            description,
            priority: 0,
        }
    }

    /// A column only `kubectl get -o wide` shows.
    const fn wide(name: &'static str, value_type: &'static str, description: &'static str) -> Self {
        Self {
            priority: 1,
            ..Self::new(name, value_type, description)
        }
    }

    /// The column as the Table's JSON carries it (every field present).
    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.value_type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// ObjectMeta's description of `name`, which every Name column carries.
const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// ObjectMeta's description of `creationTimestamp`, which every Age column
/// carries.
const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The Name column every printer starts with.
const NAME: Column = Column {
    format: "name",
    ..Column::new("Name", "string", NAME_DESCRIPTION)
};

/// The Age column: how long ago the object was created.
const AGE: Column = Column::new("Age", "string", CREATION_TIMESTAMP_DESCRIPTION);

/// The templates' container names (wide).
const CONTAINERS: Column = Column::wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);

/// The templates' images (wide).
const IMAGES: Column = Column::wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

/// What each row's `object` holds: the request's `includeObject`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `null`.
    None,
    /// The object's metadata as a meta.k8s.io/v1 PartialObjectMetadata,
    /// kube-apiserver's default.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// The policy of an `includeObject` query value; "" is the default
    /// (Metadata); `None` for a value kube-apiserver refuses with 400
    /// `unrecognized includeObject value: "<value>"`.
    pub fn from_query(value: &str) -> Option<Self> {
        match value {
            "" | "Metadata" => Some(Self::Metadata),
            "None" => Some(Self::None),
            "Object" => Some(Self::Object),
            _ => None,
        }
    }
}

/// Why an object could not be printed. kube-apiserver decodes objects
/// before printing them, so this means a stored object is not one of its
/// kind.
#[derive(Debug, thiserror::Error)]
#[error("cannot print {kind} {name:?}: {message}")]
pub struct TableError {
    /// The kind of the object ("Pod").
    pub kind: &'static str,
    /// The object's `metadata.name`.
    pub name: String,
    /// What was wrong with it.
    pub message: String,
}

/// One row of cells (and, for pods that finished, its conditions).
#[derive(Debug, Default)]
struct Row {
    /// One cell per column, in column order.
    cells: Vec<Value>,
    /// meta/v1 `TableRowCondition`s; empty for most rows.
    conditions: Vec<Value>,
}

/// How a printer makes the row of one stored object, at a given time.
type RowFn = fn(&Value, Timestamp) -> Result<Row, String>;

/// A printer: its columns and how it makes the row of one object.
struct Printer {
    /// The kind's columns.
    columns: &'static [Column],
    /// The row of one stored object.
    row: RowFn,
}

/// The printer kube-apiserver 1.33 registers for `resource`, `None` for a
/// kind that has none (the default table).
fn printer(resource: &ResourceInfo) -> Option<Printer> {
    let (columns, row): (&'static [Column], RowFn) = match (resource.group, resource.plural) {
        ("", "pods") => (pod::COLUMNS, pod::row),
        ("", "namespaces") => (core::NAMESPACE_COLUMNS, core::namespace_row),
        ("", "nodes") => (core::NODE_COLUMNS, core::node_row),
        ("", "services") => (core::SERVICE_COLUMNS, core::service_row),
        ("", "endpoints") => (core::ENDPOINTS_COLUMNS, core::endpoints_row),
        ("", "configmaps") => (core::CONFIG_MAP_COLUMNS, core::config_map_row),
        ("", "secrets") => (core::SECRET_COLUMNS, core::secret_row),
        ("", "events") => (core::EVENT_COLUMNS, core::event_row),
        ("coordination.k8s.io", "leases") => (core::LEASE_COLUMNS, core::lease_row),
        ("apps", "deployments") => (workloads::DEPLOYMENT_COLUMNS, workloads::deployment_row),
        ("apps", "replicasets") => (workloads::REPLICA_SET_COLUMNS, workloads::replica_set_row),
        ("apps", "daemonsets") => (workloads::DAEMON_SET_COLUMNS, workloads::daemon_set_row),
        ("apps", "controllerrevisions") => (
            workloads::CONTROLLER_REVISION_COLUMNS,
            workloads::controller_revision_row,
        ),
        ("batch", "jobs") => (workloads::JOB_COLUMNS, workloads::job_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

/// The default table's columns (apiserver/pkg/registry/rest/table.go):
/// Name and the creation time as an RFC 3339 date.
const DEFAULT_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Created At", "date", CREATION_TIMESTAMP_DESCRIPTION),
];

/// The default table's row: the name and the creation time in UTC, whole
/// seconds ("0001-01-01T00:00:00Z" when unset, Go's zero time).
fn default_row(object: &Value, _now: Timestamp) -> Result<Row, String> {
    let created = match object.pointer("/metadata/creationTimestamp") {
        Some(Value::String(text)) => text
            .parse::<Timestamp>()
            .map_err(|error| format!("creationTimestamp: {error}"))?,
        _ => cells::go_zero_time(),
    };
    Ok(Row {
        cells: vec![
            name_of(object).into(),
            created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
        ],
        conditions: Vec::new(),
    })
}

/// The columns kube-apiserver answers for `resource`, wide ones included.
pub fn columns(resource: &ResourceInfo) -> &'static [Column] {
    printer(resource).map_or(DEFAULT_COLUMNS, |printer| printer.columns)
}

/// The meta.k8s.io/v1 Table kube-apiserver answers for `objects` of
/// `resource` (JSON objects as stored), at `now` (for AGE and the other
/// durations). Each row's `object` follows `include_object`.
///
/// The Table's `metadata` is `{}`: the caller adds `resourceVersion` (and
/// `continue`, `remainingItemCount` when paging).
pub fn table(
    resource: &ResourceInfo,
    objects: &[Value],
    now: Timestamp,
    include_object: IncludeObject,
) -> Result<Value, TableError> {
    let printer = printer(resource).unwrap_or(Printer {
        columns: DEFAULT_COLUMNS,
        row: default_row,
    });
    let mut rows = Vec::with_capacity(objects.len());
    for object in objects {
        let row = (printer.row)(object, now).map_err(|message| TableError {
            kind: resource.kind,
            name: name_of(object).to_owned(),
            message,
        })?;
        assert_eq!(
            row.cells.len(),
            printer.columns.len(),
            "a {} row has a cell per column",
            resource.kind
        );
        rows.push(row_json(row, object, include_object));
    }
    Ok(json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": printer.columns.iter().map(|column| column.to_json()).collect::<Vec<_>>(),
        "rows": rows,
    }))
}

/// A row as the Table's JSON carries it, its object chosen by
/// `include_object`.
fn row_json(row: Row, object: &Value, include_object: IncludeObject) -> Value {
    let mut fields = Map::new();
    fields.insert("cells".into(), Value::Array(row.cells));
    if !row.conditions.is_empty() {
        fields.insert("conditions".into(), Value::Array(row.conditions));
    }
    let object = match include_object {
        IncludeObject::None => Value::Null,
        IncludeObject::Metadata => partial_object_metadata(object),
        IncludeObject::Object => object.clone(),
    };
    fields.insert("object".into(), object);
    Value::Object(fields)
}

/// The object's metadata as a meta.k8s.io/v1 PartialObjectMetadata. Go
/// writes an unset `creationTimestamp` as `null`, so it is always there.
fn partial_object_metadata(object: &Value) -> Value {
    let mut metadata = object
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.entry("creationTimestamp").or_insert(Value::Null);
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// The object's `metadata.name`, "" if it has none.
fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The typed form of a stored object, or why it is not one.
fn decode<K: serde::de::DeserializeOwned>(object: &Value) -> Result<K, String> {
    K::deserialize(object).map_err(|error| error.to_string())
}

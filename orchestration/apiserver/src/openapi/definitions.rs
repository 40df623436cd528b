//! The schema definitions of the OpenAPI documents: every kind keel serves,
//! its List, and everything they reference, named as Kubernetes names them
//! (`io.k8s.api.core.v1.Pod`), generated from k8s-openapi's `schemars`
//! schemas and brought to the form kube-apiserver serves.
//!
//! ```text
//!  k8s-openapi types ── schemars ──► schemas, refs "#/definitions/<name>"
//!    + <Kind>List for each kind        (k8s-openapi has no schema for List<T>)
//!    + x-kubernetes-group-version-kind (kinds, lists, Status, DeleteOptions)
//!    + x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key
//!                                      (keel-api's table of merged lists)
//!    ─ "metadata" out of `required`   (k8s-openapi's, not Kubernetes')
//!    = Definitions (OpenAPI v2 form) ── v3_schemas ──► components.schemas
//! ```
//!
//! Kubernetes' forms of the two scalar types k8s-openapi describes as CRD
//! schemas do (`x-kubernetes-int-or-string`) come from kube-openapi's
//! `OpenAPIDefinition`s of `intstr.IntOrString` and `resource.Quantity`:
//! v2 says `type: string` (with `format: int-or-string` for the former), v3
//! says `oneOf` integer and string, or string and number.

use std::collections::{BTreeMap, BTreeSet};

use keel_api::k8s_openapi::api::{apps, batch, coordination, core};
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    DeleteOptions, ListMeta, Patch, Status,
};
use keel_api::k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use keel_api::k8s_openapi::schemars::JsonSchema;
use keel_api::k8s_openapi::Resource;
use keel_api::patch::{merge_lists, MergeList};
use keel_api::{resources, ResourceInfo, RESOURCES};
use serde_json::{json, Map, Value};

/// Where OpenAPI v2 keeps definitions, as a `$ref` prefix.
pub const V2_REF_PREFIX: &str = "#/definitions/";
/// Where OpenAPI v3 keeps them.
pub const V3_REF_PREFIX: &str = "#/components/schemas/";

/// The name of meta/v1 Status, every delete's answer.
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// The name of meta/v1 DeleteOptions, a delete's body.
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// The name of meta/v1 Patch, a patch's body.
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// The name of meta/v1 ListMeta, every List's metadata.
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// The names whose Kubernetes form is not k8s-openapi's.
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// One kind keel serves, as its definitions name it.
#[derive(Debug, Clone)]
pub struct Kind {
    /// What keel-api knows of the kind.
    pub resource: &'static ResourceInfo,
    /// The kind's definition (`io.k8s.api.core.v1.Pod`).
    pub definition: String,
    /// Its List's definition (`io.k8s.api.core.v1.PodList`).
    pub list_definition: String,
}

/// Every definition, in OpenAPI v2 form, and the kinds among them.
#[derive(Debug, Clone)]
pub struct Definitions {
    /// Schemas by definition name; `$ref`s point into `#/definitions/`.
    pub schemas: BTreeMap<String, Value>,
    /// The served kinds, in the order of [`RESOURCES`].
    pub kinds: Vec<Kind>,
}

/// Registers k8s-openapi type `K` with the generator; answers the kind.
fn kind<K: Resource + JsonSchema>(generator: &mut SchemaGenerator) -> Kind {
    generator.subschema_for::<K>();
    let definition = K::schema_name().into_owned();
    Kind {
        resource: resources::of::<K>(),
        list_definition: format!("{definition}List"),
        definition,
    }
}

/// The k8s-openapi type of each served kind. [`RESOURCES`] names the kinds
/// as data; this is where each name meets its Rust type (a test checks the
/// two agree).
const KIND_TYPES: &[fn(&mut SchemaGenerator) -> Kind] = &[
    kind::<core::v1::Namespace>,
    kind::<core::v1::Node>,
    kind::<core::v1::Pod>,
    kind::<core::v1::Service>,
    kind::<core::v1::Endpoints>,
    kind::<core::v1::ConfigMap>,
    kind::<core::v1::Secret>,
    kind::<core::v1::Event>,
    kind::<apps::v1::Deployment>,
    kind::<apps::v1::ReplicaSet>,
    kind::<apps::v1::DaemonSet>,
    kind::<apps::v1::ControllerRevision>,
    kind::<batch::v1::Job>,
    kind::<coordination::v1::Lease>,
];

/// A `$ref` to definition `name`, in OpenAPI v2 form.
pub fn v2_ref(name: &str) -> String {
    format!("{V2_REF_PREFIX}{name}")
}

/// One `x-kubernetes-group-version-kind` entry.
fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

/// Builds every definition. Panics if keel-api's table of merged lists
/// names a field k8s-openapi's types do not have: that is a bug of keel.
pub fn build() -> Definitions {
    let mut generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.definitions_path = "/definitions".into();
            settings.meta_schema = None;
            settings.transforms.clear();
        })
        .into_generator();
    let mut kinds: Vec<Kind> = KIND_TYPES.iter().map(|kind| kind(&mut generator)).collect();
    kinds.sort_by_key(|kind| {
        RESOURCES
            .iter()
            .position(|resource| resource == kind.resource)
    });
    generator.subschema_for::<Status>();
    generator.subschema_for::<DeleteOptions>();
    generator.subschema_for::<Patch>();
    generator.subschema_for::<ListMeta>();
    let mut schemas: BTreeMap<String, Value> =
        generator.take_definitions(false).into_iter().collect();

    for kind in &kinds {
        let resource = kind.resource;
        let schema = schemas
            .get_mut(&kind.definition)
            .expect("a registered kind has a definition");
        drop_required(schema, "metadata");
        schema["x-kubernetes-group-version-kind"] =
            json!([gvk(resource.group, resource.version, resource.kind)]);
        let list = list_definition(kind, schema);
        schemas.insert(kind.list_definition.clone(), list);
        for merge_list in merge_lists(resource) {
            annotate_merge_list(&mut schemas, &kind.definition, &merge_list);
        }
    }
    let status = schemas.get_mut(STATUS).expect("registered");
    drop_required(status, "metadata");
    status["x-kubernetes-group-version-kind"] = json!([gvk("", "v1", "Status")]);
    schemas.get_mut(DELETE_OPTIONS).expect("registered")["x-kubernetes-group-version-kind"] =
        group_versions(&kinds)
            .into_iter()
            .map(|(group, version)| gvk(group, version, "DeleteOptions"))
            .collect();
    schemas.insert(
        INT_OR_STRING.to_owned(),
        scalar(
            &schemas,
            INT_OR_STRING,
            json!({"type": "string", "format": "int-or-string"}),
        ),
    );
    schemas.insert(
        QUANTITY.to_owned(),
        scalar(&schemas, QUANTITY, json!({"type": "string"})),
    );
    Definitions { schemas, kinds }
}

/// The group versions of `kinds` (`("", "v1")`, `("apps", "v1")`), each
/// once, sorted as Kubernetes sorts them: by group, then version.
pub fn group_versions(kinds: &[Kind]) -> BTreeSet<(&'static str, &'static str)> {
    kinds
        .iter()
        .map(|kind| (kind.resource.group, kind.resource.version))
        .collect()
}

/// `form` with the description of definition `name`, if it has one.
fn scalar(schemas: &BTreeMap<String, Value>, name: &str, mut form: Value) -> Value {
    if let Some(description) = schemas
        .get(name)
        .and_then(|schema| schema.get("description"))
    {
        form["description"] = description.clone();
    }
    form
}

/// Takes `field` out of `schema`'s `required` (k8s-openapi requires the
/// `metadata` its Rust types always have; Kubernetes' schemas do not).
fn drop_required(schema: &mut Value, field: &str) {
    let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) else {
        return;
    };
    required.retain(|name| name != field);
    if required.is_empty() {
        schema
            .as_object_mut()
            .expect("a definition is an object")
            .remove("required");
    }
}

/// The List of `kind`, as Kubernetes defines each `<Kind>List`: apiVersion,
/// items, kind and ListMeta, `items` required.
fn list_definition(kind: &Kind, item: &Value) -> Value {
    let resource = kind.resource;
    let property = |name: &str| item["properties"][name].clone();
    json!({
        "description": format!("{}List is a list of {} objects.", resource.kind, resource.kind),
        "type": "object",
        "properties": {
            "apiVersion": property("apiVersion"),
            "items": {
                "description": format!("The {} objects of the list.", resource.kind),
                "type": "array",
                "items": {"$ref": v2_ref(&kind.definition)},
            },
            "kind": property("kind"),
            "metadata": {
                "description": "Standard list metadata.",
                "$ref": v2_ref(LIST_META),
            },
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [
            gvk(resource.group, resource.version, &format!("{}List", resource.kind)),
        ],
    })
}

/// The definition a property's schema refers to: its own `$ref`, or its
/// items' when `into_items`.
fn referenced(property: &Value, into_items: bool) -> Option<&str> {
    let schema = if into_items {
        property.get("items")?
    } else {
        property
    };
    schema.get("$ref")?.as_str()?.strip_prefix(V2_REF_PREFIX)
}

/// Marks the list `merge_list` reaches from definition `top` with the patch
/// extensions kube-openapi writes from the Go tags (`patchStrategy`,
/// `patchMergeKey`), on the definition that holds the list.
fn annotate_merge_list(schemas: &mut BTreeMap<String, Value>, top: &str, merge_list: &MergeList) {
    let (last, steps) = merge_list.path.split_last().expect("a path names a list");
    let mut holder = top.to_owned();
    for step in steps {
        let (name, into_items) = match step.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (*step, false),
        };
        let property = &schemas[&holder]["properties"][name];
        holder = referenced(property, into_items)
            .unwrap_or_else(|| {
                panic!("{top}: {merge_list:?} steps through {holder}.{name}, no reference")
            })
            .to_owned();
    }
    let property = schemas
        .get_mut(&holder)
        .and_then(|schema| schema.get_mut("properties"))
        .and_then(|properties| properties.get_mut(*last))
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{top}: {merge_list:?} names no property {holder}.{last}"));
    if let Some(key) = merge_list.merge_key {
        property.insert("x-kubernetes-patch-merge-key".into(), key.into());
    }
    property.insert("x-kubernetes-patch-strategy".into(), "merge".into());
}

/// `schemas` with what reaches them: every definition in `roots` and every
/// definition those refer to, recursively.
pub fn reachable<'r>(
    schemas: &BTreeMap<String, Value>,
    roots: impl IntoIterator<Item = &'r str>,
) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    let mut pending: Vec<String> = roots.into_iter().map(str::to_owned).collect();
    while let Some(name) = pending.pop() {
        if found.contains_key(&name) {
            continue;
        }
        let schema = schemas
            .get(&name)
            .unwrap_or_else(|| panic!("a reference to {name}, which is not defined"));
        collect_refs(schema, &mut pending);
        found.insert(name, schema.clone());
    }
    found
}

/// Pushes the definition name of every `$ref` inside `value`.
fn collect_refs(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => names.push(
                        reference
                            .strip_prefix(V2_REF_PREFIX)
                            .expect("definitions refer into #/definitions/")
                            .to_owned(),
                    ),
                    _ => collect_refs(inner, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, names)),
        _ => {}
    }
}

/// The OpenAPI v3 form of v2 `schemas`: refs into `#/components/schemas/`,
/// and v3's forms of IntOrString and Quantity.
pub fn v3_schemas(schemas: &BTreeMap<String, Value>) -> Map<String, Value> {
    schemas
        .iter()
        .map(|(name, schema)| {
            let mut schema = schema.clone();
            rewrite_refs(&mut schema);
            match name.as_str() {
                INT_OR_STRING => {
                    schema = json!({
                        "description": schema["description"],
                        "format": "int-or-string",
                        "oneOf": [{"type": "integer"}, {"type": "string"}],
                    });
                }
                QUANTITY => {
                    schema = json!({
                        "description": schema["description"],
                        "oneOf": [{"type": "string"}, {"type": "number"}],
                    });
                }
                _ => {}
            }
            (name.clone(), schema)
        })
        .collect()
}

/// Points every `$ref` inside `value` into `#/components/schemas/`.
pub fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(reference) if key == "$ref" => {
                        if let Some(name) = reference.strip_prefix(V2_REF_PREFIX) {
                            *reference = format!("{V3_REF_PREFIX}{name}");
                        }
                    }
                    _ => rewrite_refs(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_kind_is_defined_with_its_group_version_kind() {
        let definitions = build();
        assert_eq!(definitions.kinds.len(), RESOURCES.len());
        for (kind, resource) in definitions.kinds.iter().zip(RESOURCES) {
            assert_eq!(kind.resource, resource);
            let schema = &definitions.schemas[&kind.definition];
            assert_eq!(
                schema["x-kubernetes-group-version-kind"],
                json!([{"group": resource.group, "kind": resource.kind, "version": resource.version}]),
            );
            assert!(schema
                .get("required")
                .is_none_or(|r| !r.as_array().expect("a list").contains(&json!("metadata"))));
            let list = &definitions.schemas[&kind.list_definition];
            assert_eq!(
                list["properties"]["items"]["items"]["$ref"],
                json!(v2_ref(&kind.definition))
            );
            assert_eq!(
                list["x-kubernetes-group-version-kind"][0]["kind"],
                json!(format!("{}List", resource.kind))
            );
        }
        assert_eq!(
            definitions.kinds[2].definition, "io.k8s.api.core.v1.Pod",
            "Kubernetes' name"
        );
        // Every reference resolves.
        let names = definitions.schemas.keys().map(String::as_str);
        assert_eq!(
            reachable(&definitions.schemas, names).len(),
            definitions.schemas.len()
        );
    }

    #[test]
    fn merged_lists_carry_kubernetes_patch_extensions() {
        // core/v1 types.go: Containers `patchStrategy:"merge"
        // patchMergeKey:"name"`, Env likewise, Finalizers
        // `patchStrategy:"merge"` without a key; Tolerations has no tag.
        let schemas = build().schemas;
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        let env = &schemas["io.k8s.api.core.v1.Container"]["properties"]["env"];
        assert_eq!(env["x-kubernetes-patch-merge-key"], "name");
        let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
        let finalizers =
            &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]["finalizers"];
        assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
        assert!(finalizers.get("x-kubernetes-patch-merge-key").is_none());
        let tolerations = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["tolerations"];
        assert!(tolerations.get("x-kubernetes-patch-strategy").is_none());
        let service_ports = &schemas["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
        assert_eq!(service_ports["x-kubernetes-patch-merge-key"], "port");
    }

    #[test]
    fn scalars_take_kubernetes_forms() {
        let schemas = build().schemas;
        assert_eq!(schemas[INT_OR_STRING]["type"], "string");
        assert_eq!(schemas[INT_OR_STRING]["format"], "int-or-string");
        assert_eq!(schemas[QUANTITY]["type"], "string");
        assert_eq!(
            schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]["format"],
            "date-time"
        );
        let v3 = v3_schemas(&schemas);
        assert_eq!(
            v3[INT_OR_STRING]["oneOf"],
            json!([{"type": "integer"}, {"type": "string"}])
        );
        assert_eq!(
            v3[QUANTITY]["oneOf"],
            json!([{"type": "string"}, {"type": "number"}])
        );
        assert_eq!(
            v3["io.k8s.api.core.v1.Pod"]["properties"]["spec"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PodSpec"
        );
    }
}

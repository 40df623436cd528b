//! The OpenAPI v3 documents of `/openapi/v3/<group version>`: one per
//! group version (`api/v1`, `apis/apps/v1`), each with its kinds' paths and
//! the schemas they reach, as kube-apiserver splits them
//! (kube-openapi's `spec3.OpenAPI`), and the root `/openapi/v3` lists them.

use serde_json::{json, Map, Value};

use super::definitions::{reachable, rewrite_refs, v2_ref, v3_schemas, Definitions};
use super::operations::{kind_paths, Location, Operation, Parameter, PathItem};

/// The key of a group version in the root (`api/v1`, `apis/apps/v1`): its
/// URL prefix without the leading '/'.
pub fn group_version_key(group: &str, version: &str) -> String {
    super::operations::group_version_prefix(group, version)[1..].to_owned()
}

/// The v3 document of one group version; the group version must be served.
pub fn document(definitions: &Definitions, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut roots: Vec<&str> = Vec::new();
    let items: Vec<PathItem> = definitions
        .kinds
        .iter()
        .filter(|kind| kind.resource.group == group && kind.resource.version == version)
        .flat_map(kind_paths)
        .collect();
    assert!(!items.is_empty(), "{group}/{version} is not served");
    for item in &items {
        for operation in &item.operations {
            roots.extend(operation.body.as_deref());
            roots.extend(
                operation
                    .answers
                    .iter()
                    .map(|answer| answer.schema.as_str()),
            );
        }
        paths.insert(item.path.clone(), path_item(item));
    }
    let schemas = v3_schemas(&reachable(&definitions.schemas, roots));
    json!({
        "openapi": "3.0.0",
        "info": super::v2::info(),
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// A `$ref` to definition `name`, in OpenAPI v3 form.
fn schema_ref(name: &str) -> Value {
    let mut value = json!({"$ref": v2_ref(name)});
    rewrite_refs(&mut value);
    value
}

fn parameter(parameter: &Parameter) -> Value {
    let mut value = json!({
        "description": parameter.description,
        "name": parameter.name,
        "schema": {"type": parameter.type_name, "uniqueItems": true},
    });
    match parameter.location {
        Location::Path => {
            value["in"] = "path".into();
            value["required"] = true.into();
        }
        Location::Query => value["in"] = "query".into(),
    }
    value
}

fn path_item(item: &PathItem) -> Value {
    let mut value = json!({
        "parameters": item.parameters.iter().map(parameter).collect::<Vec<_>>(),
    });
    for operation_item in &item.operations {
        value[operation_item.method] = operation(operation_item);
    }
    value
}

fn operation(operation: &Operation) -> Value {
    let (group, version, kind) = operation.kind;
    let mut responses = Map::new();
    for answer in &operation.answers {
        responses.insert(
            answer.code.to_owned(),
            json!({
                "description": answer.description,
                "content": {"application/json": {"schema": schema_ref(&answer.schema)}},
            }),
        );
    }
    let mut value = json!({
        "description": operation.description,
        "operationId": operation.id,
        "tags": [operation.tag],
        "parameters": operation.parameters.iter().map(parameter).collect::<Vec<_>>(),
        "responses": responses,
        "x-kubernetes-action": operation.action,
        "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
    });
    if let Some(body) = &operation.body {
        let content: Map<String, Value> = operation
            .consumes
            .iter()
            .map(|media_type| {
                (
                    (*media_type).to_owned(),
                    json!({"schema": schema_ref(body)}),
                )
            })
            .collect();
        value["requestBody"] = json!({"content": content});
        if operation.method != "delete" {
            value["requestBody"]["required"] = true.into();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::definitions;

    #[test]
    fn a_group_version_document_holds_its_kinds_and_what_they_reach() {
        let definitions = definitions::build();
        let apps = document(&definitions, "apps", "v1");
        assert_eq!(apps["openapi"], "3.0.0");
        let schemas = apps["components"]["schemas"].as_object().expect("schemas");
        for name in [
            "io.k8s.api.apps.v1.Deployment",
            "io.k8s.api.apps.v1.DeploymentList",
            "io.k8s.api.core.v1.PodSpec",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
        assert!(!schemas.contains_key("io.k8s.api.core.v1.Pod"));
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert!(patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        assert_eq!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"]["schema"]
                ["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
        assert!(!apps.to_string().contains("#/definitions/"));
        assert_eq!(group_version_key("", "v1"), "api/v1");
        assert_eq!(group_version_key("apps", "v1"), "apis/apps/v1");
    }
}

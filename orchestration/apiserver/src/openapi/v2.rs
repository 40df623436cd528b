//! The OpenAPI v2 (Swagger 2.0) document of `/openapi/v2`: every served
//! kind's paths and every definition, in the JSON form kube-apiserver
//! serves (kube-openapi's `spec.Swagger`); [`super::protobuf`] turns the
//! same document into gnostic's protobuf.

use serde_json::{json, Map, Value};

use super::definitions::{v2_ref, Definitions};
use super::operations::{kind_paths, Location, Operation, Parameter, PathItem};

/// `info` of both documents: Kubernetes, at the version keel serves.
pub fn info() -> Value {
    json!({
        "title": "Kubernetes",
        "version": format!("v1.{}.0", crate::discovery::KUBERNETES_MINOR),
    })
}

/// The whole v2 document.
pub fn document(definitions: &Definitions) -> Value {
    let mut paths = Map::new();
    for kind in &definitions.kinds {
        for item in kind_paths(kind) {
            paths.insert(item.path.clone(), path_item(&item));
        }
    }
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths,
        "definitions": definitions.schemas,
    })
}

fn parameter(parameter: &Parameter) -> Value {
    let mut value = json!({
        "description": parameter.description,
        "name": parameter.name,
        "type": parameter.type_name,
        "uniqueItems": true,
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
    let mut parameters = Vec::new();
    if let Some(body) = &operation.body {
        let mut body_parameter = json!({
            "in": "body",
            "name": "body",
            "schema": {"$ref": v2_ref(body)},
        });
        if operation.method != "delete" {
            body_parameter["required"] = true.into();
        }
        parameters.push(body_parameter);
    }
    parameters.extend(operation.parameters.iter().map(parameter));
    let mut responses = Map::new();
    for answer in &operation.answers {
        responses.insert(
            answer.code.to_owned(),
            json!({"description": answer.description, "schema": {"$ref": v2_ref(&answer.schema)}}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let (group, version, kind) = operation.kind;
    json!({
        "description": operation.description,
        "consumes": operation.consumes,
        "produces": ["application/json"],
        "tags": [operation.tag],
        "operationId": operation.id,
        "parameters": parameters,
        "responses": responses,
        "x-kubernetes-action": operation.action,
        "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::definitions;

    #[test]
    fn a_patch_operation_names_its_kind_and_takes_field_validation() {
        let document = document(&definitions::build());
        assert_eq!(document["swagger"], "2.0");
        let patch =
            &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| p["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(
            names,
            ["body", "dryRun", "force", "fieldManager", "fieldValidation"]
        );
        assert_eq!(
            patch["responses"]["200"]["schema"]["$ref"],
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
        assert!(document["definitions"]["io.k8s.api.apps.v1.DeploymentList"].is_object());
    }
}

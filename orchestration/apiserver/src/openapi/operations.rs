//! The paths and operations the OpenAPI documents list for each served
//! kind, as data both documents render: the same paths, operation IDs,
//! actions and query parameters kube-apiserver's route builder gives them
//! (staging/src/k8s.io/apiserver/pkg/endpoints/installer.go, operation IDs
//! from pkg/endpoints/openapi's `GetOperationIDAndTags`).
//!
//! ```text
//!   namespaced kind ─► /api/v1/namespaces/{namespace}/pods         list, create, deletecollection
//!                      /api/v1/namespaces/{namespace}/pods/{name}  read, replace, patch, delete
//!                      /api/v1/pods                                list for all namespaces
//!   cluster kind ────► /api/v1/nodes, /api/v1/nodes/{name}
//! ```
//!
//! kubectl reads two things from them: whether a kind's PATCH operation
//! (found by its `x-kubernetes-group-version-kind`) takes the
//! `fieldValidation` query parameter, which decides whether it asks the
//! server to validate (`fieldValidation=Strict`) or validates itself; and
//! the schemas the operations refer to.

use super::definitions::{Kind, DELETE_OPTIONS, PATCH, STATUS};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A segment of the path (`{name}`).
    Path,
    /// The query string.
    Query,
}

/// One parameter of a path or an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    /// Its name (`fieldValidation`).
    pub name: &'static str,
    /// Path or query.
    pub location: Location,
    /// Its JSON type: `string`, `integer` or `boolean`.
    pub type_name: &'static str,
    /// What it does.
    pub description: &'static str,
}

const fn query(
    name: &'static str,
    type_name: &'static str,
    description: &'static str,
) -> Parameter {
    Parameter {
        name,
        location: Location::Query,
        type_name,
        description,
    }
}

const NAME: Parameter = Parameter {
    name: "name",
    location: Location::Path,
    type_name: "string",
    description: "the object's name",
};
const NAMESPACE: Parameter = Parameter {
    name: "namespace",
    location: Location::Path,
    type_name: "string",
    description: "the namespace the objects live in",
};
const PRETTY: Parameter = query("pretty", "string", "If 'true', the output is indented.");

const DRY_RUN: Parameter = query(
    "dryRun",
    "string",
    "When present (only 'All' is valid), the request is checked and answered but nothing is stored.",
);
const FIELD_MANAGER: Parameter = query(
    "fieldManager",
    "string",
    "The name of the actor making the change, at most 128 printable characters.",
);
const FIELD_VALIDATION: Parameter = query(
    "fieldValidation",
    "string",
    "How the server treats unknown or duplicate fields in the body: 'Ignore' drops them, 'Warn' answers a warning for each, 'Strict' fails the request.",
);
const FORCE: Parameter = query(
    "force",
    "boolean",
    "Force an apply patch to take fields other managers own; must be unset for other patch types.",
);
const GRACE_PERIOD_SECONDS: Parameter = query(
    "gracePeriodSeconds",
    "integer",
    "Seconds the object is given before it is deleted; zero deletes at once; unset takes the kind's default.",
);
const ORPHAN_DEPENDENTS: Parameter = query(
    "orphanDependents",
    "boolean",
    "Deprecated in favour of propagationPolicy: whether dependents are orphaned.",
);
const PROPAGATION_POLICY: Parameter = query(
    "propagationPolicy",
    "string",
    "How dependents are garbage collected: 'Orphan', 'Background' or 'Foreground'.",
);
const LABEL_SELECTOR: Parameter = query(
    "labelSelector",
    "string",
    "Only objects whose labels match this selector; everything when unset.",
);
const FIELD_SELECTOR: Parameter = query(
    "fieldSelector",
    "string",
    "Only objects whose fields match this selector; everything when unset.",
);
const RESOURCE_VERSION: Parameter = query(
    "resourceVersion",
    "string",
    "The resource version the answer is served from or after; see resourceVersionMatch.",
);
const RESOURCE_VERSION_MATCH: Parameter = query(
    "resourceVersionMatch",
    "string",
    "How resourceVersion applies to a list: 'Exact' or 'NotOlderThan'.",
);
const TIMEOUT_SECONDS: Parameter = query(
    "timeoutSeconds",
    "integer",
    "The longest a list or watch call may take, whatever happens meanwhile.",
);
const LIMIT: Parameter = query(
    "limit",
    "integer",
    "The most objects one answer lists; the list's `continue` token asks for the rest.",
);
const CONTINUE: Parameter = query(
    "continue",
    "string",
    "The `continue` token of a previous list answer, to list the objects after it.",
);
const WATCH: Parameter = query(
    "watch",
    "boolean",
    "Stream the changes to the listed objects instead of listing them.",
);
const ALLOW_WATCH_BOOKMARKS: Parameter = query(
    "allowWatchBookmarks",
    "boolean",
    "Ask a watch for BOOKMARK events; the server may send them or not.",
);
const SEND_INITIAL_EVENTS: Parameter = query(
    "sendInitialEvents",
    "boolean",
    "Start a watch with an ADDED event for every object present, then a bookmark.",
);

/// A create's or a replace's query parameters.
const WRITE: &[Parameter] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
/// A patch's.
const PATCH_PARAMETERS: &[Parameter] = &[DRY_RUN, FORCE, FIELD_MANAGER, FIELD_VALIDATION];
/// A delete's.
const DELETE: &[Parameter] = &[
    GRACE_PERIOD_SECONDS,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
    DRY_RUN,
];
/// A list's (and a watch's).
const LIST: &[Parameter] = &[
    LABEL_SELECTOR,
    FIELD_SELECTOR,
    WATCH,
    ALLOW_WATCH_BOOKMARKS,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
    LIMIT,
    CONTINUE,
];
/// A delete of a collection's.
const DELETE_COLLECTION: &[Parameter] = &[
    GRACE_PERIOD_SECONDS,
    ORPHAN_DEPENDENTS,
    PROPAGATION_POLICY,
    DRY_RUN,
    LABEL_SELECTOR,
    FIELD_SELECTOR,
    RESOURCE_VERSION,
    RESOURCE_VERSION_MATCH,
    SEND_INITIAL_EVENTS,
    TIMEOUT_SECONDS,
    LIMIT,
    CONTINUE,
];

/// The patch types a PATCH operation consumes.
pub const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// One answer an operation may give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status code ("200").
    pub code: &'static str,
    /// Its meaning ("OK").
    pub description: &'static str,
    /// The definition of its body.
    pub schema: String,
}

/// One operation: a method on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The HTTP method, lower case as OpenAPI keys it (`patch`).
    pub method: &'static str,
    /// `operationId` (`patchCoreV1NamespacedPod`).
    pub id: String,
    /// What it does ("partially update the specified Pod").
    pub description: String,
    /// `x-kubernetes-action` (`patch`).
    pub action: &'static str,
    /// The kind it acts on: group, version, kind.
    pub kind: (&'static str, &'static str, &'static str),
    /// The tag grouping the group version's operations (`core_v1`).
    pub tag: String,
    /// Its query parameters.
    pub parameters: &'static [Parameter],
    /// The definition of its body, if it takes one.
    pub body: Option<String>,
    /// The media types of its body.
    pub consumes: &'static [&'static str],
    /// Its answers.
    pub answers: Vec<Answer>,
}

/// One path and its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathItem {
    /// The path (`/api/v1/namespaces/{namespace}/pods/{name}`).
    pub path: String,
    /// The parameters of every operation on it (path segments, `pretty`).
    pub parameters: Vec<Parameter>,
    /// Its operations.
    pub operations: Vec<Operation>,
}

/// The URL prefix of a group version (`/api/v1`, `/apis/apps/v1`).
pub fn group_version_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// The tag of a group version's operations, as kube-apiserver names it:
/// "core" for the core group, else the group without `.k8s.io`, its
/// dot-separated words joined in camel case (`coordination_v1`).
pub fn tag(group: &str, version: &str) -> String {
    if group.is_empty() {
        return format!("core_{version}");
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    let mut name = String::new();
    for (index, word) in trimmed.split('.').enumerate() {
        if index == 0 {
            name.push_str(word);
        } else {
            name.push_str(&capitalized(word));
        }
    }
    format!("{name}_{version}")
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The tag as it appears inside operation IDs (`core_v1` → `CoreV1`).
fn id_infix(tag: &str) -> String {
    tag.split('_').map(capitalized).collect()
}

/// The paths of one served kind, with their operations.
pub fn kind_paths(kind: &Kind) -> Vec<PathItem> {
    let resource = kind.resource;
    let tag = tag(resource.group, resource.version);
    let infix = id_infix(&tag);
    let scope = if resource.namespaced {
        "Namespaced"
    } else {
        ""
    };
    let prefix = group_version_prefix(resource.group, resource.version);
    let collection = if resource.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", resource.plural)
    } else {
        format!("{prefix}/{}", resource.plural)
    };
    let kind_name = resource.kind;
    let object = kind.definition.as_str();
    let operation = |method, verb: &str, action, description: String| Operation {
        method,
        id: format!("{verb}{infix}{scope}{kind_name}"),
        description,
        action,
        kind: (resource.group, resource.version, resource.kind),
        tag: tag.clone(),
        parameters: &[],
        body: None,
        consumes: &["*/*"],
        answers: Vec::new(),
    };
    let answer = |code, description, schema: &str| Answer {
        code,
        description,
        schema: schema.to_owned(),
    };
    let written = |schema: &str| {
        vec![
            answer("200", "OK", schema),
            answer("201", "Created", schema),
        ]
    };
    let deleted = || {
        vec![
            answer("200", "OK", STATUS),
            answer("202", "Accepted", STATUS),
        ]
    };
    let scope_parameters: &[Parameter] = if resource.namespaced {
        &[NAMESPACE, PRETTY]
    } else {
        &[PRETTY]
    };

    let list = Operation {
        parameters: LIST,
        answers: vec![answer("200", "OK", &kind.list_definition)],
        ..operation(
            "get",
            "list",
            "list",
            format!("list or watch objects of kind {kind_name}"),
        )
    };
    let create = Operation {
        parameters: WRITE,
        body: Some(object.to_owned()),
        answers: {
            let mut answers = written(object);
            answers.push(answer("202", "Accepted", object));
            answers
        },
        ..operation("post", "create", "post", format!("create a {kind_name}"))
    };
    let delete_collection = Operation {
        id: format!("delete{infix}Collection{scope}{kind_name}"),
        parameters: DELETE_COLLECTION,
        body: Some(DELETE_OPTIONS.to_owned()),
        answers: vec![answer("200", "OK", STATUS)],
        ..operation(
            "delete",
            "delete",
            "deletecollection",
            format!("delete collection of {kind_name}"),
        )
    };
    let read = Operation {
        answers: vec![answer("200", "OK", object)],
        ..operation(
            "get",
            "read",
            "get",
            format!("read the specified {kind_name}"),
        )
    };
    let replace = Operation {
        parameters: WRITE,
        body: Some(object.to_owned()),
        answers: written(object),
        ..operation(
            "put",
            "replace",
            "put",
            format!("replace the specified {kind_name}"),
        )
    };
    let patch = Operation {
        parameters: PATCH_PARAMETERS,
        body: Some(PATCH.to_owned()),
        consumes: PATCH_CONTENT_TYPES,
        answers: written(object),
        ..operation(
            "patch",
            "patch",
            "patch",
            format!("partially update the specified {kind_name}"),
        )
    };
    let delete = Operation {
        parameters: DELETE,
        body: Some(DELETE_OPTIONS.to_owned()),
        answers: deleted(),
        ..operation(
            "delete",
            "delete",
            "delete",
            format!("delete a {kind_name}"),
        )
    };

    let mut paths = vec![
        PathItem {
            path: collection.clone(),
            parameters: scope_parameters.to_vec(),
            operations: vec![list, create, delete_collection],
        },
        PathItem {
            path: format!("{collection}/{{name}}"),
            parameters: [&[NAME][..], scope_parameters].concat(),
            operations: vec![read, replace, patch, delete],
        },
    ];
    if resource.namespaced {
        let list_everywhere = Operation {
            id: format!("list{infix}{kind_name}ForAllNamespaces"),
            parameters: LIST,
            answers: vec![answer("200", "OK", &kind.list_definition)],
            ..operation(
                "get",
                "list",
                "list",
                format!("list or watch objects of kind {kind_name}"),
            )
        };
        paths.push(PathItem {
            path: format!("{prefix}/{}", resource.plural),
            parameters: vec![PRETTY],
            operations: vec![list_everywhere],
        });
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::definitions;

    fn kind(kind_name: &str) -> Kind {
        definitions::build()
            .kinds
            .into_iter()
            .find(|kind| kind.resource.kind == kind_name)
            .expect("served")
    }

    #[test]
    fn tags_and_ids_are_kube_apiservers() {
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(tag("coordination.k8s.io", "v1"), "coordination_v1");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        let pods = kind_paths(&kind("Pod"));
        let ids: Vec<&str> = pods
            .iter()
            .flat_map(|path| path.operations.iter().map(|op| op.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                "listCoreV1NamespacedPod",
                "createCoreV1NamespacedPod",
                "deleteCoreV1CollectionNamespacedPod",
                "readCoreV1NamespacedPod",
                "replaceCoreV1NamespacedPod",
                "patchCoreV1NamespacedPod",
                "deleteCoreV1NamespacedPod",
                "listCoreV1PodForAllNamespaces",
            ]
        );
        assert_eq!(pods[1].path, "/api/v1/namespaces/{namespace}/pods/{name}");
        let leases = kind_paths(&kind("Lease"));
        assert_eq!(
            leases[0].operations[0].id,
            "listCoordinationV1NamespacedLease"
        );
        let nodes = kind_paths(&kind("Node"));
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].path, "/api/v1/nodes/{name}");
        assert_eq!(nodes[1].operations[2].id, "patchCoreV1Node");
    }

    #[test]
    fn writes_take_field_validation() {
        for path in kind_paths(&kind("Deployment")) {
            for operation in &path.operations {
                let takes = operation
                    .parameters
                    .iter()
                    .any(|parameter| parameter.name == "fieldValidation");
                assert_eq!(
                    takes,
                    matches!(operation.method, "post" | "put" | "patch"),
                    "{}",
                    operation.id
                );
            }
        }
    }
}

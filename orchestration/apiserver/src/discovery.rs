//! What kubectl asks first: the server's version and the API's discovery
//! documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`),
//! built from [`keel_api::RESOURCES`], in the legacy (unaggregated) form
//! every kubectl since 1.20 reads.

use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};
use keel_api::k8s_openapi::apimachinery::pkg::version::Info;
use keel_api::{ResourceInfo, RESOURCES};

/// The Kubernetes version keel's objects are (k8s-openapi's `v1_33`).
pub const KUBERNETES_MINOR: &str = "33";

/// Every verb a served kind takes, sorted as kube-apiserver lists them.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The subresources of a kind: `(plural, name, kind, verbs)`.
pub(crate) const SUBRESOURCES: &[(&str, &str, &str, &[&str])] = &[
    ("deployments", "scale", "Scale", &["get", "patch", "update"]),
    (
        "deployments",
        "status",
        "Deployment",
        &["get", "patch", "update"],
    ),
    ("replicasets", "scale", "Scale", &["get", "patch", "update"]),
    (
        "replicasets",
        "status",
        "ReplicaSet",
        &["get", "patch", "update"],
    ),
    (
        "daemonsets",
        "status",
        "DaemonSet",
        &["get", "patch", "update"],
    ),
    ("jobs", "status", "Job", &["get", "patch", "update"]),
    ("pods", "binding", "Binding", &["create"]),
    ("pods", "eviction", "Eviction", &["create"]),
    ("pods", "log", "Pod", &["get"]),
    ("pods", "status", "Pod", &["get", "patch", "update"]),
    ("services", "status", "Service", &["get", "patch", "update"]),
    ("namespaces", "finalize", "Namespace", &["update"]),
    (
        "namespaces",
        "status",
        "Namespace",
        &["get", "patch", "update"],
    ),
    ("nodes", "status", "Node", &["get", "patch", "update"]),
];

/// The group of a subresource's kind when it is not the resource's own
/// (as kube-apiserver's discovery names them).
fn other_group(kind: &str) -> Option<&'static str> {
    match kind {
        "Scale" => Some("autoscaling"),
        "Eviction" => Some("policy"),
        _ => None,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|&item| item.to_owned()).collect()
}

/// `/version`: Kubernetes 1.33 as keel serves it.
pub fn version() -> Info {
    Info {
        major: "1".into(),
        minor: KUBERNETES_MINOR.into(),
        git_version: format!("v1.{KUBERNETES_MINOR}.0-keel.{}", env!("CARGO_PKG_VERSION")),
        git_commit: String::new(),
        git_tree_state: "clean".into(),
        build_date: String::new(),
        go_version: "none (keel is written in Rust)".into(),
        compiler: "rustc".into(),
        platform: format!("{}/{}", std::env::consts::OS, go_arch()),
        ..Info::default()
    }
}

/// The architecture under Go's name, as clients expect in `platform`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core group's versions.
pub fn core_versions(server_address: &str) -> APIVersions {
    APIVersions {
        versions: vec!["v1".into()],
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".into(),
            server_address: server_address.into(),
        }],
    }
}

/// The named groups served, in the order of [`RESOURCES`].
fn groups() -> Vec<(&'static str, &'static str)> {
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for resource in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !groups.contains(&(resource.group, resource.version)) {
            groups.push((resource.group, resource.version));
        }
    }
    groups
}

/// `/apis`: the named groups.
pub fn group_list() -> APIGroupList {
    APIGroupList {
        groups: groups()
            .into_iter()
            .map(|(group, version)| {
                let version = GroupVersionForDiscovery {
                    group_version: format!("{group}/{version}"),
                    version: version.into(),
                };
                APIGroup {
                    name: group.into(),
                    preferred_version: Some(version.clone()),
                    server_address_by_client_cidrs: None,
                    versions: vec![version],
                }
            })
            .collect(),
    }
}

fn api_resource(resource: &ResourceInfo) -> APIResource {
    APIResource {
        name: resource.plural.into(),
        singular_name: resource.kind.to_lowercase(),
        namespaced: resource.namespaced,
        kind: resource.kind.into(),
        verbs: strings(VERBS),
        short_names: (!resource.short_names.is_empty()).then(|| strings(resource.short_names)),
        categories: (!resource.categories.is_empty()).then(|| strings(resource.categories)),
        ..APIResource::default()
    }
}

/// `/api/v1` (`group` "") or `/apis/<group>/<version>`: the kinds of one
/// group version and their subresources; `None` if none is served.
pub fn resource_list(group: &str, version: &str) -> Option<APIResourceList> {
    let mut resources = Vec::new();
    for resource in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(api_resource(resource));
        for &(_, name, kind, verbs) in SUBRESOURCES
            .iter()
            .filter(|(plural, ..)| *plural == resource.plural)
        {
            resources.push(APIResource {
                name: format!("{}/{name}", resource.plural),
                singular_name: String::new(),
                namespaced: resource.namespaced,
                kind: kind.into(),
                verbs: strings(verbs),
                // Subresources of another group's kind say so; kubectl
                // drain evicts only when pods/eviction names policy/v1.
                group: other_group(kind).map(Into::into),
                version: other_group(kind).map(|_| "v1".into()),
                ..APIResource::default()
            });
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    (!resources.is_empty()).then_some(APIResourceList {
        group_version,
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_core_group_lists_pods_with_their_subresources() {
        let list = resource_list("", "v1").expect("served");
        let value = serde_json::to_value(&list).expect("json");
        assert_eq!(value["kind"], "APIResourceList");
        assert_eq!(value["groupVersion"], "v1");
        let pods = value["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["name"] == "pods")
            .expect("pods");
        assert_eq!(
            *pods,
            json!({"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                   "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                             "update", "watch"],
                   "shortNames": ["po"], "categories": ["all"]})
        );
        let names: Vec<&str> = list.resources.iter().map(|r| r.name.as_str()).collect();
        for sub in [
            "pods/status",
            "pods/log",
            "pods/binding",
            "pods/eviction",
            "nodes/status",
        ] {
            assert!(names.contains(&sub), "{sub} in {names:?}");
        }
        // kubectl drain evicts only when pods/eviction names its group
        // version, as kube-apiserver's discovery does.
        let eviction = value["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["name"] == "pods/eviction")
            .expect("pods/eviction");
        assert_eq!(
            *eviction,
            json!({"name": "pods/eviction", "singularName": "", "namespaced": true,
                   "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
        );
        assert!(resource_list("", "v2").is_none());
    }

    #[test]
    fn named_groups_and_scale() {
        let groups = serde_json::to_value(group_list()).expect("json");
        assert_eq!(groups["kind"], "APIGroupList");
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, ["apps", "batch", "coordination.k8s.io"]);
        let apps = resource_list("apps", "v1").expect("served");
        let scale = apps
            .resources
            .iter()
            .find(|r| r.name == "deployments/scale")
            .expect("scale");
        assert_eq!(
            (
                scale.group.as_deref(),
                scale.version.as_deref(),
                scale.kind.as_str()
            ),
            (Some("autoscaling"), Some("v1"), "Scale")
        );
    }

    #[test]
    fn the_version_is_kubernetes_1_33() {
        let info = serde_json::to_value(version()).expect("json");
        assert_eq!(
            (&info["major"], &info["minor"]),
            (&json!("1"), &json!("33"))
        );
        assert!(info["gitVersion"]
            .as_str()
            .expect("a string")
            .starts_with("v1.33.0-keel"));
    }
}

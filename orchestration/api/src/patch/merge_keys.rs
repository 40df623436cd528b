//! Which lists a strategic merge patch merges, and by which key: the
//! `patchStrategy:"merge"` and `patchMergeKey` struct tags of Kubernetes'
//! Go types (k8s.io/api v0.33 `core/v1/types.go`, `apps/v1/types.go`,
//! `batch/v1/types.go`; k8s.io/apimachinery `pkg/apis/meta/v1/types.go`),
//! written down as data for the kinds keel serves.
//!
//! ```text
//!   Pod ─┬─ metadata ─► OBJECT_META (ownerReferences by uid, finalizers as a set)
//!        ├─ spec ─────► POD_SPEC ─┬─ containers by name ─► CONTAINER
//!        │                        └─ volumes by name, ...     (env by name, ...)
//!        └─ status ───► POD_STATUS (conditions by type, podIPs by ip, ...)
//!   Deployment ─ spec.template ─► POD_TEMPLATE (metadata + POD_SPEC)
//! ```
//!
//! Every list not named here is replaced whole by a patch, and every map
//! merges key by key: none of these kinds tags a map
//! `patchStrategy:"replace"`. The `retainKeys` strategy (PodSpec.volumes,
//! DeploymentSpec.strategy) only tells clients to send `$retainKeys`; the
//! server acts on the directive wherever it appears, so it needs no entry.

use crate::resources::ResourceInfo;

/// One field of a Go struct that a strategic merge patch treats specially.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    /// A list with `patchStrategy:"merge"`: items merge by `merge_key`, or
    /// as a set of primitives when the list has no merge key.
    MergeList {
        /// The field's JSON name.
        name: &'static str,
        /// `patchMergeKey`, `None` for a list of primitives.
        merge_key: Option<&'static str>,
    },
    /// A field whose value (an object, or each item of a list when the name
    /// ends in `[]`) holds further special fields.
    Nested {
        /// The field's JSON name, `containers[]` for a list's items.
        name: &'static str,
        /// The special fields inside.
        fields: &'static [Field],
    },
}

const fn by_key(name: &'static str, merge_key: &'static str) -> Field {
    Field::MergeList {
        name,
        merge_key: Some(merge_key),
    }
}

const fn set(name: &'static str) -> Field {
    Field::MergeList {
        name,
        merge_key: None,
    }
}

const fn nested(name: &'static str, fields: &'static [Field]) -> Field {
    Field::Nested { name, fields }
}

/// meta/v1 ObjectMeta.
const OBJECT_META: &[Field] = &[by_key("ownerReferences", "uid"), set("finalizers")];

/// core/v1 Container, and EphemeralContainerCommon which repeats its tags.
const CONTAINER: &[Field] = &[
    by_key("ports", "containerPort"),
    by_key("env", "name"),
    by_key("volumeMounts", "mountPath"),
    by_key("volumeDevices", "devicePath"),
];

/// core/v1 PodSpec.
const POD_SPEC: &[Field] = &[
    by_key("volumes", "name"),
    by_key("initContainers", "name"),
    nested("initContainers[]", CONTAINER),
    by_key("containers", "name"),
    nested("containers[]", CONTAINER),
    by_key("ephemeralContainers", "name"),
    nested("ephemeralContainers[]", CONTAINER),
    by_key("imagePullSecrets", "name"),
    by_key("hostAliases", "ip"),
    by_key("topologySpreadConstraints", "topologyKey"),
    by_key("schedulingGates", "name"),
    by_key("resourceClaims", "name"),
];

/// core/v1 PodStatus.
const POD_STATUS: &[Field] = &[
    by_key("conditions", "type"),
    by_key("hostIPs", "ip"),
    by_key("podIPs", "ip"),
    by_key("resourceClaimStatuses", "name"),
];

/// core/v1 PodTemplateSpec.
const POD_TEMPLATE: &[Field] = &[nested("metadata", OBJECT_META), nested("spec", POD_SPEC)];

/// The `status` of every kind here whose only special status field is
/// `conditions` merged by `type`: NamespaceStatus, ServiceStatus,
/// DeploymentStatus, ReplicaSetStatus, DaemonSetStatus, JobStatus.
const CONDITIONS_BY_TYPE: &[Field] = &[by_key("conditions", "type")];

/// A workload whose `spec.template` is a PodTemplateSpec.
const WORKLOAD: &[Field] = &[
    nested("metadata", OBJECT_META),
    nested("spec", &[nested("template", POD_TEMPLATE)]),
    nested("status", CONDITIONS_BY_TYPE),
];

/// A kind with nothing special outside its ObjectMeta.
const METADATA_ONLY: &[Field] = &[nested("metadata", OBJECT_META)];

/// The special fields of each kind keel serves, by (group, kind).
const KINDS: &[(&str, &str, &[Field])] = &[
    (
        "",
        "Pod",
        &[
            nested("metadata", OBJECT_META),
            nested("spec", POD_SPEC),
            nested("status", POD_STATUS),
        ],
    ),
    (
        "",
        "Namespace",
        &[
            nested("metadata", OBJECT_META),
            nested("status", CONDITIONS_BY_TYPE),
        ],
    ),
    (
        "",
        "Node",
        &[
            nested("metadata", OBJECT_META),
            // NodeSpec.podCIDRs
            nested("spec", &[set("podCIDRs")]),
            // NodeStatus
            nested(
                "status",
                &[by_key("conditions", "type"), by_key("addresses", "type")],
            ),
        ],
    ),
    (
        "",
        "Service",
        &[
            nested("metadata", OBJECT_META),
            // ServiceSpec.ports
            nested("spec", &[by_key("ports", "port")]),
            nested("status", CONDITIONS_BY_TYPE),
        ],
    ),
    ("", "Endpoints", METADATA_ONLY),
    ("", "ConfigMap", METADATA_ONLY),
    ("", "Secret", METADATA_ONLY),
    ("", "Event", METADATA_ONLY),
    ("apps", "Deployment", WORKLOAD),
    ("apps", "ReplicaSet", WORKLOAD),
    ("apps", "DaemonSet", WORKLOAD),
    ("apps", "ControllerRevision", METADATA_ONLY),
    ("batch", "Job", WORKLOAD),
    ("coordination.k8s.io", "Lease", METADATA_ONLY),
];

/// One list of a kind that a strategic merge patch merges, as an OpenAPI
/// schema states it to clients (`x-kubernetes-patch-strategy: merge` and
/// `x-kubernetes-patch-merge-key` on the list's property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeList {
    /// The JSON field names from the top of the object to the list; a name
    /// ending in `[]` steps into the items of that list
    /// (`["spec", "containers[]", "env"]`).
    pub path: Vec<&'static str>,
    /// `patchMergeKey`; `None` for a list of primitives merged as a set.
    pub merge_key: Option<&'static str>,
}

/// Every list of `resource`'s kind that a strategic merge patch merges, in
/// the order of the table; empty for a kind not in it.
pub fn merge_lists(resource: &ResourceInfo) -> Vec<MergeList> {
    fn walk(fields: &[Field], prefix: &mut Vec<&'static str>, lists: &mut Vec<MergeList>) {
        for field in fields {
            match *field {
                Field::MergeList { name, merge_key } => {
                    let mut path = prefix.clone();
                    path.push(name);
                    lists.push(MergeList { path, merge_key });
                }
                Field::Nested { name, fields } => {
                    prefix.push(name);
                    walk(fields, prefix, lists);
                    prefix.pop();
                }
            }
        }
    }
    let mut lists = Vec::new();
    walk(Schema::of(resource).0, &mut Vec::new(), &mut lists);
    lists
}

/// How a list field takes a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch's list replaces the object's (no `patchStrategy`).
    Replace,
    /// Items merge: maps by the merge key, primitives as a set.
    Merge {
        /// `patchMergeKey`, `None` for a list of primitives.
        merge_key: Option<&'static str>,
    },
}

/// The special fields at one place in an object, as the strategic merge
/// walks it (Kubernetes' `LookupPatchMeta`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema(&'static [Field]);

impl Schema {
    /// The top of an object of `resource`'s kind; a kind not in the table
    /// has no special fields.
    pub(crate) fn of(resource: &ResourceInfo) -> Self {
        KINDS
            .iter()
            .find(|(group, kind, _)| *group == resource.group && *kind == resource.kind)
            .map_or(Self(&[]), |(_, _, fields)| Self(fields))
    }

    /// The schema inside the object under `key`.
    pub(crate) fn object(self, key: &str) -> Self {
        self.nested(key).unwrap_or(Self(&[]))
    }

    /// How the list under `key` merges, and the schema of its items.
    pub(crate) fn list(self, key: &str) -> (ListStrategy, Self) {
        let strategy = self
            .0
            .iter()
            .find_map(|field| match field {
                Field::MergeList { name, merge_key } if *name == key => Some(ListStrategy::Merge {
                    merge_key: *merge_key,
                }),
                _ => None,
            })
            .unwrap_or(ListStrategy::Replace);
        let items = self
            .0
            .iter()
            .find_map(|field| match field {
                Field::Nested { name, fields } if name.strip_suffix("[]") == Some(key) => {
                    Some(Self(fields))
                }
                _ => None,
            })
            .unwrap_or(Self(&[]));
        (strategy, items)
    }

    fn nested(self, key: &str) -> Option<Self> {
        self.0.iter().find_map(|field| match field {
            Field::Nested { name, fields } if *name == key => Some(Self(fields)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{by_kind, RESOURCES};

    fn strategy(api_version: &str, kind: &str, path: &[&str]) -> ListStrategy {
        let mut schema = Schema::of(by_kind(api_version, kind).expect("served"));
        let (last, objects) = path.split_last().expect("a path");
        for step in objects {
            schema = match step.strip_suffix("[]") {
                Some(list) => schema.list(list).1,
                None => schema.object(step),
            };
        }
        schema.list(last).0
    }

    fn merge_by(key: &'static str) -> ListStrategy {
        ListStrategy::Merge {
            merge_key: Some(key),
        }
    }

    #[test]
    fn every_served_kind_has_its_object_meta() {
        for resource in RESOURCES {
            let metadata = Schema::of(resource).object("metadata");
            assert_eq!(
                metadata.list("ownerReferences").0,
                merge_by("uid"),
                "{}",
                resource.kind
            );
            assert_eq!(
                metadata.list("finalizers").0,
                ListStrategy::Merge { merge_key: None },
                "{}",
                resource.kind
            );
        }
    }

    #[test]
    fn pod_templates_reuse_the_pod_spec() {
        // The Go types' tags: PodSpec.containers by name, Container.env by
        // name, Container.ports by containerPort.
        assert_eq!(
            strategy("v1", "Pod", &["spec", "containers"]),
            merge_by("name")
        );
        for (api_version, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "ReplicaSet"),
            ("apps/v1", "DaemonSet"),
            ("batch/v1", "Job"),
        ] {
            let template = ["spec", "template", "spec"];
            let env = [&template[..], &["containers[]", "env"]].concat();
            let ports = [&template[..], &["initContainers[]", "ports"]].concat();
            let volumes = [&template[..], &["volumes"]].concat();
            assert_eq!(strategy(api_version, kind, &env), merge_by("name"));
            assert_eq!(
                strategy(api_version, kind, &ports),
                merge_by("containerPort")
            );
            assert_eq!(strategy(api_version, kind, &volumes), merge_by("name"));
            assert_eq!(
                strategy(api_version, kind, &["status", "conditions"]),
                merge_by("type")
            );
        }
    }

    #[test]
    fn lists_without_a_strategy_are_replaced() {
        // PodSpec.tolerations, Container.args and Container.command carry no
        // patchStrategy tag; nor does EndpointSubset.addresses.
        assert_eq!(
            strategy("v1", "Pod", &["spec", "tolerations"]),
            ListStrategy::Replace
        );
        assert_eq!(
            strategy("v1", "Pod", &["spec", "containers[]", "args"]),
            ListStrategy::Replace
        );
        assert_eq!(
            strategy("v1", "Endpoints", &["subsets"]),
            ListStrategy::Replace
        );
        assert_eq!(
            strategy("v1", "Node", &["spec", "taints"]),
            ListStrategy::Replace
        );
    }

    #[test]
    fn merge_lists_name_every_merged_list_by_its_path() {
        let pod = merge_lists(by_kind("v1", "Pod").expect("served"));
        let env = MergeList {
            path: vec!["spec", "containers[]", "env"],
            merge_key: Some("name"),
        };
        assert!(pod.contains(&env), "{pod:?}");
        let finalizers = MergeList {
            path: vec!["metadata", "finalizers"],
            merge_key: None,
        };
        assert!(pod.contains(&finalizers), "{pod:?}");
        // Every path found leads to the same strategy through `Schema`.
        for list in &pod {
            assert_eq!(
                strategy("v1", "Pod", &list.path),
                ListStrategy::Merge {
                    merge_key: list.merge_key
                }
            );
        }
    }

    #[test]
    fn the_other_merge_lists_are_the_go_tags() {
        assert_eq!(
            strategy("v1", "Service", &["spec", "ports"]),
            merge_by("port")
        );
        assert_eq!(
            strategy("v1", "Node", &["status", "addresses"]),
            merge_by("type")
        );
        assert_eq!(
            strategy("v1", "Node", &["spec", "podCIDRs"]),
            ListStrategy::Merge { merge_key: None }
        );
        assert_eq!(
            strategy("v1", "Pod", &["spec", "containers[]", "volumeMounts"]),
            merge_by("mountPath")
        );
        assert_eq!(
            strategy("v1", "Pod", &["spec", "imagePullSecrets"]),
            merge_by("name")
        );
        assert_eq!(strategy("v1", "Pod", &["status", "podIPs"]), merge_by("ip"));
    }
}

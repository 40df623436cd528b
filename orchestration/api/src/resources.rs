//! The kinds keel serves, with what discovery, kubectl and storage need to
//! know of each: group, version, kind and plural (from k8s-openapi's own
//! constants), scope, short names and categories (as kube-apiserver's
//! discovery lists them), and the resource's prefix under `/registry/`.

use k8s_openapi::api::{apps, batch, coordination, core};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};

/// One kind of object keel stores and serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group ("" for the core group).
    pub group: &'static str,
    /// API version within the group ("v1").
    pub version: &'static str,
    /// `apiVersion` as objects carry it ("v1", "apps/v1").
    pub api_version: &'static str,
    /// Kind ("Pod").
    pub kind: &'static str,
    /// Plural resource name, the URL path segment ("pods").
    pub plural: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl's short names ("po").
    pub short_names: &'static [&'static str],
    /// Categories (`kubectl get all` lists the "all" category).
    pub categories: &'static [&'static str],
    /// The resource's prefix under `/registry/` in keel, as kube-apiserver
    /// keys it in etcd: the plural, except where kube-apiserver kept an
    /// older name (`SpecialDefaultResourcePrefixes`).
    pub storage_prefix: &'static str,
}

/// Whether a k8s-openapi scope type is namespaced.
trait Scope {
    const NAMESPACED: bool;
}

impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// The info of k8s-openapi type `K`, with the rest given.
const fn info<K>(
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    storage_prefix: Option<&'static str>,
) -> ResourceInfo
where
    K: Resource,
    K::Scope: Scope,
{
    ResourceInfo {
        group: K::GROUP,
        version: K::VERSION,
        api_version: K::API_VERSION,
        kind: K::KIND,
        plural: K::URL_PATH_SEGMENT,
        namespaced: <K::Scope as Scope>::NAMESPACED,
        short_names,
        categories,
        storage_prefix: match storage_prefix {
            Some(prefix) => prefix,
            None => K::URL_PATH_SEGMENT,
        },
    }
}

const ALL: &[&str] = &["all"];

/// Every kind keel serves.
pub const RESOURCES: &[ResourceInfo] = &[
    info::<core::v1::Namespace>(&["ns"], &[], None),
    info::<core::v1::Node>(&["no"], &[], Some("minions")),
    info::<core::v1::Pod>(&["po"], ALL, None),
    info::<core::v1::Service>(&["svc"], ALL, Some("services/specs")),
    info::<core::v1::Endpoints>(&["ep"], &[], Some("services/endpoints")),
    info::<core::v1::ConfigMap>(&["cm"], &[], None),
    info::<core::v1::Secret>(&[], &[], None),
    info::<core::v1::Event>(&["ev"], &[], None),
    info::<apps::v1::Deployment>(&["deploy"], ALL, None),
    info::<apps::v1::ReplicaSet>(&["rs"], ALL, None),
    info::<apps::v1::DaemonSet>(&["ds"], ALL, None),
    info::<apps::v1::ControllerRevision>(&[], &[], None),
    info::<batch::v1::Job>(&[], ALL, None),
    info::<coordination::v1::Lease>(&[], &[], None),
];

/// The resource of `api_version` and `kind` ("apps/v1", "Deployment").
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.api_version == api_version && r.kind == kind)
}

/// The resource of `group` and plural `plural` ("apps", "deployments").
pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// The resource of k8s-openapi type `K`.
pub fn of<K: Resource>() -> &'static ResourceInfo {
    by_kind(K::API_VERSION, K::KIND).expect("every kind keel uses is in RESOURCES")
}

/// Where keel keeps objects, as kube-apiserver keeps them in etcd.
pub const REGISTRY: &str = "/registry/";

impl ResourceInfo {
    /// The key of one object: `/registry/<prefix>/<namespace>/<name>`, or
    /// `/registry/<prefix>/<name>` for a cluster-scoped kind (whose
    /// `namespace` is ignored).
    pub fn key(&self, namespace: &str, name: &str) -> String {
        let mut key = self.prefix(namespace);
        key.push_str(name);
        key
    }

    /// The prefix every key of the kind starts with, in `namespace` (all
    /// namespaces if empty, or if the kind is cluster-scoped); ends in '/'.
    pub fn prefix(&self, namespace: &str) -> String {
        let mut prefix = format!("{REGISTRY}{}/", self.storage_prefix);
        if self.namespaced && !namespace.is_empty() {
            prefix.push_str(namespace);
            prefix.push('/');
        }
        prefix
    }

    /// The resource as Kubernetes names it in messages: the plural,
    /// qualified by its group ("pods", "deployments.apps").
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `(namespace, name)` of a key of this kind; `None` if the key is not
    /// one of its objects'.
    pub fn parse_key<'k>(&self, key: &'k str) -> Option<(&'k str, &'k str)> {
        let rest = key
            .strip_prefix(REGISTRY)?
            .strip_prefix(self.storage_prefix)?
            .strip_prefix('/')?;
        let (namespace, name) = if self.namespaced {
            rest.split_once('/')?
        } else {
            ("", rest)
        };
        (!namespace.contains('/') && !name.is_empty() && !name.contains('/'))
            .then_some((namespace, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kube_apiservers() {
        // kube-apiserver's etcd layout (with --storage-media-type=json):
        // /registry/<resource>/<namespace>/<name>, nodes under "minions",
        // services and endpoints under "services/".
        let pods = of::<core::v1::Pod>();
        assert_eq!(pods.key("default", "web-0"), "/registry/pods/default/web-0");
        assert_eq!(pods.prefix("default"), "/registry/pods/default/");
        assert_eq!(pods.prefix(""), "/registry/pods/");
        let nodes = of::<core::v1::Node>();
        assert_eq!(nodes.key("ignored", "n1"), "/registry/minions/n1");
        assert_eq!(
            of::<core::v1::Service>().key("default", "kubernetes"),
            "/registry/services/specs/default/kubernetes"
        );
        assert_eq!(
            of::<core::v1::Endpoints>().key("default", "kubernetes"),
            "/registry/services/endpoints/default/kubernetes"
        );
        assert_eq!(
            of::<apps::v1::Deployment>().key("ns", "web"),
            "/registry/deployments/ns/web"
        );
        assert_eq!(
            of::<coordination::v1::Lease>().key("kube-node-lease", "n1"),
            "/registry/leases/kube-node-lease/n1"
        );
        assert_eq!(
            of::<core::v1::Namespace>().key("", "default"),
            "/registry/namespaces/default"
        );
    }

    #[test]
    fn a_key_parses_back_only_as_its_own_kind() {
        for resource in RESOURCES {
            let key = resource.key("ns1", "obj-1");
            let namespace = if resource.namespaced { "ns1" } else { "" };
            assert_eq!(resource.parse_key(&key), Some((namespace, "obj-1")));
            for other in RESOURCES.iter().filter(|other| *other != resource) {
                assert_eq!(
                    other.parse_key(&key),
                    None,
                    "{} read a key of {}",
                    other.kind,
                    resource.kind
                );
            }
        }
        let services = of::<core::v1::Service>();
        assert_eq!(services.parse_key("/registry/services/specs/a"), None);
        assert_eq!(services.parse_key("/registry/services/specs/a/b/c"), None);
    }

    #[test]
    fn kinds_and_plurals_are_kubernetes() {
        let deployments = by_plural("apps", "deployments").expect("served");
        assert_eq!(
            (
                deployments.api_version,
                deployments.kind,
                deployments.namespaced
            ),
            ("apps/v1", "Deployment", true)
        );
        let namespaces = by_kind("v1", "Namespace").expect("served");
        assert_eq!(
            (namespaces.plural, namespaces.namespaced),
            ("namespaces", false)
        );
        assert_eq!(by_kind("apps/v1", "Pod"), None);
        assert_eq!(of::<batch::v1::Job>().group, "batch");
        assert_eq!(of::<batch::v1::Job>().qualified(), "jobs.batch");
        assert_eq!(of::<core::v1::Pod>().qualified(), "pods");
        assert_eq!(
            of::<coordination::v1::Lease>().api_version,
            "coordination.k8s.io/v1"
        );
    }
}

//! Which protobuf message a body of an apiVersion and kind holds, as
//! kube-apiserver's scheme picks the Go type to unmarshal `raw` into:
//!
//! ```text
//!   ("apps/v1", "Deployment")  ─►  k8s.io.api.apps.v1.Deployment
//!   ("v1", "DeleteOptions")    ─►  k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions
//! ```
//!
//! Only the kinds keel serves are read ([`crate::RESOURCES`]), plus the
//! bodies of their subresources and of deletes; anything else is "not
//! registered", as it is for kube-apiserver when no group serves it.

use crate::resources::RESOURCES;

/// The proto package of each group version whose bodies keel reads.
const PACKAGES: &[(&str, &str)] = &[
    ("v1", "k8s.io.api.core.v1"),
    ("apps/v1", "k8s.io.api.apps.v1"),
    ("batch/v1", "k8s.io.api.batch.v1"),
    ("coordination.k8s.io/v1", "k8s.io.api.coordination.v1"),
    ("autoscaling/v1", "k8s.io.api.autoscaling.v1"),
    ("policy/v1", "k8s.io.api.policy.v1"),
];

/// Kinds that are no resource of their own but are sent as bodies: a
/// pod's binding, the scale subresource, a pod's eviction.
const SUBRESOURCE_KINDS: &[(&str, &str)] = &[
    ("v1", "Binding"),
    ("autoscaling/v1", "Scale"),
    ("policy/v1", "Eviction"),
];

/// meta/v1's group version: its own home of the option kinds.
const META_API_VERSION: &str = "meta.k8s.io/v1";

/// meta/v1's proto package.
const META_PACKAGE: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// The full name of the message a body of `api_version` and `kind` holds,
/// or `None` if keel reads no such kind.
///
/// `DeleteOptions` is meta/v1's message under every group version, as
/// `metav1.AddToGroupVersion` registers the option kinds in each group
/// (apimachinery/pkg/apis/meta/v1/register.go).
pub(super) fn message_name(api_version: &str, kind: &str) -> Option<String> {
    if kind == "DeleteOptions"
        && (api_version == META_API_VERSION || package_of(api_version).is_some())
    {
        return Some(format!("{META_PACKAGE}.DeleteOptions"));
    }
    let served = RESOURCES
        .iter()
        .any(|resource| resource.api_version == api_version && resource.kind == kind)
        || SUBRESOURCE_KINDS.contains(&(api_version, kind));
    if !served {
        return None;
    }
    package_of(api_version).map(|package| format!("{package}.{kind}"))
}

/// The proto package of a group version.
fn package_of(api_version: &str) -> Option<&'static str> {
    PACKAGES
        .iter()
        .find(|(known, _)| *known == api_version)
        .map(|(_, package)| *package)
}

/// Every (apiVersion, kind) [`message_name`] knows, for the test that
/// each has a message in the descriptor set.
#[cfg(test)]
pub(super) fn all() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<(&str, &str)> = RESOURCES
        .iter()
        .map(|resource| (resource.api_version, resource.kind))
        .collect();
    all.extend_from_slice(SUBRESOURCE_KINDS);
    all.push((META_API_VERSION, "DeleteOptions"));
    all.extend(
        PACKAGES
            .iter()
            .map(|(api_version, _)| (*api_version, "DeleteOptions")),
    );
    all
}

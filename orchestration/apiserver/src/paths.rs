//! Kubernetes' resource paths, parsed:
//!
//! ```text
//!   /api/v1/<plural>                                  every namespace's, or a
//!   /apis/<group>/<version>/<plural>                  cluster-scoped kind's
//!   .../<plural>/<name>[/<subresource>]               a cluster-scoped object
//!   .../namespaces/<ns>/<plural>                      one namespace's
//!   .../namespaces/<ns>/<plural>/<name>[/<sub>]       a namespaced object
//! ```

use keel_api::resources::{by_plural, ResourceInfo};

/// What a resource path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kind.
    pub resource: &'static ResourceInfo,
    /// The namespace ("" for every namespace, or a cluster-scoped kind).
    pub namespace: String,
    /// The object's name; `None` for the collection.
    pub name: Option<String>,
    /// The subresource ("status", "scale", ...), if any.
    pub subresource: Option<String>,
}

/// Why a path names nothing served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not a resource path of a served group version and kind.
    NotFound,
}

/// The target of `path`; NotFound for paths that are not resource paths
/// of a served kind and subresource (discovery, `/version` included).
pub fn parse(path: &str) -> Result<Target, PathError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(PathError::NotFound),
    };
    let served =
        |plural: &str| by_plural(group, plural).filter(|resource| resource.version == version);
    let target = |resource: &'static ResourceInfo,
                  namespace: &str,
                  name: Option<&str>,
                  subresource: Option<&str>| {
        let known = |sub: &str| {
            crate::discovery::SUBRESOURCES
                .iter()
                .any(|(plural, name, ..)| *plural == resource.plural && *name == sub)
        };
        if rest.iter().any(|segment| segment.is_empty()) || subresource.is_some_and(|s| !known(s)) {
            return Err(PathError::NotFound);
        }
        Ok(Target {
            resource,
            namespace: namespace.to_owned(),
            name: name.map(str::to_owned),
            subresource: subresource.map(str::to_owned),
        })
    };
    match *rest {
        ["namespaces", namespace, plural, ref more @ ..]
            if group_has_namespaces(group) && served(plural).is_some_and(|r| r.namespaced) =>
        {
            let resource = served(plural).ok_or(PathError::NotFound)?;
            match *more {
                [] => target(resource, namespace, None, None),
                [name] => target(resource, namespace, Some(name), None),
                [name, subresource] => target(resource, namespace, Some(name), Some(subresource)),
                _ => Err(PathError::NotFound),
            }
        }
        [plural, ref more @ ..] => {
            let resource = served(plural).ok_or(PathError::NotFound)?;
            match *more {
                [] => target(resource, "", None, None),
                [name] if !resource.namespaced => target(resource, "", Some(name), None),
                [name, subresource] if !resource.namespaced => {
                    target(resource, "", Some(name), Some(subresource))
                }
                _ => Err(PathError::NotFound),
            }
        }
        [] => Err(PathError::NotFound),
    }
}

/// Whether `/namespaces/<ns>/...` paths exist under `group` (every group
/// with a namespaced kind).
fn group_has_namespaces(group: &str) -> bool {
    keel_api::RESOURCES
        .iter()
        .any(|resource| resource.group == group && resource.namespaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> (&'static str, String, Option<String>, Option<String>) {
        let target = parse(path).unwrap_or_else(|_| panic!("{path} should parse"));
        (
            target.resource.plural,
            target.namespace,
            target.name,
            target.subresource,
        )
    }

    #[test]
    fn collections_objects_and_subresources() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(parsed("/api/v1/pods"), ("pods", String::new(), None, None));
        assert_eq!(
            parsed("/api/v1/namespaces/default/pods"),
            ("pods", "default".into(), None, None)
        );
        assert_eq!(
            parsed("/api/v1/namespaces/default/pods/web/status"),
            ("pods", "default".into(), some("web"), some("status"))
        );
        assert_eq!(
            parsed("/apis/apps/v1/namespaces/ns/deployments/web/scale"),
            ("deployments", "ns".into(), some("web"), some("scale"))
        );
        // A namespace is itself cluster-scoped.
        assert_eq!(
            parsed("/api/v1/namespaces/default"),
            ("namespaces", String::new(), some("default"), None)
        );
        assert_eq!(
            parsed("/api/v1/namespaces/default/finalize"),
            (
                "namespaces",
                String::new(),
                some("default"),
                some("finalize")
            )
        );
        assert_eq!(
            parsed("/api/v1/nodes/n1"),
            ("nodes", String::new(), some("n1"), None)
        );
    }

    #[test]
    fn what_is_not_served_is_not_found() {
        for path in [
            "/api/v2/pods",
            "/apis/apps/v1/pods",
            "/api/v1/pods/web",
            "/api/v1/namespaces/default/nodes",
            "/api/v1/namespaces/default/pods/a/b/c",
            "/api/v1/namespaces//pods",
            "/apis/apps/v1beta1/deployments",
            "/version",
            "/api/v1",
        ] {
            assert_eq!(parse(path), Err(PathError::NotFound), "{path}");
        }
    }
}

//! Static pods: the manifests in the kubelet's `--pod-manifest-path`,
//! run by this kubelet alone and mirrored into keel so that kubectl sees
//! them, as a Kubernetes kubelet does with its file source.
//!
//! ```text
//!   <dir>/*.yaml|*.yml|*.json ─► StaticPod { hash, mirror }
//!     mirror: <name>-<node>, spec.nodeName = node,
//!             annotations kubernetes.io/config.{source: file, hash, mirror, seen},
//!             owned by the Node
//! ```
//!
//! The pod's identity on the node is its hash (the manifest's content and
//! the node's name): the containers belong to it, not to the mirror's
//! uid, so a mirror deleted through the API is made again without
//! touching the containers, and a changed manifest is a new pod.

use std::path::Path;

use jiff::Timestamp;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The annotation naming where a pod came from (`file`).
pub const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// The annotation holding a static pod's hash.
pub const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// The annotation that marks a mirror pod, holding its static pod's hash.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// When the kubelet first saw the manifest.
pub const SEEN_ANNOTATION: &str = "kubernetes.io/config.seen";

/// One static pod read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticPod {
    /// Its identity on the node (a uid-shaped hash).
    pub hash: String,
    /// The mirror pod to keep in keel.
    pub mirror: Value,
}

/// The hash of a static pod: a uid-shaped digest of its manifest and node.
fn hash(manifest: &[u8], node: &str) -> String {
    let digest = Sha256::new()
        .chain_update(node.as_bytes())
        .chain_update([0])
        .chain_update(manifest)
        .finalize();
    let hex = crate::images::archive::hex(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The static pod a manifest's `text` makes on `node` (seen at `now`).
pub fn static_pod(
    text: &str,
    node: &str,
    node_uid: Option<&str>,
    now: Timestamp,
) -> Result<StaticPod, String> {
    let mut pod: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("not a pod manifest: {e}"))?;
    if pod.get("kind").and_then(Value::as_str) != Some("Pod") {
        return Err("the manifest is not of kind Pod".into());
    }
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("the manifest has no metadata.name")?
        .to_owned();
    let hash = hash(text.as_bytes(), node);
    let metadata = &mut pod["metadata"];
    metadata["name"] = format!("{name}-{node}").into();
    if metadata
        .get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        metadata["namespace"] = "default".into();
    }
    let annotations = &mut metadata["annotations"];
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations[SOURCE_ANNOTATION] = "file".into();
    annotations[HASH_ANNOTATION] = hash.clone().into();
    annotations[MIRROR_ANNOTATION] = hash.clone().into();
    annotations[SEEN_ANNOTATION] = now.to_string().into();
    if let Some(uid) = node_uid {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "Node", "name": node, "uid": uid, "controller": true,
        }]);
    }
    if let Some(object) = metadata.as_object_mut() {
        for generated in ["uid", "resourceVersion", "creationTimestamp"] {
            object.remove(generated);
        }
    }
    pod["spec"]["nodeName"] = node.into();
    if let Some(object) = pod.as_object_mut() {
        object.remove("status");
    }
    Ok(StaticPod { hash, mirror: pod })
}

/// Every static pod in `dir` (`*.yaml`, `*.yml`, `*.json`; others and
/// hidden files skipped). A manifest that cannot be read is logged and
/// skipped, as the kubelet does.
#[allow(
    clippy::disallowed_methods,
    reason = "the manifest directory is this source's input"
)]
pub fn read_dir(dir: &Path, node: &str, node_uid: Option<&str>, now: Timestamp) -> Vec<StaticPod> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.')
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let read = std::fs::read_to_string(&path).map_err(|e| e.to_string());
            match read.and_then(|text| static_pod(&text, node, node_uid, now)) {
                Ok(pod) => Some(pod),
                Err(error) => {
                    tracing::warn!(manifest = %path.display(), %error, "a static pod manifest was skipped");
                    None
                }
            }
        })
        .collect()
}

/// The static pod hash of a mirror pod, if `pod` is one.
pub fn mirror_hash(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - name: c\n    image: busybox\n";

    #[test]
    fn a_manifest_makes_a_mirror_of_the_node() {
        let now: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let pod = static_pod(MANIFEST, "n1", Some("node-uid"), now).unwrap();
        assert_eq!(pod.mirror["metadata"]["name"], "etcd-n1");
        assert_eq!(pod.mirror["metadata"]["namespace"], "kube-system");
        assert_eq!(pod.mirror["spec"]["nodeName"], "n1");
        assert_eq!(mirror_hash(&pod.mirror), Some(pod.hash.as_str()));
        assert_eq!(
            pod.mirror["metadata"]["annotations"][SOURCE_ANNOTATION],
            "file"
        );
        assert_eq!(pod.mirror["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(pod.hash.len(), 36);
        // The same manifest on the same node is the same pod; elsewhere or
        // changed, another.
        assert_eq!(
            static_pod(MANIFEST, "n1", None, now).unwrap().hash,
            pod.hash
        );
        assert_ne!(
            static_pod(MANIFEST, "n2", None, now).unwrap().hash,
            pod.hash
        );
        let changed = MANIFEST.replace("busybox", "busybox:1.37");
        assert_ne!(
            static_pod(&changed, "n1", None, now).unwrap().hash,
            pod.hash
        );
        let bare = MANIFEST.replace("  namespace: kube-system\n", "");
        assert_eq!(
            static_pod(&bare, "n1", None, now).unwrap().mirror["metadata"]["namespace"],
            "default"
        );
        assert!(static_pod("kind: Service\nmetadata: {name: x}\n", "n1", None, now).is_err());
        assert!(static_pod("kind: Pod\n", "n1", None, now).is_err());
    }

    #[test]
    fn the_directory_is_read_in_order_skipping_others() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::UNIX_EPOCH;
        std::fs::write(dir.path().join("b.yaml"), MANIFEST.replace("etcd", "b")).unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[]}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), MANIFEST).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "kind: [").unwrap();
        let pods = read_dir(dir.path(), "n", None, now);
        let names: Vec<&str> = pods
            .iter()
            .map(|p| p.mirror["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a-n", "b-n"]);
        assert!(read_dir(&dir.path().join("missing"), "n", None, now).is_empty());
    }
}

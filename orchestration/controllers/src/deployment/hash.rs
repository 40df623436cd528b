//! The pod-template-hash: the label that ties a ReplicaSet and its pods to
//! one version of a Deployment's pod template, and the suffix of the
//! ReplicaSet's name (`controller.ComputeHash` in
//! `pkg/controller/controller_utils.go`).
//!
//! ```text
//!   template JSON (keys sorted) ++ collisionCount (8 bytes, little-endian)
//!        ─► FNV-1a 32 ─► decimal digits ─► each digit mapped into
//!           "bcdfghjklmnpqrstvwxz2456789" (rand.SafeEncodeString)
//!        ─► e.g. "5d8f7c9b6"  (label-safe: no vowels, no 0/1/3)
//! ```
//!
//! Kubernetes hashes the template's Go struct as printed by `spew`; that
//! byte stream cannot be reproduced outside Go, so keel's hashes differ
//! from kube-controller-manager's for the same template. Nothing depends
//! on the exact value: ReplicaSets are matched to templates by comparing
//! the templates themselves (`equal_ignore_hash`), and the hash only needs
//! to be stable, to change with the template, and to change with the
//! collision count.

use serde_json::Value;

/// The characters of an encoded hash (`rand.SafeEncodeString`'s
/// alphabet: no vowels, so no words; no 0, 1, 3, to avoid confusion).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv1a(hash: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// Writes `value` as JSON with object keys sorted, whatever order the map
/// keeps them in, so the bytes depend on the content alone.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&fields[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The pod-template-hash of `template` with the Deployment's
/// `status.collisionCount` (a bump gives a new name after a collision).
pub fn pod_template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut canonical = String::new();
    write_canonical(template, &mut canonical);
    let mut hash = fnv1a(FNV_OFFSET_BASIS, canonical.as_bytes());
    if let Some(count) = collision_count {
        let mut bytes = [0_u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv1a(hash, &bytes);
    }
    hash.to_string()
        .bytes()
        .map(|digit| char::from(SAFE_ALPHABET[usize::from(digit) % SAFE_ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0x811c_9dc5);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn the_hash_is_stable_label_safe_and_moves_with_template_and_collisions() {
        let template = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}});
        let reordered = json!({"spec": {"containers": [{"image": "nginx:1", "name": "c"}]},
                               "metadata": {"labels": {"tier": "fe", "app": "web"}}});
        let hash = pod_template_hash(&template, None);
        assert_eq!(hash, pod_template_hash(&reordered, None));
        assert!(!hash.is_empty() && hash.len() <= 10);
        assert!(hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{hash}");
        let changed = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}},
                             "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}});
        assert_ne!(hash, pod_template_hash(&changed, None));
        assert_ne!(hash, pod_template_hash(&template, Some(1)));
        assert_ne!(
            pod_template_hash(&template, Some(1)),
            pod_template_hash(&template, Some(2))
        );
    }
}

//! Kubernetes' own serialization fixtures (k8s.io/api testdata/HEAD at
//! v0.33.0, see testdata/protobuf/README.md): each kind as Go's protobuf
//! encoder wrote it and as Go's JSON encoder wrote the same object. Every
//! field is set, so each decodes to exactly the JSON beside it.

#![allow(
    clippy::disallowed_methods,
    reason = "tests read their fixtures from disk"
)]

use std::path::PathBuf;

use serde_json::Value;

/// The fixtures: every kind keel serves that has one, plus the bodies of
/// subresources and deletes.
const FIXTURES: &[&str] = &[
    "core.v1.Binding",
    "core.v1.ConfigMap",
    "core.v1.DeleteOptions",
    "core.v1.Endpoints",
    "core.v1.Event",
    "core.v1.Namespace",
    "core.v1.Node",
    "core.v1.Pod",
    "core.v1.Secret",
    "core.v1.Service",
    "apps.v1.ControllerRevision",
    "apps.v1.Deployment",
    "batch.v1.Job",
    "coordination.k8s.io.v1.Lease",
    "autoscaling.v1.Scale",
    "policy.v1.Eviction",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/protobuf")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_fixture_decodes_to_the_json_go_wrote() {
    for name in FIXTURES {
        let body = fixture(&format!("{name}.pb"));
        let expected: Value = serde_json::from_slice(&fixture(&format!("{name}.json"))).unwrap();
        let decoded =
            keel_api::protobuf::decode(&body).unwrap_or_else(|error| panic!("{name}: {error}"));
        let differences = differences(&decoded, &expected, "");
        assert!(
            differences.is_empty(),
            "{name}:\n{}",
            differences.join("\n")
        );
    }
}

/// Where two JSON values differ, one line per JSON pointer.
fn differences(decoded: &Value, expected: &Value, path: &str) -> Vec<String> {
    match (decoded, expected) {
        (Value::Object(left), Value::Object(right)) => {
            let mut keys: Vec<&String> = left.keys().chain(right.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|key| {
                    let path = format!("{path}/{key}");
                    match (left.get(key), right.get(key)) {
                        (Some(l), Some(r)) => differences(l, r, &path),
                        (l, r) => vec![format!("{path}: decoded {l:?}, Go wrote {r:?}")],
                    }
                })
                .collect()
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => left
            .iter()
            .zip(right)
            .enumerate()
            .flat_map(|(index, (l, r))| differences(l, r, &format!("{path}/{index}")))
            .collect(),
        _ if decoded == expected => Vec::new(),
        _ => vec![format!("{path}: decoded {decoded}, Go wrote {expected}")],
    }
}

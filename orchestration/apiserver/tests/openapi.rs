//! The OpenAPI documents against the clients that read them: the raw
//! answers (v2 as gnostic's protobuf, the v3 root and its hashes), then
//! kubectl validating with them. kubectl 1.32 and 1.33 find the
//! `fieldValidation` parameter in v3 and ask the server to validate
//! (`fieldValidation=Strict`), so no `--validate=false` is needed; kubectl
//! 1.20 (Debian's `kubernetes-client`) downloads v2 as protobuf and
//! validates client-side, refusing an unknown field with its own message.
//! One keeld and one front per test (`common::Front`).

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time and write files"
)]

mod common;

use std::path::PathBuf;

use common::Front;
use keel_apiserver::openapi::protobuf::pb;
use keel_tests::binaries::{kubectl, kubectl_1_20};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// v2's protobuf media type as kubectl 1.20's client-go asks for it.
const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// A valid Deployment named `name`.
fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        ports:\n        - containerPort: 80\n        resources:\n          limits: {{cpu: 500m, memory: 128Mi}}\n"
    )
}

/// Runs `program` against `front` with `args` off the runtime's threads;
/// answers its stdout and stderr. It must succeed.
fn ok(front: &Front, program: PathBuf, args: &[&str]) -> (String, String) {
    let kubectl = front.kubectl(program);
    tokio::task::block_in_place(|| kubectl.ok_with_stderr(args))
}

/// Runs `program` against `front` with `args`; answers its stderr. It
/// must fail.
fn fails(front: &Front, program: PathBuf, args: &[&str]) -> String {
    let kubectl = front.kubectl(program);
    tokio::task::block_in_place(|| kubectl.fails(args))
}

/// One HTTP/1.1 GET of `path` with `accept`: status line, headers, body.
async fn get(front: &Front, path: &str, accept: &str) -> (String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(&front.address)
        .await
        .unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
        front.address
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    (head, answer[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_as_protobuf_decodes_into_a_document_with_every_kind() {
    let front = Front::start().await;
    let (head, body) = get(&front, "/openapi/v2", PROTOBUF_V2).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // kube-openapi answers the new spelling whichever one was asked for.
    assert!(
        head.to_lowercase()
            .contains("content-type: application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        "{head}"
    );
    let document = pb::Document::decode(body.as_slice()).unwrap();
    assert_eq!(document.swagger, "2.0");
    let definitions = document.definitions.unwrap().additional_properties;
    for resource in keel_api::RESOURCES {
        let name = definitions
            .iter()
            .find(|named| {
                named.value.as_ref().is_some_and(|schema| {
                    schema.vendor_extension.iter().any(|extension| {
                        extension.name == "x-kubernetes-group-version-kind"
                            && serde_json::from_str::<serde_json::Value>(
                                &extension.value.as_ref().unwrap().yaml,
                            )
                            .unwrap()
                                == serde_json::json!([{
                                    "group": resource.group,
                                    "kind": resource.kind,
                                    "version": resource.version,
                                }])
                    })
                })
            })
            .map(|named| named.name.as_str());
        assert!(name.is_some(), "no definition of {}", resource.kind);
    }
    assert!(definitions
        .iter()
        .any(|named| named.name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));

    // JSON by default, with the same ETag.
    let (json_head, json) = get(&front, "/openapi/v2", "*/*").await;
    assert!(
        json_head
            .to_lowercase()
            .contains("content-type: application/json"),
        "{json_head}"
    );
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["swagger"], "2.0");
    let etag = |head: &str| {
        head.lines()
            .find_map(|line| {
                line.to_lowercase()
                    .strip_prefix("etag: ")
                    .map(str::to_owned)
            })
            .unwrap()
    };
    assert_eq!(etag(&head), etag(&json_head));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_v3_root_lists_the_group_versions_at_their_hashes() {
    let front = Front::start().await;
    let (head, body) = get(&front, "/openapi/v3", "application/json").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let root: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let paths = root["paths"].as_object().unwrap();
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "api/v1",
            "apis/apps/v1",
            "apis/batch/v1",
            "apis/coordination.k8s.io/v1"
        ]
    );
    let url = paths["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let (head, body) = get(&front, url, "application/json").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("cache-control: public, immutable"),
        "{head}"
    );
    let apps: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    // A stale hash is sent to the current one.
    let (head, _) = get(
        &front,
        "/openapi/v3/apis/apps/v1?hash=0BSOLETE",
        "application/json",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 301"), "{head}");
    assert!(head.contains(url), "{head}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_applies_without_validate_false_and_asks_the_server_to_validate() {
    let front = Front::start().await;
    for minor in [32, 33] {
        let name = format!("web-{minor}");
        let manifest = front.manifest(&format!("{name}.yaml"), &deployment(&name));
        let (stdout, stderr) = ok(&front, kubectl(minor), &["apply", "-f", &manifest, "-v=6"]);
        assert_eq!(stdout, format!("deployment.apps/{name} created\n"));
        // kubectl found `fieldValidation` on the PATCH operation of
        // Deployment in /openapi/v3/apis/apps/v1, so it leaves validation
        // to the server instead of validating client-side.
        assert!(
            stderr
                .lines()
                .any(|line| line.contains("POST") && line.contains("fieldValidation=Strict")),
            "kubectl 1.{minor}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_explains_a_field_from_v3() {
    let front = Front::start().await;
    let (stdout, _) = ok(&front, kubectl(33), &["explain", "pods.spec.containers"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..2],
        ["KIND:       Pod", "VERSION:    v1"],
        "{stdout}"
    );
    assert!(
        lines.contains(&"FIELD: containers <[]Container>"),
        "{stdout}"
    );
    // Container's own fields, with their types.
    assert!(
        lines.iter().any(|line| line.trim() == "image\t<string>"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_1_20_validates_client_side_with_v2_protobuf() {
    let front = Front::start().await;
    let manifest = front.manifest("good.yaml", &deployment("good"));
    let (stdout, _) = ok(&front, kubectl_1_20(), &["create", "-f", &manifest]);
    assert_eq!(stdout, "deployment.apps/good created\n");

    let bad = front.manifest(
        "bad.yaml",
        &deployment("bad").replace("replicas: 2", "replica: 3"),
    );
    let stderr = fails(&front, kubectl_1_20(), &["create", "-f", &bad]);
    assert_eq!(
        stderr,
        format!(
            "error: error validating \"{bad}\": error validating data: ValidationError(Deployment.spec): unknown field \"replica\" in io.k8s.api.apps.v1.DeploymentSpec; if you choose to ignore these errors, turn validation off with --validate=false\n"
        )
    );
    // Refused before any request: the object does not exist.
    let stderr = fails(&front, kubectl_1_20(), &["get", "deployment", "bad"]);
    assert!(stderr.contains("\"bad\" not found"), "{stderr}");
}

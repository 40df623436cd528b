//! The OpenAPI documents against the clients that read them: the raw
//! answers (v2 as gnostic's protobuf, the v3 root and its hashes), then
//! kubectl validating with them. kubectl 1.32 and 1.33 find the
//! `fieldValidation` parameter in v3 and ask the server to validate
//! (`fieldValidation=Strict`), so no `--validate=false` is needed; kubectl
//! 1.20 (Debian's `kubernetes-client`) downloads v2 as protobuf and
//! validates client-side, refusing an unknown field with its own message.
//! One keeld and one front per test, as in `kubectl.rs`.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time, write files and unpack kubectl 1.20"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keel_apiserver::openapi::protobuf::pb;
use keel_client::{Client, ClientOptions};
use keel_runtime::Store;
use keel_tests::binaries::kubectl;
use keel_tests::{Flavor, Server};
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

/// kubectl 1.20, unpacked from Debian's `kubernetes-client` into
/// `$HOME/.cache/keel-tools/kubectl-1.20/` on first use (apt-get download +
/// dpkg -x; no install, nothing outside that directory changes).
fn kubectl_1_20() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let root = Path::new(&home).join(".cache/keel-tools/kubectl-1.20");
    let binary = root.join("usr/bin/kubectl");
    if binary.is_file() {
        return binary;
    }
    let download = tempfile::tempdir().unwrap();
    let status = Command::new("apt-get")
        .args(["download", "kubernetes-client"])
        .current_dir(download.path())
        .status()
        .expect("apt-get runs");
    assert!(
        status.success(),
        "apt-get download kubernetes-client failed"
    );
    let package = std::fs::read_dir(download.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .expect("a downloaded .deb");
    std::fs::create_dir_all(&root).unwrap();
    let status = Command::new("dpkg")
        .arg("-x")
        .arg(&package)
        .arg(&root)
        .status()
        .expect("dpkg runs");
    assert!(status.success(), "dpkg -x {} failed", package.display());
    assert!(binary.is_file(), "no kubectl in {}", package.display());
    binary
}

struct Front {
    address: String,
    dir: tempfile::TempDir,
    _keeld: Server,
}

impl Front {
    async fn start() -> Self {
        let keeld = Server::start(Flavor::Keeld);
        let client = Client::connect([keeld.client_url()], ClientOptions::new())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(keel_apiserver::serve(listener, Store::new(client)));
        Self {
            address,
            dir: tempfile::tempdir().unwrap(),
            _keeld: keeld,
        }
    }

    /// Writes `text` to a manifest file; answers its path.
    fn manifest(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Runs `program` (a kubectl) against the front, with a home of its own
    /// per version (kubectl caches discovery and OpenAPI there).
    async fn run(&self, program: PathBuf, args: &[&str]) -> Output {
        let home = self
            .dir
            .path()
            .join(program.to_string_lossy().replace('/', "_"));
        let mut command = Command::new(program);
        command
            .arg(format!("--server=http://{}", self.address))
            .args(args)
            .env("KUBECONFIG", "/dev/null")
            .env("HOME", home);
        tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap()
    }

    /// kubectl's stdout and stderr; its run must succeed.
    async fn ok(&self, program: PathBuf, args: &[&str]) -> (String, String) {
        let output = self.run(program.clone(), args).await;
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            output.status.success(),
            "{} {args:?}: {stderr}",
            program.display()
        );
        (String::from_utf8(output.stdout).unwrap(), stderr)
    }

    /// kubectl's stderr; its run must fail.
    async fn fails(&self, program: PathBuf, args: &[&str]) -> String {
        let output = self.run(program.clone(), args).await;
        assert!(
            !output.status.success(),
            "{} {args:?} succeeded",
            program.display()
        );
        String::from_utf8(output.stderr).unwrap()
    }

    /// One HTTP/1.1 GET of `path` with `accept`: status line, headers, body.
    async fn get(&self, path: &str, accept: &str) -> (String, Vec<u8>) {
        let mut stream = tokio::net::TcpStream::connect(&self.address).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
            self.address
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
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_as_protobuf_decodes_into_a_document_with_every_kind() {
    let front = Front::start().await;
    let (head, body) = front.get("/openapi/v2", PROTOBUF_V2).await;
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
    let (json_head, json) = front.get("/openapi/v2", "*/*").await;
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
    let (head, body) = front.get("/openapi/v3", "application/json").await;
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
    let (head, body) = front.get(url, "application/json").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("cache-control: public, immutable"),
        "{head}"
    );
    let apps: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    // A stale hash is sent to the current one.
    let (head, _) = front
        .get("/openapi/v3/apis/apps/v1?hash=0BSOLETE", "application/json")
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
        let (stdout, stderr) = front
            .ok(kubectl(minor), &["apply", "-f", &manifest, "-v=6"])
            .await;
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
    let (stdout, _) = front
        .ok(kubectl(33), &["explain", "pods.spec.containers"])
        .await;
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
    let (stdout, _) = front.ok(kubectl_1_20(), &["create", "-f", &manifest]).await;
    assert_eq!(stdout, "deployment.apps/good created\n");

    let bad = front.manifest(
        "bad.yaml",
        &deployment("bad").replace("replicas: 2", "replica: 3"),
    );
    let stderr = front.fails(kubectl_1_20(), &["create", "-f", &bad]).await;
    assert_eq!(
        stderr,
        format!(
            "error: error validating \"{bad}\": error validating data: ValidationError(Deployment.spec): unknown field \"replica\" in io.k8s.api.apps.v1.DeploymentSpec; if you choose to ignore these errors, turn validation off with --validate=false\n"
        )
    );
    // Refused before any request: the object does not exist.
    let stderr = front
        .fails(kubectl_1_20(), &["get", "deployment", "bad"])
        .await;
    assert!(stderr.contains("\"bad\" not found"), "{stderr}");
}

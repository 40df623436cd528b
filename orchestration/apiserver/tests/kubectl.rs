//! kubectl against the HTTP front, with the versioned kubectl binaries of
//! this machine (`/usr/lib/google-cloud-sdk/bin/kubectl.1.NN`): it finds
//! the server's version and every kind keel serves under Kubernetes' names,
//! and creates, reads, replaces and deletes objects; one keeld and one
//! front per test. The expected lines are
//! kubectl's own (its `<kind>/<name> created` and `Error from server
//! (<Reason>): ...` forms) around Kubernetes' messages.
//!
//! Validation needs the OpenAPI documents, which the front does not serve
//! yet, so these run with `--validate=false`.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time and write files"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keel_client::{Client, ClientOptions};
use keel_runtime::Store;
use keel_tests::binaries::kubectl;
use keel_tests::{Flavor, Server};

struct Front {
    url: String,
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
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(keel_apiserver::serve(listener, Store::new(client)));
        Self {
            url,
            dir: tempfile::tempdir().unwrap(),
            _keeld: keeld,
        }
    }

    /// Writes `text` to a manifest file; answers its path.
    fn manifest(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    async fn kubectl(&self, minor: u32, args: &[&str]) -> Output {
        let mut command = Command::new(kubectl(minor));
        command
            .arg(format!("--server={}", self.url))
            .args(args)
            .env("KUBECONFIG", "/dev/null")
            .env("HOME", self.dir.path());
        tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap()
    }

    /// kubectl's stdout; its run must succeed.
    async fn ok(&self, minor: u32, args: &[&str]) -> String {
        let output = self.kubectl(minor, args).await;
        assert!(
            output.status.success(),
            "kubectl 1.{minor} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// kubectl's stderr; its run must fail.
    async fn fails(&self, minor: u32, args: &[&str]) -> String {
        let output = self.kubectl(minor, args).await;
        assert!(
            !output.status.success(),
            "kubectl 1.{minor} {args:?} succeeded"
        );
        String::from_utf8(output.stderr).unwrap()
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_replace_delete() {
    let front = Front::start().await;
    for minor in [32, 33] {
        let name = format!("app-{minor}");
        let map = front.manifest(
            "cm.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"),
        );
        let create = ["create", "--validate=false", "-f", path(&map)];
        assert_eq!(
            front.ok(minor, &create).await,
            format!("configmap/{name} created\n")
        );
        assert_eq!(
            front.fails(minor, &create).await,
            format!(
                "Error from server (AlreadyExists): error when creating \"{}\": configmaps \"{name}\" already exists\n",
                map.display()
            )
        );

        let json: serde_json::Value = serde_json::from_str(
            &front
                .ok(minor, &["get", "configmap", &name, "-o", "json"])
                .await,
        )
        .unwrap();
        assert_eq!(json["kind"], "ConfigMap");
        assert_eq!(json["data"]["k"], "v");
        assert_eq!(json["metadata"]["namespace"], "default");
        let version = json["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(json["metadata"]["uid"].is_string());

        // Replace at the version read, then again at that (now stale) one.
        let mut changed = json.clone();
        changed["data"]["k"] = "w".into();
        let replace = front.manifest("replace.json", &changed.to_string());
        let args = ["replace", "--validate=false", "-f", path(&replace)];
        assert_eq!(
            front.ok(minor, &args).await,
            format!("configmap/{name} replaced\n")
        );
        assert_eq!(
            front.fails(minor, &args).await,
            format!(
                "Error from server (Conflict): error when replacing \"{}\": Operation cannot be fulfilled on configmaps \"{name}\": the object has been modified; please apply your changes to the latest version and try again\n",
                replace.display()
            )
        );
        let read = front
            .ok(
                minor,
                &[
                    "get",
                    "cm",
                    &name,
                    "-o",
                    "jsonpath={.data.k} {.metadata.resourceVersion}",
                ],
            )
            .await;
        let (value, newer) = read.split_once(' ').unwrap();
        assert_eq!(value, "w");
        assert!(newer.parse::<i64>().unwrap() > version.parse::<i64>().unwrap());

        let listed = front
            .ok(minor, &["get", "configmaps", "-A", "-o", "name"])
            .await;
        assert!(
            listed
                .lines()
                .any(|line| line == format!("configmap/{name}")),
            "{listed}"
        );

        assert_eq!(
            front.ok(minor, &["delete", "configmap", &name]).await,
            format!("configmap \"{name}\" deleted\n")
        );
        assert_eq!(
            front.fails(minor, &["get", "configmap", &name]).await,
            format!("Error from server (NotFound): configmaps \"{name}\" not found\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_reads_back_defaulted() {
    let front = Front::start().await;
    let manifest = front.manifest(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n",
    );
    assert_eq!(
        front
            .ok(33, &["create", "--validate=false", "-f", path(&manifest)])
            .await,
        "deployment.apps/web created\n"
    );
    let json: serde_json::Value = serde_json::from_str(
        &front
            .ok(33, &["get", "deployment", "web", "-o", "json"])
            .await,
    )
    .unwrap();
    // Kubernetes' defaults (pkg/apis/apps/v1/defaults.go, core/v1).
    let spec = &json["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(container["imagePullPolicy"], "Always");
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(json["metadata"]["generation"], 1);
    assert_eq!(
        front.fails(33, &["get", "deployment", "nope"]).await,
        "Error from server (NotFound): deployments.apps \"nope\" not found\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_reads_the_version_and_every_kind() {
    let front = Front::start().await;
    for minor in [32, 33] {
        let version: serde_json::Value =
            serde_json::from_str(&front.ok(minor, &["version", "-o", "json"]).await).unwrap();
        assert_eq!(version["serverVersion"]["major"], "1");
        assert_eq!(version["serverVersion"]["minor"], "33");

        // `-o name` prints each kind as <plural>[.<group>], Kubernetes'
        // names for them.
        let names = front.ok(minor, &["api-resources", "-o", "name"]).await;
        let mut names: Vec<&str> = names.lines().collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "configmaps",
                "controllerrevisions.apps",
                "daemonsets.apps",
                "deployments.apps",
                "endpoints",
                "events",
                "jobs.batch",
                "leases.coordination.k8s.io",
                "namespaces",
                "nodes",
                "pods",
                "replicasets.apps",
                "secrets",
                "services",
            ]
        );
        // The table's columns: NAME SHORTNAMES APIVERSION NAMESPACED KIND.
        let table = front.ok(minor, &["api-resources", "--no-headers"]).await;
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|line| line.split_whitespace().collect())
            .collect();
        for expected in [
            &["pods", "po", "v1", "true", "Pod"][..],
            &["nodes", "no", "v1", "false", "Node"],
            &["services", "svc", "v1", "true", "Service"],
            &["deployments", "deploy", "apps/v1", "true", "Deployment"],
            &["jobs", "batch/v1", "true", "Job"],
            &["leases", "coordination.k8s.io/v1", "true", "Lease"],
        ] {
            assert!(
                rows.iter().any(|row| row == expected),
                "kubectl 1.{minor}: no row {expected:?} in\n{table}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_path_is_a_kubernetes_not_found() {
    let front = Front::start().await;
    let stderr = front
        .fails(33, &["get", "--raw", "/apis/example.com/v1"])
        .await;
    assert!(
        stderr.contains("the server could not find the requested resource"),
        "{stderr}"
    );
}

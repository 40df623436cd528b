//! `kubectl logs` and `kubectl exec` (kubectl 1.33, WebSocket v5) through
//! keel's front to the kubelet's endpoint and real containers: the front
//! finds the pod's node, its InternalIP and kubelet port, streams the
//! logs and relays the exec upgrade. Root only; keeld from `KEELD_BIN`
//! or beside the test executable (keel-tests' binaries).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests of real containers and processes: real files and time; a panic is the failure report"
)]

mod server_support;
mod support;

use std::time::Duration;

use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources;
use keel_client::{Client, ClientOptions};
use keel_kubelet::runtime::ContainerRuntime;
use keel_runtime::Store;
use keel_tests::kube::Kubectl;
use keel_tests::{Flavor, Server};
use serde_json::json;
use server_support::{unique, Fixture, PATIENCE};

/// keeld, the front on it, and a Node whose kubelet is the fixture's
/// endpoint.
struct Cluster {
    store: Store,
    /// The front's `host:port`.
    front: String,
    kubectl: Kubectl,
    node: String,
    scratch: tempfile::TempDir,
    _keeld: Server,
}

impl Cluster {
    async fn start(fixture: &Fixture) -> Self {
        let keeld = Server::start(Flavor::Keeld);
        let client = Client::connect([keeld.client_url()], ClientOptions::new())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = listener.local_addr().unwrap().to_string();
        tokio::spawn(keel_apiserver::serve(listener, Store::new(client.clone())));
        let store = Store::new(client);
        let node = unique("node");
        let port: u16 = fixture.address.rsplit(':').next().unwrap().parse().unwrap();
        store
            .create(
                resources::of::<Node>(),
                "",
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}),
            )
            .await
            .unwrap();
        store
            .update_status(
                resources::of::<Node>(),
                "",
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}, "status": {
                    "addresses": [
                        {"type": "Hostname", "address": "localhost"},
                        {"type": "InternalIP", "address": "127.0.0.1"},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                }}),
            )
            .await
            .unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let kubectl = Kubectl::new(
            keel_tests::binaries::kubectl(33),
            &[
                "--kubeconfig=/dev/null".to_owned(),
                format!("--server=http://{front}"),
            ],
            scratch.path(),
        );
        Self {
            store,
            front,
            kubectl,
            node,
            scratch,
            _keeld: keeld,
        }
    }

    /// Creates pod `name` bound to the node with `containers`; answers its uid.
    async fn pod(&self, name: &str, containers: &[&str]) -> String {
        let containers: Vec<_> = containers
            .iter()
            .map(|container| json!({"name": container, "image": "busybox"}))
            .collect();
        let pod = self
            .store
            .create(
                resources::of::<Pod>(),
                "default",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"nodeName": self.node, "containers": containers}}),
            )
            .await
            .unwrap();
        pod["metadata"]["uid"].as_str().unwrap().to_owned()
    }

    /// `kubectl exec -i <pod> -- <argv>` fed `input`: its exit code and
    /// stdout.
    async fn exec_with_input(
        &self,
        pod: &str,
        argv: &[&str],
        input: &str,
    ) -> (Option<i32>, String) {
        use std::io::Write;
        let mut command = std::process::Command::new(keel_tests::binaries::kubectl(33));
        command
            .arg("--kubeconfig=/dev/null")
            .arg(format!("--server=http://{}", self.front))
            .args(["exec", "-i", pod, "--"])
            .args(argv)
            .env("HOME", self.scratch.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let input = input.to_owned();
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("kubectl runs");
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.as_bytes()).unwrap();
            // kubectl's stdin ends: it closes the stream (v5 channel 255).
            drop(stdin);
            child.wait_with_output().unwrap()
        });
        let output = tokio::time::timeout(PATIENCE, output)
            .await
            .expect("kubectl ends")
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    /// `GET path` on the front, read until `text` has come (the answer
    /// still open); answers the response's head.
    async fn follow_until(&self, path: &str, text: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.front).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: front\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut read = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&read).contains(text) {
            let count = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
                .await
                .expect("the text comes")
                .unwrap();
            let so_far = String::from_utf8_lossy(&read).into_owned();
            assert!(count > 0, "the answer ended early: {so_far:?}");
            read.extend_from_slice(&buffer[..count]);
        }
        let read = String::from_utf8_lossy(&read).into_owned();
        read.split_once("\r\n\r\n").unwrap().0.to_owned()
    }

    /// kubectl with `args`: its exit code, stdout and stderr.
    async fn kubectl(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let kubectl = self.kubectl.clone();
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let output = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl.run(&args)
        });
        let output = tokio::time::timeout(PATIENCE, output)
            .await
            .expect("kubectl ends")
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_and_exec_through_the_front() {
    let fixture = Fixture::new().await;
    let cluster = Cluster::start(&fixture).await;
    let uid = cluster.pod("web", &["main"]).await;
    let spec = fixture
        .start(
            "web",
            &uid,
            0,
            &["sh", "-c", "echo one; echo two; sleep 100"],
        )
        .await;
    // The container has written both lines.
    let deadline = std::time::Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&spec.log_path).is_ok_and(|log| log.contains(" two")) {
        assert!(std::time::Instant::now() < deadline, "the container logs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(
        cluster.kubectl(&["logs", "web"]).await,
        (Some(0), "one\ntwo\n".to_owned(), String::new())
    );
    let (code, out, _) = cluster
        .kubectl(&["logs", "pod/web", "--tail=1", "--timestamps"])
        .await;
    assert_eq!(code, Some(0));
    assert!(
        out.ends_with("Z two\n") && out.lines().count() == 1,
        "{out:?}"
    );
    let (code, _, err) = cluster.kubectl(&["logs", "web", "-c", "nope"]).await;
    assert_eq!(code, Some(1));
    assert!(
        // kubectl checks the name itself before it asks.
        err.contains("container nope is not valid for pod web"),
        "{err}"
    );
    let (code, _, err) = cluster.kubectl(&["logs", "web", "--previous"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("previous terminated container \"main\" in pod \"web\" not found"),
        "{err}"
    );

    // Followed through the front, the lines come while the container
    // runs: chunked text, as kube-apiserver streams it.
    let head = cluster
        .follow_until(
            "/api/v1/namespaces/default/pods/web/log?follow=true",
            "one\ntwo\n",
        )
        .await
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");

    assert_eq!(
        cluster.kubectl(&["exec", "web", "--", "echo", "hi"]).await,
        (Some(0), "hi\n".to_owned(), String::new())
    );
    let (code, out, err) = cluster
        .kubectl(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .await;
    assert_eq!((code, out.as_str()), (Some(3), "out\n"), "{err}");
    assert!(err.starts_with("err\n"), "{err}");
    assert_eq!(
        cluster
            .exec_with_input("web", &["cat"], "from kubectl\n")
            .await,
        (Some(0), "from kubectl\n".to_owned())
    );

    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_follow_ends_with_the_container() {
    let fixture = Fixture::new().await;
    let cluster = Cluster::start(&fixture).await;
    let uid = cluster.pod("job", &["main"]).await;
    let spec = fixture
        .start(
            "job",
            &uid,
            0,
            &["sh", "-c", "echo a; sleep 1; echo b; sleep 1; echo c"],
        )
        .await;
    assert_eq!(
        cluster.kubectl(&["logs", "-f", "job"]).await,
        (Some(0), "a\nb\nc\n".to_owned(), String::new())
    );
    fixture.runtime.wait(&spec.id).await.unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_refuses_as_kube_apiserver() {
    let fixture = Fixture::new().await;
    let cluster = Cluster::start(&fixture).await;
    cluster.pod("pair", &["a", "b"]).await;
    // kubectl picks the first of several containers itself; the kubelet
    // has no run of it yet.
    let (code, _, err) = cluster.kubectl(&["logs", "pair"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("container \"a\" in pod \"pair\" is waiting to start: ContainerCreating"),
        "{err}"
    );
    // No run of it to exec in: the kubelet's answer, through kubectl's
    // WebSocket attempt and its SPDY retry.
    let (code, _, err) = cluster
        .kubectl(&["exec", "pair", "-c", "b", "--", "true"])
        .await;
    assert_eq!(code, Some(1));
    assert!(err.contains("pod does not exist"), "{err}");
    // Asked without a container, the front answers as kube-apiserver.
    let (code, _, err) = cluster
        .kubectl(&["get", "--raw", "/api/v1/namespaces/default/pods/pair/log"])
        .await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("a container name must be specified for pod pair, choose one of: [a b]"),
        "{err}"
    );
    // A pod on no node: kubectl exec is refused.
    cluster
        .store
        .create(
            resources::of::<Pod>(),
            "default",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending"},
                   "spec": {"containers": [{"name": "main", "image": "busybox"}]}}),
        )
        .await
        .unwrap();
    let (code, _, err) = cluster.kubectl(&["exec", "pending", "--", "true"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("pod pending does not have a host assigned"),
        "{err}"
    );
}

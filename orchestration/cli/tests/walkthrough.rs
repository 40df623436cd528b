//! The README's Quick start walkthrough, as written: the same manifest
//! (`docs/examples/web.yaml`) and the same kubectl commands (each must
//! appear word for word in README.md), against one `keel up` with its
//! kubelet (real containers: root) and the busybox image under the two
//! tags `scripts/up.sh` imports, with kubectl 1.33.
//!
//! ```text
//!   busybox-image.sh busybox:1.36 busybox:1.37 ─► keel image import
//!   keel up --kubelet=true ◄── README's kubectl commands, one by one,
//!                              each step's effect checked with -o json
//! ```
//!
//! The effects, from Kubernetes' documented behaviour (kubectl's
//! `rollout status` ends once updatedReplicas = replicas = available;
//! `rollout undo` brings the previous revision's template back; deleting
//! a Deployment collects its ReplicaSets and pods): the node is Ready;
//! the Deployment's two pods are Running and Ready on it, behind the
//! Service's Endpoints; `logs` shows httpd's request log; `exec` runs
//! wget in a pod against its own httpd; `scale` makes three Ready pods;
//! `set image` rolls every pod to busybox:1.37; `undo` rolls them back
//! to busybox:1.36; `delete` removes the objects and stops the pods.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time and read the README"
)]

mod common;

use std::path::{Path, PathBuf};

use common::node::{busybox_images, NodeGuard};
use common::{condition, eventually, items, object, text};
use keel_tests::binaries::kubectl;
use keel_tests::kube::{KeelUp, Kubectl};
use serde_json::Value;

/// The manifest the README applies, relative to the repository.
const MANIFEST: &str = "docs/examples/web.yaml";

/// The repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's kubectl commands, checked to be there word for word.
struct Walkthrough {
    kubectl: Kubectl,
    readme: String,
}

impl Walkthrough {
    /// Runs `command` (a line of the README, `kubectl ...`); answers its
    /// stdout.
    #[track_caller]
    fn run(&self, command: &str) -> String {
        assert!(
            self.readme.contains(command),
            "README.md does not show `{command}`"
        );
        let manifest = repository().join(MANIFEST);
        let manifest = manifest.to_str().unwrap();
        let args: Vec<&str> = command
            .strip_prefix("kubectl ")
            .unwrap()
            .split_whitespace()
            .map(|arg| if arg == MANIFEST { manifest } else { arg })
            .collect();
        self.kubectl.ok(&args)
    }
}

/// The pods of the Deployment that are not being deleted.
fn live_pods(kubectl: &Kubectl) -> Vec<Value> {
    items(kubectl, &["pods", "-l", "app=web"])
        .into_iter()
        .filter(|pod| !common::is_terminating(pod))
        .collect()
}

/// Every live pod of the Deployment runs `image` and is Ready on `node`;
/// answers how many there are.
fn assert_pods(kubectl: &Kubectl, image: &str, node: &str) -> usize {
    let pods = live_pods(kubectl);
    for pod in &pods {
        let name = text(pod, "/metadata/name");
        assert_eq!(text(pod, "/spec/containers/0/image"), image, "{name}");
        assert_eq!(
            text(pod, "/status/containerStatuses/0/image"),
            image,
            "{name}"
        );
        assert_eq!(text(pod, "/status/phase"), "Running", "{name}");
        assert_eq!(condition(pod, "Ready"), "True", "{name}");
        assert_eq!(text(pod, "/spec/nodeName"), node, "{name}");
    }
    pods.len()
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeGuard::new();
    // What scripts/up.sh imports: one busybox under two tags.
    let images = busybox_images(dir.path(), &["busybox:1.36", "busybox:1.37"]);
    let flags = node.kubelet_flags(&images, &dir.path().join("kubelet"));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let up = KeelUp::start_with(&dir.path().join("keel"), &flags);
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    assert!(
        readme.contains("scripts/up.sh"),
        "the README starts keel up"
    );
    let walk = Walkthrough {
        kubectl: Kubectl::for_keel_up(kubectl(33), &up, dir.path()),
        readme,
    };
    let kubectl = &walk.kubectl;
    let name = node.name.as_str();

    // `keel up` says it is up once its node is Ready.
    let nodes = walk.run("kubectl get nodes");
    assert!(
        nodes
            .lines()
            .any(|l| l.split_whitespace().take(2).eq([name, "Ready"])),
        "{nodes}"
    );

    walk.run("kubectl apply -f docs/examples/web.yaml");
    walk.run("kubectl rollout status deployment/web --timeout=60s");
    assert_eq!(assert_pods(kubectl, "busybox:1.36", name), 2);
    let wide = walk.run("kubectl get pods -o wide");
    let running: Vec<&str> = wide
        .lines()
        .filter(|l| l.starts_with("web-") && l.contains(" 1/1 ") && l.contains(" Running "))
        .collect();
    assert_eq!(running.len(), 2, "{wide}");
    assert!(running.iter().all(|l| l.contains(name)), "{wide}");
    // The Service's Endpoints list both pods' IPs.
    let ips: Vec<String> = live_pods(kubectl)
        .iter()
        .map(|pod| text(pod, "/status/podIP").to_owned())
        .collect();
    eventually("the Service's Endpoints", || {
        let endpoints = walk.run("kubectl get endpoints web");
        ips.iter()
            .all(|ip| endpoints.contains(&format!("{ip}:80")))
            .then_some(())
    });

    // httpd -v logs each request, the readiness probes' among them.
    let logs = eventually("httpd's request log", || {
        let logs = walk.run("kubectl logs deployment/web");
        logs.contains("response:200").then_some(logs)
    });
    assert!(!logs.trim().is_empty());
    let page = walk.run("kubectl exec deployment/web -- wget -qO- http://localhost/");
    assert!(page.contains("Hello from keel's busybox image"), "{page}");

    walk.run("kubectl scale deployment/web --replicas=3");
    walk.run("kubectl rollout status deployment/web --timeout=60s");
    assert_eq!(assert_pods(kubectl, "busybox:1.36", name), 3);

    walk.run("kubectl set image deployment/web httpd=busybox:1.37");
    walk.run("kubectl rollout status deployment/web --timeout=60s");
    let deployment = object(kubectl, "deployment", "web");
    assert_eq!(
        text(&deployment, "/spec/template/spec/containers/0/image"),
        "busybox:1.37"
    );
    assert_eq!(assert_pods(kubectl, "busybox:1.37", name), 3);
    let history = walk.run("kubectl rollout history deployment/web");
    assert!(
        history.lines().any(|l| l.starts_with("2 ")),
        "two revisions: {history}"
    );

    walk.run("kubectl rollout undo deployment/web");
    walk.run("kubectl rollout status deployment/web --timeout=60s");
    let deployment = object(kubectl, "deployment", "web");
    assert_eq!(
        text(&deployment, "/spec/template/spec/containers/0/image"),
        "busybox:1.36"
    );
    assert_eq!(assert_pods(kubectl, "busybox:1.36", name), 3);

    walk.run("kubectl delete -f docs/examples/web.yaml");
    eventually("the pods and ReplicaSets gone", || {
        (items(kubectl, &["pods"]).is_empty() && items(kubectl, &["replicasets"]).is_empty())
            .then_some(())
    });
    assert!(items(kubectl, &["deployments"]).is_empty());
    assert!(items(kubectl, &["services"])
        .iter()
        .all(|service| text(service, "/metadata/name") != "web"));
    node.assert_no_containers_left();
    up.stop();
}

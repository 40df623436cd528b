//! The whole orchestration half end to end, as a user drives it: one
//! `keel up` (keeld, the HTTP front, the scheduler and the controllers,
//! with short node timings), simulated nodes as `keel sim-nodes`
//! processes, and an unmodified kubectl 1.33.
//!
//! ```text
//!   keel up ◄── kubectl: cordon, apply, rollout status, drain, get
//!      ▲
//!      └── keel sim-nodes --prefix a --count 3    (runs to the end)
//!      └── keel sim-nodes --prefix b --count 1    (killed: heartbeats stop)
//! ```
//!
//! In order: a cordoned node gets no pod of a Deployment but its
//! DaemonSet pod; a node whose heartbeats stop goes Unknown, its pods are
//! evicted after their tolerationSeconds and replaced on other nodes;
//! `kubectl drain` evicts a node's pods (DaemonSet pods aside) and they
//! come back elsewhere; a pod that fits nowhere says why in a
//! FailedScheduling event worded as kube-scheduler words it.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests wait in real time")]

use std::time::{Duration, Instant};

use keel_tests::binaries::{keel, kubectl};
use keel_tests::kube::{write_manifest, KeelUp, Kubectl};
use keel_tests::Background;
use serde_json::Value;

/// How long anything the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(60);

const APPS: &str = r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      # Evicted 2 s after their node goes Unknown (300 s by default).
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 100m, memory: 64Mi}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: busybox:1.36
";

const BIG: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: big
    image: busybox:1.36
    resources:
      requests: {cpu: "100"}
"#;

/// `keel sim-nodes` against `up`: `count` nodes named `<prefix>-<i>`.
fn sim_nodes(up: &KeelUp, prefix: &str, count: usize) -> Background {
    let args = [
        "sim-nodes".to_owned(),
        format!("--endpoints={}", up.etcd_url),
        format!("--prefix={prefix}"),
        format!("--count={count}"),
        "--cpu=4".to_owned(),
        "--memory=16Gi".to_owned(),
        "--renew-interval=500ms".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Background::spawn_program(&keel(), &args)
}

/// Polls `check` every 200 ms until it answers `Some`.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The objects `kubectl get <args> -o json` lists.
fn items(kubectl: &Kubectl, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let list: Value = serde_json::from_str(&kubectl.ok(&all)).unwrap();
    list["items"].as_array().unwrap().clone()
}

fn text<'v>(object: &'v Value, pointer: &str) -> &'v str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn condition<'v>(object: &'v Value, kind: &str) -> &'v str {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .map_or("", |c| text(c, "/status"))
}

/// The nodes of the Deployment's running, Ready, not deleting pods, if
/// there are `count` of them.
fn web_nodes(kubectl: &Kubectl, count: usize) -> Option<Vec<String>> {
    let pods = items(kubectl, &["pods", "-l", "app=web"]);
    let serving: Vec<String> = pods
        .iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .filter(|p| condition(p, "Ready") == "True")
        .map(|p| text(p, "/spec/nodeName").to_owned())
        .collect();
    (serving.len() == count).then_some(serving)
}

#[test]
fn the_cluster_places_evicts_drains_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let up = KeelUp::start_with(
        &dir.path().join("keel"),
        &[
            "--node-monitor-grace-period=3s",
            "--node-monitor-period=500ms",
        ],
    );
    let kubectl = Kubectl::for_keel_up(kubectl(33), &up, dir.path());
    let _steady = sim_nodes(&up, "a", 3);
    let doomed = sim_nodes(&up, "b", 1);
    eventually("4 Ready nodes", || {
        let nodes = items(&kubectl, &["nodes"]);
        (nodes.len() == 4 && nodes.iter().all(|n| condition(n, "Ready") == "True")).then_some(())
    });

    // A cordoned node gets none of the Deployment's pods, but its
    // DaemonSet pod (daemon pods tolerate the unschedulable taint).
    assert_eq!(kubectl.ok(&["cordon", "a-0"]), "node/a-0 cordoned\n");
    let apps = write_manifest(dir.path(), "apps.yaml", APPS);
    kubectl.ok(&["apply", "-f", &apps]);
    kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    kubectl.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    let placed = eventually("6 web pods Ready", || web_nodes(&kubectl, 6));
    assert!(!placed.iter().any(|n| n == "a-0"), "{placed:?}");
    let agents = items(&kubectl, &["pods", "-l", "app=agent"]);
    let mut agent_nodes: Vec<&str> = agents.iter().map(|p| text(p, "/spec/nodeName")).collect();
    agent_nodes.sort_unstable();
    assert_eq!(agent_nodes, ["a-0", "a-1", "a-2", "b-0"]);

    // b-0's heartbeats stop: Unknown, tainted, its web pods evicted and
    // replaced on the others.
    drop(doomed.kill());
    eventually("b-0 to go Unknown", || {
        let node: Value =
            serde_json::from_str(&kubectl.ok(&["get", "node", "b-0", "-o", "json"])).unwrap();
        (condition(&node, "Ready") == "Unknown").then_some(())
    });
    let moved = eventually("6 web pods Ready, none on b-0", || {
        web_nodes(&kubectl, 6).filter(|nodes| !nodes.iter().any(|n| n == "b-0"))
    });
    assert!(!moved.iter().any(|n| n == "a-0"), "{moved:?}");

    // Drained, a-1 keeps only its DaemonSet pod.
    let drained = kubectl.ok(&["drain", "a-1", "--ignore-daemonsets", "--timeout=60s"]);
    assert!(drained.contains("node/a-1 drained"), "{drained}");
    let left = eventually("6 web pods Ready, all on a-2", || {
        web_nodes(&kubectl, 6).filter(|nodes| nodes.iter().all(|n| n == "a-2"))
    });
    assert_eq!(left.len(), 6);

    // Nothing fits 100 cpus: kube-scheduler's own words, reasons counted
    // over the nodes and sorted.
    let big = write_manifest(dir.path(), "big.yaml", BIG);
    kubectl.ok(&["apply", "-f", &big]);
    let message = eventually("a FailedScheduling event", || {
        let events = items(
            &kubectl,
            &["events", "--field-selector", "involvedObject.name=big"],
        );
        events
            .iter()
            .find(|e| e["reason"] == "FailedScheduling")
            .map(|e| text(e, "/message").to_owned())
    });
    assert_eq!(
        message,
        "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 node(s) were unschedulable."
    );
    let pod: Value =
        serde_json::from_str(&kubectl.ok(&["get", "pod", "big", "-o", "json"])).unwrap();
    assert_eq!(condition(&pod, "PodScheduled"), "False");

    assert_eq!(kubectl.ok(&["uncordon", "a-1"]), "node/a-1 uncordoned\n");
    up.stop();
}

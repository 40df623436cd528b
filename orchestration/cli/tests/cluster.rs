//! The whole orchestration half end to end, as a user drives it: one
//! `keel up` (keeld, the HTTP front, the scheduler and the controllers,
//! with short node timings), simulated nodes as `keel sim-nodes`
//! processes, and an unmodified kubectl 1.33.
//!
//! ```text
//!   keel up ◄── kubectl: cordon, apply, set image, rollout status/history/undo,
//!      ▲                 wait, delete node, drain, get, get --watch (the checker)
//!      └── keel sim-nodes --prefix a --count 3    (runs to the end)
//!      └── keel sim-nodes --prefix b --count 1    (killed: heartbeats stop)
//!      └── keel sim-nodes --prefix c --count 1    (comes, then goes)
//! ```
//!
//! In order: a cordoned node gets no pod of a Deployment but its
//! DaemonSet pod; the Deployment of 10 rolls to a new image and back
//! (`rollout undo`) while a checker follows every pod event through
//! `kubectl get --watch` and asserts that the available pods never drop
//! below `replicas - maxUnavailable` and the pods never exceed `replicas +
//! maxSurge`; `rollout history` lists the revisions; a Job runs to
//! completion; the DaemonSet follows a node that comes and goes; a node
//! whose heartbeats stop goes Unknown, its pods are evicted after their
//! tolerationSeconds and replaced on other nodes; `kubectl drain` evicts a
//! node's pods (DaemonSet pods aside) and they come back elsewhere; a pod
//! that fits nowhere says why in a FailedScheduling event worded as
//! kube-scheduler words it.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests wait in real time")]

mod common;

use common::{
    condition, eventually, is_terminating, items, object, sim_nodes, text, RolloutChecker,
    WatchEvents,
};
use keel_tests::binaries::kubectl;
use keel_tests::kube::{write_manifest, KeelUp, Kubectl};
use serde_json::Value;

/// The Deployment's replicas, and its 25 % / 25 % as Kubernetes rounds
/// them for 10: the surge up (3), the unavailable down (2).
const REPLICAS: usize = 10;
const MAX_SURGE: usize = 3;
const MAX_UNAVAILABLE: usize = 2;

const APPS: &str = r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 10
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
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

/// Pods that each succeed a second after they start (`keel sim-nodes`
/// reads the annotation), three of them, two at a time.
const JOB: &str = r"
apiVersion: batch/v1
kind: Job
metadata:
  name: batch
spec:
  completions: 3
  parallelism: 2
  template:
    metadata:
      annotations: {sim.keel.dev/duration: 1s}
    spec:
      restartPolicy: Never
      containers:
      - name: batch
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

/// The nodes of the Deployment's running, Ready, not deleting pods, if
/// there are `count` of them.
fn web_nodes(kubectl: &Kubectl, count: usize) -> Option<Vec<String>> {
    let pods = items(kubectl, &["pods", "-l", "app=web"]);
    let serving: Vec<String> = pods
        .iter()
        .filter(|p| !is_terminating(p))
        .filter(|p| condition(p, "Ready") == "True")
        .map(|p| text(p, "/spec/nodeName").to_owned())
        .collect();
    (serving.len() == count).then_some(serving)
}

/// Whether the Deployment's pods are all `image` and Ready, with none
/// left over from another template.
fn web_runs(kubectl: &Kubectl, image: &str) -> Option<()> {
    let pods = items(kubectl, &["pods", "-l", "app=web"]);
    let live: Vec<&Value> = pods.iter().filter(|p| !is_terminating(p)).collect();
    let settled = live.len() == REPLICAS
        && live.iter().all(|p| {
            condition(p, "Ready") == "True" && text(p, "/spec/containers/0/image") == image
        });
    settled.then_some(())
}

/// The revision numbers `kubectl rollout history` lists.
fn revisions(kubectl: &Kubectl) -> Vec<String> {
    let history = kubectl.ok(&["rollout", "history", "deployment/web"]);
    history
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| word.parse::<u32>().is_ok())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_cluster_places_rolls_evicts_drains_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let up = KeelUp::start_with(
        &dir.path().join("keel"),
        &[
            "--node-monitor-grace-period=3s",
            "--node-monitor-period=500ms",
            // A deleted node's pods go a second after it is found gone
            // (40 s by default).
            "--pod-gc-period=500ms",
            "--pod-gc-quarantine=1s",
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
    let placed = eventually("10 web pods Ready", || web_nodes(&kubectl, REPLICAS));
    assert!(!placed.iter().any(|n| n == "a-0"), "{placed:?}");
    let agents = items(&kubectl, &["pods", "-l", "app=agent"]);
    let mut agent_nodes: Vec<&str> = agents.iter().map(|p| text(p, "/spec/nodeName")).collect();
    agent_nodes.sort_unstable();
    assert_eq!(agent_nodes, ["a-0", "a-1", "a-2", "b-0"]);

    // A new image and back, under the checker: the watch's first events
    // are the pods as they are, all Ready; every event after them is
    // checked.
    let mut watch = WatchEvents::start(&kubectl, &["pods", "-l", "app=web"]);
    let mut checker = RolloutChecker::new(REPLICAS, MAX_SURGE, MAX_UNAVAILABLE);
    while checker.counts() != (REPLICAS, REPLICAS) {
        checker.apply(watch.expect());
    }
    let set = kubectl.ok(&["set", "image", "deployment/web", "web=nginx:1.28"]);
    assert_eq!(set, "deployment.apps/web image updated\n");
    let status = kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        status.ends_with("\"web\" successfully rolled out\n"),
        "{status}"
    );
    eventually("10 Ready pods of nginx:1.28", || {
        web_runs(&kubectl, "nginx:1.28")
    });
    assert_eq!(revisions(&kubectl), ["1", "2"]);
    let first = kubectl.ok(&["rollout", "history", "deployment/web", "--revision=1"]);
    assert!(first.contains("Image:\tnginx:1.27"), "{first}");

    let undo = kubectl.ok(&["rollout", "undo", "deployment/web"]);
    assert_eq!(undo, "deployment.apps/web rolled back\n");
    kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    eventually("10 Ready pods of nginx:1.27", || {
        web_runs(&kubectl, "nginx:1.27")
    });
    // Undo makes revision 1's template the next revision, 3.
    assert_eq!(revisions(&kubectl), ["2", "3"]);
    let web = object(&kubectl, "deployment", "web");
    assert_eq!(
        text(
            &web,
            "/metadata/annotations/deployment.kubernetes.io~1revision"
        ),
        "3"
    );
    for event in watch.ready() {
        checker.check(event);
    }
    drop(watch);
    assert!(checker.violations.is_empty(), "{:?}", checker.violations);
    // Two rollouts of 10 pods: each pod made, scheduled, running, Ready,
    // deleted and gone is well over 20 states.
    assert!(checker.states > 20, "the checker saw {}", checker.states);

    // A Job runs to completion, two pods at a time.
    let job = write_manifest(dir.path(), "job.yaml", JOB);
    kubectl.ok(&["apply", "-f", &job]);
    let waited = kubectl.ok(&[
        "wait",
        "--for=condition=complete",
        "job/batch",
        "--timeout=60s",
    ]);
    assert_eq!(waited, "job.batch/batch condition met\n");
    let batch = object(&kubectl, "job", "batch");
    assert_eq!(batch["status"]["succeeded"], 3, "{batch:#}");
    let succeeded = items(
        &kubectl,
        &[
            "pods",
            "-l",
            "job-name=batch",
            "--field-selector=status.phase=Succeeded",
        ],
    );
    assert_eq!(succeeded.len(), 3);

    // The DaemonSet follows a node that comes and goes.
    let late = sim_nodes(&up, "c", 1);
    eventually("an agent pod Ready on c-0", || {
        let on_c = items(
            &kubectl,
            &[
                "pods",
                "-l",
                "app=agent",
                "--field-selector=spec.nodeName=c-0",
            ],
        );
        on_c.iter()
            .any(|p| condition(p, "Ready") == "True")
            .then_some(())
    });
    drop(late.kill());
    kubectl.ok(&["delete", "node", "c-0"]);
    eventually("no agent pod on c-0", || {
        let agents = items(&kubectl, &["pods", "-l", "app=agent"]);
        let mut nodes: Vec<&str> = agents.iter().map(|p| text(p, "/spec/nodeName")).collect();
        nodes.sort_unstable();
        (nodes == ["a-0", "a-1", "a-2", "b-0"]).then_some(())
    });

    // b-0's heartbeats stop: Unknown, tainted, its web pods evicted and
    // replaced on the others.
    drop(doomed.kill());
    eventually("b-0 to go Unknown", || {
        (condition(&object(&kubectl, "node", "b-0"), "Ready") == "Unknown").then_some(())
    });
    let moved = eventually("10 web pods Ready, none on b-0", || {
        web_nodes(&kubectl, REPLICAS).filter(|nodes| !nodes.iter().any(|n| n == "b-0"))
    });
    assert!(!moved.iter().any(|n| n == "a-0"), "{moved:?}");

    // Drained, a-1 keeps only its DaemonSet pod.
    let drained = kubectl.ok(&["drain", "a-1", "--ignore-daemonsets", "--timeout=60s"]);
    assert!(drained.contains("node/a-1 drained"), "{drained}");
    let left = eventually("10 web pods Ready, all on a-2", || {
        web_nodes(&kubectl, REPLICAS).filter(|nodes| nodes.iter().all(|n| n == "a-2"))
    });
    assert_eq!(left.len(), REPLICAS);

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
    let pod = object(&kubectl, "pod", "big");
    assert_eq!(condition(&pod, "PodScheduled"), "False");

    assert_eq!(kubectl.ok(&["uncordon", "a-1"]), "node/a-1 uncordoned\n");
    up.stop();
}

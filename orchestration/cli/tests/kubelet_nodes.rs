//! Kubelets as nodes come and go: a kubelet killed with SIGKILL and
//! started again re-adopts its running containers instead of restarting
//! them, and started once more with a memory threshold above what the
//! machine has, evicts the BestEffort pod first; and two kubelets, the second on a machine of its own (a network
//! namespace), where stopping one makes its node NotReady and its pods
//! are recreated on the other once their tolerations run out. Real
//! containers (root), busybox from Debian's busybox-static, kubectl 1.33.
//!
//! ```text
//!   A: keel up --kubelet=false ◄── keel kubelet (SIGKILL, then again: same container, same pid;
//!                                  SIGKILL, then with --eviction-hard=memory.available<(free+4Gi))
//!   B: keel up --kubelet=true (node 1), client URL on the host's veth 10.250.x.1
//!        ▲
//!        └── nsenter --net=/run/netns/km<tag> keel up --join (node 2, 10.250.x.2)
//! ```
//!
//! What Kubernetes does here, from its sources: the kubelet's
//! `SyncPod` keeps a running container whose spec hash is unchanged, so a
//! restarted kubelet leaves it be (`pkg/kubelet/kuberuntime/
//! kuberuntime_manager.go`, `computePodActions`); the node lifecycle
//! controller sets a node whose Lease is older than
//! `--node-monitor-grace-period` to Ready=Unknown and taints it
//! `node.kubernetes.io/unreachable:NoExecute`, and the taint eviction
//! controller deletes the pods on it when their `tolerationSeconds` run
//! out (`pkg/controller/nodelifecycle`, `pkg/controller/tainteviction`);
//! the ReplicaSet controller counts a pod being deleted as gone and makes
//! a replacement (`controller.FilterActivePods`). Under memory pressure
//! the eviction manager ranks pods using more memory than they request
//! first (`pkg/kubelet/eviction/helpers.go`, `rankMemoryPressure`), evicts
//! one per housekeeping round, and fails it with reason `Evicted` and
//! "The node was low on resource: memory." (`eviction_manager.go`).

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests wait in real time")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::node::{busybox_images, Machine, NodeGuard};
use common::{condition, eventually, is_terminating, items, object, text};
use keel_tests::binaries::{keel, kubectl};
use keel_tests::kube::{write_manifest, KeelUp, Kubectl};
use keel_tests::{Background, Stream};
use serde_json::Value;

/// The pods of the memory-pressure eviction, by name, and the
/// `resources` that give each its QoS class.
const QOS: [(&str, &str); 3] = [
    ("best-effort", "{}"),
    ("burstable", "{requests: {memory: 16Mi}}"),
    ("guaranteed", "{limits: {cpu: 100m, memory: 64Mi}}"),
];

/// A `sleep` pod named `name` with `resources`.
fn sleeping_pod(name: &str, resources: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources: {resources}
"#
    )
}

/// Two replicas that tolerate a NotReady or unreachable node for 2 s
/// only (Kubernetes' default is 300 s, added by admission when absent).
const SPREAD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 2
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers:
      - name: main
        image: busybox:1.36
        command: ["sleep", "3600"]
"#;

/// The lease and monitoring timings both tests run with: a node is
/// declared lost 4 s after its last renewal.
const SHORT_NODE_TIMINGS: &[&str] = &["--node-renew-interval=1s", "--node-lease-duration-secs=4"];

/// `keel kubelet` with `flags` against `endpoint`.
fn kubelet(endpoint: &str, flags: &[String]) -> Background {
    let mut args = vec!["kubelet".to_owned(), format!("--endpoints={endpoint}")];
    args.extend_from_slice(flags);
    args.extend(SHORT_NODE_TIMINGS.iter().map(|&f| f.to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Background::spawn_program(&keel(), &args)
}

/// The status of the pod's only container.
fn container(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

/// Waits for `node` to be Ready.
fn node_ready(kubectl: &Kubectl, node: &str) {
    eventually(&format!("node {node} to be Ready"), || {
        let node = object(kubectl, "node", node);
        (condition(&node, "Ready") == "True").then_some(())
    });
}

/// The host pid of the container `container_id` (`keel://<id>`), from
/// the runtime's state under `runtime_dir`.
fn host_pid(runtime_dir: &Path, container_id: &str) -> u32 {
    let id = container_id.strip_prefix("keel://").unwrap();
    let state = std::fs::read_to_string(runtime_dir.join(id).join("state.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    u32::try_from(state["pid"].as_u64().unwrap()).unwrap()
}

/// The command line of process `pid`, or "" once it is gone.
fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw)
        .replace('\0', " ")
        .trim()
        .to_owned()
}

#[test]
fn a_restarted_kubelet_adopts_its_running_containers() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let guard = NodeGuard::new();
    let images = busybox_images(dir.path(), &["busybox:1.36"]);
    let cidr = format!("--cluster-cidr={}", guard.cluster_cidr);
    let up = KeelUp::start_with(&dir.path().join("up"), &[&cidr]);
    let kubectl = Kubectl::for_keel_up(kubectl(33), &up, dir.path());
    let kubelet_dir = dir.path().join("kubelet");
    let flags = guard.agent_flags(&images, &kubelet_dir);
    let first = kubelet(&up.etcd_url, &flags);
    node_ready(&kubectl, &guard.name);

    kubectl.ok(&[
        "apply",
        "-f",
        &write_manifest(dir.path(), "sleeper.yaml", &sleeping_pod("sleeper", "{}")),
    ]);
    let before = eventually("the sleeper to run", || {
        let pod = object(&kubectl, "pod", "sleeper");
        (text(&pod, "/status/phase") == "Running").then_some(pod)
    });
    let container_id = text(container(&before), "/containerID").to_owned();
    let started_at = text(container(&before), "/state/running/startedAt").to_owned();
    assert_eq!(container(&before)["restartCount"], 0);
    assert!(!started_at.is_empty(), "{before}");
    let pid = host_pid(&kubelet_dir.join("run"), &container_id);
    assert_eq!(cmdline(pid), "sleep 3600");
    assert!(
        guard.processes().contains(&pid),
        "{pid} not in the pod's cgroup"
    );

    // SIGKILL: the kubelet stops nothing; the container keeps running.
    drop(first.kill());
    assert_eq!(cmdline(pid), "sleep 3600");
    let mut second = kubelet(&up.etcd_url, &flags);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !second
        .received(Stream::Stderr)
        .contains("adopting a container")
    {
        assert!(Instant::now() < deadline, "nothing adopted\n{second}");
        assert!(second.is_running(), "{second}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // It answers for the pod again: exec reaches the same container...
    let argv = kubectl.ok(&["exec", "sleeper", "--", "cat", "/proc/1/cmdline"]);
    assert_eq!(argv.replace('\0', " ").trim(), "sleep 3600");
    // ...whose status is unchanged, and whose process is the same.
    let after = object(&kubectl, "pod", "sleeper");
    assert_eq!(text(&after, "/status/phase"), "Running");
    assert_eq!(text(container(&after), "/containerID"), container_id);
    assert_eq!(
        text(container(&after), "/state/running/startedAt"),
        started_at
    );
    assert_eq!(container(&after)["restartCount"], 0);
    assert_eq!(condition(&after, "Ready"), "True");
    assert_eq!(cmdline(pid), "sleep 3600");

    // ...and it stops it when the pod is deleted.
    kubectl.ok(&["delete", "pod", "sleeper", "--wait=true", "--timeout=30s"]);
    eventually("the sleeper's process to end", || {
        cmdline(pid).is_empty().then_some(())
    });
    guard.assert_no_containers_left();
    assert!(second.is_running(), "{second}");

    // Memory pressure: a pod of each QoS class runs; the kubelet,
    // started again with a `memory.available` threshold 4Gi above what
    // the machine has, reports MemoryPressure and evicts the BestEffort
    // pod first (it uses more than the nothing it requests), one pod per
    // housekeeping interval.
    for (name, resources) in QOS {
        let manifest = sleeping_pod(name, resources);
        let path = write_manifest(dir.path(), &format!("{name}.yaml"), &manifest);
        kubectl.ok(&["apply", "-f", &path]);
    }
    let qos_pods = QOS.map(|(name, _)| name);
    let best_effort_pid = eventually("a pod of each QoS class to run", || {
        let pods: Vec<Value> = qos_pods
            .iter()
            .map(|n| object(&kubectl, "pod", n))
            .collect();
        pods.iter()
            .all(|p| condition(p, "Ready") == "True")
            .then(|| {
                host_pid(
                    &kubelet_dir.join("run"),
                    text(container(&pods[0]), "/containerID"),
                )
            })
    });
    drop(second.kill());
    let threshold_mib = memory_available_kib() / 1024 + 4096;
    let mut pressed: Vec<String> = flags
        .iter()
        .filter(|f| !f.starts_with("--eviction-hard="))
        .cloned()
        .collect();
    pressed.extend([
        format!("--eviction-hard=memory.available<{threshold_mib}Mi,nodefs.available<1%"),
        "--housekeeping-interval=3s".to_owned(),
    ]);
    let mut third = kubelet(&up.etcd_url, &pressed);
    eventually("the node to report MemoryPressure", || {
        let node = object(&kubectl, "node", &guard.name);
        (condition(&node, "MemoryPressure") == "True").then_some(())
    });
    let evicted = eventually("a pod to be evicted", || {
        let pods: Vec<Value> = qos_pods
            .iter()
            .map(|n| object(&kubectl, "pod", n))
            .collect();
        let evicted: Vec<Value> = pods
            .into_iter()
            .filter(|p| text(p, "/status/reason") == "Evicted")
            .collect();
        (!evicted.is_empty()).then_some(evicted)
    });
    let names: Vec<&str> = evicted.iter().map(|p| text(p, "/metadata/name")).collect();
    assert_eq!(names, ["best-effort"], "evicted first");
    assert_eq!(text(&evicted[0], "/status/phase"), "Failed");
    assert!(
        text(&evicted[0], "/status/message").starts_with("The node was low on resource: memory."),
        "{}",
        evicted[0]
    );
    eventually("the evicted pod's process to end", || {
        cmdline(best_effort_pid).is_empty().then_some(())
    });
    for name in ["burstable", "guaranteed"] {
        let pod = object(&kubectl, "pod", name);
        assert_eq!(text(&pod, "/status/phase"), "Running", "{pod}");
    }
    assert!(third.is_running(), "{third}");
    drop(third.terminate());
    up.stop();
    eprintln!("re-adoption and eviction took {:?}", began.elapsed());
}

/// `MemAvailable` of /proc/meminfo, in KiB.
fn memory_available_kib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_lost_nodes_pods_are_recreated_on_the_other_node() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let images = busybox_images(dir.path(), &["busybox:1.36"]);
    let (one, two) = (NodeGuard::new(), NodeGuard::new());
    let machine = Machine::new(&two);

    // Node 1 is keel up's own kubelet; keel up's client URL is on the
    // host's end of the veth, so that node 2 reaches it.
    let mut flags = one.kubelet_flags(&images, &dir.path().join("one"));
    flags.extend(
        ["--node-monitor-grace-period=4s", "--node-monitor-period=1s"]
            .into_iter()
            .chain(SHORT_NODE_TIMINGS.iter().copied())
            .map(str::to_owned),
    );
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let up = KeelUp::start_on(&dir.path().join("up"), &machine.host_ip, &flags);
    let kubectl = Kubectl::for_keel_up(kubectl(33), &up, dir.path());

    // Node 2: `keel up --join` inside the other machine (a kubelet and
    // nothing else), with a bridge, cgroup parent, runtime and kubelet
    // directory of its own.
    let mut args = vec![
        "up".to_owned(),
        format!("--join={}", up.etcd_url),
        format!("--data-dir={}", dir.path().join("two").display()),
        format!("--node-ip={}", machine.ip),
    ];
    args.extend(two.agent_flags(&images, &dir.path().join("two/kubelet")));
    args.extend(SHORT_NODE_TIMINGS.iter().map(|&f| f.to_owned()));
    let (program, args) = machine.inside(&keel(), &args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut second = Background::spawn_program(&program, &args);
    let banner = second.next_line(Stream::Stdout, Duration::from_secs(10));
    assert_eq!(
        banner.as_deref().map(str::trim_end),
        Some(format!("keel is joining {} as node {}", up.etcd_url, two.name).as_str()),
        "{second}"
    );
    node_ready(&kubectl, &one.name);
    node_ready(&kubectl, &two.name);
    let node = object(&kubectl, "node", &two.name);
    assert_eq!(text(&node, "/status/addresses/0/address"), machine.ip);

    // One replica on each node: the scheduler spreads a ReplicaSet's
    // pods over the nodes (PodTopologySpread's system default).
    kubectl.ok(&[
        "apply",
        "-f",
        &write_manifest(dir.path(), "spread.yaml", SPREAD),
    ]);
    let running_on = |pods: &[Value], node: &str| -> Vec<String> {
        pods.iter()
            .filter(|p| {
                text(p, "/spec/nodeName") == node
                    && text(p, "/status/phase") == "Running"
                    && !is_terminating(p)
            })
            .map(|p| text(p, "/metadata/name").to_owned())
            .collect()
    };
    let lost = eventually("a replica running on each node", || {
        let pods = items(&kubectl, &["pods", "-l", "app=spread"]);
        let (on_one, on_two) = (running_on(&pods, &one.name), running_on(&pods, &two.name));
        (on_one.len() == 1 && on_two.len() == 1).then(|| on_two[0].clone())
    });
    let pod = object(&kubectl, "pod", &lost);
    let network = one.cluster_cidr.rsplitn(3, '.').last().unwrap();
    assert!(
        text(&pod, "/status/podIP").starts_with(&format!("{network}.")),
        "{pod}"
    );
    assert_eq!(text(&pod, "/status/hostIP"), machine.ip);

    // Node 2 goes away, its containers with it.
    let lost_node = two.name.clone();
    let lost_at = Instant::now();
    drop(second.kill());
    drop(two);
    eventually("node 2 to be NotReady", || {
        let node = object(&kubectl, "node", &lost_node);
        let ready = condition(&node, "Ready");
        (ready == "Unknown" || ready == "False").then_some(())
    });
    let node = object(&kubectl, "node", &lost_node);
    let taints: Vec<&str> = node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| text(t, "/key"))
        .collect();
    assert!(
        taints.contains(&"node.kubernetes.io/unreachable"),
        "{taints:?}"
    );

    // Its pod is deleted once the 2 s toleration is up, and a replacement
    // runs on node 1.
    // With no kubelet to confirm the stop, it stays Terminating (PodGC
    // force-deletes it only once the node is gone or tainted
    // out-of-service).
    eventually("the lost pod to be deleted", || {
        is_terminating(&object(&kubectl, "pod", &lost)).then_some(())
    });
    eventually("both replicas running on node 1", || {
        let pods = items(&kubectl, &["pods", "-l", "app=spread"]);
        (running_on(&pods, &one.name).len() == 2).then_some(())
    });
    // Not before the Lease is 4 s old (it was renewed at most 1 s before
    // the kill) and the 2 s toleration has passed, counted from the
    // taint's timeAdded (whole seconds: up to 1 s earlier).
    let recovered = lost_at.elapsed();
    assert!(recovered >= Duration::from_secs(4), "{recovered:?}");

    kubectl.ok(&["delete", "deployment", "spread"]);
    up.stop();
    one.assert_no_containers_left();
    drop(machine);
    eprintln!(
        "two nodes took {:?}, the failover {recovered:?}",
        began.elapsed()
    );
}

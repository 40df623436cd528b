//! The kubelet end to end, as a user drives it: one `keel up` with its
//! kubelet (real containers: root), busybox images built from Debian's
//! busybox-static and imported with `keel image import`, and an
//! unmodified kubectl 1.33. Every timing is short by flags or fields.
//!
//! ```text
//!   scripts/busybox-image.sh ─► keel image import ─► images dir
//!   keel up --kubelet=true (short back-off) ◄── kubectl apply / get / wait / delete
//!      └── kubelet ─► containers in cgroups under keel-test-<tag>, pods on bridge kt<tag>
//! ```
//!
//! In order: the node registers Ready with the machine's capacity; a
//! Deployment of busybox httpd pods with a readiness probe becomes Ready,
//! its Endpoints list the pods' IPs and a pod answers HTTP on its IP; a
//! new image rolls out within the Deployment's bounds, gated by the
//! readiness probes; a crashing container restarts with growing back-off (CrashLoopBackOff);
//! a failing liveness probe restarts a container; a readiness probe that
//! starts failing takes its pod out of the Endpoints; a memory hog is
//! OOMKilled; a Job's pods run to completion; a pod that traps SIGTERM
//! gets its grace period, one that ignores it is killed after it; a
//! missing image shows ErrImagePull, then ImagePullBackOff; `kubectl
//! drain` evicts every pod and the kubelet stops them.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests wait in real time")]

mod common;

use std::time::{Duration, Instant};

use common::node::{busybox_images, NodeGuard};
use common::{condition, eventually, items, object, text, RolloutChecker, WatchEvents};
use keel_tests::binaries::kubectl;
use keel_tests::kube::{write_manifest, KeelUp, Kubectl};
use serde_json::Value;

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
        ports: [{containerPort: 80, name: http}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"#;

const STATIC: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: static-web
  namespace: kube-system
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:1.36
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
"#;

const CRASHER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  containers:
  - name: crash
    image: busybox:1.36
    command: ["sh", "-c", "echo crashing; exit 3"]
"#;

const LIVENESS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: liveness
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: live
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 1
"#;

const FLAKY: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: flaky
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: flaky
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/ready; exec httpd -f -p 80 -h /var/www"]
    ports: [{containerPort: 80, name: http}]
    readinessProbe:
      exec: {command: ["test", "-f", "/tmp/ready"]}
      periodSeconds: 1
"#;

const HOG: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox:1.36
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=200M count=1"]
    resources:
      limits: {memory: 20Mi}
"#;

const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: count
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: count
        image: busybox:1.36
        command: ["sh", "-c", "echo counted"]
"#;

const GRACEFUL: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: graceful
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
"#;

const MISSING: &str = r"
apiVersion: v1
kind: Pod
metadata:
  name: missing
spec:
  containers:
  - name: main
    image: example.invalid/nothing:1.0
";

/// The container status of the pod's only container.
fn container(pod: &Value) -> &Value {
    &pod["status"]["containerStatuses"][0]
}

/// Whether the pod's Ready condition is True.
fn ready(pod: &Value) -> bool {
    condition(pod, "Ready") == "True"
}

/// An HTTP GET of `/` at `ip:80`; answers the status line.
fn http_status(ip: &str) -> Option<String> {
    use std::io::{Read, Write};
    let address = format!("{ip}:80").parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(format!("GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.lines().next().map(str::to_owned)
}

#[test]
fn the_kubelet_runs_real_workloads() {
    let dir = tempfile::tempdir().unwrap();
    let guard = NodeGuard::new();
    let images = busybox_images(dir.path(), &["busybox:1.36", "busybox:1.37"]);
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("static-web.yaml"), STATIC).unwrap();
    let mut flags = guard.kubelet_flags(&images, &dir.path().join("kubelet"));
    flags.extend([
        format!("--pod-manifest-path={}", manifests.display()),
        "--file-check-frequency=1s".into(),
    ]);
    flags.extend([
        "--restart-backoff-base=1s".into(),
        "--restart-backoff-max=4s".into(),
        "--image-backoff-base=1s".into(),
    ]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let up = KeelUp::start_with(&dir.path().join("up"), &flags);
    let kubectl = Kubectl::for_keel_up(kubectl(33), &up, dir.path());
    let scratch = dir.path();

    // The node registers Ready with what the machine has.
    let node = eventually("the node to be Ready", || {
        let nodes = items(&kubectl, &["nodes"]);
        nodes
            .into_iter()
            .find(|n| text(n, "/metadata/name") == guard.name && condition(n, "Ready") == "True")
    });
    assert_eq!(text(&node, "/status/allocatable/pods"), "110");
    assert_ne!(text(&node, "/status/capacity/memory"), "");
    assert!(text(&node, "/status/nodeInfo/kernelVersion").len() > 1);

    // A Deployment of httpd pods with a readiness probe becomes Ready; its
    // Endpoints list the pods' IPs, which answer HTTP.
    kubectl.ok(&["apply", "-f", &write_manifest(scratch, "web.yaml", WEB)]);
    let ips = eventually("the web pods to be Ready", || {
        let pods = items(&kubectl, &["pods", "-l", "app=web"]);
        let ips: Vec<String> = pods
            .iter()
            .filter(|p| ready(p))
            .map(|p| text(p, "/status/podIP").to_owned())
            .collect();
        (ips.len() == 2).then_some(ips)
    });
    for ip in &ips {
        assert!(ip.starts_with("10."), "{ip}");
        let status = http_status(ip).unwrap_or_default();
        assert!(status.ends_with(" 200 OK"), "{ip}: {status}");
    }
    let mut sorted = ips.clone();
    sorted.sort();
    eventually("the Endpoints to list the pods", || {
        let endpoints = object(&kubectl, "endpoints", "web");
        let mut listed: Vec<String> = endpoints["subsets"][0]["addresses"]
            .as_array()?
            .iter()
            .map(|a| text(a, "/ip").to_owned())
            .collect();
        listed.sort();
        (listed == sorted).then_some(())
    });
    let pod = &items(&kubectl, &["pods", "-l", "app=web"])[0];
    assert_eq!(text(pod, "/status/phase"), "Running");
    assert_eq!(text(pod, "/status/qosClass"), "BestEffort");
    assert_eq!(
        text(pod, "/status/hostIP"),
        text(&node, "/status/addresses/0/address")
    );
    assert!(text(container(pod), "/containerID").starts_with("keel://"));

    // A new image rolls out under the Deployment's default bounds (25%
    // of 2: one pod over, none unavailable), which real readiness probes
    // gate: every state the watch shows is checked.
    let mut watch = WatchEvents::start(&kubectl, &["pods", "-l", "app=web"]);
    let mut checker = RolloutChecker::new(2, 1, 0);
    while checker.counts() != (2, 2) {
        checker.apply(watch.expect());
    }
    let set = kubectl.ok(&["set", "image", "deployment/web", "httpd=busybox:1.37"]);
    assert_eq!(set, "deployment.apps/web image updated\n");
    kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    eventually("2 Ready pods of busybox:1.37", || {
        let pods = items(&kubectl, &["pods", "-l", "app=web"]);
        let settled = pods.len() == 2
            && pods
                .iter()
                .all(|p| ready(p) && text(p, "/spec/containers/0/image") == "busybox:1.37");
        settled.then_some(())
    });
    for event in watch.ready() {
        checker.check(event);
    }
    drop(watch);
    assert!(checker.violations.is_empty(), "{:?}", checker.violations);
    // Two pods made, scheduled, started, Ready; two deleted and gone.
    assert!(checker.states > 8, "the checker saw {}", checker.states);

    // The rest run side by side.
    for (name, manifest) in [
        ("crasher", CRASHER),
        ("liveness", LIVENESS),
        ("flaky", FLAKY),
        ("hog", HOG),
        ("job", JOB),
        ("graceful", GRACEFUL),
        ("missing", MISSING),
    ] {
        kubectl.ok(&[
            "apply",
            "-f",
            &write_manifest(scratch, &format!("{name}.yaml"), manifest),
        ]);
    }

    // A crashing container restarts at once, then after 1 s, 2 s, 4 s.
    let mut restarts: Vec<(i64, Instant)> = Vec::new();
    let mut back_off_seen = false;
    let deadline = Instant::now() + Duration::from_secs(40);
    while restarts.last().is_none_or(|(count, _)| *count < 4) {
        assert!(Instant::now() < deadline, "crasher restarted {restarts:?}");
        let pod = object(&kubectl, "pod", "crasher");
        let status = container(&pod);
        let count = status["restartCount"].as_i64().unwrap_or(0);
        if restarts.last().is_none_or(|(last, _)| *last < count) {
            restarts.push((count, Instant::now()));
        }
        if text(status, "/state/waiting/reason") == "CrashLoopBackOff" {
            back_off_seen = true;
            assert_eq!(status["lastState"]["terminated"]["exitCode"], 3);
            assert_eq!(text(status, "/lastState/terminated/reason"), "Error");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back_off_seen, "no CrashLoopBackOff: {restarts:?}");
    let gap = |a: usize, b: usize| restarts[b].1.duration_since(restarts[a].1);
    let last = restarts.len() - 1;
    assert!(
        gap(last - 1, last) >= Duration::from_millis(2500),
        "{restarts:?}"
    );

    // A failing liveness probe restarts its container.
    eventually("the liveness probe to restart its container", || {
        let pod = object(&kubectl, "pod", "liveness");
        (container(&pod)["restartCount"].as_i64() >= Some(1)).then_some(())
    });

    // A readiness probe that starts failing (its file removed through
    // `kubectl exec`) takes its pod out of the Endpoints' ready addresses.
    let flaky_ip = eventually("the flaky pod to be Ready", || {
        let pod = object(&kubectl, "pod", "flaky");
        ready(&pod).then(|| text(&pod, "/status/podIP").to_owned())
    });
    let addresses = |list: &str| -> Vec<String> {
        let endpoints = object(&kubectl, "endpoints", "web");
        endpoints["subsets"][0][list]
            .as_array()
            .map(|l| l.iter().map(|a| text(a, "/ip").to_owned()).collect())
            .unwrap_or_default()
    };
    eventually("the flaky pod in the Endpoints", || {
        addresses("addresses").contains(&flaky_ip).then_some(())
    });
    kubectl.ok(&["exec", "flaky", "--", "rm", "/tmp/ready"]);
    eventually(
        "the flaky pod to leave the Endpoints' ready addresses",
        || {
            let pod = object(&kubectl, "pod", "flaky");
            (!ready(&pod)
                && addresses("notReadyAddresses").contains(&flaky_ip)
                && !addresses("addresses").contains(&flaky_ip))
            .then_some(())
        },
    );

    // A memory hog over its limit is OOMKilled, and said so.
    eventually("the hog to be OOMKilled", || {
        let pod = object(&kubectl, "pod", "hog");
        (text(container(&pod), "/state/terminated/reason") == "OOMKilled").then(|| {
            assert_eq!(text(&pod, "/status/phase"), "Failed");
        })
    });

    // A Job's pods run to completion.
    kubectl.ok(&[
        "wait",
        "--for=condition=complete",
        "job/count",
        "--timeout=60s",
    ]);
    let done = items(&kubectl, &["pods", "-l", "job-name=count"]);
    assert!(
        done.iter()
            .filter(|p| text(p, "/status/phase") == "Succeeded")
            .count()
            >= 2
    );
    assert_eq!(
        text(container(&done[0]), "/state/terminated/reason"),
        "Completed"
    );

    // Logs through the front with every kubectl the front is tested with,
    // followed to the end of the container; exec with the WebSocket ones.
    let job_pod = text(&done[0], "/metadata/name").to_owned();
    let mut clients: Vec<(String, Kubectl)> = (27..=33)
        .map(|minor| {
            (
                format!("1.{minor}"),
                Kubectl::for_keel_up(keel_tests::binaries::kubectl(minor), &up, scratch),
            )
        })
        .collect();
    clients.push((
        "1.20".into(),
        Kubectl::for_keel_up(keel_tests::binaries::kubectl_1_20(), &up, scratch),
    ));
    for (version, client) in &clients {
        assert_eq!(
            client.ok(&["logs", &job_pod]),
            "counted\n",
            "kubectl {version}"
        );
        assert_eq!(
            client.ok(&["logs", "-f", &job_pod]),
            "counted\n",
            "kubectl {version}"
        );
        let stamped = client.ok(&["logs", "--timestamps", &job_pod]);
        assert!(
            stamped.ends_with("Z counted\n") && stamped.starts_with("20"),
            "kubectl {version}: {stamped}"
        );
    }
    for minor in [32, 33] {
        let client = Kubectl::for_keel_up(keel_tests::binaries::kubectl(minor), &up, scratch);
        let pod = text(
            &items(&client, &["pods", "-l", "app=web"])[0],
            "/metadata/name",
        )
        .to_owned();
        assert_eq!(
            client
                .ok(&["exec", &pod, "--", "cat", "/etc/hostname"])
                .trim(),
            pod,
            "kubectl 1.{minor}"
        );
        let failed = client.run(&["exec", &pod, "--", "sh", "-c", "exit 7"]);
        assert_eq!(failed.status.code(), Some(7), "kubectl 1.{minor}");
    }

    // A missing image: ErrImagePull, then ImagePullBackOff.
    let mut reasons = Vec::new();
    eventually("ErrImagePull and ImagePullBackOff", || {
        let pod = object(&kubectl, "pod", "missing");
        let reason = text(container(&pod), "/state/waiting/reason").to_owned();
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
        (reasons.iter().any(|r| r == "ErrImagePull")
            && reasons.iter().any(|r| r == "ImagePullBackOff"))
        .then_some(())
    });
    let table = kubectl.ok(&["get", "pod", "missing"]);
    assert!(
        table.contains("ErrImagePull") || table.contains("ImagePullBackOff"),
        "{table}"
    );

    // Graceful deletion: a pod that exits on SIGTERM goes at once; one that
    // ignores it is killed when its 2 s are up.
    for name in ["graceful", "stubborn"] {
        eventually(&format!("{name} to run"), || {
            let pod = object(&kubectl, "pod", name);
            (text(&pod, "/status/phase") == "Running").then_some(())
        });
    }
    let began = Instant::now();
    kubectl.ok(&["delete", "pod", "graceful", "--wait=true"]);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    let began = Instant::now();
    kubectl.ok(&["delete", "pod", "stubborn", "--wait=true"]);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "{took:?}"
    );

    // The static pod runs from its manifest, mirrored into keel; a mirror
    // deleted through the API comes back with the same container; the
    // manifest removed, the pod goes.
    let mirror = format!("static-web-{}", guard.name);
    let in_system = |args: &[&str]| {
        let mut all = vec!["-n", "kube-system"];
        all.extend_from_slice(args);
        kubectl.ok(&all)
    };
    // The mirror's container, once the mirror is Ready.
    let ready_mirror_container = || {
        let pods: Value = serde_json::from_str(&in_system(&["get", "pods", "-o", "json"])).unwrap();
        let pod = pods["items"]
            .as_array()?
            .iter()
            .find(|p| text(p, "/metadata/name") == mirror)?;
        ready(pod).then(|| text(container(pod), "/containerID").to_owned())
    };
    let static_container = eventually("the static pod's mirror to run", ready_mirror_container);
    in_system(&["delete", "pod", &mirror, "--wait=true"]);
    eventually("the mirror to come back with the same container", || {
        (ready_mirror_container()? == static_container).then_some(())
    });
    std::fs::remove_file(manifests.join("static-web.yaml")).unwrap();
    eventually("the static pod to go with its manifest", || {
        in_system(&["get", "pods", "-o", "name"])
            .trim()
            .is_empty()
            .then_some(())
    });

    // kubectl drain: the node cordoned, its pods evicted through the
    // Eviction API (bare ones with --force) and stopped by the kubelet;
    // the Deployment's replacements wait, Pending, for a node.
    let drained = kubectl.ok(&[
        "drain",
        &guard.name,
        "--ignore-daemonsets",
        "--force",
        "--grace-period=1",
        "--timeout=60s",
    ]);
    assert!(
        drained.contains(&format!("node/{} drained", guard.name)),
        "{drained}"
    );
    let left = items(&kubectl, &["pods"]);
    assert!(
        left.iter().all(|p| text(p, "/spec/nodeName").is_empty()),
        "{left:?}"
    );
    guard.assert_no_containers_left();

    kubectl.ok(&["delete", "deployment", "web"]);
    up.stop();
    guard.assert_no_containers_left();
}

//! Reading pods and nodes: requests as Kubernetes computes them for the
//! scheduler, and the selecting parts.

mod support;

use keel_scheduler::model::{Node, PodInfo};
use serde_json::json;
use support::{merged, pod_json};

const MI: i64 = 1024 * 1024;

/// Requests, non-zero requests (cpu milli, memory bytes) per pod spec, as
/// `resourcehelper.PodRequests` with and without `NonMissingContainerRequests`
/// of 100m / 200Mi computes them.
#[test]
fn requests_are_computed_as_kubernetes_computes_them() {
    let cases = [
        (
            "no requests: 0 for fit, the defaults for scoring",
            json!({"containers": [{"name": "a"}]}),
            (0, 0, 0),
            (100, 200 * MI),
        ),
        (
            "two containers sum; a missing request defaults per container",
            json!({"containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m"}}},
                {"name": "b", "resources": {"requests": {"memory": "1Gi"}}}]}),
            (500, 1024 * MI, 0),
            (600, 1024 * MI + 200 * MI),
        ),
        (
            "an explicit zero stays zero for scoring",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "0", "memory": "0"}}}]}),
            (0, 0, 0),
            (0, 0),
        ),
        (
            "the largest init container wins over the sum",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}],
                   "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2", "memory": "10Mi"}}}]}),
            (2000, 100 * MI, 0),
            (2000, 100 * MI),
        ),
        (
            "a sidecar adds to the containers and to later init containers",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Mi"}}}],
                   "initContainers": [
                       {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m", "memory": "1Mi"}}},
                       {"name": "i", "resources": {"requests": {"cpu": "250m", "memory": "1Mi"}}}]}),
            // containers 100m + sidecar 200m = 300m; init i runs beside the sidecar: 450m.
            (450, 2 * MI, 0),
            (450, 2 * MI),
        ),
        (
            "overhead adds to both",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1", "ephemeral-storage": "1Gi"}}}],
                   "overhead": {"cpu": "250m", "memory": "120Mi"}}),
            (1250, 120 * MI, 1024 * MI),
            (1250, 200 * MI + 120 * MI),
        ),
        (
            "fractions of a milli-cpu round up",
            json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "0.0001", "memory": "1.5"}}}]}),
            (1, 2, 0),
            (1, 2),
        ),
    ];
    for (name, spec, (cpu, memory, storage), (non_zero_cpu, non_zero_memory)) in cases {
        let pod =
            PodInfo::from_pod(&json!({"metadata": {"name": "p", "namespace": "n"}, "spec": spec}));
        assert_eq!(pod.requests.milli_cpu, cpu, "{name}: cpu");
        assert_eq!(pod.requests.memory, memory, "{name}: memory");
        assert_eq!(
            pod.requests.ephemeral_storage, storage,
            "{name}: ephemeral-storage"
        );
        assert_eq!(
            pod.non_zero_requests.milli_cpu, non_zero_cpu,
            "{name}: non-zero cpu"
        );
        assert_eq!(
            pod.non_zero_requests.memory, non_zero_memory,
            "{name}: non-zero memory"
        );
    }
}

#[test]
fn pod_fields_are_read() {
    let pod = PodInfo::from_pod(&merged(
        pod_json("web-1", &json!({})),
        &json!({
            "metadata": {"name": "web-1", "namespace": "shop", "resourceVersion": "42",
                         "labels": {"app": "web"},
                         "ownerReferences": [
                             {"kind": "Other", "name": "x", "uid": "u0"},
                             {"kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": true}]},
            "spec": {"containers": [{"name": "c", "ports": [
                         {"containerPort": 80, "hostPort": 8080},
                         {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"},
                         {"containerPort": 9090}]}],
                     "priority": 1000, "nodeSelector": {"disk": "ssd"},
                     "tolerations": [{"operator": "Exists"}]},
        }),
    ));
    assert_eq!(pod.key.as_str(), "shop/web-1");
    assert_eq!(pod.resource_version, "42");
    assert_eq!(pod.priority, 1000);
    assert_eq!(pod.scheduler_name, "default-scheduler");
    assert_eq!(pod.owner.as_ref().map(|o| o.uid.as_str()), Some("u1"));
    let ports: Vec<_> = pod
        .host_ports
        .iter()
        .map(|p| (p.ip.as_str(), p.protocol.as_str(), p.port))
        .collect();
    assert_eq!(ports, [("0.0.0.0", "TCP", 8080), ("10.0.0.1", "UDP", 53)]);
    assert_eq!(
        pod.node_selector.get("disk").map(String::as_str),
        Some("ssd")
    );
    assert!(pod.node_name.is_none());
    assert!(!pod.terminal);
    let done = PodInfo::from_pod(
        &json!({"metadata": {"name": "j", "namespace": "n"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}}),
    );
    assert!(done.terminal);
    assert_eq!(done.node_name.as_deref(), Some("n1"));
}

#[test]
fn node_allocatable_is_read_and_falls_back_to_capacity() {
    let node = Node::from_node(&json!({
        "metadata": {"name": "n1"},
        "spec": {"unschedulable": true, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "3500m", "memory": "7Gi", "pods": "110", "ephemeral-storage": "20Gi"}},
    }));
    assert_eq!(node.allocatable.resources.milli_cpu, 3500);
    assert_eq!(node.allocatable.resources.memory, 7 * 1024 * MI);
    assert_eq!(node.allocatable.resources.ephemeral_storage, 20 * 1024 * MI);
    assert_eq!(node.allocatable.pods, 110);
    assert!(node.unschedulable);
    assert_eq!(node.taints[0].effect, "NoSchedule");
    let capacity_only = Node::from_node(&json!({
        "metadata": {"name": "n2"}, "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "10"}},
    }));
    assert_eq!(capacity_only.allocatable.resources.milli_cpu, 2000);
    assert_eq!(capacity_only.allocatable.pods, 10);
}

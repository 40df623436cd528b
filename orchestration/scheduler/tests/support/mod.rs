//! Small JSON objects for the scheduler's table tests.

#![allow(dead_code, reason = "each test file uses a part of the helpers")]

use keel_scheduler::model::{Node, NodeInfo, PodInfo};
use serde_json::{json, Value};

/// A node with `cpu`, `memory` and `pods` allocatable and its hostname label.
pub fn node_json(name: &str, cpu: &str, memory: &str, pods: u32) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods.to_string(),
                                    "ephemeral-storage": "10Gi"}},
    })
}

/// `node_json` read.
pub fn node(name: &str, cpu: &str, memory: &str, pods: u32) -> Node {
    Node::from_node(&node_json(name, cpu, memory, pods))
}

/// `base` with `patch`'s top-level fields merged in, one level deep for
/// `metadata`, `spec` and `status`.
pub fn merged(mut base: Value, patch: &Value) -> Value {
    for (key, value) in patch.as_object().expect("patch object") {
        match (base.get_mut(key), value) {
            (Some(Value::Object(into)), Value::Object(from)) => {
                for (k, v) in from {
                    into.insert(k.clone(), v.clone());
                }
            }
            _ => {
                base[key] = value.clone();
            }
        }
    }
    base
}

/// A pending pod `name` in `default` with one container requesting
/// `requests` (a JSON object, may be empty).
pub fn pod_json(name: &str, requests: &Value) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": requests}}]},
        "status": {"phase": "Pending"},
    })
}

/// `pod_json` read.
pub fn pod(name: &str, requests: &Value) -> PodInfo {
    PodInfo::from_pod(&pod_json(name, requests))
}

/// A pod with `patch` merged into `pod_json(name, {})`, read.
pub fn pod_with(name: &str, patch: &Value) -> PodInfo {
    PodInfo::from_pod(&merged(pod_json(name, &json!({})), patch))
}

/// A node with `patch` merged into `node_json(name, "4", "8Gi", 110)`, read.
pub fn node_with(name: &str, patch: &Value) -> Node {
    Node::from_node(&merged(node_json(name, "4", "8Gi", 110), patch))
}

/// A NodeInfo with `pods` bound on it.
pub fn node_info(node: Node, pods: Vec<PodInfo>) -> NodeInfo {
    let mut info = NodeInfo::new(node);
    for mut pod in pods {
        pod.node_name = Some(info.node.name.clone());
        info.add_pod(std::sync::Arc::new(pod));
    }
    info
}

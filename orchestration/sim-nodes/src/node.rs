//! A simulated node's objects: its Node (capacity, conditions, addresses,
//! as a kubelet registers it) and its coordination.k8s.io Lease (what a
//! kubelet renews every 10 s so that the node lifecycle controller knows
//! it is alive). keel's real kubelet builds its Node and conditions with
//! the same functions ([`registered`], [`conditions`]) from its machine's
//! facts.

use jiff::Timestamp;
use serde_json::{json, Value};

/// The label every simulated node carries, so tests and people can tell
/// them apart (kwok uses `type: kwok`).
pub const SIMULATED_LABEL: &str = "node.keel.dev/simulated";
/// Where kubelets keep their Leases (kube-node-lease).
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// A kubelet's Lease duration (`nodeLeaseDurationSeconds`, 40 s by default).
pub const LEASE_DURATION_SECS_DEFAULT: i64 = 40;

/// What one simulated node offers, as quantities in Kubernetes' notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// CPU (`32`, `3500m`).
    pub cpu: String,
    /// Memory (`256Gi`).
    pub memory: String,
    /// How many pods fit (a kubelet's `maxPods` is 110 by default).
    pub pods: u32,
    /// Ephemeral storage (`1Ti`).
    pub ephemeral_storage: String,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            cpu: "32".into(),
            memory: "256Gi".into(),
            pods: 110,
            ephemeral_storage: "1Ti".into(),
        }
    }
}

/// What a node tells of itself when it registers: the facts in which a
/// kubelet on a real machine (keel-kubelet builds its Node with this too)
/// and a simulated node differ.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    /// The Node's name (and its `Hostname` address).
    pub name: &'a str,
    /// Its `InternalIP`.
    pub address: &'a str,
    /// The port of the kubelet's endpoint (logs, exec); 0 for none.
    pub kubelet_port: u16,
    /// `amd64`, `arm64`, ...
    pub architecture: &'a str,
    /// Capacity, all of it allocatable: cpu, memory, pods,
    /// ephemeral-storage as quantities.
    pub resources: Value,
    /// Labels beside the kubelet's own (hostname, os, arch).
    pub labels: &'a [(&'a str, &'a str)],
    /// Its conditions ([`conditions`]).
    pub conditions: Value,
    /// `status.nodeInfo`.
    pub info: NodeInfo<'a>,
}

/// A Node's `status.nodeInfo` (the operating system is always Linux).
#[derive(Debug, Clone)]
pub struct NodeInfo<'a> {
    /// `machineID`, also its `systemUUID`.
    pub machine_id: &'a str,
    /// `bootID`: changes when the machine restarts.
    pub boot_id: &'a str,
    /// `kernelVersion` (`uname -r`).
    pub kernel_version: &'a str,
    /// `osImage` (os-release's `PRETTY_NAME`).
    pub os_image: &'a str,
    /// `containerRuntimeVersion` (`<runtime>://<version>`).
    pub container_runtime_version: &'a str,
    /// `kubeletVersion`.
    pub kubelet_version: &'a str,
}

/// The Node `registration` describes, as a kubelet registers it.
pub fn registered(registration: &Registration) -> Value {
    let Registration {
        name,
        address,
        architecture,
        ref info,
        ..
    } = *registration;
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": architecture,
    });
    for (key, value) in registration.labels {
        labels[*key] = (*value).into();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {
            "capacity": registration.resources,
            "allocatable": registration.resources,
            "conditions": registration.conditions,
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": registration.kubelet_port}},
            "nodeInfo": {
                "machineID": info.machine_id,
                "systemUUID": info.machine_id,
                "bootID": info.boot_id,
                "kernelVersion": info.kernel_version,
                "osImage": info.os_image,
                "containerRuntimeVersion": info.container_runtime_version,
                "kubeletVersion": info.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": architecture,
            },
        },
    })
}

/// The Node a kubelet would register for `name`: Ready, without
/// pressure, with `address` as its InternalIP and `capacity` all
/// allocatable.
pub fn node_object(name: &str, address: &str, capacity: &Capacity, now: Timestamp) -> Value {
    registered(&Registration {
        name,
        address,
        kubelet_port: 0,
        architecture: "amd64",
        resources: json!({
            "cpu": capacity.cpu,
            "memory": capacity.memory,
            "pods": capacity.pods.to_string(),
            "ephemeral-storage": capacity.ephemeral_storage,
        }),
        labels: &[(SIMULATED_LABEL, "true")],
        conditions: conditions(Pressures::default(), now),
        info: NodeInfo {
            machine_id: name,
            boot_id: name,
            kernel_version: "simulated",
            os_image: "keel simulated node",
            container_runtime_version: "sim://1",
            kubelet_version: "v1.33.0-keel-sim",
        },
    })
}

/// Which of a node's pressure conditions are True.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressures {
    /// MemoryPressure.
    pub memory: bool,
    /// DiskPressure.
    pub disk: bool,
    /// PIDPressure.
    pub pids: bool,
}

/// A posting node's conditions (Ready, and the three pressures as
/// `pressures` says), worded as the kubelet's setters word them
/// (pkg/kubelet/nodestatus/setters.go).
pub fn conditions(pressures: Pressures, now: Timestamp) -> Value {
    let at = seconds(now);
    let condition = |kind: &str, on: bool, yes: (&str, &str), no: (&str, &str)| {
        let (reason, message) = if on { yes } else { no };
        json!({"type": kind, "status": if on { "True" } else { "False" },
               "reason": reason, "message": message,
               "lastHeartbeatTime": at, "lastTransitionTime": at})
    };
    json!([
        condition(
            "MemoryPressure",
            pressures.memory,
            (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available"
            ),
            (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available"
            ),
        ),
        condition(
            "DiskPressure",
            pressures.disk,
            ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ),
        condition(
            "PIDPressure",
            pressures.pids,
            (
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available"
            ),
            (
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available"
            ),
        ),
        condition(
            "Ready",
            true,
            ("KubeletReady", "kubelet is posting ready status"),
            ("KubeletNotReady", ""),
        ),
    ])
}

/// The Lease of node `name`, renewed at `now`.
pub fn lease_object(name: &str, duration_secs: i64, now: Timestamp) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": duration_secs,
            "renewTime": micros(now),
        },
    })
}

/// `lease` renewed at `now` (its other fields kept).
pub fn renewed(lease: &Value, now: Timestamp) -> Value {
    let mut lease = lease.clone();
    lease["spec"]["renewTime"] = micros(now).into();
    lease
}

/// Kubernetes' `metav1.Time`: RFC 3339 in whole seconds.
pub fn seconds(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Kubernetes' `metav1.MicroTime`: RFC 3339 with microseconds.
pub fn micros(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_api::k8s_openapi::api::coordination::v1::Lease;
    use keel_api::k8s_openapi::api::core::v1::Node;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_node_is_a_valid_ready_node() {
        let node = node_object(
            "sim-1",
            "10.0.0.1",
            &Capacity::default(),
            at("2026-01-02T03:04:05.5Z"),
        );
        let typed: Node = serde_json::from_value(node.clone()).unwrap();
        let status = typed.status.unwrap();
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(status.allocatable.unwrap()["pods"].0, "110");
        assert_eq!(
            node["status"]["conditions"][0]["lastHeartbeatTime"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            node["metadata"]["labels"]["kubernetes.io/hostname"],
            "sim-1"
        );
        let causes =
            keel_api::validation::validate_create(keel_api::resources::of::<Node>(), &node);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn the_lease_renews_with_microseconds() {
        let lease = lease_object("sim-1", 40, at("2026-01-02T03:04:05Z"));
        let renewed = renewed(&lease, at("2026-01-02T03:04:15.123456789Z"));
        assert_eq!(renewed["spec"]["renewTime"], "2026-01-02T03:04:15.123456Z");
        assert_eq!(renewed["spec"]["holderIdentity"], "sim-1");
        let typed: Lease = serde_json::from_value(renewed).unwrap();
        assert_eq!(typed.spec.unwrap().lease_duration_seconds, Some(40));
    }
}

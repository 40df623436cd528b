//! The kubelet's Node: what the machine offers (read once from /proc and
//! the file system), the pressure conditions (read every heartbeat), and
//! the Node object made from them (pure).
//!
//! ```text
//!   machine::read()  ─► Machine (cpus, memory, disk, kernel, os, ids)
//!   pressure::read() ─► Pressure (memory available, disk free, pids)
//!   node_object(name, address, machine, pressure, now) ─► the Node, as registered
//!   conditions(pressure, now) ─► Ready / MemoryPressure / DiskPressure / PIDPressure
//! ```

pub mod machine;

use jiff::Timestamp;
use serde_json::{json, Value};

pub use machine::{Machine, Pressure};

/// The kubelet's version as the Node's `nodeInfo` tells it.
pub const KUBELET_VERSION: &str = "v1.33.0-keel";
/// `maxPods`: how many pods the node takes.
pub const PODS_MAX: u32 = 110;

/// Memory available under which the node reports MemoryPressure (the
/// kubelet's default hard eviction threshold, `memory.available<100Mi`).
pub const MEMORY_AVAILABLE_MIN: u64 = 100 * 1024 * 1024;
/// The share of the root file system's space that must stay free
/// (`nodefs.available<10%`).
pub const DISK_FREE_PERCENT_MIN: u64 = 10;
/// The share of the pid space in use above which the node reports
/// PIDPressure.
pub const PIDS_USED_PERCENT_MAX: u64 = 90;

/// Kubernetes' `metav1.Time`.
fn time(at: Timestamp) -> String {
    keel_sim_nodes::node::seconds(at)
}

/// The Node `name` registers: its capacity and allocatable from
/// `machine`, its address, its info and conditions.
pub fn node_object(
    name: &str,
    address: &str,
    kubelet_port: u16,
    machine: &Machine,
    pressure: &Pressure,
    now: Timestamp,
) -> Value {
    let resources = json!({
        "cpu": machine.cpus.to_string(),
        "memory": format!("{}Ki", machine.memory_bytes / 1024),
        "ephemeral-storage": format!("{}Ki", machine.disk_bytes / 1024),
        "pods": PODS_MAX.to_string(),
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": machine.architecture,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": machine.architecture,
            },
        },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": conditions(pressure, now),
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": machine.machine_id,
                "systemUUID": machine.machine_id,
                "bootID": machine.boot_id,
                "kernelVersion": machine.kernel_version,
                "osImage": machine.os_image,
                "containerRuntimeVersion": format!("keel://{}", env!("CARGO_PKG_VERSION")),
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": machine.architecture,
            },
        },
    })
}

/// The node's conditions, as the kubelet's setters word them
/// (pkg/kubelet/nodestatus/setters.go).
pub fn conditions(pressure: &Pressure, now: Timestamp) -> Value {
    let at = time(now);
    let condition = |kind: &str, on: bool, yes: (&str, &str), no: (&str, &str)| {
        let (reason, message) = if on { yes } else { no };
        json!({"type": kind, "status": if on { "True" } else { "False" },
               "reason": reason, "message": message,
               "lastHeartbeatTime": at, "lastTransitionTime": at})
    };
    json!([
        condition(
            "MemoryPressure",
            pressure.memory_available_bytes < MEMORY_AVAILABLE_MIN,
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
            pressure.disk_free_bytes * 100 < pressure.disk_bytes * DISK_FREE_PERCENT_MIN,
            ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ),
        condition(
            "PIDPressure",
            pressure.pids * 100 > pressure.pids_max * PIDS_USED_PERCENT_MAX,
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

/// `current`'s conditions with `fresh`'s statuses, keeping each one's
/// `lastTransitionTime` while its status does not change.
pub fn refreshed_conditions(current: &Value, fresh: &Value) -> Value {
    let old = current.as_array().cloned().unwrap_or_default();
    let list = fresh.as_array().cloned().unwrap_or_default();
    Value::Array(
        list.into_iter()
            .map(|mut condition| {
                if let Some(same) = old
                    .iter()
                    .find(|o| o["type"] == condition["type"] && o["status"] == condition["status"])
                {
                    condition["lastTransitionTime"] = same["lastTransitionTime"].clone();
                }
                condition
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            memory_bytes: 24 * 1024 * 1024 * 1024,
            disk_bytes: 100 * 1024 * 1024 * 1024,
            architecture: "amd64".into(),
            kernel_version: "6.1".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            machine_id: "m".into(),
            boot_id: "b".into(),
        }
    }

    fn calm() -> Pressure {
        Pressure {
            memory_available_bytes: 8 << 30,
            disk_bytes: 100,
            disk_free_bytes: 50,
            pids: 100,
            pids_max: 4_194_304,
        }
    }

    fn status_of(conditions: &Value, kind: &str) -> String {
        conditions
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn the_node_offers_the_machine() {
        let at: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let node = node_object("n1", "10.0.0.5", 10250, &machine(), &calm(), at);
        assert_eq!(node["status"]["capacity"]["cpu"], "2");
        assert_eq!(node["status"]["capacity"]["memory"], "25165824Ki");
        assert_eq!(node["status"]["allocatable"]["pods"], "110");
        assert_eq!(node["status"]["addresses"][0]["address"], "10.0.0.5");
        assert_eq!(
            node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
            10250
        );
        let causes = keel_api::validation::validate_create(
            keel_api::resources::of::<keel_api::k8s_openapi::api::core::v1::Node>(),
            &node,
        );
        assert!(causes.is_empty(), "{causes:?}");
        assert_eq!(status_of(&node["status"]["conditions"], "Ready"), "True");
        assert_eq!(
            status_of(&node["status"]["conditions"], "MemoryPressure"),
            "False"
        );
    }

    #[test]
    fn pressure_shows_in_the_conditions_and_transitions_are_kept() {
        let at: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let later: Timestamp = "2026-01-02T03:05:05Z".parse().unwrap();
        let before = conditions(&calm(), at);
        let tight = Pressure {
            memory_available_bytes: 50 << 20,
            disk_free_bytes: 5,
            ..calm()
        };
        let after = refreshed_conditions(&before, &conditions(&tight, later));
        assert_eq!(status_of(&after, "MemoryPressure"), "True");
        assert_eq!(status_of(&after, "DiskPressure"), "True");
        assert_eq!(status_of(&after, "PIDPressure"), "False");
        let ready = after
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["lastTransitionTime"], "2026-01-02T03:04:05Z");
        assert_eq!(ready["lastHeartbeatTime"], "2026-01-02T03:05:05Z");
        let memory = after
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "MemoryPressure")
            .unwrap();
        assert_eq!(memory["lastTransitionTime"], "2026-01-02T03:05:05Z");
    }
}

//! The kubelet's Node: what the machine offers (read once from /proc and
//! the file system), the pressure conditions (read every heartbeat), and
//! the Node object made from them (pure).
//!
//! ```text
//!   machine::read()  ─► Machine (cpus, memory, disk, kernel, os, ids)
//!   pressure::read() ─► Pressure (memory available, disk free, pids)
//!   node_object(name, address, machine, pressure, now) ─► the Node, as registered
//!   conditions(pressure, thresholds, now) ─► Ready / MemoryPressure / DiskPressure / PIDPressure
//!   (both built with keel-sim-nodes' registered() and conditions(), as simulated nodes are)
//! ```

pub mod machine;

use jiff::Timestamp;
use keel_sim_nodes::node::{registered, NodeInfo, Pressures, Registration};
use serde_json::{json, Value};

pub use machine::{Machine, Pressure};

/// The kubelet's version as the Node's `nodeInfo` tells it.
pub const KUBELET_VERSION: &str = "v1.33.0-keel";
/// `maxPods`: how many pods the node takes.
pub const PODS_MAX: u32 = 110;

/// The kubelet's hard eviction thresholds (`--eviction-hard`): under
/// them the node reports pressure (and the node lifecycle controller
/// taints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// `memory.available<...` in bytes (100Mi by default).
    pub memory_available_bytes: u64,
    /// `nodefs.available<...%`: the share of the kubelet directory's file
    /// system that must stay free (10 by default).
    pub disk_free_percent: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            memory_available_bytes: 100 * 1024 * 1024,
            disk_free_percent: 10,
        }
    }
}

impl Thresholds {
    /// Reads `--eviction-hard` as the kubelet writes it
    /// (`memory.available<100Mi,nodefs.available<10%`); a signal it does
    /// not name keeps its default.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut thresholds = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((signal, value)) = part.split_once('<') else {
                return Err(format!(
                    "{part:?}: expected <signal><<quantity>, such as memory.available<100Mi"
                ));
            };
            match signal {
                "memory.available" => {
                    let quantity = keel_api::validation::quantity::Quantity::parse(value)
                        .filter(|q| !q.is_negative())
                        .ok_or_else(|| format!("{value:?} is not a quantity such as 100Mi"))?;
                    thresholds.memory_available_bytes = u64::try_from(quantity.value()).unwrap_or(0);
                }
                "nodefs.available" => {
                    thresholds.disk_free_percent = value
                        .strip_suffix('%')
                        .and_then(|p| p.parse().ok())
                        .filter(|p| *p <= 100)
                        .ok_or_else(|| format!("{value:?} is not a percentage such as 10%"))?;
                }
                other => return Err(format!("{other:?} is not an eviction signal keel's kubelet knows (memory.available, nodefs.available)")),
            }
        }
        Ok(thresholds)
    }
}
/// The share of the pid space in use above which the node reports
/// PIDPressure.
pub const PIDS_USED_PERCENT_MAX: u64 = 90;

/// The Node `name` registers: its capacity and allocatable from
/// `machine`, its address, its info and conditions.
pub fn node_object(
    name: &str,
    address: &str,
    kubelet_port: u16,
    machine: &Machine,
    pressure: &Pressure,
    thresholds: &Thresholds,
    now: Timestamp,
) -> Value {
    let runtime_version = format!("keel://{}", env!("CARGO_PKG_VERSION"));
    registered(&Registration {
        name,
        address,
        kubelet_port,
        architecture: &machine.architecture,
        resources: json!({
            "cpu": machine.cpus.to_string(),
            "memory": format!("{}Ki", machine.memory_bytes / 1024),
            "ephemeral-storage": format!("{}Ki", machine.disk_bytes / 1024),
            "pods": PODS_MAX.to_string(),
        }),
        labels: &[],
        conditions: conditions(pressure, thresholds, now),
        info: NodeInfo {
            machine_id: &machine.machine_id,
            boot_id: &machine.boot_id,
            kernel_version: &machine.kernel_version,
            os_image: &machine.os_image,
            container_runtime_version: &runtime_version,
            kubelet_version: KUBELET_VERSION,
        },
    })
}

/// The node's conditions: a pressure is on while its signal is past
/// its `--eviction-hard` threshold (pids past [`PIDS_USED_PERCENT_MAX`]).
pub fn conditions(pressure: &Pressure, thresholds: &Thresholds, now: Timestamp) -> Value {
    let pressures = Pressures {
        memory: pressure.memory_available_bytes < thresholds.memory_available_bytes,
        disk: pressure.disk_free_bytes * 100 < pressure.disk_bytes * thresholds.disk_free_percent,
        pids: pressure.pids * 100 > pressure.pids_max * PIDS_USED_PERCENT_MAX,
    };
    keel_sim_nodes::node::conditions(pressures, now)
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
        let node = node_object(
            "n1",
            "10.0.0.5",
            10250,
            &machine(),
            &calm(),
            &Thresholds::default(),
            at,
        );
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
    fn eviction_thresholds_read_as_the_kubelet_writes_them() {
        let read = Thresholds::parse("memory.available<1Gi, nodefs.available<5%").unwrap();
        assert_eq!(read.memory_available_bytes, 1 << 30);
        assert_eq!(read.disk_free_percent, 5);
        assert_eq!(Thresholds::parse("").unwrap(), Thresholds::default());
        assert!(Thresholds::parse("nodefs.available<5").is_err());
        assert!(Thresholds::parse("imagefs.available<5%")
            .unwrap_err()
            .contains("not an eviction signal"));
    }

    #[test]
    fn pressure_shows_in_the_conditions_and_transitions_are_kept() {
        let at: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let later: Timestamp = "2026-01-02T03:05:05Z".parse().unwrap();
        let before = conditions(&calm(), &Thresholds::default(), at);
        let tight = Pressure {
            memory_available_bytes: 50 << 20,
            disk_free_bytes: 5,
            ..calm()
        };
        let after =
            refreshed_conditions(&before, &conditions(&tight, &Thresholds::default(), later));
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

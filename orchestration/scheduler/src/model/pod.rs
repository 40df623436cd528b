//! A pod as the scheduler sees it: read once from its JSON into the few
//! fields the filters, scores and the accounting of nodes use.
//!
//! ```text
//!   pod JSON ─► PodInfo { key, nodeName, requests (fit), non-zero requests
//!                         (scoring), node selector / affinity, tolerations,
//!                         host ports, labels, controller owner,
//!                         required anti-affinity }
//! ```
//!
//! Requests are computed as `component-helpers/resource.PodRequests`
//! computes them for the scheduler (`pkg/scheduler/framework/types.go`):
//! per resource the larger of the containers' sum and the largest init
//! container (restartable "sidecar" init containers add to the sum and to
//! every later init container), plus `spec.overhead`. The *non-zero*
//! requests are the same sum with a container's missing cpu request taken
//! as 100m and a missing memory request as 200 MiB
//! (`pkg/scheduler/util/non_zero.go`): fit counts a missing request as 0,
//! the resource scores count it as those defaults, so that pods without
//! requests do not all pile onto one node.

use std::collections::BTreeMap;
use std::fmt;

use keel_api::validation::quantity::Quantity;
use serde_json::Value;

use super::terms::{AffinityTerm, NodeSelector, PreferredTerm, Toleration, HOSTNAME_LABEL};

/// cpu a container without a cpu request counts for in the scores (0.1 core).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container without a memory request counts for in the scores.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A pod's identity in the scheduler: `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey(String);

impl PodKey {
    /// The key of the pod `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self(format!("{namespace}/{name}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Amounts of the resources the fit filter checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// cpu in thousandths of a core.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
}

impl Resources {
    /// `self + other`, resource by resource.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            milli_cpu: self.milli_cpu + other.milli_cpu,
            memory: self.memory + other.memory,
            ephemeral_storage: self.ephemeral_storage + other.ephemeral_storage,
        }
    }

    /// `self - other`, resource by resource.
    #[must_use]
    pub fn minus(self, other: Self) -> Self {
        Self {
            milli_cpu: self.milli_cpu - other.milli_cpu,
            memory: self.memory - other.memory,
            ephemeral_storage: self.ephemeral_storage - other.ephemeral_storage,
        }
    }

    /// The larger of each resource.
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        Self {
            milli_cpu: self.milli_cpu.max(other.milli_cpu),
            memory: self.memory.max(other.memory),
            ephemeral_storage: self.ephemeral_storage.max(other.ephemeral_storage),
        }
    }

    /// Whether no resource is requested.
    pub fn is_zero(self) -> bool {
        self == Self::default()
    }
}

/// The cpu and memory the resource scores count a pod for (missing
/// container requests replaced by the defaults above).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonZeroRequests {
    /// cpu in thousandths of a core.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
}

/// The pod's controller (its `ownerReference` with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its kind (ReplicaSet, Job, ...).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
}

/// A host port a container asks for, with Kubernetes' defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// `hostIP`, `0.0.0.0` when unset.
    pub ip: String,
    /// `protocol`, `TCP` when unset.
    pub protocol: String,
    /// `hostPort` (> 0).
    pub port: i64,
}

/// The wildcard host IP: conflicts with every IP on the same port.
pub const ANY_IP: &str = "0.0.0.0";

impl HostPort {
    /// Whether two pods asking for these ports could not share a node
    /// (`HostPortInfo.CheckConflict`: same protocol and port, and the same
    /// IP or either one the wildcard).
    pub fn conflicts_with(&self, other: &Self) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_IP || other.ip == ANY_IP)
    }
}

/// A pod, as the scheduler uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    /// `namespace/name`.
    pub key: PodKey,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`, for the adapter's compare-and-swap bind.
    pub resource_version: String,
    /// `spec.nodeName`: where it is bound, if it is.
    pub node_name: Option<String>,
    /// `spec.schedulerName` (`default-scheduler` when unset).
    pub scheduler_name: String,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// Whether `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// Whether `status.phase` is Succeeded or Failed: the pod holds
    /// nothing any more (kube-scheduler's informer leaves such pods out).
    pub terminal: bool,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The controller owner, if any.
    pub owner: Option<Owner>,
    /// What the fit filter counts.
    pub requests: Resources,
    /// What the resource scores count.
    pub non_zero_requests: NonZeroRequests,
    /// `spec.nodeSelector`: every label must be equal.
    pub node_selector: BTreeMap<String, String>,
    /// The required node affinity, if any.
    pub required_node_affinity: Option<NodeSelector>,
    /// The preferred node affinity terms that parsed.
    pub preferred_node_affinity: Vec<PreferredTerm>,
    /// `spec.tolerations`.
    pub tolerations: Vec<Toleration>,
    /// The host ports of its containers.
    pub host_ports: Vec<HostPort>,
    /// Its required pod anti-affinity terms on the hostname topology (terms
    /// on other topologies are not enforced by this scheduler).
    pub required_anti_affinity: Vec<AffinityTerm>,
}

/// A pod's demand while one container (or the set of containers) runs.
#[derive(Debug, Clone, Copy, Default)]
struct Demand {
    fit: Resources,
    non_zero: NonZeroRequests,
}

impl Demand {
    fn plus(self, other: Self) -> Self {
        Self {
            fit: self.fit.plus(other.fit),
            non_zero: NonZeroRequests {
                milli_cpu: self.non_zero.milli_cpu + other.non_zero.milli_cpu,
                memory: self.non_zero.memory + other.non_zero.memory,
            },
        }
    }

    fn max(self, other: Self) -> Self {
        Self {
            fit: self.fit.max(other.fit),
            non_zero: NonZeroRequests {
                milli_cpu: self.non_zero.milli_cpu.max(other.non_zero.milli_cpu),
                memory: self.non_zero.memory.max(other.non_zero.memory),
            },
        }
    }
}

fn quantity(list: Option<&Value>, name: &str) -> Option<Quantity> {
    match list?.get(name)? {
        Value::String(text) => Quantity::parse(text),
        Value::Number(number) => Quantity::parse(&number.to_string()),
        _ => None,
    }
}

/// The resources a list (`requests`, `overhead`) names; 0 for the others.
fn resources_of(list: Option<&Value>) -> Resources {
    Resources {
        milli_cpu: quantity(list, "cpu").map_or(0, Quantity::milli_value),
        memory: quantity(list, "memory").map_or(0, Quantity::value),
        ephemeral_storage: quantity(list, "ephemeral-storage").map_or(0, Quantity::value),
    }
}

fn container_demand(container: &Value) -> Demand {
    let requests = container.pointer("/resources/requests");
    let fit = resources_of(requests);
    let has = |name: &str| requests.and_then(|r| r.get(name)).is_some();
    Demand {
        fit,
        non_zero: NonZeroRequests {
            milli_cpu: if has("cpu") {
                fit.milli_cpu
            } else {
                DEFAULT_MILLI_CPU_REQUEST
            },
            memory: if has("memory") {
                fit.memory
            } else {
                DEFAULT_MEMORY_REQUEST
            },
        },
    }
}

fn list<'a>(spec: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The pod's demand as `PodRequests` sums it (see the module doc).
fn pod_demand(spec: &Value) -> Demand {
    let mut total = list(spec, "containers")
        .map(container_demand)
        .fold(Demand::default(), Demand::plus);
    let mut sidecars = Demand::default();
    let mut init_peak = Demand::default();
    for init in list(spec, "initContainers") {
        let demand = container_demand(init);
        let while_running = if init.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            total = total.plus(demand);
            sidecars = sidecars.plus(demand);
            sidecars
        } else {
            demand.plus(sidecars)
        };
        init_peak = init_peak.max(while_running);
    }
    let overhead = resources_of(spec.get("overhead"));
    let overhead = Demand {
        fit: overhead,
        non_zero: NonZeroRequests {
            milli_cpu: overhead.milli_cpu,
            memory: overhead.memory,
        },
    };
    total.max(init_peak).plus(overhead)
}

fn host_ports(spec: &Value) -> Vec<HostPort> {
    let mut ports = Vec::new();
    for container in list(spec, "containers") {
        for port in list(container, "ports") {
            let number = port.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
            if number <= 0 {
                continue;
            }
            let text = |name: &str, default: &str| {
                port.get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(default)
                    .to_owned()
            };
            ports.push(HostPort {
                ip: text("hostIP", ANY_IP),
                protocol: text("protocol", "TCP"),
                port: number,
            });
        }
    }
    ports
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
        .collect()
}

fn controller_owner(metadata: &Value) -> Option<Owner> {
    list(metadata, "ownerReferences")
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|r| {
            let text = |name: &str| r.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
            Owner {
                kind: text("kind"),
                name: text("name"),
                uid: text("uid"),
            }
        })
}

impl PodInfo {
    /// Reads a pod in kube-apiserver's JSON form.
    pub fn from_pod(pod: &Value) -> Self {
        let null = Value::Null;
        let metadata = pod.get("metadata").unwrap_or(&null);
        let spec = pod.get("spec").unwrap_or(&null);
        let text = |value: &Value, name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let namespace = text(metadata, "namespace");
        let name = text(metadata, "name");
        let demand = pod_demand(spec);
        let node_affinity = spec.pointer("/affinity/nodeAffinity");
        let required_node_affinity = node_affinity
            .and_then(|a| a.get("requiredDuringSchedulingIgnoredDuringExecution"))
            .filter(|v| !v.is_null())
            .map(NodeSelector::from_json);
        let preferred_node_affinity = node_affinity
            .map(|a| {
                list(a, "preferredDuringSchedulingIgnoredDuringExecution")
                    .filter_map(PreferredTerm::from_json)
                    .collect()
            })
            .unwrap_or_default();
        let required_anti_affinity = spec
            .pointer("/affinity/podAntiAffinity")
            .map(|a| {
                list(a, "requiredDuringSchedulingIgnoredDuringExecution")
                    .map(|t| AffinityTerm::from_json(t, &namespace))
                    .filter(|t| t.topology_key == HOSTNAME_LABEL)
                    .collect()
            })
            .unwrap_or_default();
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        Self {
            key: PodKey::new(&namespace, &name),
            uid: text(metadata, "uid"),
            resource_version: text(metadata, "resourceVersion"),
            node_name: spec
                .get("nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            scheduler_name: spec
                .get("schedulerName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or("default-scheduler")
                .to_owned(),
            priority: spec
                .get("priority")
                .and_then(Value::as_i64)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            terminating: metadata
                .get("deletionTimestamp")
                .is_some_and(|v| !v.is_null()),
            terminal: matches!(phase, Some("Succeeded" | "Failed")),
            labels: string_map(metadata.get("labels")),
            owner: controller_owner(metadata),
            requests: demand.fit,
            non_zero_requests: demand.non_zero,
            node_selector: string_map(spec.get("nodeSelector")),
            required_node_affinity,
            preferred_node_affinity,
            tolerations: list(spec, "tolerations")
                .map(Toleration::from_json)
                .collect(),
            host_ports: host_ports(spec),
            required_anti_affinity,
            namespace,
            name,
        }
    }
}

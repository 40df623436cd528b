//! Pods' rows: printers.go `printPod` of Kubernetes 1.33.
//!
//! ```text
//!   STATUS  phase, or status.reason, or SchedulingGated
//!             └─ init containers, in order, up to the first not done:
//!                  Init:<reason> | Init:ExitCode:N | Init:Signal:N | Init:i/n
//!             └─ unless initializing: the first container with a waiting or
//!                terminated reason (Completed turns back to Running /
//!                NotReady while a container still runs)
//!             └─ deleted: Unknown (node lost) or Terminating (not finished)
//!   READY    ready containers / containers (+ sidecar init containers)
//!   RESTARTS "N", or "N (5m ago)" from the last termination
//! ```

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition, PodStatus};
use serde_json::{json, Value};

use super::cells::{age, instant, since};
use super::{decode, Column, Row, AGE, NAME};

/// printers.go `podColumnDefinitions`.
pub(super) const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::new(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    Column::new(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    Column::wide(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    Column::wide(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
    ),
    Column::wide(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
    ),
    Column::wide(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
    ),
];

/// The reason the node lifecycle controller gives a pod on a lost node
/// (pkg/util/node `NodeUnreachablePodReason`).
const NODE_UNREACHABLE_POD_REASON: &str = "NodeLost";

/// The scheduler's reason for a pod held by scheduling gates.
const SCHEDULING_GATED: &str = "SchedulingGated";

/// Restarts counted so far and when the latest counted one happened.
#[derive(Debug, Default, Clone, Copy)]
struct Restarts {
    /// Restarts of the containers counted.
    count: i64,
    /// The latest `lastState.terminated.finishedAt` among them.
    last: Option<Timestamp>,
}

impl Restarts {
    /// Counts one container's restarts and its last termination.
    fn add(&mut self, status: &ContainerStatus) {
        self.count += i64::from(status.restart_count);
        let finished = status
            .last_state
            .as_ref()
            .and_then(|state| state.terminated.as_ref())
            .map(|terminated| instant(terminated.finished_at.as_ref()));
        if let Some(finished) = finished {
            if self.last.is_none_or(|last| last < finished) {
                self.last = Some(finished);
            }
        }
    }

    /// The RESTARTS cell: "3", or "3 (5m ago)".
    fn cell(self, now: Timestamp) -> String {
        match self.last {
            Some(last) if self.count != 0 && last != super::cells::go_zero_time() => {
                format!("{} ({} ago)", self.count, since(last, now))
            }
            _ => self.count.to_string(),
        }
    }
}

/// What the pass over the status found.
struct Summary {
    /// The STATUS cell.
    reason: String,
    /// Containers (and started sidecars) that are ready.
    ready: usize,
    /// Restarts, as the RESTARTS cell counts them.
    restarts: Restarts,
}

/// The row of one pod.
pub(super) fn row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let pod: Pod = decode(object)?;
    let spec = pod.spec.unwrap_or_default();
    let status = pod.status.unwrap_or_default();
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|container| container.restart_policy.as_deref() == Some("Always"))
        .count();
    let total = spec.containers.len() + sidecars;
    let is_sidecar = |name: &str| {
        spec.init_containers.iter().flatten().any(|container| {
            container.name == name && container.restart_policy.as_deref() == Some("Always")
        })
    };
    let init_count = spec.init_containers.as_ref().map_or(0, Vec::len);
    let mut summary = summarize(&status, init_count, &is_sidecar);
    let phase = status.phase.as_deref().unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some(NODE_UNREACHABLE_POD_REASON) {
            "Unknown".clone_into(&mut summary.reason);
        } else if !matches!(phase, "Succeeded" | "Failed") {
            "Terminating".clone_into(&mut summary.reason);
        }
    }
    let readiness_gates = match spec.readiness_gates.as_deref() {
        None | Some([]) => "<none>".to_owned(),
        Some(gates) => {
            let passed = gates
                .iter()
                .filter(|gate| {
                    first_condition(&status, &gate.condition_type)
                        .is_some_and(|c| c.status == "True")
                })
                .count();
            format!("{passed}/{}", gates.len())
        }
    };
    let conditions = match phase {
        "Succeeded" => vec![completed(
            "Succeeded",
            "The pod has completed successfully.",
        )],
        "Failed" => vec![completed("Failed", "The pod failed.")],
        _ => Vec::new(),
    };
    Ok(Row {
        cells: vec![
            pod.metadata.name.unwrap_or_default().into(),
            format!("{}/{total}", summary.ready).into(),
            summary.reason.into(),
            summary.restarts.cell(now).into(),
            age(pod.metadata.creation_timestamp.as_ref(), now).into(),
            or_none(pod_ip(&status)).into(),
            or_none(spec.node_name.unwrap_or_default()).into(),
            or_none(status.nominated_node_name.clone().unwrap_or_default()).into(),
            readiness_gates.into(),
        ],
        conditions,
    })
}

/// STATUS, READY and RESTARTS from the pod's status.
fn summarize(status: &PodStatus, init_count: usize, is_sidecar: &dyn Fn(&str) -> bool) -> Summary {
    let mut reason = status
        .reason
        .clone()
        .filter(|reason| !reason.is_empty())
        .or_else(|| status.phase.clone())
        .unwrap_or_default();
    let gated = status.conditions.iter().flatten().any(|condition| {
        condition.type_ == "PodScheduled" && condition.reason.as_deref() == Some(SCHEDULING_GATED)
    });
    if gated {
        SCHEDULING_GATED.clone_into(&mut reason);
    }
    let mut ready = 0;
    let mut all_restarts = Restarts::default();
    let mut sidecar_restarts = Restarts::default();
    let mut initializing = false;
    for (index, container) in status.init_container_statuses.iter().flatten().enumerate() {
        all_restarts.add(container);
        let sidecar = is_sidecar(&container.name);
        if sidecar {
            sidecar_restarts.add(container);
        }
        let state = container.state.clone().unwrap_or_default();
        let terminated = state.terminated.as_ref();
        let waiting_reason = state
            .waiting
            .as_ref()
            .and_then(|waiting| waiting.reason.as_deref())
            .filter(|reason| !reason.is_empty() && *reason != "PodInitializing");
        if terminated.is_some_and(|terminated| terminated.exit_code == 0) {
            continue;
        }
        if sidecar && container.started == Some(true) {
            if container.ready {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(terminated) = terminated {
            match terminated
                .reason
                .as_deref()
                .filter(|reason| !reason.is_empty())
            {
                Some(terminated_reason) => format!("Init:{terminated_reason}"),
                None => match terminated.signal.filter(|signal| *signal != 0) {
                    Some(signal) => format!("Init:Signal:{signal}"),
                    None => format!("Init:ExitCode:{}", terminated.exit_code),
                },
            }
        } else if let Some(waiting_reason) = waiting_reason {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{index}/{init_count}")
        };
        initializing = true;
        break;
    }
    let mut restarts = all_restarts;
    let initialized = first_condition(status, "Initialized").is_some_and(|c| c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        let mut has_running = false;
        for container in status.container_statuses.iter().flatten().rev() {
            restarts.add(container);
            let state = container.state.clone().unwrap_or_default();
            let waiting_reason = state
                .waiting
                .as_ref()
                .and_then(|waiting| waiting.reason.clone())
                .filter(|reason| !reason.is_empty());
            if let Some(waiting_reason) = waiting_reason {
                reason = waiting_reason;
            } else if let Some(terminated) = state.terminated.as_ref() {
                reason = match terminated
                    .reason
                    .as_deref()
                    .filter(|reason| !reason.is_empty())
                {
                    Some(terminated_reason) => terminated_reason.to_owned(),
                    None => match terminated.signal.filter(|signal| *signal != 0) {
                        Some(signal) => format!("Signal:{signal}"),
                        None => format!("ExitCode:{}", terminated.exit_code),
                    },
                };
            } else if container.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status
                .conditions
                .iter()
                .flatten()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True");
            if pod_ready { "Running" } else { "NotReady" }.clone_into(&mut reason);
        }
    }
    Summary {
        reason,
        ready,
        restarts,
    }
}

/// The first condition of `condition_type`, as printers.go looks them up.
fn first_condition<'s>(status: &'s PodStatus, condition_type: &str) -> Option<&'s PodCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == condition_type)
}

/// The pod's first IP as kube-apiserver's internal form holds it: `podIP`
/// wins over `podIPs[0]` (pkg/apis/core/v1 `Convert_v1_PodStatus_To_core_PodStatus`).
fn pod_ip(status: &PodStatus) -> String {
    match status.pod_ip.as_deref() {
        Some(ip) if !ip.is_empty() => ip.to_owned(),
        _ => status
            .pod_ips
            .iter()
            .flatten()
            .next()
            .map(|pod_ip| pod_ip.ip.clone())
            .unwrap_or_default(),
    }
}

/// `value`, or "<none>" when it is empty.
fn or_none(value: String) -> String {
    if value.is_empty() {
        "<none>".to_owned()
    } else {
        value
    }
}

/// The row condition of a finished pod (printers.go `podSuccessConditions`,
/// `podFailedConditions`).
fn completed(reason: &str, message: &str) -> Value {
    json!({"type": "Completed", "status": "True", "reason": reason, "message": message})
}

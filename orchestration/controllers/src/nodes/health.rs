//! A node's health as the node lifecycle controller judges it
//! (`tryUpdateNodeHealth`, `doNoScheduleTaintingPass`,
//! `doNoExecuteTaintingPass`, `MarkPodsNotReady`).

use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodStatus, Taint};
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::{
    TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_NETWORK_UNAVAILABLE, TAINT_NOT_READY,
    TAINT_PID_PRESSURE, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE,
};
use crate::events::Notice;

/// The message of a condition the controller turned Unknown.
pub const STOPPED_POSTING_MESSAGE: &str = "Kubelet stopped posting node status.";
/// The message of a condition the kubelet never reported.
pub const NEVER_UPDATED_MESSAGE: &str = "Kubelet never posted node status.";

/// The conditions the controller turns Unknown when the kubelet goes
/// quiet (NetworkUnavailable is the network plugin's, left alone).
const WATCHED_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// The node lifecycle controller's timings (kube-controller-manager's
/// flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimings {
    /// `--node-monitor-grace-period`: how long a node may go without a
    /// heartbeat before it is Unknown (50 s since Kubernetes 1.32).
    pub monitor_grace: SignedDuration,
    /// `--node-startup-grace-period`: the same for a node that never
    /// reported Ready (60 s).
    pub startup_grace: SignedDuration,
}

impl Default for NodeTimings {
    fn default() -> Self {
        Self {
            monitor_grace: SignedDuration::from_secs(50),
            startup_grace: SignedDuration::from_secs(60),
        }
    }
}

/// What the controller does about one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeHealth {
    /// The node's new `status.conditions`, when they changed (write
    /// through `/status`).
    pub conditions: Option<Vec<NodeCondition>>,
    /// The node's new `spec.taints`, when they changed.
    pub taints: Option<Vec<Taint>>,
    /// Mark the node's pods not ready ([`pod_marked_not_ready`]): the node
    /// just stopped being Ready.
    pub mark_pods_not_ready: bool,
    /// Events to record on the node.
    pub events: Vec<Notice>,
    /// Look again after this long (when the heartbeat would run out).
    pub requeue_after: Option<SignedDuration>,
}

fn condition<'c>(conditions: &'c [NodeCondition], kind: &str) -> Option<&'c NodeCondition> {
    conditions.iter().find(|c| c.type_ == kind)
}

/// The last sign of life: the Ready condition's heartbeat or the Lease's
/// renewal, whichever is later (for a node that never reported, its
/// creation). Kubernetes times it by its own clock when it observes a
/// change; keel reads the times written, which is the same when clocks
/// agree and survives a restart of the controller.
fn last_heard(
    node: &Node,
    ready: Option<&NodeCondition>,
    lease: Option<&Lease>,
) -> Option<Timestamp> {
    let heartbeat = match ready {
        Some(ready) => ready.last_heartbeat_time.as_ref().map(|t| t.0),
        None => node.metadata.creation_timestamp.as_ref().map(|t| t.0),
    };
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    heartbeat.max(renewed)
}

/// The taints the controller wants for these conditions: (key, effect).
fn wanted_taints(node: &Node, conditions: &[NodeCondition]) -> Vec<(&'static str, &'static str)> {
    let status = |kind: &str| condition(conditions, kind).map(|c| c.status.as_str());
    let mut wanted = Vec::new();
    match status("Ready") {
        Some("False") => wanted.extend([
            (TAINT_NOT_READY, "NoSchedule"),
            (TAINT_NOT_READY, "NoExecute"),
        ]),
        Some("Unknown") => {
            wanted.extend([
                (TAINT_UNREACHABLE, "NoSchedule"),
                (TAINT_UNREACHABLE, "NoExecute"),
            ]);
        }
        _ => {}
    }
    for (kind, key) in [
        ("MemoryPressure", TAINT_MEMORY_PRESSURE),
        ("DiskPressure", TAINT_DISK_PRESSURE),
        ("NetworkUnavailable", TAINT_NETWORK_UNAVAILABLE),
        ("PIDPressure", TAINT_PID_PRESSURE),
    ] {
        if status(kind) == Some("True") {
            wanted.push((key, "NoSchedule"));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        wanted.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    wanted
}

/// Whether the controller owns this taint (and so may add or remove it).
fn controller_taint(taint: &Taint) -> bool {
    match taint.effect.as_str() {
        "NoSchedule" => [
            TAINT_NOT_READY,
            TAINT_UNREACHABLE,
            TAINT_MEMORY_PRESSURE,
            TAINT_DISK_PRESSURE,
            TAINT_NETWORK_UNAVAILABLE,
            TAINT_PID_PRESSURE,
            TAINT_UNSCHEDULABLE,
        ]
        .contains(&taint.key.as_str()),
        "NoExecute" => [TAINT_NOT_READY, TAINT_UNREACHABLE].contains(&taint.key.as_str()),
        _ => false,
    }
}

/// The node's taints with the controller's brought in line with
/// `wanted`: others' taints stay, kept ones keep their timeAdded, new
/// ones are added at `now` (`SwapNodeControllerTaint` stamps them).
fn reconcile_taints(current: &[Taint], wanted: &[(&str, &str)], now: Timestamp) -> Vec<Taint> {
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| !controller_taint(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !taints.iter().any(|t| t.key == *key && t.effect == *effect) {
            taints.push(Taint {
                key: (*key).to_owned(),
                effect: (*effect).to_owned(),
                value: None,
                time_added: Some(Time(now)),
            });
        }
    }
    taints
}

/// Judges `node`, whose kubelet renews `lease`, at `now`.
pub fn node_health(
    node: &Node,
    lease: Option<&Lease>,
    timings: &NodeTimings,
    now: Timestamp,
) -> NodeHealth {
    let mut out = NodeHealth::default();
    let before: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut conditions = before.clone();
    let ready = condition(&before, "Ready");
    let grace = if ready.is_some() {
        timings.monitor_grace
    } else {
        timings.startup_grace
    };
    let heard = last_heard(node, ready, lease).unwrap_or(now);
    let deadline = heard + grace;
    if now > deadline {
        stop_trusting(node, &mut conditions, now);
    } else {
        out.requeue_after = Some(
            deadline
                .duration_since(now)
                .max(SignedDuration::from_secs(1)),
        );
    }
    let was_ready = ready.is_some_and(|c| c.status == "True");
    let is_ready = condition(&conditions, "Ready").is_some_and(|c| c.status == "True");
    if was_ready && !is_ready {
        out.mark_pods_not_ready = true;
        let name = node.metadata.name.as_deref().unwrap_or("");
        out.events.push(Notice::normal(
            "NodeNotReady",
            &format!("Node {name} status is now: NodeNotReady"),
        ));
    }
    let current_taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let taints = reconcile_taints(&current_taints, &wanted_taints(node, &conditions), now);
    if taints != current_taints {
        out.taints = Some(taints);
    }
    if conditions != before {
        out.conditions = Some(conditions);
    }
    out
}

/// Marks the watched conditions Unknown, as `tryUpdateNodeHealth` does
/// when the grace period ran out.
fn stop_trusting(node: &Node, conditions: &mut Vec<NodeCondition>, now: Timestamp) {
    for kind in WATCHED_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == kind) {
            None => conditions.push(NodeCondition {
                type_: kind.to_owned(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some(NEVER_UPDATED_MESSAGE.into()),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: Some(Time(now)),
            }),
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some(STOPPED_POSTING_MESSAGE.into());
                c.last_transition_time = Some(Time(now));
            }
            Some(_) => {}
        }
    }
}

/// The status a pod on a node that stopped being Ready gets
/// (`MarkPodsNotReady`): its Ready condition False, changed at `now`;
/// `None` if it is not Ready now (nothing to write).
pub fn pod_marked_not_ready(pod: &Pod, now: Timestamp) -> Option<PodStatus> {
    let mut status = pod.status.clone()?;
    let ready = status
        .conditions
        .iter_mut()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status != "False")?;
    ready.status = "False".into();
    ready.last_transition_time = Some(Time(now));
    Some(status)
}

//! A pod's status as the kubelet writes it (`generateAPIPodStatus`):
//! phase, conditions, the containers' states, addresses, start time.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::plan::{containers, init_containers, is_terminal, restart_policy, restarts, start_wait};
use super::{BackoffPolicy, ContainerRecord, Run};
use crate::runtime::State;

/// Where the pod runs: what its status's addresses say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The node's address.
    pub host_ip: String,
    /// The pod's address, once its network is set up.
    pub pod_ip: Option<String>,
}

/// Kubernetes' `metav1.Time`: RFC 3339 in whole seconds.
fn time(at: Timestamp) -> String {
    keel_sim_nodes::node::seconds(at)
}

/// The runtime's id as a status names it (`keel://<id>`).
pub fn container_id(run: &Run) -> String {
    format!("keel://{}", run.id)
}

fn terminated(run: &Run) -> Option<Value> {
    let State::Exited { started_at, exit } = &run.state else {
        return None;
    };
    let reason = if exit.oom_killed {
        "OOMKilled"
    } else if exit.code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Some(json!({
        "exitCode": exit.code,
        "reason": reason,
        "startedAt": time(*started_at),
        "finishedAt": time(exit.finished_at),
        "containerID": container_id(run),
    }))
}

/// A duration as Go's `time.Duration` prints it (`10s`, `5m0s`, `500ms`),
/// which the kubelet's back-off messages show.
pub fn go_duration(duration: std::time::Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let seconds = duration.as_secs_f64() % 60.0;
    let whole = duration.as_secs();
    let seconds = if duration.subsec_millis() == 0 {
        format!("{}s", whole % 60)
    } else {
        format!("{seconds}s")
    };
    match (whole / 3600, whole / 60 % 60) {
        (0, 0) => seconds,
        (0, minutes) => format!("{minutes}m{seconds}"),
        (hours, minutes) => format!("{hours}h{minutes}m{seconds}"),
    }
}

/// One container's status.
fn container_status(
    pod: &Value,
    spec: &Value,
    record: &ContainerRecord,
    not_yet: &str,
    policy: &BackoffPolicy,
    now: Timestamp,
) -> Value {
    let name = spec.get("name").cloned().unwrap_or(Value::Null);
    let image = spec.get("image").cloned().unwrap_or(Value::Null);
    let mut last = record.previous.as_ref().and_then(terminated);
    let state = match &record.current {
        Some(Run {
            state: State::Running { started_at },
            ..
        }) => json!({"running": {"startedAt": time(*started_at)}}),
        _ if record.waiting.is_some() => {
            let waiting = record.waiting.as_ref().expect("checked");
            if let Some(current) = record.current.as_ref().and_then(terminated) {
                last = Some(current);
            }
            json!({"waiting": {"reason": waiting.reason, "message": waiting.message}})
        }
        Some(run) => {
            let finished = terminated(run).expect("not running");
            let backing_off = !is_terminal(pod)
                && restarts(pod, run.exit_code().unwrap_or(0))
                && start_wait(pod, record, policy, now).is_some();
            if backing_off {
                last = Some(finished);
                let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str);
                let namespace = pod.pointer("/metadata/namespace").and_then(Value::as_str);
                let uid = pod.pointer("/metadata/uid").and_then(Value::as_str);
                let delay = record.backoff.map_or(policy.base, |b| b.delay);
                let message = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    go_duration(delay),
                    name.as_str().unwrap_or(""),
                    pod_name.unwrap_or(""),
                    namespace.unwrap_or(""),
                    uid.unwrap_or(""),
                );
                json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}})
            } else {
                json!({"terminated": finished})
            }
        }
        None => json!({"waiting": {"reason": not_yet}}),
    };
    let mut status = json!({
        "name": name,
        "image": image,
        "imageID": record.current.as_ref().map_or("", |run| run.image_id.as_str()),
        "state": state,
        "lastState": last.map_or_else(|| json!({}), |t| json!({"terminated": t})),
        "ready": record.is_running() && record.ready,
        "restartCount": record.restart_count(),
        "started": record.is_running() && record.started,
    });
    if let Some(run) = &record.current {
        status["containerID"] = container_id(run).into();
    }
    status
}

/// The pod's phase (`getPhase`), from its containers' statuses.
fn phase(pod: &Value, init: &[Value], regular: &[Value]) -> &'static str {
    let policy = restart_policy(pod);
    let never = policy == "Never";
    let state_of = |s: &Value, what: &str| s.pointer(&format!("/state/{what}")).is_some();
    for status in init {
        if state_of(status, "terminated") {
            if status
                .pointer("/state/terminated/exitCode")
                .and_then(Value::as_i64)
                == Some(0)
            {
                continue;
            }
            return if never { "Failed" } else { "Pending" };
        }
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for status in regular {
        if state_of(status, "running") {
            running += 1;
        } else if state_of(status, "terminated") {
            stopped += 1;
            if status
                .pointer("/state/terminated/exitCode")
                .and_then(Value::as_i64)
                == Some(0)
            {
                succeeded += 1;
            }
        } else if status.pointer("/lastState/terminated").is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    match () {
        () if waiting > 0 => "Pending",
        () if running > 0 => "Running",
        () if stopped > 0 => match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        },
        () => "Pending",
    }
}

/// A condition of `kind`, keeping its `lastTransitionTime` from `old`
/// when its status is unchanged.
fn condition(
    old: &[Value],
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: Timestamp,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = old
        .iter()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| time(now).into());
    let mut condition = json!({
        "type": kind,
        "status": status,
        "lastProbeTime": null,
        "lastTransitionTime": since,
    });
    if let Some(reason) = reason {
        condition["reason"] = reason.into();
    }
    if let Some(message) = message {
        condition["message"] = message.into();
    }
    condition
}

/// The pod's status: its stored status with the kubelet's fields made
/// anew from `records` (conditions of other types are kept).
pub fn status(
    pod: &Value,
    records: &BTreeMap<String, ContainerRecord>,
    placement: &Placement,
    policy: &BackoffPolicy,
    now: Timestamp,
) -> Value {
    let empty = ContainerRecord::default();
    let specs = |list: &str| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let init_specs = specs("initContainers");
    let init_done = init_containers(pod)
        .iter()
        .all(|name| records.get(*name).is_some_and(ContainerRecord::succeeded));
    let not_yet = if init_done {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let init: Vec<Value> = init_specs
        .iter()
        .map(|spec| {
            let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
            let record = records.get(name).unwrap_or(&empty);
            let mut status = container_status(pod, spec, record, "PodInitializing", policy, now);
            if record.succeeded() {
                status["ready"] = true.into();
            }
            status
        })
        .collect();
    let regular: Vec<Value> = specs("containers")
        .iter()
        .map(|spec| {
            let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
            container_status(
                pod,
                spec,
                records.get(name).unwrap_or(&empty),
                not_yet,
                policy,
                now,
            )
        })
        .collect();
    let stored = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let phase = match stored.get("phase").and_then(Value::as_str) {
        Some("Succeeded") => "Succeeded",
        Some("Failed") => "Failed",
        _ => phase(pod, &init, &regular),
    };
    let old: Vec<Value> = stored
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let incomplete: Vec<&str> = init_containers(pod)
        .into_iter()
        .filter(|name| !records.get(*name).is_some_and(ContainerRecord::succeeded))
        .collect();
    let unready: Vec<&str> = containers(pod)
        .into_iter()
        .filter(|name| {
            !records
                .get(*name)
                .is_some_and(|r| r.is_running() && r.ready)
        })
        .collect();
    let listed = |names: &[&str]| format!("[{}]", names.join(" "));
    let (ready_reason, ready_message) = if phase == "Succeeded" {
        (Some("PodCompleted"), None)
    } else if unready.is_empty() {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: {}",
                listed(&unready)
            )),
        )
    };
    let ready = unready.is_empty() && phase == "Running";
    let mut conditions: Vec<Value> = old
        .iter()
        .filter(|c| {
            !matches!(
                c["type"].as_str(),
                Some("PodReadyToStartContainers" | "Initialized" | "Ready" | "ContainersReady")
            )
        })
        .cloned()
        .collect();
    conditions.push(condition(
        &old,
        "PodReadyToStartContainers",
        placement.pod_ip.is_some(),
        None,
        None,
        now,
    ));
    conditions.push(condition(
        &old,
        "Initialized",
        incomplete.is_empty(),
        (!incomplete.is_empty()).then_some("ContainersNotInitialized"),
        (!incomplete.is_empty())
            .then(|| format!("containers with incomplete status: {}", listed(&incomplete))),
        now,
    ));
    conditions.push(condition(
        &old,
        "Ready",
        ready,
        ready_reason,
        ready_message.clone(),
        now,
    ));
    conditions.push(condition(
        &old,
        "ContainersReady",
        ready,
        ready_reason,
        ready_message,
        now,
    ));
    let mut status = match stored {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    status.insert("phase".into(), phase.into());
    status.insert("conditions".into(), conditions.into());
    status.insert("hostIP".into(), placement.host_ip.clone().into());
    status.insert("hostIPs".into(), json!([{"ip": placement.host_ip}]));
    if let Some(ip) = &placement.pod_ip {
        status.insert("podIP".into(), ip.clone().into());
        status.insert("podIPs".into(), json!([{"ip": ip}]));
    }
    status
        .entry("startTime")
        .or_insert_with(|| time(now).into());
    if init.is_empty() {
        status.remove("initContainerStatuses");
    } else {
        status.insert("initContainerStatuses".into(), init.into());
    }
    status.insert("containerStatuses".into(), regular.into());
    Value::Object(status)
}

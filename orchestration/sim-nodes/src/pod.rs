//! What a simulated kubelet does with a pod bound to its node, as plain
//! decisions: the stages kwok's default stages move pods through.
//!
//! ```text
//!   Pending ──Start──► Running, Ready (every container running)
//!                        │ restartPolicy OnFailure/Never and a duration annotation:
//!                        └─ at startTime + duration ──► Succeeded (exit 0) / Failed (exit ≠ 0)
//!   deletionTimestamp set ──► Remove (the kubelet's final delete, at once)
//! ```
//!
//! Two annotations steer a pod that is not restarted forever:
//! [`DURATION_ANNOTATION`] (how long it runs, in jiff's friendly form,
//! `5s`, `1m30s`, `500ms`) and [`EXIT_CODE_ANNOTATION`] (its containers'
//! exit code, 0 when absent). A pod without a duration runs until it is
//! deleted, whatever its restart policy.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::node::seconds;

/// How long a pod runs before its containers exit (`5s`, `1m`).
pub const DURATION_ANNOTATION: &str = "sim.keel.dev/duration";
/// The exit code its containers exit with (default 0: Succeeded).
pub const EXIT_CODE_ANNOTATION: &str = "sim.keel.dev/exit-code";

/// What to do with a pod now.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing until it changes.
    Nothing,
    /// Start it: write [`running_status`].
    Start,
    /// Look again after this long (it finishes then).
    WaitFor(Duration),
    /// Its containers have exited: write this status.
    Finish(Value),
    /// It is being deleted: delete it for good, as a kubelet does once its
    /// containers have stopped (a simulated pod stops at once).
    Remove,
    /// An annotation cannot be read; the pod is left as it is.
    BadAnnotation(String),
}

/// The next step for `pod` at `now`.
pub fn step(pod: &Value, now: Timestamp) -> Step {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return Step::Remove;
    }
    match phase(pod) {
        "" | "Pending" => Step::Start,
        "Running" => finishing(pod, now),
        _ => Step::Nothing,
    }
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn annotation<'p>(pod: &'p Value, name: &str) -> Option<&'p str> {
    pod.pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(name))
        .and_then(Value::as_str)
}

/// A running pod's next step: wait for or write its end.
fn finishing(pod: &Value, now: Timestamp) -> Step {
    let restarts = pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    let Some(text) = annotation(pod, DURATION_ANNOTATION) else {
        return Step::Nothing;
    };
    if restarts == "Always" {
        return Step::Nothing;
    }
    let duration = match text.parse::<SignedDuration>() {
        Ok(duration) if !duration.is_negative() => duration,
        _ => {
            return Step::BadAnnotation(format!(
                "{DURATION_ANNOTATION}: {text:?} is not a duration such as 5s or 1m30s"
            ))
        }
    };
    let exit_code = match annotation(pod, EXIT_CODE_ANNOTATION).map(str::parse::<i32>) {
        None => 0,
        Some(Ok(code)) => code,
        Some(Err(_)) => {
            return Step::BadAnnotation(format!("{EXIT_CODE_ANNOTATION} is not an integer"));
        }
    };
    let started = pod
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Timestamp>().ok())
        .unwrap_or(now);
    let Ok(ends) = started.checked_add(duration) else {
        return Step::BadAnnotation(format!("{DURATION_ANNOTATION}: {text:?} is too long"));
    };
    if ends > now {
        let left = now.duration_until(ends).unsigned_abs();
        return Step::WaitFor(left);
    }
    Step::Finish(finished_status(pod, ends, exit_code))
}

/// Names and images of the pod's containers.
fn containers(pod: &Value) -> impl Iterator<Item = (&str, &str)> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|container| {
            let field = |name| container.get(name).and_then(Value::as_str).unwrap_or("");
            (field("name"), field("image"))
        })
}

/// A condition as the kubelet writes it (no heartbeat time on pods).
fn condition(kind: &str, status: &str, at: &str, reason: Option<&str>) -> Value {
    let mut condition = json!({"type": kind, "status": status, "lastProbeTime": null,
                               "lastTransitionTime": at});
    if let Some(reason) = reason {
        condition["reason"] = reason.into();
    }
    condition
}

/// The pod's PodScheduled condition as the binding left it, or a fresh
/// one.
fn scheduled(pod: &Value, at: &str) -> Value {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
        .cloned()
        .unwrap_or_else(|| condition("PodScheduled", "True", at, None))
}

/// `pod`'s status once it runs on a node at `host_ip` with `pod_ip`, every
/// container running and ready, as a kubelet reports it
/// (pkg/kubelet/status/generate.go's conditions).
pub fn running_status(pod: &Value, now: Timestamp, host_ip: &str, pod_ip: &str) -> Value {
    let at = seconds(now);
    let statuses: Vec<Value> = containers(pod)
        .map(|(name, image)| {
            json!({"name": name, "image": image, "imageID": "",
                   "containerID": format!("sim://{}", container_id(pod, name)),
                   "ready": true, "started": true, "restartCount": 0,
                   "state": {"running": {"startedAt": at}}})
        })
        .collect();
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    status["phase"] = "Running".into();
    status["conditions"] = json!([
        condition("PodReadyToStartContainers", "True", &at, None),
        condition("Initialized", "True", &at, None),
        condition("Ready", "True", &at, None),
        condition("ContainersReady", "True", &at, None),
        scheduled(pod, &at),
    ]);
    status["hostIP"] = host_ip.into();
    status["hostIPs"] = json!([{"ip": host_ip}]);
    status["podIP"] = pod_ip.into();
    status["podIPs"] = json!([{"ip": pod_ip}]);
    status["startTime"] = at.into();
    status["containerStatuses"] = statuses.into();
    status
}

/// `pod`'s status once its containers exited with `exit_code` at
/// `ended`: Succeeded for 0, else Failed; not ready any more (reason
/// PodCompleted, as the kubelet says of a finished pod).
pub fn finished_status(pod: &Value, ended: Timestamp, exit_code: i32) -> Value {
    let at = seconds(ended);
    let started = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or_else(|| at.clone().into());
    let reason = if exit_code == 0 { "Completed" } else { "Error" };
    let statuses: Vec<Value> = containers(pod)
        .map(|(name, image)| {
            json!({"name": name, "image": image, "imageID": "",
                   "containerID": format!("sim://{}", container_id(pod, name)),
                   "ready": false, "started": false, "restartCount": 0,
                   "state": {"terminated": {"exitCode": exit_code, "reason": reason,
                                            "startedAt": started, "finishedAt": at,
                                            "containerID": format!("sim://{}", container_id(pod, name))}}})
        })
        .collect();
    let mut status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    status["phase"] = if exit_code == 0 {
        "Succeeded"
    } else {
        "Failed"
    }
    .into();
    let not_ready = |kind| condition(kind, "False", &at, Some("PodCompleted"));
    status["conditions"] = json!([
        condition("PodReadyToStartContainers", "False", &at, None),
        condition("Initialized", "True", &at, Some("PodCompleted")),
        not_ready("Ready"),
        not_ready("ContainersReady"),
        scheduled(pod, &at),
    ]);
    status["containerStatuses"] = statuses.into();
    status
}

/// A container's ID: the pod's uid and the container's name.
fn container_id(pod: &Value, name: &str) -> String {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{uid}-{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_api::k8s_openapi::api::core::v1::PodStatus;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[allow(clippy::needless_pass_by_value, reason = "shorter calls")]
    fn pod(restart: &str, annotations: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "uid": "u1",
                            "annotations": annotations},
               "spec": {"restartPolicy": restart, "nodeName": "sim-1",
                        "containers": [{"name": "main", "image": "busybox"}]},
               "status": status})
    }

    #[test]
    fn a_pending_pod_starts_and_is_ready() {
        let pending = pod(
            "Always",
            json!({}),
            json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
        );
        assert_eq!(step(&pending, at("2026-01-01T00:00:01Z")), Step::Start);
        let status = running_status(
            &pending,
            at("2026-01-01T00:00:01Z"),
            "10.0.0.1",
            "10.244.0.5",
        );
        let typed: PodStatus = serde_json::from_value(status.clone()).unwrap();
        assert_eq!(typed.phase.as_deref(), Some("Running"));
        assert_eq!(typed.pod_ip.as_deref(), Some("10.244.0.5"));
        let ready: Vec<_> = typed
            .conditions
            .unwrap()
            .into_iter()
            .map(|c| (c.type_, c.status))
            .collect();
        assert!(ready.contains(&("Ready".into(), "True".into())));
        // The binding's condition keeps its time.
        assert_eq!(
            status["conditions"][4]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            status["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-01-01T00:00:01Z"
        );
    }

    fn running(restart: &str, annotations: Value) -> Value {
        pod(
            restart,
            annotations,
            json!({"phase": "Running", "startTime": "2026-01-01T00:00:00Z"}),
        )
    }

    #[test]
    fn a_pod_with_a_duration_finishes_after_it() {
        let job_pod = running("Never", json!({DURATION_ANNOTATION: "5s"}));
        assert_eq!(
            step(&job_pod, at("2026-01-01T00:00:02Z")),
            Step::WaitFor(Duration::from_secs(3))
        );
        let Step::Finish(status) = step(&job_pod, at("2026-01-01T00:00:09Z")) else {
            panic!("it should finish");
        };
        assert_eq!(status["phase"], "Succeeded");
        let terminated = &status["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(terminated["reason"], "Completed");
        assert_eq!(terminated["exitCode"], 0);
        // It ended when its duration ran out, not when it was looked at.
        assert_eq!(terminated["finishedAt"], "2026-01-01T00:00:05Z");
    }

    #[test]
    fn a_nonzero_exit_code_fails_the_pod() {
        let failing = running(
            "OnFailure",
            json!({DURATION_ANNOTATION: "1s", EXIT_CODE_ANNOTATION: "3"}),
        );
        let Step::Finish(status) = step(&failing, at("2026-01-01T00:00:01Z")) else {
            panic!("it should finish");
        };
        assert_eq!(status["phase"], "Failed");
        assert_eq!(
            status["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Error"
        );
        assert_eq!(status["conditions"][2]["reason"], "PodCompleted");
    }

    #[test]
    fn pods_that_restart_always_or_have_no_duration_run_on() {
        let now = at("2026-01-01T01:00:00Z");
        assert_eq!(
            step(&running("Always", json!({DURATION_ANNOTATION: "1s"})), now),
            Step::Nothing
        );
        assert_eq!(step(&running("Never", json!({})), now), Step::Nothing);
        let done = pod("Never", json!({}), json!({"phase": "Succeeded"}));
        assert_eq!(step(&done, now), Step::Nothing);
    }

    #[test]
    fn bad_annotations_are_reported() {
        let now = at("2026-01-01T01:00:00Z");
        for annotations in [
            json!({DURATION_ANNOTATION: "soon"}),
            json!({DURATION_ANNOTATION: "-5s"}),
            json!({DURATION_ANNOTATION: "5s", EXIT_CODE_ANNOTATION: "x"}),
        ] {
            assert!(
                matches!(
                    step(&running("Never", annotations.clone()), now),
                    Step::BadAnnotation(_)
                ),
                "{annotations}"
            );
        }
    }

    #[test]
    fn a_deleting_pod_is_removed_whatever_its_phase() {
        let mut deleting = running("Always", json!({}));
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
        assert_eq!(step(&deleting, at("2026-01-01T00:00:00Z")), Step::Remove);
    }
}

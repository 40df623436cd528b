//! The next things to do for a pod (the kubelet's `computePodActions`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::{BackoffPolicy, ContainerRecord};

/// The grace period of a pod whose spec names none (Kubernetes' default).
pub const GRACE_PERIOD_DEFAULT: Duration = Duration::from_secs(30);

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start (the next run of) this container.
    Start {
        /// The container's name.
        name: String,
    },
    /// Stop this running container: its preStop hook, SIGTERM, and
    /// SIGKILL once `grace` has passed.
    Stop {
        /// The container's name.
        name: String,
        /// How long it has from the stop to its end, the hook included.
        grace: Duration,
    },
    /// The pod is deleted and nothing of it runs: delete it for good.
    Remove,
}

/// What to do now, and when to look again if nothing else happens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to do now.
    pub actions: Vec<Action>,
    /// When a back-off ends (look again then).
    pub wake_at: Option<Timestamp>,
}

/// The pod's `spec.restartPolicy` (`Always` when absent).
pub fn restart_policy(pod: &Value) -> &str {
    pod.pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always")
}

/// Whether a container of `pod` that exited with `code` runs again.
pub fn restarts(pod: &Value, code: i32) -> bool {
    match restart_policy(pod) {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// The names of the pod's init containers, in order.
pub fn init_containers(pod: &Value) -> Vec<&str> {
    names(pod, "initContainers")
}

/// The names of the pod's containers, in order.
pub fn containers(pod: &Value) -> Vec<&str> {
    names(pod, "containers")
}

fn names<'p>(pod: &'p Value, list: &str) -> Vec<&'p str> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the pod is being deleted.
pub fn is_deleting(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_some()
}

/// Whether the pod's stored phase is final (Succeeded or Failed).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// How long the pod's containers get to stop: the deletion's grace period
/// when it is being deleted, else its `terminationGracePeriodSeconds`.
pub fn grace_period(pod: &Value) -> Duration {
    let seconds = pod
        .pointer("/metadata/deletionGracePeriodSeconds")
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds"))
        .and_then(Value::as_i64);
    seconds.map_or(GRACE_PERIOD_DEFAULT, |s| {
        Duration::from_secs(u64::try_from(s).unwrap_or(0))
    })
}

/// When the container may be started again, if it must wait: a failed
/// start's retry time, or its restart back-off after an exit the pod's
/// restart policy restarts.
pub fn start_wait(
    pod: &Value,
    record: &ContainerRecord,
    policy: &BackoffPolicy,
    now: Timestamp,
) -> Option<Timestamp> {
    if let Some(retry_at) = record.retry_at.filter(|at| *at > now) {
        return Some(retry_at);
    }
    let run = record.current.as_ref()?;
    let finished_at = run.finished_at()?;
    if !restarts(pod, run.exit_code().unwrap_or(0)) {
        return None;
    }
    policy.wait_until(record.backoff.as_ref(), finished_at, now)
}

/// What to do for `pod` at `now`, given what is known of its containers
/// (a container without a record has never been started).
pub fn plan(
    pod: &Value,
    records: &BTreeMap<String, ContainerRecord>,
    policy: &BackoffPolicy,
    now: Timestamp,
) -> Plan {
    let mut plan = Plan::default();
    let empty = ContainerRecord::default();
    let record = |name: &str| records.get(name).unwrap_or(&empty);
    if is_deleting(pod) || is_terminal(pod) {
        let grace = grace_period(pod);
        for (name, record) in records {
            if record.is_running() && !record.stopping {
                plan.actions.push(Action::Stop {
                    name: name.clone(),
                    grace,
                });
            }
        }
        if is_deleting(pod) && !records.values().any(ContainerRecord::is_running) {
            plan.actions.push(Action::Remove);
        }
        return plan;
    }
    // Init containers, one at a time, each to a successful exit.
    for name in init_containers(pod) {
        let record = record(name);
        match &record.current {
            Some(run) if run.is_running() => return plan,
            Some(run) if run.exit_code() == Some(0) => {}
            Some(run) if !restarts(pod, run.exit_code().unwrap_or(0)) => return plan,
            _ => {
                plan.start_unless_waiting(pod, name, record, policy, now);
                return plan;
            }
        }
    }
    for name in containers(pod) {
        let record = record(name);
        let start = match &record.current {
            None => true,
            Some(run) => run.exit_code().is_some_and(|code| restarts(pod, code)),
        };
        if start {
            plan.start_unless_waiting(pod, name, record, policy, now);
        }
    }
    plan
}

impl Plan {
    fn start_unless_waiting(
        &mut self,
        pod: &Value,
        name: &str,
        record: &ContainerRecord,
        policy: &BackoffPolicy,
        now: Timestamp,
    ) {
        match start_wait(pod, record, policy, now) {
            Some(at) => self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at))),
            None => self.actions.push(Action::Start {
                name: name.to_owned(),
            }),
        }
    }
}

//! When a pod on a NoExecute-tainted node goes (the taint eviction
//! controller's `processPodOnNode`, `getMinTolerationTime`, and
//! `v1helper.GetMatchingTolerations`).

use keel_api::k8s_openapi::api::core::v1::{Pod, PodCondition, Taint, Toleration};
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::events::Notice;

/// The reason of the DisruptionTarget condition an evicted pod gets.
pub const EVICTION_REASON: &str = "DeletionByTaintManager";
/// Its message.
pub const EVICTION_MESSAGE: &str = "Taint manager: deleting due to NoExecute taint";

/// What becomes of a pod on a tainted node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It stays: no NoExecute taints, or it tolerates them for ever.
    Keep,
    /// Delete it now.
    Now,
    /// Delete it at this time, unless the taints go first.
    At(Timestamp),
}

/// Whether `toleration` tolerates `taint` (`Toleration.ToleratesTaint`):
/// the effect matches (or the toleration names none); an empty key with
/// `Exists` matches every key; `Exists` matches any value of its key;
/// `Equal` (the default) wants the same value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        return operator == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// Decides the fate of `pod` on a node with `taints`, at `now`. The time
/// is counted from the earliest timeAdded of the node's NoExecute taints
/// (from `now` if they carry none): Kubernetes counts from when it first
/// saw them, which the node lifecycle controller stamps as timeAdded.
pub fn taint_eviction(pod: &Pod, taints: &[Taint], now: Timestamp) -> Eviction {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Eviction::Keep;
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[]);
    let mut matching = Vec::new();
    for taint in &no_execute {
        let before = matching.len();
        matching.extend(tolerations.iter().filter(|t| tolerates(t, taint)));
        if matching.len() == before {
            return Eviction::Now;
        }
    }
    // The shortest tolerationSeconds; none at all means for ever.
    let mut shortest: Option<i64> = None;
    for toleration in matching {
        if let Some(seconds) = toleration.toleration_seconds {
            if seconds <= 0 {
                return Eviction::Now;
            }
            shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    let Some(seconds) = shortest else {
        return Eviction::Keep;
    };
    let since = no_execute
        .iter()
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .min()
        .unwrap_or(now);
    let at = since + SignedDuration::from_secs(seconds);
    if at <= now {
        Eviction::Now
    } else {
        Eviction::At(at)
    }
}

/// The condition an evicted pod gets before it is deleted
/// (`addConditionAndDeletePod`).
pub fn disruption_condition(now: Timestamp) -> PodCondition {
    PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some(EVICTION_REASON.into()),
        message: Some(EVICTION_MESSAGE.into()),
        last_transition_time: Some(Time(now)),
        ..PodCondition::default()
    }
}

/// The event recorded on an evicted pod.
pub fn eviction_notice(pod: &Pod) -> Notice {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    Notice::normal(
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {namespace}/{name}"),
    )
}

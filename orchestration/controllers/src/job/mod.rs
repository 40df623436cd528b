//! The Job controller's decisions (`pkg/controller/job/job_controller.go`,
//! Kubernetes 1.33), for NonIndexed Jobs: from the Job and the pods it
//! controls, at `now`, what to create, delete and write.
//!
//! ```text
//!   job + its pods + now
//!     │ count: active, ready, terminating; newly finished pods with the
//!     │        tracking finalizer ─► status.uncountedTerminatedPods
//!     │        uncounted pods whose finalizer is gone ─► succeeded / failed
//!     │ judge: failed > backoffLimit ─► FailureTarget BackoffLimitExceeded
//!     │        past activeDeadlineSeconds ─► FailureTarget DeadlineExceeded
//!     │        enough successes, none active ─► SuccessCriteriaMet
//!     │ manage: suspend ─► delete active; else create / delete towards
//!     │         min(parallelism, completions - succeeded)
//!     ▼ finish: no uncounted and no terminating pods left ─► Failed / Complete
//!   JobSync { status, create, delete, remove_finalizer, events, requeue_after }
//! ```
//!
//! The adapter applies a [`JobSync`] in this order: write `status`
//! through `/status`; only then remove the tracking finalizer from
//! `remove_finalizer` (the status has recorded those pods as uncounted, so
//! a crash in between cannot lose or double-count them); delete
//! `delete`; create `create` pods from [`pod_for`] in
//! [`slow_start_batches`]; record `events`. The pod updates that follow
//! bring the Job back; the next sync moves the uncounted pods into the
//! counters and, once nothing is left uncounted or terminating, adds the
//! terminal condition.
//!
//! Kubernetes 1.33 enables `JobManagedBy` and `JobPodReplacementPolicy`,
//! so a finishing Job first gets the interim `FailureTarget` or
//! `SuccessCriteriaMet` condition (its pods may still be running or
//! counted) and `Failed` or `Complete` only afterwards; keel does the
//! same, with the same reasons and messages. `status.terminating` is
//! tracked. Not handled here: Indexed completion mode, podFailurePolicy,
//! successPolicy, backoffLimitPerIndex and `managedBy` (the adapter should
//! skip Jobs managed by another controller).
//!
//! [`run`] is the controller at work (the adapter), with the
//! TTL-after-finished decision folded in.

mod pods;
pub mod run;
mod tracking;
mod ttl;

#[cfg(test)]
mod tests;

use keel_api::k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::events::Notice;
use crate::pods::{is_active, is_ready, is_terminal, is_terminating, phase_of, PodFields};
use tracking::{finish, track_finished_pods, Uncounted};

pub use crate::replicaset::slow_start::batch_sizes as slow_start_batches;
use pods::finish_time;
pub use pods::{pod_for, removal_order};
pub use ttl::{ttl_after_finished, TtlDecision};

/// The finalizer every Job pod carries until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// At most this many pods are created or deleted in one sync
/// (`MaxPodCreateDeletePerSync`), so one big Job does not starve others.
pub const POD_CREATE_DELETE_PER_SYNC_MAX: usize = 500;
/// At most this many pod uids wait in `status.uncountedTerminatedPods`
/// (`MaxUncountedPods`), keeping the status under about 20 KB.
pub const UNCOUNTED_PODS_MAX: usize = 500;
/// `spec.backoffLimit` when unset (the API's default).
pub const BACKOFF_LIMIT_DEFAULT: i32 = 6;

/// The message of the Failed condition when too many pods failed.
pub const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";
/// The message of the Failed condition when the deadline passed.
pub const DEADLINE_MESSAGE: &str = "Job was active longer than specified deadline";
/// The message of the SuccessCriteriaMet and Complete conditions.
pub const COMPLETIONS_MESSAGE: &str = "Reached expected number of succeeded pods";

/// The Job controller's timings (kube-controller-manager's constants, as
/// fields so that tests can shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTimings {
    /// The delay before replacing a pod after the first failure
    /// (`DefaultJobPodFailureBackOff`, 10 s); it doubles with each
    /// failure since the last success.
    pub pod_failure_backoff: SignedDuration,
    /// The most that delay grows to (`MaxJobPodFailureBackOff`, 10 min).
    pub pod_failure_backoff_max: SignedDuration,
}

impl Default for JobTimings {
    fn default() -> Self {
        Self {
            pod_failure_backoff: SignedDuration::from_secs(10),
            pod_failure_backoff_max: SignedDuration::from_mins(10),
        }
    }
}

/// What one sync of a Job decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSync {
    /// The Job's new status, when it changed: write it first.
    pub status: Option<JobStatus>,
    /// How many pods to create from [`pod_for`].
    pub create: usize,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// Names of pods to strip of [`TRACKING_FINALIZER`], after the status
    /// is written.
    pub remove_finalizer: Vec<String>,
    /// Events to record on the Job.
    pub events: Vec<Notice>,
    /// Sync again after this long even if nothing changes (the deadline,
    /// or the backoff before replacing failed pods).
    pub requeue_after: Option<SignedDuration>,
}

/// Whether the Job has finished: a Complete or Failed condition that is
/// True (`util.IsJobFinished`).
pub fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

/// The Job's True Complete or Failed condition, if it has finished.
pub fn finished_condition(job: &Job) -> Option<&JobCondition> {
    conditions(job.status.as_ref())
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

fn conditions(status: Option<&JobStatus>) -> &[JobCondition] {
    status.and_then(|s| s.conditions.as_deref()).unwrap_or(&[])
}

fn true_condition<'s>(status: &'s JobStatus, kind: &str) -> Option<&'s JobCondition> {
    conditions(Some(status))
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

fn new_condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// Whether the pod counts as failed (`isPodFailed`): Failed, or deleted
/// before it succeeded, unless the Job replaces only Failed pods.
fn is_pod_failed(pod: &Pod, only_replace_failed: bool) -> bool {
    match phase_of(pod) {
        "Failed" => true,
        _ if only_replace_failed => false,
        "Succeeded" => false,
        _ => is_terminating(pod),
    }
}

/// The Job's spec, as far as the sync reads it, with the API's defaults.
struct Spec {
    parallelism: i32,
    completions: Option<i32>,
    backoff_limit: i32,
    active_deadline_seconds: Option<i64>,
    suspended: bool,
    on_failure: bool,
    only_replace_failed: bool,
}

impl Spec {
    fn of(job: &Job) -> Self {
        let spec = job.spec.as_ref();
        Self {
            parallelism: spec.and_then(|s| s.parallelism).unwrap_or(1),
            completions: spec.and_then(|s| s.completions),
            backoff_limit: spec
                .and_then(|s| s.backoff_limit)
                .unwrap_or(BACKOFF_LIMIT_DEFAULT),
            active_deadline_seconds: spec.and_then(|s| s.active_deadline_seconds),
            suspended: spec.and_then(|s| s.suspend) == Some(true),
            on_failure: spec
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.restart_policy.as_deref())
                == Some("OnFailure"),
            only_replace_failed: spec.and_then(|s| s.pod_replacement_policy.as_deref())
                == Some("Failed"),
        }
    }
}

/// How long to wait before replacing failed pods
/// (`backoffRecord.getRemainingTime`): the backoff doubles with each
/// failure since the last success, counted from the last failure. keel
/// reads the failures off the pods still present rather than an
/// in-memory record.
fn pod_failure_backoff_left(
    pods: &[Pod],
    only_replace_failed: bool,
    timings: &JobTimings,
    now: Timestamp,
) -> SignedDuration {
    let last_success = pods
        .iter()
        .filter(|p| phase_of(p) == "Succeeded")
        .map(|p| finish_time(p, now))
        .max();
    let failures: Vec<Timestamp> = pods
        .iter()
        .filter(|p| is_pod_failed(p, only_replace_failed))
        .map(|p| finish_time(p, now))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let Some(last_failure) = failures.iter().max() else {
        return SignedDuration::ZERO;
    };
    let mut backoff = timings.pod_failure_backoff;
    for _ in 1..failures.len() {
        backoff = backoff.saturating_mul(2);
        if backoff >= timings.pod_failure_backoff_max {
            backoff = timings.pod_failure_backoff_max;
            break;
        }
    }
    let elapsed = now.duration_since(*last_failure);
    if backoff < elapsed {
        SignedDuration::ZERO
    } else {
        backoff - elapsed
    }
}

/// Whether the restarts of a `restartPolicy: OnFailure` Job's running
/// pods reach its backoffLimit (`pastBackoffLimitOnFailure`).
fn past_backoff_limit_on_failure(spec: &Spec, pods: &[Pod]) -> bool {
    if !spec.on_failure {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(phase_of(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            let init = s.init_container_statuses.iter().flatten();
            init.chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum();
    if spec.backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= spec.backoff_limit
    }
}

/// How the Job ends, decided in this sync.
struct Ending {
    /// The interim condition to write first (FailureTarget,
    /// SuccessCriteriaMet), unless the Job has it already.
    interim: Option<JobCondition>,
    /// The terminal condition (Failed, Complete), once nothing is left.
    terminal: JobCondition,
}

impl Ending {
    fn success(&self) -> bool {
        self.terminal.type_ == "Complete"
    }
}

fn ending_from(interim: &JobCondition, terminal_kind: &str, now: Timestamp, new: bool) -> Ending {
    let reason = interim.reason.as_deref().unwrap_or("");
    let message = interim.message.as_deref().unwrap_or("");
    Ending {
        interim: new.then(|| interim.clone()),
        terminal: new_condition(terminal_kind, "True", reason, message, now),
    }
}

/// Decides one sync of `job`, whose pods (those it controls) are `pods`.
pub fn sync(job: &Job, pods: &[Pod], timings: &JobTimings, now: Timestamp) -> JobSync {
    let mut out = JobSync::default();
    if is_finished(job) {
        return out;
    }
    let spec = Spec::of(job);
    let old_status = job.status.clone().unwrap_or_default();
    let mut status = old_status.clone();
    let mut uncounted = Uncounted::of(&status);

    let active_pods: Vec<&Pod> = pods.iter().filter(is_active).collect();
    let mut active = active_pods.len();
    let mut ready = active_pods.iter().filter(is_ready).count();
    let mut terminating = pods
        .iter()
        .filter(|p| is_terminating(p) && !is_terminal(p))
        .count();
    let fresh = |p: &&Pod| has_tracking_finalizer(p) && !uncounted.has(p.uid());
    let new_succeeded = pods
        .iter()
        .filter(fresh)
        .filter(|p| phase_of(p) == "Succeeded")
        .count();
    let new_failed = pods
        .iter()
        .filter(fresh)
        .filter(|p| is_pod_failed(p, spec.only_replace_failed))
        .count();
    let succeeded =
        status.succeeded.unwrap_or(0) as usize + new_succeeded + uncounted.succeeded.len();
    let failed = status.failed.unwrap_or(0) as usize + new_failed + uncounted.failed.len();

    if status.start_time.is_none() && !spec.suspended {
        status.start_time = Some(Time(now));
    }

    // The Job's end, if this sync sees it.
    let mut ending = if let Some(met) = true_condition(&status, "SuccessCriteriaMet") {
        Some(ending_from(met, "Complete", now, false))
    } else if let Some(target) = true_condition(&status, "FailureTarget") {
        Some(ending_from(target, "Failed", now, false))
    } else if failed > spec.backoff_limit.max(0) as usize
        || past_backoff_limit_on_failure(&spec, pods)
    {
        let target = new_condition(
            "FailureTarget",
            "True",
            "BackoffLimitExceeded",
            BACKOFF_LIMIT_MESSAGE,
            now,
        );
        Some(ending_from(&target, "Failed", now, true))
    } else {
        None
    };
    if ending.is_none() {
        if let (Some(seconds), Some(start), false) = (
            spec.active_deadline_seconds,
            &status.start_time,
            spec.suspended,
        ) {
            let left = SignedDuration::from_secs(seconds) - now.duration_since(start.0);
            if left <= SignedDuration::ZERO {
                let target = new_condition(
                    "FailureTarget",
                    "True",
                    "DeadlineExceeded",
                    DEADLINE_MESSAGE,
                    now,
                );
                ending = Some(ending_from(&target, "Failed", now, true));
            } else {
                out.requeue_after = Some(left);
            }
        }
    }

    if ending.is_some() {
        // A finished or failed Job's running pods go.
        out.delete = active_pods.iter().map(|p| p.name().to_owned()).collect();
        terminating += active;
        ready = 0;
        active = 0;
    } else {
        if job.metadata.deletion_timestamp.is_none() {
            manage(&spec, &active_pods, succeeded, pods, timings, now, &mut out);
            let deleted: Vec<&&Pod> = active_pods
                .iter()
                .filter(|p| out.delete.iter().any(|n| n == p.name()))
                .collect();
            ready -= deleted.iter().filter(is_ready).count();
            terminating += deleted.len();
            active = active - deleted.len() + out.create;
            suspend_condition(&spec, &mut status, now, &mut out);
        }
        let complete = match spec.completions {
            None => succeeded > 0 && active == 0,
            Some(completions) => succeeded >= completions.max(0) as usize && active == 0,
        };
        if complete {
            let met = new_condition(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                COMPLETIONS_MESSAGE,
                now,
            );
            ending = Some(ending_from(&met, "Complete", now, true));
        }
    }

    // Go's `omitempty`: Kubernetes leaves zero counters out.
    status.active = (active > 0).then_some(active as i32);
    status.ready = Some(ready as i32);
    status.terminating = Some(terminating as i32);
    track_finished_pods(
        job,
        &spec,
        pods,
        ending.as_ref(),
        &mut uncounted,
        &mut status,
        &mut out,
    );
    if let Some(ending) = &ending {
        if let Some(interim) = &ending.interim {
            status
                .conditions
                .get_or_insert_with(Vec::new)
                .push(interim.clone());
        }
        if uncounted.len() == 0 && terminating == 0 {
            finish(&spec, ending, &mut status, &mut out);
        }
    }
    status.uncounted_terminated_pods = Some(uncounted.into_status());
    status.succeeded = status.succeeded.filter(|n| *n > 0);
    status.failed = status.failed.filter(|n| *n > 0);
    if status != old_status {
        out.status = Some(status);
    }
    out
}

/// `manageJob`: towards the wanted number of active pods.
fn manage(
    spec: &Spec,
    active_pods: &[&Pod],
    succeeded: usize,
    pods: &[Pod],
    timings: &JobTimings,
    now: Timestamp,
    out: &mut JobSync,
) {
    let active = active_pods.len();
    let parallelism = spec.parallelism.max(0) as usize;
    let mut by_removal: Vec<&Pod> = active_pods.to_vec();
    by_removal.sort_by(|a, b| removal_order(a, b));
    if spec.suspended {
        out.delete = by_removal.iter().map(|p| p.name().to_owned()).collect();
        return;
    }
    let want = match spec.completions {
        // Work-queue Jobs keep what runs once one pod succeeded.
        None if succeeded > 0 => active,
        None => parallelism,
        Some(completions) => (completions.max(0) as usize)
            .saturating_sub(succeeded)
            .min(parallelism),
    };
    if active > want {
        let surplus = (active - want).min(POD_CREATE_DELETE_PER_SYNC_MAX);
        out.delete = by_removal[..surplus]
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        return;
    }
    let terminating = if spec.only_replace_failed {
        pods.iter()
            .filter(|p| is_terminating(p) && !is_terminal(p))
            .count()
    } else {
        0
    };
    let missing = want.saturating_sub(active + terminating);
    if missing == 0 {
        return;
    }
    let wait = pod_failure_backoff_left(pods, spec.only_replace_failed, timings, now);
    if wait > SignedDuration::ZERO {
        out.requeue_after = Some(out.requeue_after.map_or(wait, |r| r.min(wait)));
        return;
    }
    out.create = missing.min(POD_CREATE_DELETE_PER_SYNC_MAX);
}

/// The Suspended condition (`ensureJobConditionStatus`): True while
/// suspended; False once resumed, which also restarts the deadline's
/// clock.
fn suspend_condition(spec: &Spec, status: &mut JobStatus, now: Timestamp, out: &mut JobSync) {
    let (state, reason, message, event) = if spec.suspended {
        ("True", "JobSuspended", "Job suspended", "Suspended")
    } else {
        ("False", "JobResumed", "Job resumed", "Resumed")
    };
    let list = status.conditions.get_or_insert_with(Vec::new);
    let changed = match list.iter_mut().find(|c| c.type_ == "Suspended") {
        Some(c)
            if c.status == state
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message) =>
        {
            false
        }
        Some(c) => {
            *c = new_condition("Suspended", state, reason, message, now);
            true
        }
        None if state == "False" => false,
        None => {
            list.push(new_condition("Suspended", state, reason, message, now));
            true
        }
    };
    if list.is_empty() {
        status.conditions = None;
    }
    if changed {
        out.events.push(Notice::normal(event, message));
        if !spec.suspended {
            status.start_time = Some(Time(now));
        }
    }
}

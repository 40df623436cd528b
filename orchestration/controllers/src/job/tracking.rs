//! Counting a Job's finished pods through `status.uncountedTerminatedPods`
//! (`trackJobStatusAndRemoveFinalizers`, `enactJobFinished`): a finished
//! pod is first recorded by uid, then its tracking finalizer goes, then it
//! moves into the counters; the terminal condition waits for all of it.

use std::collections::BTreeSet;

use keel_api::k8s_openapi::api::batch::v1::{Job, JobStatus, UncountedTerminatedPods};
use keel_api::k8s_openapi::api::core::v1::Pod;

use super::{has_tracking_finalizer, is_pod_failed, Ending, JobSync, Spec, UNCOUNTED_PODS_MAX};
use crate::events::Notice;
use crate::pods::{phase_of, PodFields};

/// The uids waiting in `status.uncountedTerminatedPods`.
#[derive(Default)]
pub(super) struct Uncounted {
    pub(super) succeeded: Vec<String>,
    pub(super) failed: Vec<String>,
}

impl Uncounted {
    pub(super) fn of(status: &JobStatus) -> Self {
        let list = |l: Option<&Vec<String>>| l.cloned().unwrap_or_default();
        let uncounted = status.uncounted_terminated_pods.as_ref();
        Self {
            succeeded: list(uncounted.and_then(|u| u.succeeded.as_ref())),
            failed: list(uncounted.and_then(|u| u.failed.as_ref())),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.succeeded.len() + self.failed.len()
    }

    pub(super) fn has(&self, uid: &str) -> bool {
        self.succeeded.iter().chain(&self.failed).any(|u| u == uid)
    }

    pub(super) fn into_status(self) -> UncountedTerminatedPods {
        let some = |l: Vec<String>| (!l.is_empty()).then_some(l);
        UncountedTerminatedPods {
            succeeded: some(self.succeeded),
            failed: some(self.failed),
        }
    }
}

/// `trackJobStatusAndRemoveFinalizers`, first half: counts the pods whose
/// finalizer is gone, and records finished pods as uncounted before their
/// finalizer is removed.
pub(super) fn track_finished_pods(
    job: &Job,
    spec: &Spec,
    pods: &[Pod],
    ending: Option<&Ending>,
    uncounted: &mut Uncounted,
    status: &mut JobStatus,
    out: &mut JobSync,
) {
    let with_finalizer: BTreeSet<&str> = pods
        .iter()
        .filter(|p| has_tracking_finalizer(p))
        .map(PodFields::uid)
        .collect();
    let before = uncounted.succeeded.len();
    uncounted
        .succeeded
        .retain(|u| with_finalizer.contains(u.as_str()));
    status.succeeded =
        Some(status.succeeded.unwrap_or(0) + (before - uncounted.succeeded.len()) as i32);
    let before = uncounted.failed.len();
    uncounted
        .failed
        .retain(|u| with_finalizer.contains(u.as_str()));
    status.failed = Some(status.failed.unwrap_or(0) + (before - uncounted.failed.len()) as i32);

    let deleting = job.metadata.deletion_timestamp.is_some();
    let failing = ending.is_some_and(|e| !e.success());
    for pod in pods.iter().filter(|p| has_tracking_finalizer(p)) {
        let uid = pod.uid().to_owned();
        let failed = is_pod_failed(pod, spec.only_replace_failed);
        let succeeded = phase_of(pod) == "Succeeded";
        if !(deleting || ending.is_some() || succeeded || failed) {
            continue;
        }
        out.remove_finalizer.push(pod.name().to_owned());
        if succeeded && !uncounted.failed.contains(&uid) {
            if !uncounted.succeeded.contains(&uid) {
                uncounted.succeeded.push(uid);
            }
        } else if (failed || failing) && !uncounted.failed.contains(&uid) {
            uncounted.failed.push(uid);
        }
        if uncounted.len() >= UNCOUNTED_PODS_MAX {
            break;
        }
    }
}

/// `enactJobFinished` and `recordJobFinished`: the terminal condition,
/// completionTime, and the event.
pub(super) fn finish(spec: &Spec, ending: &Ending, status: &mut JobStatus, out: &mut JobSync) {
    let terminal = &ending.terminal;
    let list = status.conditions.get_or_insert_with(Vec::new);
    match list.iter_mut().find(|c| c.type_ == terminal.type_) {
        Some(c) => *c = terminal.clone(),
        None => list.push(terminal.clone()),
    }
    if ending.success() {
        status
            .completion_time
            .clone_from(&terminal.last_transition_time);
        if spec
            .completions
            .is_some_and(|c| status.succeeded.unwrap_or(0) > c)
        {
            out.events.push(Notice::warning(
                "TooManySucceededPods",
                "Too many succeeded pods running after completion count reached",
            ));
        }
        out.events
            .push(Notice::normal("Completed", "Job completed"));
    } else {
        out.events.push(Notice::warning(
            terminal.reason.as_deref().unwrap_or(""),
            terminal.message.as_deref().unwrap_or(""),
        ));
    }
}

//! Table tests of the Job controller's decisions, on a fake clock. The
//! expectations are Kubernetes 1.33's (job_controller.go and its tests):
//! its reasons, messages and counting rules.

#![allow(
    clippy::needless_pass_by_value,
    clippy::type_complexity,
    reason = "table helpers take JSON literals; tables are tuples"
)]

use keel_api::k8s_openapi::api::batch::v1::Job;
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::k8s_openapi::jiff::SignedDuration;
use serde_json::{json, Value};

use super::*;
use crate::test_support::{ago, now};

fn job(spec: Value, status: Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                       "restartPolicy": "Never"}});
    serde_json::from_value(json!({
        "metadata": {"name": "pi", "namespace": "default", "uid": "job-uid"},
        "spec": spec, "status": status}))
    .expect("a job")
}

/// A pod of the Job: `state` is "running", "ready", "pending", "succeeded",
/// "failed" or "terminating"; it keeps the tracking finalizer if `tracked`.
fn pod(name: &str, state: &str, tracked: bool) -> Pod {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                     "creationTimestamp": ago(100),
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pi",
                                          "uid": "job-uid", "controller": true}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
        "status": {"phase": "Running"}});
    if tracked {
        pod["metadata"]["finalizers"] = json!([TRACKING_FINALIZER]);
    }
    match state {
        "ready" => {
            pod["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        }
        "pending" => pod["status"]["phase"] = json!("Pending"),
        "succeeded" | "failed" => {
            pod["status"]["phase"] = json!(if state == "failed" {
                "Failed"
            } else {
                "Succeeded"
            });
            pod["status"]["containerStatuses"] = json!([{"name": "c", "image": "busybox",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "finishedAt": ago(3)}}}]);
        }
        "terminating" => pod["metadata"]["deletionTimestamp"] = json!(ago(1)),
        _ => {}
    }
    serde_json::from_value(pod).expect("a pod")
}

fn run(job: &Job, pods: &[Pod]) -> JobSync {
    sync(job, pods, &JobTimings::default(), now())
}

fn condition<'s>(status: &'s JobStatus, kind: &str) -> Option<&'s JobCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == kind)
}

/// The Job as the status of `result` leaves it.
fn after(job: &Job, result: &JobSync) -> Job {
    let mut next = job.clone();
    if let Some(status) = &result.status {
        next.status = Some(status.clone());
    }
    next
}

#[test]
fn creations_follow_parallelism_and_remaining_completions() {
    // (completions, parallelism, succeeded pods, active pods) → (create, delete)
    let cases: &[(Option<i32>, i32, usize, usize, usize, usize)] = &[
        (Some(5), 2, 0, 0, 2, 0),
        (Some(5), 2, 4, 0, 1, 0),
        (Some(5), 3, 0, 1, 2, 0),
        (Some(2), 5, 0, 4, 0, 2),
        (None, 3, 0, 0, 3, 0),
        (None, 3, 0, 1, 2, 0),
        // A work queue that saw a success lets what runs finish.
        (None, 3, 1, 1, 0, 0),
        (Some(3), 0, 0, 0, 0, 0),
    ];
    for &(completions, parallelism, succeeded, active, create, delete) in cases {
        let mut pods: Vec<Pod> = (0..succeeded)
            .map(|i| pod(&format!("s{i}"), "succeeded", false))
            .collect();
        pods.extend((0..active).map(|i| pod(&format!("a{i}"), "running", true)));
        let status = json!({"succeeded": succeeded});
        let job = job(
            json!({"completions": completions, "parallelism": parallelism}),
            status,
        );
        let result = run(&job, &pods);
        let case = (completions, parallelism, succeeded, active);
        assert_eq!(result.create, create, "create for {case:?}");
        assert_eq!(result.delete.len(), delete, "delete for {case:?}");
    }
}

#[test]
fn a_new_job_starts_and_counts_what_it_creates() {
    let job = job(json!({"completions": 3, "parallelism": 2}), json!({}));
    let result = run(&job, &[]);
    assert_eq!(result.create, 2);
    let status = result.status.expect("written");
    assert_eq!(status.start_time.expect("started").0, now());
    assert_eq!(status.active, Some(2));
    assert_eq!(status.ready, Some(0));
    assert!(status.succeeded.is_none(), "zero counters are left out");
}

#[test]
fn surplus_pods_go_least_advanced_first() {
    let job = job(json!({"completions": 1, "parallelism": 1}), json!({}));
    let pods = [
        pod("ready", "ready", true),
        pod("pending", "pending", true),
        pod("running", "running", true),
    ];
    let result = run(&job, &pods);
    assert_eq!(
        result.delete,
        vec!["pending".to_owned(), "running".to_owned()]
    );
    assert_eq!(result.status.expect("written").terminating, Some(2));
}

#[test]
fn a_work_queue_job_completes_after_one_success_through_the_interim_condition() {
    let job = job(
        json!({"parallelism": 2}),
        json!({"startTime": ago(50), "active": 1}),
    );
    // First sync: the succeeded pod is recorded as uncounted, its
    // finalizer is to go, and SuccessCriteriaMet comes first.
    let first = run(&job, &[pod("w", "succeeded", true)]);
    assert_eq!(first.remove_finalizer, vec!["w".to_owned()]);
    assert_eq!(first.create, 0);
    let status = first.status.clone().expect("written");
    assert_eq!(
        status
            .uncounted_terminated_pods
            .as_ref()
            .and_then(|u| u.succeeded.clone()),
        Some(vec!["uid-w".to_owned()])
    );
    let met = condition(&status, "SuccessCriteriaMet").expect("interim condition");
    assert_eq!(met.reason.as_deref(), Some("CompletionsReached"));
    assert_eq!(met.message.as_deref(), Some(COMPLETIONS_MESSAGE));
    assert!(
        condition(&status, "Complete").is_none(),
        "the pod is not counted yet"
    );
    assert!(first.events.is_empty());
    // Second sync: the finalizer is gone, the pod is counted, the Job is
    // Complete.
    let job = after(&job, &first);
    let second = run(&job, &[pod("w", "succeeded", false)]);
    let status = second.status.clone().expect("written");
    assert_eq!(status.succeeded, Some(1));
    let complete = condition(&status, "Complete").expect("complete");
    assert_eq!(complete.status, "True");
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    assert_eq!(status.completion_time.expect("set").0, now());
    assert_eq!(
        second.events,
        vec![Notice::normal("Completed", "Job completed")]
    );
    // A finished Job is left alone.
    let done = after(&job, &second);
    assert_eq!(
        run(&done, &[pod("w", "succeeded", false)]),
        JobSync::default()
    );
}

#[test]
fn too_many_failures_fail_the_job_after_its_pods_are_gone() {
    let job = job(
        json!({"completions": 4, "parallelism": 1, "backoffLimit": 1}),
        json!({"startTime": ago(50), "active": 1}),
    );
    let pods = [
        pod("f1", "failed", true),
        pod("f2", "failed", true),
        pod("a", "running", true),
    ];
    let first = run(&job, &pods);
    assert_eq!(first.delete, vec!["a".to_owned()], "the running pod goes");
    assert_eq!(first.create, 0);
    let mut removed = first.remove_finalizer.clone();
    removed.sort();
    assert_eq!(removed, ["a", "f1", "f2"]);
    let status = first.status.clone().expect("written");
    let target = condition(&status, "FailureTarget").expect("interim condition");
    assert_eq!(target.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        target.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    assert!(condition(&status, "Failed").is_none());
    assert_eq!(status.terminating, Some(1));
    // Finalizers gone, the deleted pod still terminating: counted, not failed yet.
    let job = after(&job, &first);
    let mut terminating = pod("a", "terminating", false);
    terminating.metadata.finalizers = None;
    let pods = [
        pod("f1", "failed", false),
        pod("f2", "failed", false),
        terminating,
    ];
    let second = run(&job, &pods);
    let status = second.status.clone().expect("written");
    assert_eq!(
        status.failed,
        Some(3),
        "a pod deleted before it succeeded counts as failed"
    );
    assert!(
        condition(&status, "Failed").is_none(),
        "a pod is still terminating"
    );
    // The pod is gone: Failed, with the interim condition's reason.
    let job = after(&job, &second);
    let third = run(&job, &pods[..2]);
    let status = third.status.expect("written");
    let failed = condition(&status, "Failed").expect("failed");
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert!(status.completion_time.is_none());
    assert_eq!(
        third.events,
        vec![Notice::warning(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit"
        )]
    );
}

#[test]
fn failures_within_the_backoff_limit_are_replaced_after_a_backoff() {
    // backoffLimit 6 by default; one failure 3 s ago: wait 10 s in all.
    let job1 = job(json!({"completions": 1}), json!({"startTime": ago(50)}));
    let result = run(&job1, &[pod("f1", "failed", false)]);
    assert_eq!(result.create, 0);
    assert_eq!(result.requeue_after, Some(SignedDuration::from_secs(7)));
    // Two failures since the last success: 20 s.
    let result = run(
        &job1,
        &[pod("f1", "failed", false), pod("f2", "failed", false)],
    );
    assert_eq!(result.requeue_after, Some(SignedDuration::from_secs(17)));
    // A short backoff has passed: replace now.
    let timings = JobTimings {
        pod_failure_backoff: SignedDuration::from_secs(1),
        ..JobTimings::default()
    };
    let result = sync(&job1, &[pod("f1", "failed", false)], &timings, now());
    assert_eq!(result.create, 1);
}

#[test]
fn restarts_of_on_failure_pods_count_against_the_backoff_limit() {
    let mut job = job(
        json!({"completions": 1, "backoffLimit": 2}),
        json!({"startTime": ago(5)}),
    );
    job.spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .expect("spec")
        .restart_policy = Some("OnFailure".into());
    let mut restarting = pod("r", "running", true);
    restarting
        .status
        .as_mut()
        .expect("status")
        .container_statuses = serde_json::from_value(
        json!([{"name": "c", "image": "i", "imageID": "", "ready": false,
                                        "restartCount": 2}]),
    )
    .expect("statuses");
    let result = run(&job, &[restarting]);
    let status = result.status.expect("written");
    let target = condition(&status, "FailureTarget").expect("failing");
    assert_eq!(target.reason.as_deref(), Some("BackoffLimitExceeded"));
}

#[test]
fn the_active_deadline_fails_the_job_or_sets_the_next_look() {
    let running = [pod("a", "running", true)];
    let job1 = job(
        json!({"completions": 1, "activeDeadlineSeconds": 60}),
        json!({"startTime": ago(30), "active": 1, "ready": 0, "terminating": 0,
                                                   "uncountedTerminatedPods": {}}),
    );
    let result = run(&job1, &running);
    assert_eq!(result.requeue_after, Some(SignedDuration::from_secs(30)));
    assert!(result.status.is_none(), "nothing changed");
    let job2 = job(
        json!({"completions": 1, "activeDeadlineSeconds": 60}),
        json!({"startTime": ago(60), "active": 1}),
    );
    let result = run(&job2, &running);
    assert_eq!(result.delete, vec!["a".to_owned()]);
    let status = result.status.expect("written");
    let target = condition(&status, "FailureTarget").expect("failing");
    assert_eq!(target.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        target.message.as_deref(),
        Some("Job was active longer than specified deadline")
    );
}

#[test]
fn suspending_deletes_active_pods_and_resuming_restarts_the_clock() {
    let job1 = job(
        json!({"completions": 2, "suspend": true}),
        json!({"startTime": ago(30), "active": 1}),
    );
    let result = run(&job1, &[pod("a", "ready", true)]);
    assert_eq!(result.delete, vec!["a".to_owned()]);
    assert_eq!(result.create, 0);
    assert_eq!(
        result.events,
        vec![Notice::normal("Suspended", "Job suspended")]
    );
    let status = result.status.clone().expect("written");
    let suspended = condition(&status, "Suspended").expect("condition");
    assert_eq!(
        (suspended.status.as_str(), suspended.reason.as_deref()),
        ("True", Some("JobSuspended"))
    );
    assert_eq!(status.ready, Some(0));

    let mut resumed = after(&job1, &result);
    resumed.spec.as_mut().expect("spec").suspend = Some(false);
    let result = run(&resumed, &[]);
    assert_eq!(result.create, 1, "parallelism 1");
    assert_eq!(
        result.events,
        vec![Notice::normal("Resumed", "Job resumed")]
    );
    let status = result.status.expect("written");
    let condition = condition(&status, "Suspended").expect("condition");
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    assert_eq!(status.start_time.expect("reset").0, now());
}

#[test]
fn a_steady_job_writes_nothing() {
    let job = job(
        json!({"completions": 2, "parallelism": 2}),
        json!({"startTime": ago(5), "active": 2, "ready": 1, "terminating": 0,
                         "uncountedTerminatedPods": {}}),
    );
    let result = run(&job, &[pod("a", "ready", true), pod("b", "running", true)]);
    assert_eq!(result, JobSync::default());
}

#[test]
fn finished_jobs_are_deleted_after_their_ttl() {
    let finished = |ttl: Option<i32>| {
        job(
            json!({"completions": 1, "ttlSecondsAfterFinished": ttl}),
            json!({"conditions": [{"type": "Complete", "status": "True",
                                   "lastTransitionTime": ago(100)}]}),
        )
    };
    assert_eq!(
        ttl_after_finished(&finished(Some(60)), now()),
        TtlDecision::DeleteNow
    );
    assert_eq!(
        ttl_after_finished(&finished(Some(0)), now()),
        TtlDecision::DeleteNow
    );
    assert_eq!(
        ttl_after_finished(&finished(Some(200)), now()),
        TtlDecision::DeleteAfter(SignedDuration::from_secs(100))
    );
    assert_eq!(
        ttl_after_finished(&finished(None), now()),
        TtlDecision::Keep
    );
    let running = job(json!({"ttlSecondsAfterFinished": 1}), json!({}));
    assert_eq!(ttl_after_finished(&running, now()), TtlDecision::Keep);
}

#[test]
fn new_pods_come_from_the_template_owned_and_tracked() {
    let job = job(json!({"completions": 1}), json!({}));
    let pod = serde_json::to_value(pod_for(&job)).expect("json");
    assert_eq!(pod["metadata"]["generateName"], "pi-");
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(pod["metadata"]["finalizers"], json!([TRACKING_FINALIZER]));
    assert_eq!(
        pod["metadata"]["ownerReferences"],
        json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-uid",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
}

#[test]
fn creations_go_in_slow_start_batches() {
    assert_eq!(slow_start_batches(0), Vec::<usize>::new());
    assert_eq!(slow_start_batches(1), vec![1]);
    assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
    assert_eq!(slow_start_batches(15), vec![1, 2, 4, 8]);
}

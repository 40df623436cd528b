//! The pod lifecycle's decisions and statuses, as tables.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::*;
use crate::runtime::{ContainerId, Exit};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn pod(restart_policy: &str, init: &[&str], containers: &[&str]) -> Value {
    let list = |names: &[&str]| -> Vec<Value> {
        names
            .iter()
            .map(|n| json!({"name": n, "image": "busybox"}))
            .collect()
    };
    json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"restartPolicy": restart_policy, "initContainers": list(init),
                 "containers": list(containers)},
        "status": {"phase": "Pending", "qosClass": "BestEffort",
                   "conditions": [{"type": "PodScheduled", "status": "True"}]},
    })
}

fn running(name: &str, attempt: u32, since: i64) -> ContainerRecord {
    ContainerRecord {
        current: Some(Run {
            id: ContainerId::new("u1", name, attempt),
            attempt,
            state: State::Running {
                started_at: at(since),
            },
            image_id: "sha256:1".into(),
        }),
        started: true,
        ready: true,
        ..ContainerRecord::default()
    }
}

fn exited(name: &str, attempt: u32, code: i32, finished: i64) -> ContainerRecord {
    ContainerRecord {
        current: Some(Run {
            id: ContainerId::new("u1", name, attempt),
            attempt,
            state: State::Exited {
                started_at: at(finished - 1),
                exit: Exit {
                    code,
                    signal: None,
                    oom_killed: false,
                    finished_at: at(finished),
                },
            },
            image_id: "sha256:1".into(),
        }),
        ..ContainerRecord::default()
    }
}

fn records(list: Vec<(&str, ContainerRecord)>) -> BTreeMap<String, ContainerRecord> {
    list.into_iter().map(|(n, r)| (n.to_owned(), r)).collect()
}

fn start(name: &str) -> Action {
    Action::Start { name: name.into() }
}

fn status_of(pod: &Value, records: &BTreeMap<String, ContainerRecord>, now: i64) -> Value {
    let placement = Placement {
        host_ip: "10.0.0.1".into(),
        pod_ip: Some("10.244.0.2".into()),
    };
    status(pod, records, &placement, &BackoffPolicy::default(), at(now))
}

fn condition(status: &Value, kind: &str) -> (String, String) {
    let found = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap();
    (
        found["status"].as_str().unwrap().to_owned(),
        found["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn init_containers_run_one_at_a_time_before_the_containers() {
    let pod = pod("Always", &["i1", "i2"], &["a", "b"]);
    let policy = BackoffPolicy::default();
    let none = records(vec![]);
    assert_eq!(plan(&pod, &none, &policy, at(0)).actions, [start("i1")]);
    let status = status_of(&pod, &none, 0);
    assert_eq!(status["phase"], "Pending");
    assert_eq!(
        condition(&status, "Initialized").1,
        "ContainersNotInitialized"
    );
    assert_eq!(
        status["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );

    let first_running = records(vec![("i1", running("i1", 0, 0))]);
    assert!(plan(&pod, &first_running, &policy, at(1))
        .actions
        .is_empty());

    let first_done = records(vec![("i1", exited("i1", 0, 0, 2))]);
    assert_eq!(
        plan(&pod, &first_done, &policy, at(2)).actions,
        [start("i2")]
    );

    let both_done = records(vec![
        ("i1", exited("i1", 0, 0, 2)),
        ("i2", exited("i2", 0, 0, 3)),
    ]);
    assert_eq!(
        plan(&pod, &both_done, &policy, at(3)).actions,
        [start("a"), start("b")]
    );
    let status = status_of(&pod, &both_done, 3);
    assert_eq!(condition(&status, "Initialized").0, "True");
    assert_eq!(
        status["containerStatuses"][1]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    assert_eq!(
        status["initContainerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
}

#[test]
fn running_and_ready_containers_make_a_ready_pod() {
    let pod = pod("Always", &[], &["a", "b"]);
    let mut all = records(vec![("a", running("a", 0, 0)), ("b", running("b", 0, 0))]);
    let status = status_of(&pod, &all, 5);
    assert_eq!(status["phase"], "Running");
    assert_eq!(condition(&status, "Ready").0, "True");
    assert_eq!(condition(&status, "ContainersReady").0, "True");
    assert_eq!(condition(&status, "PodScheduled").0, "True");
    assert_eq!(status["podIP"], "10.244.0.2");
    assert_eq!(
        status["containerStatuses"][0]["containerID"],
        "keel://u1_a_0"
    );
    assert_eq!(status["containerStatuses"][0]["started"], true);

    all.get_mut("b").unwrap().ready = false;
    let status = status_of(&pod, &all, 6);
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "ContainersNotReady".into())
    );
    let message = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()["message"]
        .clone();
    assert_eq!(message, "containers with unready status: [b]");
}

#[test]
fn crashes_restart_at_once_then_back_off() {
    let pod = pod("Always", &[], &["a"]);
    let policy = BackoffPolicy::default();
    // First exit: no back-off yet.
    let first = records(vec![("a", exited("a", 0, 1, 10))]);
    assert_eq!(plan(&pod, &first, &policy, at(10)).actions, [start("a")]);
    // The start took the back-off entry; the second exit waits 10 s.
    let mut second = exited("a", 1, 1, 12);
    second.backoff = Some(policy.next(None, at(10), at(10)));
    second.previous = first["a"].current.clone();
    let crashed = records(vec![("a", second)]);
    let waiting = plan(&pod, &crashed, &policy, at(13));
    assert!(waiting.actions.is_empty());
    assert_eq!(waiting.wake_at, Some(at(22)));
    let status = status_of(&pod, &crashed, 13);
    let container = &status["containerStatuses"][0];
    assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(
        container["state"]["waiting"]["message"],
        "back-off 10s restarting failed container=a pod=p_ns(u1)"
    );
    assert_eq!(container["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(container["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(container["restartCount"], 1);
    assert_eq!(status["phase"], "Running");
    assert_eq!(plan(&pod, &crashed, &policy, at(22)).actions, [start("a")]);
}

#[test]
fn restart_policies_decide_the_end() {
    let policy = BackoffPolicy::default();
    let done = records(vec![
        ("a", exited("a", 0, 0, 5)),
        ("b", exited("b", 0, 0, 6)),
    ]);
    let failed = records(vec![
        ("a", exited("a", 0, 0, 5)),
        ("b", exited("b", 0, 2, 6)),
    ]);

    let on_failure = pod("OnFailure", &[], &["a", "b"]);
    assert!(plan(&on_failure, &done, &policy, at(7)).actions.is_empty());
    let status = status_of(&on_failure, &done, 7);
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "PodCompleted".into())
    );
    assert_eq!(
        plan(&on_failure, &failed, &policy, at(7)).actions,
        [start("b")]
    );

    let never = pod("Never", &[], &["a", "b"]);
    assert!(plan(&never, &failed, &policy, at(7)).actions.is_empty());
    assert_eq!(status_of(&never, &failed, 7)["phase"], "Failed");
    assert_eq!(status_of(&never, &done, 7)["phase"], "Succeeded");

    let always = pod("Always", &[], &["a", "b"]);
    assert_eq!(
        plan(&always, &done, &policy, at(7)).actions,
        [start("a"), start("b")]
    );

    // A failed init container fails a Never pod, and is retried otherwise.
    let init_failed = records(vec![("i", exited("i", 0, 1, 3))]);
    let never_init = pod("Never", &["i"], &["a"]);
    assert!(plan(&never_init, &init_failed, &policy, at(4))
        .actions
        .is_empty());
    assert_eq!(status_of(&never_init, &init_failed, 4)["phase"], "Failed");
    let always_init = pod("Always", &["i"], &["a"]);
    assert_eq!(
        plan(&always_init, &init_failed, &policy, at(4)).actions,
        [start("i")]
    );
    assert_eq!(status_of(&always_init, &init_failed, 4)["phase"], "Pending");
}

#[test]
fn a_deleted_pod_stops_its_containers_then_is_removed() {
    let mut pod = pod("Always", &[], &["a", "b"]);
    pod["metadata"]["deletionTimestamp"] = "2027-01-01T00:00:00Z".into();
    pod["metadata"]["deletionGracePeriodSeconds"] = 7.into();
    let policy = BackoffPolicy::default();
    let mut both = records(vec![("a", running("a", 0, 0)), ("b", exited("b", 0, 1, 1))]);
    assert_eq!(
        plan(&pod, &both, &policy, at(2)).actions,
        [Action::Stop {
            name: "a".into(),
            grace: Duration::from_secs(7)
        }]
    );
    both.get_mut("a").unwrap().stopping = true;
    assert!(plan(&pod, &both, &policy, at(3)).actions.is_empty());
    both.insert("a".into(), exited("a", 0, 143, 4));
    assert_eq!(plan(&pod, &both, &policy, at(4)).actions, [Action::Remove]);
}

#[test]
fn failed_starts_and_oom_kills_say_why() {
    let pod = pod("Always", &[], &["a"]);
    let policy = BackoffPolicy::default();
    let missing = ContainerRecord {
        waiting: Some(Waiting {
            reason: "ImagePullBackOff".into(),
            message: "Back-off pulling image \"nope\"".into(),
        }),
        retry_at: Some(at(20)),
        ..ContainerRecord::default()
    };
    let records_missing = records(vec![("a", missing)]);
    let plan_missing = plan(&pod, &records_missing, &policy, at(10));
    assert!(plan_missing.actions.is_empty());
    assert_eq!(plan_missing.wake_at, Some(at(20)));
    let status = status_of(&pod, &records_missing, 10);
    assert_eq!(
        status["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    assert_eq!(status["phase"], "Pending");
    assert_eq!(
        plan(&pod, &records_missing, &policy, at(20)).actions,
        [start("a")]
    );

    let mut oom = exited("a", 0, 137, 5);
    if let Some(Run {
        state: State::Exited { exit, .. },
        ..
    }) = oom.current.as_mut()
    {
        exit.oom_killed = true;
    }
    let never = super::plan::restart_policy(&pod) == "Never";
    assert!(!never);
    let status = status_of(&pod, &records(vec![("a", oom)]), 5);
    assert_eq!(
        status["containerStatuses"][0]["state"]["terminated"]["reason"],
        "OOMKilled"
    );
}

#[test]
fn durations_print_as_go_prints_them() {
    use super::status::go_duration;
    let cases = [
        (500, "500ms"),
        (10_000, "10s"),
        (80_000, "1m20s"),
        (300_000, "5m0s"),
        (1_500, "1.5s"),
        (3_600_000, "1h0m0s"),
    ];
    for (millis, text) in cases {
        assert_eq!(go_duration(Duration::from_millis(millis)), text);
    }
}

//! Pods' Table rows against Kubernetes 1.33's printers.go `printPod`: the
//! STATUS reason logic (waiting and terminated reasons, init containers,
//! sidecars, deletion), READY, RESTARTS with "(… ago)", and the wide cells.

mod table_support;

use keel_api::table::{table, IncludeObject};
use serde_json::{json, Value};
use table_support::{ago, cells, headers, now, resource};

fn pods() -> &'static keel_api::ResourceInfo {
    resource("", "pods")
}

/// A pod created 310 s ago ("5m10s") with `containers` names and `status`.
fn pod(containers: &[&str], status: Value) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|name| json!({"name": name, "image": format!("registry/{name}:1")}))
        .collect();
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "default", "uid": "u1", "creationTimestamp": ago(310)},
        "spec": {"containers": containers, "nodeName": "node-1"},
        "status": Value::Null,
    });
    object["status"] = status;
    object
}

/// A container status as the kubelet writes it, with `state` and
/// `restarts`.
fn container(name: &str, ready: bool, restarts: i32, state: Value) -> Value {
    let mut status = json!({
        "name": name, "image": format!("registry/{name}:1"), "imageID": "",
        "ready": ready, "restartCount": restarts,
    });
    status["state"] = state;
    status
}

fn running() -> Value {
    json!({"running": {"startedAt": ago(300)}})
}

fn waiting(reason: &str) -> Value {
    json!({"waiting": {"reason": reason}})
}

/// The first five cells: NAME, READY, STATUS, RESTARTS, AGE.
fn summary(object: Value) -> Vec<Value> {
    cells(pods(), object)[..5].to_vec()
}

#[test]
fn pod_columns_are_printers_go() {
    // podColumnDefinitions: the last four only with -o wide.
    let expected = [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ];
    let expected: Vec<(String, u64)> = expected
        .iter()
        .map(|(name, priority)| ((*name).to_owned(), *priority))
        .collect();
    assert_eq!(headers(pods()), expected);
    let table = table(pods(), &[], now(), IncludeObject::Metadata).unwrap();
    let name = &table["columnDefinitions"][0];
    assert_eq!(name["format"], "name");
    assert_eq!(name["type"], "string");
    assert_eq!(table["columnDefinitions"][3]["type"], "string");
}

#[test]
fn a_running_pod_is_ready_with_its_wide_cells() {
    let object = pod(
        &["web", "log"],
        json!({
            "phase": "Running",
            "podIP": "10.1.0.7",
            "podIPs": [{"ip": "10.1.0.7"}, {"ip": "fd00::7"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [container("web", true, 0, running()), container("log", true, 0, running())],
        }),
    );
    assert_eq!(
        cells(pods(), object),
        vec![
            json!("web-0"),
            json!("2/2"),
            json!("Running"),
            json!("0"),
            json!("5m10s"),
            json!("10.1.0.7"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
}

#[test]
fn a_pending_pod_shows_its_first_containers_waiting_reason() {
    // The containers are walked from the last to the first; the first one
    // with a reason has the last word.
    let object = pod(
        &["web", "log"],
        json!({
            "phase": "Pending",
            "containerStatuses": [
                container("web", false, 0, waiting("ContainerCreating")),
                container("log", false, 0, waiting("ErrImagePull")),
            ],
        }),
    );
    let row = cells(pods(), object);
    assert_eq!(row[1..3], [json!("0/2"), json!("ContainerCreating")]);
    // No IP yet and not scheduled: "<none>".
    let unscheduled = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "creationTimestamp": ago(5)},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending"},
    });
    let row = cells(pods(), unscheduled);
    assert_eq!(
        row,
        ["p", "0/1", "Pending", "0", "5s", "<none>", "<none>", "<none>", "<none>"]
            .map(|cell| json!(cell))
    );
}

#[test]
fn restarts_say_how_long_ago_the_last_one_was() {
    let mut crashing = container("web", false, 5, waiting("CrashLoopBackOff"));
    crashing["lastState"] =
        json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(300)}});
    let object = pod(
        &["web"],
        json!({"phase": "Running", "containerStatuses": [crashing]}),
    );
    assert_eq!(
        summary(object),
        ["web-0", "0/1", "CrashLoopBackOff", "5 (5m ago)", "5m10s"].map(|cell| json!(cell))
    );
    // Restarts without a recorded termination are a bare count.
    let object = pod(
        &["web"],
        json!({"phase": "Running", "containerStatuses": [container("web", true, 2, running())]}),
    );
    assert_eq!(summary(object)[3], json!("2"));
    // The latest termination among the containers counts; restarts add up.
    let mut first = container("web", true, 1, running());
    first["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(4000)}});
    let mut second = container("log", true, 2, running());
    second["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(90)}});
    let object = pod(
        &["web", "log"],
        json!({"phase": "Running", "containerStatuses": [first, second]}),
    );
    assert_eq!(summary(object)[3], json!("3 (90s ago)"));
}

#[test]
fn a_finished_pod_shows_completed_and_a_completed_row_condition() {
    let done = container(
        "job",
        false,
        0,
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
    );
    let object = pod(
        &["job"],
        json!({"phase": "Succeeded", "containerStatuses": [done]}),
    );
    let succeeded = table(pods(), &[object], now(), IncludeObject::None).unwrap();
    let row = &succeeded["rows"][0];
    assert_eq!(row["cells"][1], "0/1");
    assert_eq!(row["cells"][2], "Completed");
    assert_eq!(
        row["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
    );
    let failed = container(
        "job",
        false,
        0,
        json!({"terminated": {"exitCode": 2, "reason": "Error"}}),
    );
    let object = pod(
        &["job"],
        json!({"phase": "Failed", "containerStatuses": [failed]}),
    );
    let failed = table(pods(), &[object], now(), IncludeObject::None).unwrap();
    assert_eq!(failed["rows"][0]["cells"][2], "Error");
    assert_eq!(failed["rows"][0]["conditions"][0]["reason"], "Failed");
    assert_eq!(
        failed["rows"][0]["conditions"][0]["message"],
        "The pod failed."
    );
    // A running pod's row has no conditions.
    let object = pod(&["web"], json!({"phase": "Running"}));
    let running = table(pods(), &[object], now(), IncludeObject::None).unwrap();
    assert_eq!(running["rows"][0].get("conditions"), None);
}

#[test]
fn terminated_containers_without_a_reason_show_signal_or_exit_code() {
    let killed = container(
        "web",
        false,
        0,
        json!({"terminated": {"exitCode": 137, "signal": 9}}),
    );
    let object = pod(
        &["web"],
        json!({"phase": "Running", "containerStatuses": [killed]}),
    );
    assert_eq!(summary(object)[2], json!("Signal:9"));
    let exited = container("web", false, 0, json!({"terminated": {"exitCode": 3}}));
    let object = pod(
        &["web"],
        json!({"phase": "Running", "containerStatuses": [exited]}),
    );
    assert_eq!(summary(object)[2], json!("ExitCode:3"));
}

#[test]
fn completed_turns_back_to_running_or_not_ready_while_a_container_runs() {
    let statuses = json!([
        container(
            "init-like",
            false,
            0,
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}})
        ),
        container("web", true, 0, running()),
    ]);
    let ready = pod(
        &["init-like", "web"],
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": statuses}),
    );
    assert_eq!(summary(ready)[1..3], [json!("1/2"), json!("Running")]);
    let not_ready = pod(
        &["init-like", "web"],
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": statuses}),
    );
    assert_eq!(summary(not_ready)[2], json!("NotReady"));
}

/// A pod with init containers `inits` (name, restartPolicy) and `status`.
fn with_inits(inits: &[(&str, Option<&str>)], status: Value) -> Value {
    let mut object = pod(&["web"], status);
    object["spec"]["initContainers"] = inits
        .iter()
        .map(|(name, policy)| match policy {
            Some(policy) => json!({"name": name, "restartPolicy": policy}),
            None => json!({"name": name}),
        })
        .collect();
    object
}

#[test]
fn init_containers_show_init_progress_and_failures() {
    let inits = [("migrate", None), ("seed", None)];
    let waiting_web = || json!([container("web", false, 0, waiting("PodInitializing"))]);
    // The first init container still running: Init:0/2.
    let object = with_inits(
        &inits,
        json!({"phase": "Pending", "initContainerStatuses": [
            container("migrate", false, 0, running()),
            container("seed", false, 0, waiting("PodInitializing")),
        ], "containerStatuses": waiting_web()}),
    );
    assert_eq!(summary(object)[1..3], [json!("0/1"), json!("Init:0/2")]);
    // The first done, the second waiting on PodInitializing: Init:1/2.
    let object = with_inits(
        &inits,
        json!({"phase": "Pending", "initContainerStatuses": [
            container("migrate", false, 0, json!({"terminated": {"exitCode": 0, "reason": "Completed"}})),
            container("seed", false, 0, waiting("PodInitializing")),
        ], "containerStatuses": waiting_web()}),
    );
    assert_eq!(summary(object)[2], json!("Init:1/2"));
    // A waiting reason of its own: Init:<reason>.
    let object = with_inits(
        &inits,
        json!({"phase": "Pending", "initContainerStatuses": [
            container("migrate", false, 0, waiting("ImagePullBackOff")),
        ]}),
    );
    assert_eq!(summary(object)[2], json!("Init:ImagePullBackOff"));
    // Failed: its reason, else its signal or exit code; restarts of init
    // containers count while the pod initializes.
    let mut failed = container(
        "migrate",
        false,
        4,
        json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
    );
    failed["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(30)}});
    let object = with_inits(
        &inits,
        json!({"phase": "Pending", "initContainerStatuses": [failed]}),
    );
    assert_eq!(
        summary(object)[2..4],
        [json!("Init:Error"), json!("4 (30s ago)")]
    );
    let object = with_inits(
        &inits,
        json!({"phase": "Pending", "initContainerStatuses": [
            container("migrate", false, 0, json!({"terminated": {"exitCode": 2}})),
        ]}),
    );
    assert_eq!(summary(object)[2], json!("Init:ExitCode:2"));
    let object = with_inits(
        &inits,
        json!({"phase": "Pending", "initContainerStatuses": [
            container("migrate", false, 0, json!({"terminated": {"exitCode": 0, "signal": 15}})),
            container("seed", false, 0, json!({"terminated": {"exitCode": 143, "signal": 15}})),
        ]}),
    );
    assert_eq!(summary(object)[2], json!("Init:Signal:15"));
}

#[test]
fn sidecar_init_containers_count_in_ready_and_restarts() {
    // An init container with restartPolicy Always is a sidecar: it adds to
    // the total, counts as ready once started, and its restarts stay in
    // RESTARTS after initialization.
    let mut sidecar = container("proxy", true, 1, running());
    sidecar["started"] = json!(true);
    sidecar["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(3600)}});
    let object = with_inits(
        &[("proxy", Some("Always"))],
        json!({
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [sidecar],
            "containerStatuses": [container("web", true, 0, running())],
        }),
    );
    assert_eq!(
        summary(object)[1..4],
        [json!("2/2"), json!("Running"), json!("1 (60m ago)")]
    );
}

#[test]
fn deleted_pods_are_terminating_or_unknown_on_a_lost_node() {
    let mut object = pod(
        &["web"],
        json!({"phase": "Running", "containerStatuses": [container("web", true, 0, running())]}),
    );
    object["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(summary(object.clone())[2], json!("Terminating"));
    object["status"]["reason"] = json!("NodeLost");
    assert_eq!(summary(object)[2], json!("Unknown"));
    // A finished pod being deleted keeps its status.
    let done = container(
        "job",
        false,
        0,
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
    );
    let mut object = pod(
        &["job"],
        json!({"phase": "Succeeded", "containerStatuses": [done]}),
    );
    object["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(summary(object)[2], json!("Completed"));
}

#[test]
fn status_reason_and_scheduling_gates_replace_the_phase() {
    let object = pod(&["web"], json!({"phase": "Failed", "reason": "Evicted"}));
    assert_eq!(summary(object)[2], json!("Evicted"));
    let object = pod(
        &["web"],
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(summary(object)[2], json!("SchedulingGated"));
}

#[test]
fn readiness_gates_count_the_true_conditions() {
    let mut object = pod(
        &["web"],
        json!({"phase": "Running", "conditions": [
            {"type": "example.com/lb", "status": "True"},
            {"type": "example.com/dns", "status": "False"},
        ]}),
    );
    object["spec"]["readinessGates"] = json!([
        {"conditionType": "example.com/lb"},
        {"conditionType": "example.com/dns"},
        {"conditionType": "example.com/missing"},
    ]);
    object["status"]["nominatedNodeName"] = json!("node-2");
    let row = cells(pods(), object);
    assert_eq!(row[7..], [json!("node-2"), json!("1/3")]);
}

#[test]
fn pod_ip_wins_over_pod_ips_and_pod_ips_fill_in() {
    // The internal PodStatus keeps podIP first (Convert_v1_PodStatus_To_core_PodStatus).
    let object = pod(
        &["web"],
        json!({"phase": "Running", "podIPs": [{"ip": "fd00::9"}]}),
    );
    assert_eq!(cells(pods(), object)[5], json!("fd00::9"));
    let object = pod(
        &["web"],
        json!({"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.2"}]}),
    );
    assert_eq!(cells(pods(), object)[5], json!("10.0.0.1"));
}

#[test]
fn a_pod_without_creation_timestamp_has_unknown_age() {
    let mut object = pod(&["web"], json!({"phase": "Running"}));
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("creationTimestamp");
    assert_eq!(summary(object)[4], json!("<unknown>"));
}

#[test]
fn rows_carry_the_object_as_include_object_asks() {
    let object = pod(&["web"], json!({"phase": "Running"}));
    let objects = [object.clone()];
    let metadata = table(pods(), &objects, now(), IncludeObject::Metadata).unwrap();
    assert_eq!(
        metadata["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
    );
    let whole = table(pods(), &objects, now(), IncludeObject::Object).unwrap();
    assert_eq!(whole["rows"][0]["object"], object);
    let none = table(pods(), &objects, now(), IncludeObject::None).unwrap();
    assert_eq!(none["rows"][0]["object"], Value::Null);
    assert_eq!(IncludeObject::from_query(""), Some(IncludeObject::Metadata));
    assert_eq!(
        IncludeObject::from_query("Object"),
        Some(IncludeObject::Object)
    );
    assert_eq!(IncludeObject::from_query("None"), Some(IncludeObject::None));
    assert_eq!(IncludeObject::from_query("metadata"), None);
}

#[test]
fn a_table_is_meta_v1_with_metadata_left_to_the_caller() {
    let empty = table(pods(), &[], now(), IncludeObject::Metadata).unwrap();
    assert_eq!(empty["kind"], "Table");
    assert_eq!(empty["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(empty["metadata"], json!({}));
    assert_eq!(empty["rows"], json!([]));
    // One row per object, in order.
    let mut second = pod(&["web"], json!({"phase": "Running"}));
    second["metadata"]["name"] = json!("web-1");
    let objects = [pod(&["web"], json!({"phase": "Running"})), second];
    let both = table(pods(), &objects, now(), IncludeObject::None).unwrap();
    let names: Vec<&Value> = both["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row["cells"][0])
        .collect();
    assert_eq!(names, [&json!("web-0"), &json!("web-1")]);
}

#[test]
fn an_object_that_is_not_a_pod_is_an_error_naming_it() {
    let broken = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad"}, "spec": {"containers": "nope"}});
    let error = table(pods(), &[broken], now(), IncludeObject::None).unwrap_err();
    assert_eq!(error.kind, "Pod");
    assert_eq!(error.name, "bad");
}

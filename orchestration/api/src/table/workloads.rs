//! Rows of the workload kinds: printers.go `printDeployment`,
//! `printReplicaSet`, `printDaemonSet`, `printControllerRevision` and
//! `printJob` of Kubernetes 1.33.
//!
//! Counts are integer cells (JSON numbers), as the printers make them, even
//! where the column says "string" (Deployment's UP-TO-DATE, AVAILABLE).
//! Column descriptions come from the apps/v1 and batch/v1 field docs; 1.33
//! takes some from the older extensions/v1beta1 docs, whose words differ a
//! little.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::Value;

use super::cells::{age, container_cells, format_label_selector, format_labels, selector_string};
use super::duration::human_duration;
use super::{decode, Column, Row, AGE, CONTAINERS, IMAGES, NAME};

/// The row of `cells`.
fn cells(cells: Vec<Value>) -> Row {
    Row {
        cells,
        conditions: Vec::new(),
    }
}

/// printers.go `deploymentColumnDefinitions`.
pub(super) const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new(
        "Up-to-date",
        "string",
        "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
    ),
    Column::new(
        "Available",
        "string",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::wide(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
    ),
];

/// NAME, READY ("ready/desired"), UP-TO-DATE, AVAILABLE, AGE; wide:
/// CONTAINERS, IMAGES, SELECTOR ("" when empty, "<invalid>" when invalid).
pub(super) fn deployment_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let deployment: Deployment = decode(object)?;
    let spec = deployment.spec.unwrap_or_default();
    let status = deployment.status.unwrap_or_default();
    // kube-apiserver reads objects defaulted: a missing replicas is 1.
    let desired = spec.replicas.unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or_default();
    let (names, images) = container_cells(pod_containers(spec.template.spec.as_ref()));
    let selector = selector_string(Some(&spec.selector)).unwrap_or_else(|_| "<invalid>".to_owned());
    Ok(cells(vec![
        deployment.metadata.name.clone().unwrap_or_default().into(),
        format!("{ready}/{desired}").into(),
        status.updated_replicas.unwrap_or_default().into(),
        status.available_replicas.unwrap_or_default().into(),
        age(deployment.metadata.creation_timestamp.as_ref(), now).into(),
        names.into(),
        images.into(),
        selector.into(),
    ]))
}

/// printers.go `replicaSetColumnDefinitions`.
pub(super) const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    Column::new(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
    ),
    Column::new(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::wide(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    ),
];

/// NAME, DESIRED, CURRENT, READY, AGE; wide: CONTAINERS, IMAGES, SELECTOR.
pub(super) fn replica_set_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let replica_set: ReplicaSet = decode(object)?;
    let spec = replica_set.spec.unwrap_or_default();
    let status = replica_set.status.unwrap_or_default();
    let template = spec.template.and_then(|template| template.spec);
    let (names, images) = container_cells(pod_containers(template.as_ref()));
    Ok(cells(vec![
        replica_set.metadata.name.clone().unwrap_or_default().into(),
        // kube-apiserver reads objects defaulted: a missing replicas is 1.
        spec.replicas.unwrap_or(1).into(),
        status.replicas.into(),
        status.ready_replicas.unwrap_or_default().into(),
        age(replica_set.metadata.creation_timestamp.as_ref(), now).into(),
        names.into(),
        images.into(),
        format_label_selector(Some(&spec.selector)).into(),
    ]))
}

/// printers.go `daemonSetColumnDefinitions`.
pub(super) const DAEMON_SET_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    Column::new(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
    ),
    Column::new(
        "Ready",
        "integer",
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
    ),
    Column::new(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    Column::new(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    Column::new(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::wide(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    ),
];

/// NAME, DESIRED, CURRENT, READY, UP-TO-DATE, AVAILABLE, NODE SELECTOR,
/// AGE; wide: CONTAINERS, IMAGES, SELECTOR.
pub(super) fn daemon_set_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let daemon_set: DaemonSet = decode(object)?;
    let spec = daemon_set.spec.unwrap_or_default();
    let status = daemon_set.status.unwrap_or_default();
    let template = spec.template.spec;
    let (names, images) = container_cells(pod_containers(template.as_ref()));
    let node_selector = template.as_ref().and_then(|pod| pod.node_selector.as_ref());
    Ok(cells(vec![
        daemon_set.metadata.name.clone().unwrap_or_default().into(),
        status.desired_number_scheduled.into(),
        status.current_number_scheduled.into(),
        status.number_ready.into(),
        status.updated_number_scheduled.unwrap_or_default().into(),
        status.number_available.unwrap_or_default().into(),
        format_labels(node_selector).into(),
        age(daemon_set.metadata.creation_timestamp.as_ref(), now).into(),
        names.into(),
        images.into(),
        format_label_selector(Some(&spec.selector)).into(),
    ]))
}

/// printers.go `controllerRevisionColumnDefinition`.
pub(super) const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Controller", "string", "Controller of the object"),
    Column::new(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];

/// NAME, CONTROLLER ("daemonset.apps/name", "<none>"), REVISION (a number),
/// AGE.
pub(super) fn controller_revision_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let revision: ControllerRevision = decode(object)?;
    let controller = revision
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|owner| owner.controller == Some(true));
    let controller = match controller {
        None => "<none>".to_owned(),
        Some(owner) => {
            // schema.ParseGroupVersion: "", "v1" or "group/version".
            let group = match owner.api_version.matches('/').count() {
                0 => "",
                1 => owner.api_version.split('/').next().unwrap_or_default(),
                _ => {
                    return Err(format!(
                        "unexpected GroupVersion string: {}",
                        owner.api_version
                    ))
                }
            };
            // formatResourceName: "kind.group/name" in lower case, the bare
            // name for an empty group and kind.
            let group_kind = match (owner.kind.as_str(), group) {
                ("", "") => String::new(),
                (kind, "") => kind.to_owned(),
                (kind, group) => format!("{kind}.{group}"),
            };
            if group_kind.is_empty() {
                owner.name.clone()
            } else {
                format!("{}/{}", group_kind.to_lowercase(), owner.name)
            }
        }
    };
    Ok(cells(vec![
        revision.metadata.name.clone().unwrap_or_default().into(),
        controller.into(),
        revision.revision.into(),
        age(revision.metadata.creation_timestamp.as_ref(), now).into(),
    ]))
}

/// printers.go `jobColumnDefinitions` (1.33 has STATUS).
pub(super) const JOB_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "Status of the job."),
    Column::new(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
    ),
    Column::new("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::wide(
        "Selector",
        "string",
        "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
    ),
];

/// NAME, STATUS, COMPLETIONS ("1/3", "0/1 of 4"), DURATION, AGE; wide:
/// CONTAINERS, IMAGES, SELECTOR.
pub(super) fn job_row(object: &Value, now: Timestamp) -> Result<Row, String> {
    let job: Job = decode(object)?;
    let spec = job.spec.unwrap_or_default();
    let status = job.status.unwrap_or_default();
    let succeeded = status.succeeded.unwrap_or_default();
    let completions = match (spec.completions, spec.parallelism.unwrap_or_default()) {
        (Some(completions), _) => format!("{succeeded}/{completions}"),
        (None, parallelism) if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
        (None, _) => format!("{succeeded}/1"),
    };
    let duration = match (status.start_time.as_ref(), status.completion_time.as_ref()) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start.0)),
        (Some(start), Some(completion)) => human_duration(completion.0.duration_since(start.0)),
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let state = if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(pod_containers(spec.template.spec.as_ref()));
    Ok(cells(vec![
        job.metadata.name.clone().unwrap_or_default().into(),
        state.into(),
        completions.into(),
        duration.into(),
        age(job.metadata.creation_timestamp.as_ref(), now).into(),
        names.into(),
        images.into(),
        format_label_selector(spec.selector.as_ref()).into(),
    ]))
}

/// printers.go `hasJobCondition`: whether the first condition of
/// `condition_type` is "True".
fn has_condition(conditions: &[JobCondition], condition_type: &str) -> bool {
    conditions
        .iter()
        .find(|condition| condition.type_ == condition_type)
        .is_some_and(|condition| condition.status == "True")
}

/// The containers of a pod template's spec, none without one.
fn pod_containers(spec: Option<&PodSpec>) -> &[Container] {
    spec.map_or(&[], |spec| spec.containers.as_slice())
}

//! Simulated rollouts: the Deployment and ReplicaSet controllers' plans
//! applied to an in-memory cluster, with pods made ready between steps,
//! checking at every write what issue 17's end-to-end checker checks: the
//! available pods never drop below `replicas - maxUnavailable`, and there
//! are never more than `replicas + maxSurge` pods.

#![allow(clippy::unwrap_used, reason = "tests")]

use jiff::{SignedDuration, Timestamp};
use keel_controllers::deployment::fenceposts::{max_surge, max_unavailable};
use keel_controllers::deployment::revisions::{
    is_skipped_annotation, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
};
use keel_controllers::deployment::{reconcile_deployment, DeploymentAction, DeploymentInput};
use keel_controllers::pods::{
    annotation, controller_of, format_time, is_active, is_available, name_of, uid_of,
};
use keel_controllers::replicaset::{reconcile_replica_set, ReplicaSetInput};
use serde_json::{json, Value};

/// How pods behave once created.
#[derive(Clone, Copy)]
struct Kubelet {
    /// Pods made ready per step (the slowest node of the cluster).
    ready_per_step: usize,
}

struct Cluster {
    deployment: Value,
    replica_sets: Vec<Value>,
    pods: Vec<Value>,
    now: Timestamp,
    next_uid: u64,
    kubelet: Kubelet,
    /// The bounds are checked after every write (off while a test breaks
    /// them on purpose: from no pods, Recreate).
    check_bounds: bool,
    /// The availability bound is checked too (off while pods for a scale
    /// up are still starting: availability lags the new replicas).
    check_available: bool,
    /// Every ReplicaSet ever created, by name.
    created_replica_sets: Vec<String>,
}

fn deployment(replicas: i64, surge: &Value, unavailable: &Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "deployment-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
        },
    })
}

impl Cluster {
    fn new(deployment: Value, kubelet: Kubelet) -> Self {
        Self {
            deployment,
            replica_sets: Vec::new(),
            pods: Vec::new(),
            now: "2025-01-01T00:00:00Z".parse().unwrap(),
            next_uid: 0,
            kubelet,
            check_bounds: true,
            check_available: true,
            created_replica_sets: Vec::new(),
        }
    }

    fn uid(&mut self, prefix: &str) -> String {
        self.next_uid += 1;
        format!("{prefix}-{}", self.next_uid)
    }

    fn replicas(&self) -> i64 {
        self.deployment["spec"]["replicas"].as_i64().unwrap()
    }

    /// Changes the Deployment's spec as a client would (generation + 1).
    fn edit(&mut self, change: impl FnOnce(&mut Value)) {
        let before = self.deployment["spec"].clone();
        change(&mut self.deployment);
        if self.deployment["spec"] != before {
            let generation = self.deployment["metadata"]["generation"].as_i64().unwrap();
            self.deployment["metadata"]["generation"] = json!(generation + 1);
        }
    }

    fn set_image(&mut self, image: &str) {
        self.edit(|d| d["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image));
    }

    fn sync_deployment(&mut self) {
        let plan = reconcile_deployment(DeploymentInput {
            deployment: &self.deployment,
            replica_sets: &self.replica_sets,
            pods: &self.pods,
            now: self.now,
        });
        for action in plan.actions {
            match action {
                DeploymentAction::CreateReplicaSet(mut body) => {
                    assert!(
                        !self
                            .replica_sets
                            .iter()
                            .any(|rs| name_of(rs) == name_of(&body)),
                        "created {} twice",
                        name_of(&body)
                    );
                    body["metadata"]["uid"] = json!(self.uid("rs"));
                    body["metadata"]["creationTimestamp"] = json!(format_time(self.now));
                    body["metadata"]["generation"] = json!(1);
                    self.created_replica_sets.push(name_of(&body).to_owned());
                    self.replica_sets.push(body);
                }
                DeploymentAction::UpdateReplicaSet(mut body) => {
                    let index = self.index_of(name_of(&body));
                    let old = &self.replica_sets[index];
                    if old["spec"] != body["spec"] {
                        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                        body["metadata"]["generation"] = json!(generation + 1);
                    }
                    body["status"] = old["status"].clone();
                    self.replica_sets[index] = body;
                }
                DeploymentAction::DeleteReplicaSet(reference) => {
                    let index = self.index_of(&reference.name);
                    let rs = self.replica_sets.remove(index);
                    // Background deletion: the garbage collector takes its pods.
                    self.pods.retain(|pod| {
                        controller_of(pod).and_then(|r| r["uid"].as_str()) != Some(uid_of(&rs))
                    });
                }
                other => panic!("unexpected action {other:?}"),
            }
            self.check();
        }
        if let Some(revision) = plan.revision {
            self.deployment["metadata"]["annotations"][REVISION_ANNOTATION] = json!(revision);
        }
        if let Some(status) = plan.status {
            self.deployment["status"] = status;
        }
    }

    fn index_of(&self, name: &str) -> usize {
        self.replica_sets
            .iter()
            .position(|rs| name_of(rs) == name)
            .unwrap()
    }

    fn sync_replica_sets(&mut self) {
        for index in 0..self.replica_sets.len() {
            let plan = reconcile_replica_set(ReplicaSetInput {
                replica_set: &self.replica_sets[index],
                pods: &self.pods,
                related_pods: &[],
                expectations_satisfied: true,
                now: self.now,
            });
            assert!(plan.adopt.is_empty() && plan.release.is_empty());
            for reference in &plan.delete {
                self.pods.retain(|pod| name_of(pod) != reference.name);
                self.check();
            }
            for _ in 0..plan.create {
                let mut pod = plan.pod.clone().unwrap();
                let uid = self.uid("pod");
                let name = format!("{}{uid}", pod["metadata"]["generateName"].as_str().unwrap());
                pod["metadata"]["name"] = json!(name);
                pod["metadata"]["uid"] = json!(uid);
                pod["metadata"]["creationTimestamp"] = json!(format_time(self.now));
                pod["status"] = json!({"phase": "Pending"});
                self.pods.push(pod);
                self.check();
            }
            if let Some(status) = plan.status {
                self.replica_sets[index]["status"] = status;
            }
        }
    }

    /// The kubelet: schedules and readies up to `ready_per_step` pods,
    /// except those of a template that never starts ("broken" images).
    fn run_pods(&mut self) {
        let now = format_time(self.now);
        let mut budget = self.kubelet.ready_per_step;
        for pod in &mut self.pods {
            let broken = pod["spec"]["containers"][0]["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("broken"));
            if budget == 0 || pod["status"]["phase"] != "Pending" || broken {
                continue;
            }
            budget -= 1;
            pod["spec"]["nodeName"] = json!("node-1");
            pod["status"] = json!({"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": now}]});
        }
    }

    /// The bounds issue 17's checker asserts.
    fn check(&self) {
        if !self.check_bounds {
            return;
        }
        let active: Vec<&Value> = self.pods.iter().filter(is_active).collect();
        let available = active
            .iter()
            .filter(|p| is_available(p, 0, self.now))
            .count() as i64;
        let (replicas, surge, unavailable) = (
            self.replicas(),
            max_surge(&self.deployment),
            max_unavailable(&self.deployment),
        );
        assert!(
            active.len() as i64 <= replicas + surge,
            "{} pods > {replicas} + {surge} at {}",
            active.len(),
            self.now
        );
        assert!(
            !self.check_available || available >= replicas - unavailable,
            "{available} available < {replicas} - {unavailable} at {}",
            self.now
        );
    }

    fn step(&mut self) {
        self.sync_deployment();
        self.sync_replica_sets();
        self.now += SignedDuration::from_secs(1);
        self.run_pods();
        self.sync_replica_sets();
        self.check();
    }

    /// The first rollout, from no pods (below the bounds until it is done).
    fn start(&mut self) {
        let check = self.check_bounds;
        self.check_bounds = false;
        self.roll_out();
        self.check_bounds = check;
    }

    /// Steps until `kubectl rollout status` says done; the number of steps.
    fn roll_out(&mut self) -> usize {
        for steps in 1..=200 {
            self.step();
            if rollout_status(&self.deployment).1 {
                // One more sync writes the completed Progressing condition.
                self.step();
                return steps;
            }
        }
        panic!(
            "no rollout after 200 steps: {}",
            rollout_status(&self.deployment).0
        );
    }

    fn template_hash_of(pod: &Value) -> String {
        pod["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn new_replica_set(&self) -> &Value {
        let revision = annotation(&self.deployment, REVISION_ANNOTATION).unwrap();
        self.replica_sets
            .iter()
            .find(|rs| annotation(rs, REVISION_ANNOTATION) == Some(revision))
            .unwrap()
    }

    /// Every pod runs the Deployment's template, and there are replicas of them.
    fn assert_all_on_template(&self) {
        let image = &self.deployment["spec"]["template"]["spec"]["containers"][0]["image"];
        let new_hash =
            self.new_replica_set()["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL].clone();
        assert_eq!(self.pods.len() as i64, self.replicas());
        for pod in &self.pods {
            assert_eq!(&pod["spec"]["containers"][0]["image"], image);
            assert_eq!(Self::template_hash_of(pod), new_hash.as_str().unwrap());
        }
    }

    /// `kubectl rollout undo --to-revision` as kubectl 1.27+ does it
    /// (`polymorphichelpers/rollback.go`): the Deployment's template becomes
    /// the ReplicaSet's, hash label removed, and its annotations that
    /// ReplicaSet's (but the skipped ones, which stay the Deployment's).
    fn undo(&mut self, revision: &str) {
        let rs = self
            .replica_sets
            .iter()
            .find(|rs| annotation(rs, REVISION_ANNOTATION) == Some(revision))
            .unwrap()
            .clone();
        let mut template = rs["spec"]["template"].clone();
        template["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(POD_TEMPLATE_HASH_LABEL);
        let mut annotations = serde_json::Map::new();
        for (key, value) in self.deployment["metadata"]["annotations"]
            .as_object()
            .unwrap()
        {
            if is_skipped_annotation(key) {
                annotations.insert(key.clone(), value.clone());
            }
        }
        for (key, value) in rs["metadata"]["annotations"].as_object().unwrap() {
            if !is_skipped_annotation(key) {
                annotations.insert(key.clone(), value.clone());
            }
        }
        self.deployment["metadata"]["annotations"] = json!(annotations);
        self.edit(|d| d["spec"]["template"] = template);
    }
}

/// `kubectl rollout status`'s reading of a Deployment
/// (`polymorphichelpers/rollout_status.go`): its message and whether done.
fn rollout_status(d: &Value) -> (String, bool) {
    let count = |field: &str| d["status"][field].as_i64().unwrap_or(0);
    let name = name_of(d);
    if d["metadata"]["generation"].as_i64().unwrap_or(0) > count("observedGeneration") {
        return (
            "Waiting for deployment spec update to be observed...".into(),
            false,
        );
    }
    let conditions = d["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if conditions
        .iter()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
    {
        return (
            format!("deployment {name:?} exceeded its progress deadline"),
            false,
        );
    }
    let (replicas, updated) = (
        d["spec"]["replicas"].as_i64().unwrap(),
        count("updatedReplicas"),
    );
    if updated < replicas {
        return (format!("Waiting for deployment {name:?} rollout to finish: {updated} out of {replicas} new replicas have been updated..."), false);
    }
    if count("replicas") > updated {
        return (format!("Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...", count("replicas") - updated), false);
    }
    if count("availableReplicas") < updated {
        return (format!("Waiting for deployment {name:?} rollout to finish: {} of {updated} updated replicas are available...", count("availableReplicas")), false);
    }
    (format!("deployment {name:?} successfully rolled out"), true)
}

fn progressing(d: &Value) -> (String, String) {
    let condition = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap();
    (
        condition["status"].as_str().unwrap().to_owned(),
        condition["reason"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn ten_replicas_roll_within_every_surge_and_unavailability_setting() {
    let settings = [
        (json!("25%"), json!("25%")),
        (json!(0), json!(1)),
        (json!(1), json!(0)),
        (json!(3), json!(2)),
        (json!("50%"), json!(0)),
        (json!(0), json!("100%")),
        (json!("100%"), json!(0)),
    ];
    for (surge, unavailable) in settings {
        for ready_per_step in [1, 3, 100] {
            let mut cluster = Cluster::new(
                deployment(10, &surge, &unavailable),
                Kubelet { ready_per_step },
            );
            cluster.start();
            cluster.assert_all_on_template();
            cluster.set_image("web:2");
            cluster.roll_out();
            cluster.assert_all_on_template();
            assert_eq!(
                cluster.replica_sets.len(),
                2,
                "surge {surge}, unavailable {unavailable}"
            );
            assert_eq!(progressing(&cluster.deployment).1, "NewReplicaSetAvailable");
            assert_eq!(
                rollout_status(&cluster.deployment).0,
                "deployment \"web\" successfully rolled out"
            );
        }
    }
}

#[test]
fn revisions_undo_and_history() {
    let mut cluster = Cluster::new(
        deployment(4, &json!("25%"), &json!("25%")),
        Kubelet { ready_per_step: 2 },
    );
    cluster.start();
    cluster.edit(|d| {
        d["metadata"]["annotations"]["kubernetes.io/change-cause"] = json!("image web:2");
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
    });
    cluster.roll_out();
    let first = cluster.created_replica_sets[0].clone();
    let second = cluster.created_replica_sets[1].clone();
    assert_eq!(
        annotation(
            &cluster.replica_sets[cluster.index_of(&first)],
            REVISION_ANNOTATION
        ),
        Some("1")
    );
    let second_rs = &cluster.replica_sets[cluster.index_of(&second)];
    assert_eq!(annotation(second_rs, REVISION_ANNOTATION), Some("2"));
    assert_eq!(
        annotation(second_rs, "kubernetes.io/change-cause"),
        Some("image web:2")
    );
    assert_eq!(
        annotation(&cluster.deployment, REVISION_ANNOTATION),
        Some("2")
    );
    assert_eq!(
        second,
        format!(
            "web-{}",
            second_rs["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL]
                .as_str()
                .unwrap()
        )
    );

    // Undo to revision 1: the first ReplicaSet comes back as revision 3.
    cluster.undo("1");
    cluster.roll_out();
    cluster.assert_all_on_template();
    assert_eq!(
        cluster.created_replica_sets.len(),
        2,
        "no ReplicaSet created for an undo"
    );
    let first_rs = &cluster.replica_sets[cluster.index_of(&first)];
    assert_eq!(annotation(first_rs, REVISION_ANNOTATION), Some("3"));
    assert_eq!(annotation(first_rs, REVISION_HISTORY_ANNOTATION), Some("1"));
    assert_eq!(
        annotation(&cluster.deployment, REVISION_ANNOTATION),
        Some("3")
    );
    assert_eq!(cluster.new_replica_set()["metadata"]["name"], json!(first));
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll() {
    let mut cluster = Cluster::new(
        deployment(4, &json!(1), &json!(1)),
        Kubelet {
            ready_per_step: 100,
        },
    );
    cluster.start();
    cluster.edit(|d| d["spec"]["paused"] = json!(true));
    cluster.set_image("web:2");
    for _ in 0..5 {
        cluster.step();
    }
    assert_eq!(
        cluster.created_replica_sets.len(),
        1,
        "no rollout while paused"
    );
    assert_eq!(
        progressing(&cluster.deployment),
        ("Unknown".into(), "DeploymentPaused".into())
    );
    cluster.check_available = false; // new replicas start unavailable
    cluster.edit(|d| d["spec"]["replicas"] = json!(6));
    for _ in 0..5 {
        cluster.step();
    }
    assert_eq!(cluster.pods.len(), 6, "scaling applies while paused");
    cluster.check_available = true;
    cluster.edit(|d| d["spec"]["paused"] = json!(false));
    cluster.step();
    assert_eq!(cluster.created_replica_sets.len(), 2);
    cluster.roll_out();
    cluster.assert_all_on_template();
}

#[test]
fn a_restart_is_a_template_change() {
    let mut cluster = Cluster::new(
        deployment(3, &json!("25%"), &json!("25%")),
        Kubelet {
            ready_per_step: 100,
        },
    );
    cluster.start();
    let before: Vec<String> = cluster.pods.iter().map(|p| name_of(p).to_owned()).collect();
    cluster.edit(|d| {
        d["spec"]["template"]["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:10:00Z"});
    });
    cluster.roll_out();
    assert_eq!(cluster.created_replica_sets.len(), 2);
    assert!(
        cluster
            .pods
            .iter()
            .all(|p| !before.contains(&name_of(p).to_owned())),
        "every pod replaced"
    );
    assert_eq!(
        cluster.pods[0]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2025-01-01T00:10:00Z"
    );
}

#[test]
fn old_revisions_past_the_limit_are_deleted() {
    let mut d = deployment(2, &json!(1), &json!(0));
    d["spec"]["revisionHistoryLimit"] = json!(1);
    let mut cluster = Cluster::new(
        d,
        Kubelet {
            ready_per_step: 100,
        },
    );
    cluster.start();
    for image in ["web:2", "web:3", "web:4"] {
        cluster.set_image(image);
        cluster.roll_out();
    }
    assert_eq!(cluster.created_replica_sets.len(), 4);
    let mut left: Vec<&str> = cluster
        .replica_sets
        .iter()
        .filter_map(|rs| annotation(rs, REVISION_ANNOTATION))
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec!["3", "4"], "the new one and one old revision");
}

#[test]
fn a_scale_mid_rollout_is_proportional_and_the_rollout_completes() {
    let mut cluster = Cluster::new(
        deployment(10, &json!(3), &json!(2)),
        Kubelet { ready_per_step: 2 },
    );
    cluster.start();
    cluster.set_image("web:2");
    for _ in 0..3 {
        cluster.step();
    }
    let sizes = |cluster: &Cluster| -> Vec<i64> {
        cluster
            .replica_sets
            .iter()
            .map(|rs| rs["spec"]["replicas"].as_i64().unwrap())
            .collect()
    };
    let before = sizes(&cluster);
    assert!(before.iter().all(|&n| n > 0), "mid-rollout: {before:?}");
    cluster.check_available = false; // new replicas start unavailable
    cluster.edit(|d| d["spec"]["replicas"] = json!(20));
    cluster.sync_deployment();
    let after = sizes(&cluster);
    assert_eq!(after.iter().sum::<i64>(), 23);
    assert!(
        after[0] > before[0] && after[1] > before[1],
        "both grew: {before:?} -> {after:?}"
    );
    cluster.roll_out();
    cluster.assert_all_on_template();
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let mut d = deployment(5, &json!(0), &json!(0));
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    let mut cluster = Cluster::new(d, Kubelet { ready_per_step: 2 });
    cluster.check_bounds = false; // Recreate takes every pod down
    cluster.start();
    cluster.set_image("web:2");
    for _ in 0..50 {
        cluster.step();
        let images: std::collections::BTreeSet<&str> = cluster
            .pods
            .iter()
            .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap())
            .collect();
        assert!(images.len() <= 1, "old and new together: {images:?}");
        if rollout_status(&cluster.deployment).1 {
            break;
        }
    }
    cluster.assert_all_on_template();
}

#[test]
fn a_rollout_that_never_becomes_ready_exceeds_its_deadline() {
    let mut d = deployment(4, &json!(1), &json!(1));
    d["spec"]["progressDeadlineSeconds"] = json!(30);
    let mut cluster = Cluster::new(
        d,
        Kubelet {
            ready_per_step: 100,
        },
    );
    cluster.start();
    cluster.set_image("broken:1");
    let mut requeued = false;
    for _ in 0..60 {
        cluster.step();
        if progressing(&cluster.deployment).1 == "ProgressDeadlineExceeded" {
            break;
        }
        requeued |= reconcile_deployment(DeploymentInput {
            deployment: &cluster.deployment,
            replica_sets: &cluster.replica_sets,
            pods: &cluster.pods,
            now: cluster.now,
        })
        .requeue_after_secs
        .is_some();
    }
    assert!(requeued, "a stuck rollout asks to be checked again");
    assert_eq!(
        progressing(&cluster.deployment),
        ("False".into(), "ProgressDeadlineExceeded".into())
    );
    assert_eq!(
        rollout_status(&cluster.deployment).0,
        "deployment \"web\" exceeded its progress deadline"
    );
    // The old pods stay within the unavailability bound all along.
    let old_running = cluster
        .pods
        .iter()
        .filter(|p| is_available(p, 0, cluster.now))
        .count();
    assert!(old_running >= 3);
}

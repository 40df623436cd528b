//! The Deployment controller at work against a real keeld, with the
//! ReplicaSet controller, simulated nodes, a test binder, the HTTP front
//! in this process and kubectl 1.33 (one keeld for the file):
//!
//! ```text
//!   rolling_update_within_its_bounds
//!     kubectl create: 10 replicas, maxSurge 25% (3), maxUnavailable 25% (2);
//!     kubectl rollout status waits for it
//!     a checker follows every pod and ReplicaSet change from then on:
//!       available pods ≥ 10 - 2, active pods ≤ 10 + 3, ReplicaSets' replicas ≤ 13
//!     kubectl set image ─► rollout status ─► all 10 pods run web:2
//!     kubectl rollout history lists revisions 1 and 2
//!     kubectl rollout undo ─► rollout status ─► web:1 again, revision 3
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{options, pods_labelled, Cluster, Task, PATIENCE};
use keel_api::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_client::Client;
use keel_controllers::pods::{is_active, is_ready, name_of};
use keel_runtime::{Event, Informer, Store};
use keel_tests::eventually;
use serde_json::Value;

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

const REPLICAS: i64 = 10;
const MAX_SURGE: i64 = 3;
const MAX_UNAVAILABLE: i64 = 2;

const MANIFEST: &str = r#"{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web"},
  "spec": {
    "replicas": 10,
    "selector": {"matchLabels": {"app": "web"}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    "template": {"metadata": {"labels": {"app": "web"}},
                 "spec": {"containers": [{"name": "main", "image": "web:1"}]}}
  }
}"#;

/// kubectl aimed at the front at `address`, with a home of its own.
struct Kubectl {
    flags: Vec<String>,
    home: PathBuf,
}

impl Kubectl {
    fn new(address: &str, scratch: &std::path::Path) -> Self {
        let home = scratch.join("kubectl");
        std::fs::create_dir_all(&home).unwrap();
        Self {
            flags: vec![
                "--kubeconfig=/dev/null".into(),
                format!("--server=http://{address}"),
                format!("--cache-dir={}", home.join("cache").display()),
                "--namespace=default".into(),
            ],
            home,
        }
    }

    /// Runs kubectl with `args`; answers its stdout, failing the test
    /// when it fails.
    async fn ok(&self, args: &[&str]) -> String {
        let mut command = Command::new(KUBECTL);
        command.args(&self.flags).args(args).env("HOME", &self.home);
        let args = args.join(" ");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl {args}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

/// What the checker found wrong, and how many states it saw.
#[derive(Default)]
struct Findings {
    violations: Vec<String>,
    states: usize,
}

/// Follows every pod and ReplicaSet change of `app=web` and checks the
/// rollout's bounds at each.
async fn check_bounds(client: Client, findings: Arc<Mutex<Findings>>) {
    let mut pods = Informer::start(&client, of::<Pod>(), "default")
        .await
        .unwrap();
    let mut replica_sets = Informer::start(&client, of::<ReplicaSet>(), "default")
        .await
        .unwrap();
    let (pod_cache, rs_cache) = (pods.cache(), replica_sets.cache());
    loop {
        let event = tokio::select! {
            event = pods.next() => event,
            event = replica_sets.next() => event,
        };
        if matches!(event, Ok(Event::Listed { .. }) | Err(_)) {
            continue;
        }
        let web = |object: &Value| object["metadata"]["labels"]["app"] == "web";
        let active: Vec<Value> = pod_cache
            .list()
            .into_iter()
            .filter(|p| web(p) && is_active(p))
            .collect();
        let available = active.iter().filter(is_ready).count() as i64;
        let wanted: i64 = rs_cache
            .list()
            .iter()
            .filter(|rs| web(rs))
            .map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(0))
            .sum();
        let mut findings = findings.lock().unwrap();
        findings.states += 1;
        let total = active.len() as i64;
        if available < REPLICAS - MAX_UNAVAILABLE {
            findings
                .violations
                .push(format!("{available} available pods"));
        }
        if total > REPLICAS + MAX_SURGE {
            findings.violations.push(format!("{total} pods"));
        }
        if wanted > REPLICAS + MAX_SURGE {
            findings
                .violations
                .push(format!("{wanted} replicas wanted"));
        }
    }
}

/// The images of the active pods of `app=web`, once there are exactly
/// 10, all Ready and of one image.
async fn settled_image(store: &Store) -> String {
    eventually("10 ready pods of one image", PATIENCE, || async {
        let pods: Vec<Value> = pods_labelled(store, "default", "app", "web")
            .await
            .into_iter()
            .filter(is_active)
            .collect();
        let images: std::collections::BTreeSet<&str> = pods
            .iter()
            .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap_or(""))
            .collect();
        (pods.len() == REPLICAS as usize && pods.iter().all(is_ready) && images.len() == 1)
            .then(|| images.into_iter().next().unwrap().to_owned())
    })
    .await
}

/// Waits with `kubectl rollout status` for the rollout to end, then for
/// the pods to settle on `image`.
async fn rolled_out_to(kubectl: &Kubectl, store: &Store, image: &str) {
    let status = kubectl
        .ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert!(status.contains("successfully rolled out"), "{status}");
    assert_eq!(settled_image(store).await, image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_within_its_bounds() {
    let mut cluster = Cluster::start(options()).await;
    cluster.bound_sim_nodes(3);
    cluster.run_manager();
    let store = &cluster.store;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let front_store = store.clone();
    let _front = Task(tokio::spawn(async move {
        let _ = keel_apiserver::serve(listener, front_store).await;
    }));
    let scratch = tempfile::tempdir().unwrap();
    let kubectl = Kubectl::new(&address, scratch.path());
    let manifest = scratch.path().join("web.json");
    std::fs::write(&manifest, MANIFEST).unwrap();

    kubectl
        .ok(&["create", "-f", manifest.to_str().unwrap()])
        .await;
    rolled_out_to(&kubectl, store, "web:1").await;

    let findings = Arc::new(Mutex::new(Findings::default()));
    let checker = Task(tokio::spawn(check_bounds(
        cluster.client.clone(),
        Arc::clone(&findings),
    )));
    // The checker lists before it follows: let it.
    tokio::time::sleep(Duration::from_millis(300)).await;

    kubectl
        .ok(&["set", "image", "deployment/web", "main=web:2"])
        .await;
    rolled_out_to(&kubectl, store, "web:2").await;

    let history = kubectl.ok(&["rollout", "history", "deployment/web"]).await;
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|word| word.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");
    let revision_one = kubectl
        .ok(&["rollout", "history", "deployment/web", "--revision=1"])
        .await;
    assert!(revision_one.contains("web:1"), "{revision_one}");

    kubectl.ok(&["rollout", "undo", "deployment/web"]).await;
    rolled_out_to(&kubectl, store, "web:1").await;
    let deployment = store
        .get(of::<Deployment>(), "default", "web")
        .await
        .unwrap();
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3",
        "undo makes revision 1's template the next revision"
    );
    let history = kubectl.ok(&["rollout", "history", "deployment/web"]).await;
    assert!(
        history.contains("\n2 ") && history.contains("\n3 "),
        "{history}"
    );
    let replica_sets = store
        .list(
            of::<ReplicaSet>(),
            "default",
            &keel_runtime::ListOptions::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(
        replica_sets.len(),
        2,
        "undo reuses revision 1's ReplicaSet: {:#?} {deployment:#}",
        replica_sets
            .iter()
            .map(|rs| (
                name_of(rs),
                &rs["metadata"]["annotations"],
                &rs["spec"]["template"]
            ))
            .collect::<Vec<_>>()
    );

    drop(checker);
    let findings = findings.lock().unwrap();
    assert!(findings.violations.is_empty(), "{:?}", findings.violations);
    assert!(
        findings.states > 20,
        "the checker saw {} states",
        findings.states
    );
}

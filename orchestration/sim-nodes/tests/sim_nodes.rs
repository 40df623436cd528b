//! Simulated nodes against a real single-member keeld:
//!
//! ```text
//!   nodes_register_renew_and_run_pods
//!     3 nodes register Ready with their capacity; their Leases' renewTime
//!     moves on; a pod bound to one runs and is Ready with an address in the
//!     node's podCIDR; a pod with a duration and restartPolicy Never
//!     succeeds after it, one with an exit code fails; a pod deleted
//!     gracefully is removed for good; pods bound elsewhere are left alone;
//!     a second run over the same nodes brings them back healthy
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

use std::time::Duration;

use jiff::Timestamp;
use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources::of;
use keel_client::{Client, ClientOptions};
use keel_runtime::{ListOptions, Part, Store, StoreError};
use keel_sim_nodes::{Capacity, Options};
use keel_tests::{eventually, Flavor, Server};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long anything the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(20);

async fn connect(url: &str) -> Client {
    Client::connect(vec![url.to_owned()], ClientOptions::new())
        .await
        .unwrap()
}

fn options() -> Options {
    Options {
        prefix: "sim".into(),
        count: 3,
        capacity: Capacity {
            cpu: "4".into(),
            memory: "8Gi".into(),
            pods: 20,
            ephemeral_storage: "100Gi".into(),
        },
        lease_duration_secs: 40,
        renew_interval: Duration::from_millis(200),
        pod_workers: 4,
    }
}

fn start(client: &Client, options: Options) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let client = client.clone();
    let running = tokio::spawn(async move {
        keel_sim_nodes::run(&client, &options, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (stop, running)
}

#[allow(clippy::needless_pass_by_value, reason = "shorter calls")]
fn pod(name: &str, node: &str, restart: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "annotations": annotations},
           "spec": {"nodeName": node, "restartPolicy": restart,
                    "containers": [{"name": "main", "image": "busybox"}]}})
}

async fn phase_of(store: &Store, name: &str) -> Option<(String, Value)> {
    let pod = store.get(of::<Pod>(), "default", name).await.ok()?;
    let phase = pod.pointer("/status/phase")?.as_str()?.to_owned();
    Some((phase, pod))
}

async fn wait_for_phase(store: &Store, name: &str, wanted: &str) -> Value {
    eventually(&format!("{name} to be {wanted}"), PATIENCE, || async {
        phase_of(store, name)
            .await
            .filter(|(phase, _)| phase == wanted)
            .map(|(_, pod)| pod)
    })
    .await
}

/// The status of a node's or pod's Ready condition.
fn ready_status(object: &Value) -> Option<String> {
    let conditions = object.pointer("/status/conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    Some(ready["status"].as_str()?.to_owned())
}

fn renew_time(lease: &Value) -> Timestamp {
    lease
        .pointer("/spec/renewTime")
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_renew_and_run_pods() {
    let server = Server::start(Flavor::Keeld);
    let client = connect(&server.client_url()).await;
    let store = Store::new(client.clone());
    let (stop, running) = start(&client, options());

    let nodes = eventually("3 nodes", PATIENCE, || async {
        let list = store
            .list(of::<Node>(), "", &ListOptions::default())
            .await
            .ok()?;
        (list.items.len() == 3).then_some(list.items)
    })
    .await;
    for node in &nodes {
        assert_eq!(node.pointer("/status/allocatable/cpu"), Some(&json!("4")));
        assert_eq!(ready_status(node).as_deref(), Some("True"));
    }

    // The Leases are renewed.
    let leases = of::<Lease>();
    let first = eventually("sim-0's lease", PATIENCE, || async {
        store.get(leases, "kube-node-lease", "sim-0").await.ok()
    })
    .await;
    eventually("a renewal", PATIENCE, || async {
        let now = store.get(leases, "kube-node-lease", "sim-0").await.ok()?;
        (renew_time(&now) > renew_time(&first)).then_some(())
    })
    .await;

    // A node given a podCIDR hands out addresses in it.
    store
        .update_with(of::<Node>(), "", "sim-1", |node, _| {
            let mut node = node.clone();
            node["spec"]["podCIDR"] = "10.244.7.0/24".into();
            node["spec"]["podCIDRs"] = json!(["10.244.7.0/24"]);
            Ok::<_, StoreError>(node)
        })
        .await
        .unwrap();
    let pods = of::<Pod>();
    store
        .create(pods, "default", pod("web", "sim-1", "Always", json!({})))
        .await
        .unwrap();
    let web = wait_for_phase(&store, "web", "Running").await;
    let ip = web.pointer("/status/podIP").unwrap().as_str().unwrap();
    assert!(ip.starts_with("10.244.7."), "{ip}");
    assert_eq!(web.pointer("/status/hostIP"), Some(&json!("100.64.0.2")));
    assert_eq!(ready_status(&web).as_deref(), Some("True"));

    // Pods that run to an end.
    let ends = |code: &str| json!({"sim.keel.dev/duration": "1s", "sim.keel.dev/exit-code": code});
    store
        .create(pods, "default", pod("ok", "sim-0", "Never", ends("0")))
        .await
        .unwrap();
    store
        .create(pods, "default", pod("bad", "sim-2", "OnFailure", ends("2")))
        .await
        .unwrap();
    wait_for_phase(&store, "ok", "Running").await;
    let ok = wait_for_phase(&store, "ok", "Succeeded").await;
    assert_eq!(
        ok.pointer("/status/containerStatuses/0/state/terminated/exitCode"),
        Some(&json!(0))
    );
    let bad = wait_for_phase(&store, "bad", "Failed").await;
    assert_eq!(
        bad.pointer("/status/containerStatuses/0/state/terminated/exitCode"),
        Some(&json!(2))
    );

    // A pod on a node the simulation does not run stays Pending.
    store
        .create(
            pods,
            "default",
            pod("elsewhere", "real-node", "Always", json!({})),
        )
        .await
        .unwrap();

    // A graceful delete (30 s by default) only marks the pod; the
    // simulated kubelet finishes it at once.
    let marked = store
        .delete_as_planned(
            pods,
            "default",
            "web",
            &DeleteOptions::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(!marked.gone, "a pod on a node is deleted gracefully");
    eventually("web to be gone", PATIENCE, || async {
        matches!(
            store.get(pods, "default", "web").await,
            Err(StoreError::NotFound { .. })
        )
        .then_some(())
    })
    .await;
    let (phase, _) = phase_of(&store, "elsewhere").await.unwrap();
    assert_eq!(phase, "Pending");

    // Stopped, a node left NotReady comes back healthy in the next run.
    stop.send(()).unwrap();
    running.await.unwrap();
    store
        .update_part_with(of::<Node>(), "", "sim-2", Part::Status, |node, _| {
            let mut node = node.clone();
            for condition in node["status"]["conditions"].as_array_mut().unwrap() {
                if condition["type"] == "Ready" {
                    condition["status"] = "Unknown".into();
                }
            }
            Ok::<_, StoreError>(node)
        })
        .await
        .unwrap();
    let (stop, running) = start(&client, options());
    eventually("sim-2 to be Ready again", PATIENCE, || async {
        let node = store.get(of::<Node>(), "", "sim-2").await.ok()?;
        (ready_status(&node)? == "True").then_some(())
    })
    .await;
    stop.send(()).unwrap();
    running.await.unwrap();
}

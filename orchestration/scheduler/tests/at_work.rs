//! The scheduler at work against a real single-member keeld, with
//! simulated nodes (keel-sim-nodes) and the scheduler in this process:
//!
//! ```text
//!   pods_are_placed_as_kubernetes_places_them
//!     3 small nodes: 6 pods spread 2 per node, each with a Scheduled event;
//!     a pod too big for all gets PodScheduled=False and FailedScheduling
//!     "0/3 nodes are available: 3 Insufficient cpu." and is bound as soon
//!     as a big node registers; a cordoned node gets nothing; a tainted
//!     node only the pod that tolerates the taint; a nodeSelector is
//!     honoured, and its failure told with Kubernetes' counts
//!   two_schedulers_bind_each_pod_once_and_hand_over
//!     two copies: only the leader binds, no pod's node ever changes once
//!     set; the leader killed, the other binds within the lease's TTL
//!   a_bind_from_a_cached_copy_swaps_once_or_reads_again
//!     Store::bind_seen: a stale copy reads again and wins; a pod bound
//!     since is refused; a new pod of the same name is refused
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_api::k8s_openapi::api::core::v1::{Event, Node, Pod};
use keel_api::resources::of;
use keel_client::{Client, ClientOptions};
use keel_runtime::{LeaderElector, ListOptions, ObjectEvent, Store, StoreError};
use keel_scheduler::run::{Metrics, Options, ELECTION_NAME};
use keel_scheduler::QueueConfig;
use keel_sim_nodes::Capacity;
use keel_tests::{eventually, Flavor, Server};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long anything the test waits for may take.
const PATIENCE: Duration = Duration::from_secs(20);
/// The lease of the schedulers' leadership in these tests.
const LEASE_TTL_SECS: i64 = 2;

async fn connect(url: &str) -> Client {
    Client::connect(vec![url.to_owned()], ClientOptions::new())
        .await
        .unwrap()
}

/// Runs until its sender is used or dropped.
fn stop_signal() -> (
    oneshot::Sender<()>,
    impl std::future::Future<Output = ()> + Send,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    (stop, async {
        let _ = stopped.await;
    })
}

/// Starts `count` simulated nodes named `<prefix>-<i>` of `cpu` cores.
fn sim_nodes(client: &Client, prefix: &str, count: usize, cpu: &str) -> oneshot::Sender<()> {
    let options = keel_sim_nodes::Options {
        prefix: prefix.into(),
        count,
        capacity: Capacity {
            cpu: cpu.into(),
            memory: "8Gi".into(),
            pods: 20,
            ephemeral_storage: "100Gi".into(),
        },
        renew_interval: Duration::from_secs(1),
        pod_workers: 4,
        ..keel_sim_nodes::Options::default()
    };
    let (stop, stopped) = stop_signal();
    let client = client.clone();
    tokio::spawn(async move {
        keel_sim_nodes::run(&client, &options, stopped)
            .await
            .unwrap();
    });
    stop
}

fn options(identity: &str) -> Options {
    Options {
        identity: identity.into(),
        lease_ttl_secs: LEASE_TTL_SECS,
        election_retry: Duration::from_millis(200),
        queue: QueueConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..QueueConfig::default()
        },
        seed: 17,
        ..Options::default()
    }
}

fn scheduler(client: &Client, options: Options) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = stop_signal();
    let client = client.clone();
    let running = tokio::spawn(async move {
        keel_scheduler::run::run(&client, &options, stopped)
            .await
            .unwrap();
    });
    (stop, running)
}

/// A pod asking for `cpu`, with `spec` merged into its spec.
#[allow(clippy::needless_pass_by_value, reason = "shorter calls")]
fn pod(name: &str, cpu: &str, spec: Value) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                         "spec": {"containers": [{"name": "main", "image": "busybox",
                                  "resources": {"requests": {"cpu": cpu}}}]}});
    for (field, value) in spec.as_object().unwrap() {
        pod["spec"][field] = value.clone();
    }
    pod
}

async fn create(store: &Store, pod: Value) {
    store.create(of::<Pod>(), "default", pod).await.unwrap();
}

async fn node_of(store: &Store, name: &str) -> Option<String> {
    let pod = store.get(of::<Pod>(), "default", name).await.ok()?;
    Some(pod.pointer("/spec/nodeName")?.as_str()?.to_owned())
}

async fn wait_bound(store: &Store, name: &str) -> String {
    eventually(&format!("{name} to be bound"), PATIENCE, || {
        node_of(store, name)
    })
    .await
}

/// The pod's PodScheduled condition.
async fn scheduled_condition(store: &Store, name: &str) -> Option<Value> {
    let pod = store.get(of::<Pod>(), "default", name).await.ok()?;
    let conditions = pod.pointer("/status/conditions")?.as_array()?;
    conditions
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .cloned()
}

/// The messages of the events `reason` about the pod `name`.
async fn event_messages(store: &Store, name: &str, reason: &str) -> Vec<String> {
    let events = store
        .list(of::<Event>(), "default", &ListOptions::default())
        .await
        .unwrap();
    events
        .items
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name && e["reason"] == reason)
        .filter(|e| e["source"]["component"] == "default-scheduler")
        .filter_map(|e| e["message"].as_str().map(str::to_owned))
        .collect()
}

/// Waits for the pod `name` to be unschedulable with `message`: its
/// condition and a FailedScheduling event both say it.
async fn wait_unschedulable(store: &Store, name: &str, message: &str) {
    eventually(&format!("{name}'s condition"), PATIENCE, || async {
        let condition = scheduled_condition(store, name).await?;
        (condition["status"] == "False"
            && condition["reason"] == "Unschedulable"
            && condition["message"] == message)
            .then_some(())
    })
    .await;
    eventually(
        &format!("{name}'s FailedScheduling event"),
        PATIENCE,
        || async {
            let messages = event_messages(store, name, "FailedScheduling").await;
            messages.iter().any(|m| m == message).then_some(())
        },
    )
    .await;
    assert_eq!(node_of(store, name).await, None, "{name} is not bound");
}

async fn change_node(store: &Store, name: &str, change: impl Fn(&mut Value)) {
    store
        .update_with(of::<Node>(), "", name, |node, _| {
            let mut node = node.clone();
            change(&mut node);
            Ok::<_, StoreError>(node)
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_placed_as_kubernetes_places_them() {
    let server = Server::start(Flavor::Keeld);
    let client = connect(&server.client_url()).await;
    let store = Store::new(client.clone());
    let _small = sim_nodes(&client, "sim", 3, "2");
    eventually("3 nodes", PATIENCE, || async {
        let nodes = store.list(of::<Node>(), "", &ListOptions::default()).await;
        (nodes.ok()?.items.len() == 3).then_some(())
    })
    .await;
    let (_stop, _running) = scheduler(&client, options("only"));

    // Six pods of half a core on three nodes of two: two on each.
    for at in 0..6 {
        create(&store, pod(&format!("small-{at}"), "500m", json!({}))).await;
    }
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for at in 0..6 {
        *per_node
            .entry(wait_bound(&store, &format!("small-{at}")).await)
            .or_default() += 1;
    }
    let want: HashMap<String, usize> = (0..3).map(|at| (format!("sim-{at}"), 2)).collect();
    assert_eq!(per_node, want, "spread evenly");
    let node = node_of(&store, "small-0").await.unwrap();
    let condition = scheduled_condition(&store, "small-0").await.unwrap();
    assert_eq!(condition["status"], "True");
    eventually("small-0's Scheduled event", PATIENCE, || async {
        let messages = event_messages(&store, "small-0", "Scheduled").await;
        let want = format!("Successfully assigned default/small-0 to {node}");
        messages.contains(&want).then_some(())
    })
    .await;

    // Too big for every node, until a big one registers.
    create(&store, pod("big", "3", json!({}))).await;
    wait_unschedulable(
        &store,
        "big",
        "0/3 nodes are available: 3 Insufficient cpu.",
    )
    .await;
    let _big = sim_nodes(&client, "large", 1, "8");
    assert_eq!(wait_bound(&store, "big").await, "large-0");

    // A cordoned node gets nothing; a tainted one only pods that tolerate
    // its taint.
    change_node(&store, "sim-0", |node| {
        node["spec"]["unschedulable"] = true.into();
    })
    .await;
    let taint = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    change_node(&store, "sim-1", |node| {
        node["spec"]["taints"] = taint.clone();
    })
    .await;
    for at in 0..4 {
        create(&store, pod(&format!("later-{at}"), "100m", json!({}))).await;
    }
    for at in 0..4 {
        let node = wait_bound(&store, &format!("later-{at}")).await;
        assert!(node == "sim-2" || node == "large-0", "later-{at} on {node}");
    }
    let on_sim_1 = json!({"nodeSelector": {"kubernetes.io/hostname": "sim-1"}});
    create(&store, pod("selects-sim-1", "100m", on_sim_1.clone())).await;
    wait_unschedulable(
        &store,
        "selects-sim-1",
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
         1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector.",
    )
    .await;
    let mut tolerating = on_sim_1;
    tolerating["tolerations"] =
        json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]);
    create(&store, pod("tolerates", "100m", tolerating)).await;
    assert_eq!(wait_bound(&store, "tolerates").await, "sim-1");
}

/// Watches the pods of `default` and notes every pod whose node changed
/// once set.
fn watch_for_rebinds(store: &Store) -> Arc<Mutex<Vec<String>>> {
    let rebinds = Arc::new(Mutex::new(Vec::new()));
    let noted = Arc::clone(&rebinds);
    let mut watch = store.watch(of::<Pod>(), "default", 0);
    tokio::spawn(async move {
        let mut nodes: HashMap<String, String> = HashMap::new();
        while let Some(Ok(event)) = watch.next().await {
            let ObjectEvent::Modified { object, .. } = event else {
                continue;
            };
            let name = object["metadata"]["name"].as_str().unwrap().to_owned();
            let Some(node) = object["spec"]["nodeName"].as_str() else {
                continue;
            };
            match nodes.insert(name.clone(), node.to_owned()) {
                Some(earlier) if earlier != node => {
                    noted
                        .lock()
                        .unwrap()
                        .push(format!("{name}: {earlier} then {node}"));
                }
                _ => {}
            }
        }
    });
    rebinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_bind_each_pod_once_and_hand_over() {
    let server = Server::start(Flavor::Keeld);
    let client = connect(&server.client_url()).await;
    let store = Store::new(client.clone());
    let rebinds = watch_for_rebinds(&store);
    let _nodes = sim_nodes(&client, "sim", 4, "4");
    let mut copies = HashMap::new();
    for identity in ["a", "b"] {
        let options = options(identity);
        let metrics = Arc::clone(&options.metrics);
        let (stop, running) = scheduler(&client, options);
        copies.insert(identity, (stop, running, metrics));
    }
    for at in 0..20 {
        create(&store, pod(&format!("first-{at}"), "100m", json!({}))).await;
    }
    for at in 0..20 {
        wait_bound(&store, &format!("first-{at}")).await;
    }
    let leader = LeaderElector::leader(&client, ELECTION_NAME)
        .await
        .unwrap()
        .unwrap();
    let follower = if leader == "a" { "b" } else { "a" };
    let metrics: HashMap<&str, Arc<Metrics>> = copies
        .iter()
        .map(|(identity, (_, _, metrics))| (*identity, Arc::clone(metrics)))
        .collect();
    let binds = |identity: &str| Metrics::get(&metrics[identity].binds);
    assert_eq!(binds(&leader), 20, "the leader binds every pod");
    assert_eq!(binds(follower), 0, "the follower binds none");
    assert_eq!(Metrics::get(&metrics[follower].attempts), 0);

    // The leader dies without resigning: the follower takes over once its
    // lease runs out.
    let (_stop, running, _) = copies.remove(leader.as_str()).unwrap();
    running.abort();
    let killed = tokio::time::Instant::now();
    create(&store, pod("after", "100m", json!({}))).await;
    wait_bound(&store, "after").await;
    let handover = killed.elapsed();
    let ttl = Duration::from_secs(LEASE_TTL_SECS as u64);
    assert!(
        handover < ttl + Duration::from_secs(2),
        "handed over in {handover:?}"
    );
    // The bind is counted when the scheduler's loop takes its outcome,
    // a moment after keel holds it.
    eventually("the follower to count its bind", PATIENCE, || async {
        (binds(follower) >= 1).then_some(())
    })
    .await;
    assert_eq!(binds(follower), 1);
    assert_eq!(
        LeaderElector::leader(&client, ELECTION_NAME)
            .await
            .unwrap()
            .as_deref(),
        Some(follower)
    );
    // Let the watch catch up before looking at what it saw.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*rebinds.lock().unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bind_from_a_cached_copy_swaps_once_or_reads_again() {
    let server = Server::start(Flavor::Keeld);
    let store = Store::new(connect(&server.client_url()).await);
    let pods = of::<Pod>();
    create(&store, pod("p", "100m", json!({}))).await;
    let seen = store.get(pods, "default", "p").await.unwrap();

    // The copy moved on (a label added): the bind reads again and wins.
    store
        .update_with(pods, "default", "p", |current, _| {
            let mut labelled = current.clone();
            labelled["metadata"]["labels"] = json!({"a": "b"});
            Ok::<_, StoreError>(labelled)
        })
        .await
        .unwrap();
    let bound = store.bind_seen(&seen, "n1").await.unwrap();
    assert_eq!(bound["spec"]["nodeName"], "n1");
    assert_eq!(bound["metadata"]["labels"]["a"], "b", "the label kept");

    // Bound since the copy: refused, never overwritten.
    let error = store.bind_seen(&seen, "n2").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is already assigned to node \"n1\""),
        "{error}"
    );

    // A current copy swaps at once; a pod of the same name is not it.
    create(&store, pod("q", "100m", json!({}))).await;
    let current = store.get(pods, "default", "q").await.unwrap();
    store.bind_seen(&current, "n1").await.unwrap();
    store.delete(pods, "default", "q", None).await.unwrap();
    create(&store, pod("q", "100m", json!({}))).await;
    let error = store.bind_seen(&current, "n1").await.unwrap_err();
    assert!(error.to_string().contains("UID in precondition"), "{error}");
    assert_eq!(node_of(&store, "q").await, None);
}

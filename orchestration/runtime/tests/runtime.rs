//! The informer, the controller runner and leader election against a real
//! single-member keeld, and etcd 3.4 as the control:
//!
//! ```text
//!   informer_follows_the_store ...... create/update/delete through the Store
//!                                     arrive in order as Added/Modified/Deleted;
//!                                     an undecodable value is skipped; other
//!                                     namespaces are not seen; the cache and
//!                                     its indexes equal a fresh list
//!   informer_relists_after_compaction  cut off (a proxy) while the store
//!                                     changes and is compacted: the informer
//!                                     tells the differences, then Listed, and
//!                                     its cache equals a fresh list
//!   controller_reconciles_changes ... each new object once, again after an
//!                                     update, never one key twice at once
//!   controller_backs_off_failures ... a failing reconcile is retried after
//!                                     growing delays, then succeeds and rests
//!   controller_full_queue_loses_nothing  a queue of 2 keys and 8 new objects:
//!                                     every one is reconciled all the same
//!   controller_owns_related ......... over shared informers: a ReplicaSet
//!                                     is reconciled when it changes and
//!                                     when a pod it controls is added,
//!                                     changed or deleted; other pods wake
//!                                     nothing; two subscribers both hear
//!   recorder_folds_repeats .......... the same notice three times is one
//!                                     Event with count 3; another reason
//!                                     is an Event of its own
//!   one_leader_at_a_time ............ of two candidates one leads; the other
//!                                     takes over when the first resigns; a
//!                                     third takes over when the leader's
//!                                     session is revoked, and the old leader
//!                                     learns it lost
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_api::k8s_openapi::api::core;
use keel_api::resources::of;
use keel_client::{Client, ClientOptions};
use keel_runtime::{
    Action, Backoff, Controller, ControllerOptions, Event, Index, Informer, LeaderElector,
    ListOptions, ObjectKey, QueueOptions, SharedInformer, Store,
};
use keel_tests::proxy::Proxy;
use keel_tests::{Flavor, Server};
use serde_json::{json, Value};
use tokio::time::{timeout, Instant};

/// How long anything the tests wait for may take.
const PATIENCE: Duration = Duration::from_secs(20);
/// How long the tests watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(500);

macro_rules! runtime_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn informer_follows_the_store() {
                super::informer_follows_the_store($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn informer_relists_after_compaction() {
                super::informer_relists_after_compaction($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn controller_reconciles_changes() {
                super::controller_reconciles_changes($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn controller_backs_off_failures() {
                super::controller_backs_off_failures($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn controller_full_queue_loses_nothing() {
                super::controller_full_queue_loses_nothing($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn controller_owns_related() {
                super::controller_owns_related($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn recorder_folds_repeats() {
                super::recorder_folds_repeats($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_leader_at_a_time() {
                super::one_leader_at_a_time($flavor).await;
            }
        }
    };
}

runtime_suite!(keeld, keel_tests::Flavor::Keeld);
runtime_suite!(etcd, keel_tests::Flavor::Etcd);

async fn connect(url: String) -> Client {
    Client::connect([url], ClientOptions::new()).await.unwrap()
}

fn config_map(namespace: &str, name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
           "data": {"k": "v"}})
}

/// The informer's next event, in time.
async fn next_event(informer: &mut Informer) -> Event {
    timeout(PATIENCE, informer.next())
        .await
        .expect("an event in time")
        .unwrap()
}

/// The informer's next event, listing again after errors (a connection
/// cut), in time.
async fn next_event_through_errors(informer: &mut Informer) -> Event {
    timeout(PATIENCE, async {
        loop {
            match informer.next().await {
                Ok(event) => return event,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("an event in time")
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

fn version_of(object: &Value) -> &str {
    object["metadata"]["resourceVersion"].as_str().unwrap()
}

/// What the store holds in `namespace`, as the cache should.
async fn listed(store: &Store, namespace: &str) -> Vec<Value> {
    let config_maps = of::<core::v1::ConfigMap>();
    store
        .list(config_maps, namespace, &ListOptions::default())
        .await
        .unwrap()
        .items
}

async fn informer_follows_the_store(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = Store::new(connect(server.client_url()).await);
    let config_maps = of::<core::v1::ConfigMap>();
    let first = store
        .create(
            config_maps,
            "default",
            config_map("default", "first", "web"),
        )
        .await
        .unwrap();

    let mut informer = Informer::start(store.client(), config_maps, "default")
        .await
        .unwrap();
    assert_eq!(next_event(&mut informer).await, Event::Added(first.clone()));
    let Event::Listed { revision } = next_event(&mut informer).await else {
        panic!("[{flavor}] the start ends with Listed");
    };
    assert_eq!(revision.to_string(), version_of(&first));

    let second = store
        .create(
            config_maps,
            "default",
            config_map("default", "second", "web"),
        )
        .await
        .unwrap();
    store
        .create(
            config_maps,
            "other",
            config_map("other", "elsewhere", "web"),
        )
        .await
        .unwrap();
    // A value no decoder reads, under the informer's prefix.
    store
        .client()
        .put("/registry/configmaps/default/garbage", "{not json", None)
        .await
        .unwrap();
    let mut changed = second.clone();
    changed["metadata"]["labels"]["app"] = "db".into();
    let changed = store.update(config_maps, "default", changed).await.unwrap();
    let deleted = store
        .delete(config_maps, "default", "first", None)
        .await
        .unwrap();

    assert_eq!(
        next_event(&mut informer).await,
        Event::Added(second.clone())
    );
    assert_eq!(
        next_event(&mut informer).await,
        Event::Modified {
            old: second,
            new: changed.clone()
        },
        "[{flavor}] the garbage and the other namespace are not told"
    );
    assert_eq!(next_event(&mut informer).await, Event::Deleted(deleted));

    // The store's list refuses what does not decode, as kube-apiserver's
    // does; the informer never had it, so its delete tells nothing.
    store
        .client()
        .delete("/registry/configmaps/default/garbage", None)
        .await
        .unwrap();
    let cache = informer.cache();
    assert_eq!(cache.list(), listed(&store, "default").await);
    assert_eq!(cache.get("default", "second"), Some(changed.clone()));
    assert_eq!(cache.get("default", "first"), None);
    assert_eq!(cache.get("default", "garbage"), None);
    assert!(cache.by_index(Index::Label, "app=web").is_empty());
    assert_eq!(
        cache.by_index(Index::Label, "app=db"),
        std::slice::from_ref(&changed)
    );
    assert_eq!(cache.by_index(Index::Namespace, "default"), [changed]);
    assert!(cache.by_index(Index::Namespace, "other").is_empty());
}

async fn informer_relists_after_compaction(flavor: Flavor) {
    let server = Server::start(flavor);
    let proxy = Proxy::start(&server.endpoint());
    let store = Store::new(connect(server.client_url()).await);
    let behind_proxy = connect(format!("http://{}", proxy.endpoint())).await;
    let config_maps = of::<core::v1::ConfigMap>();
    for name in ["kept", "changed", "deleted"] {
        store
            .create(config_maps, "default", config_map("default", name, "web"))
            .await
            .unwrap();
    }
    let mut informer = Informer::start(&behind_proxy, config_maps, "")
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(next_event(&mut informer).await, Event::Added(_)));
    }
    assert!(matches!(
        next_event(&mut informer).await,
        Event::Listed { .. }
    ));

    // Cut off, the informer misses changes, and history is compacted past
    // where its watch stands.
    proxy.cut();
    let mut changed = store.get(config_maps, "default", "changed").await.unwrap();
    changed["data"]["k"] = "w".into();
    store.update(config_maps, "default", changed).await.unwrap();
    store
        .delete(config_maps, "default", "deleted", None)
        .await
        .unwrap();
    let added = store
        .create(
            config_maps,
            "default",
            config_map("default", "added", "web"),
        )
        .await
        .unwrap();
    let compacted: i64 = version_of(&added).parse().unwrap();
    store.client().compact(compacted, true).await.unwrap();
    proxy.mend();

    let mut told = BTreeMap::new();
    let revision = loop {
        match next_event_through_errors(&mut informer).await {
            Event::Listed { revision } => break revision,
            event => {
                let kind = match &event {
                    Event::Added(_) => "added",
                    Event::Modified { .. } => "modified",
                    Event::Deleted(_) => "deleted",
                    Event::Listed { .. } => unreachable!("matched above"),
                };
                told.insert(event.key().unwrap().name, kind);
            }
        }
    };
    assert!(
        revision >= compacted,
        "[{flavor}] listed at {revision}, after the compaction at {compacted}"
    );
    assert_eq!(
        told,
        BTreeMap::from([
            ("added".to_owned(), "added"),
            ("changed".to_owned(), "modified"),
            ("deleted".to_owned(), "deleted"),
        ]),
        "[{flavor}] the differences, each once"
    );
    assert_eq!(informer.cache().list(), listed(&store, "").await);

    // And it follows on.
    store
        .create(
            config_maps,
            "default",
            config_map("default", "after", "web"),
        )
        .await
        .unwrap();
    let Event::Added(after) = next_event_through_errors(&mut informer).await else {
        panic!("[{flavor}] a create after the relist is told");
    };
    assert_eq!(name_of(&after), "after");
}

/// What a test reconcile saw: each call's key and resourceVersion, and
/// the keys being reconciled now.
#[derive(Default)]
struct Seen {
    calls: Vec<(String, Option<String>)>,
    running: BTreeSet<String>,
    overlapped: bool,
}

async fn controller_reconciles_changes(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = Store::new(connect(server.client_url()).await);
    let config_maps = of::<core::v1::ConfigMap>();
    let informer = Informer::start(store.client(), config_maps, "default")
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let reconcile = {
        let seen = Arc::clone(&seen);
        move |key: ObjectKey, object: Option<Value>| {
            let seen = Arc::clone(&seen);
            async move {
                let name = key.to_string();
                {
                    let mut seen = seen.lock().unwrap();
                    seen.overlapped |= !seen.running.insert(name.clone());
                    let version = object.as_ref().map(|object| version_of(object).to_owned());
                    seen.calls.push((name.clone(), version));
                }
                // Long enough for changes to arrive while it runs.
                tokio::time::sleep(Duration::from_millis(50)).await;
                seen.lock().unwrap().running.remove(&name);
                Ok::<_, String>(Action::Done)
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(keel_runtime::controller::run(
        informer,
        reconcile,
        ControllerOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    let mut versions = BTreeMap::new();
    for name in ["a", "b", "c"] {
        let created = store
            .create(config_maps, "default", config_map("default", name, "web"))
            .await
            .unwrap();
        versions.insert(format!("default/{name}"), version_of(&created).to_owned());
    }
    let calls_for = |key: &str| {
        let seen = seen.lock().unwrap();
        seen.calls
            .iter()
            .filter(|(called, _)| called == key)
            .map(|(_, version)| version.clone())
            .collect::<Vec<_>>()
    };
    wait_until(|| seen.lock().unwrap().calls.len() >= 3).await;
    tokio::time::sleep(QUIET).await;
    for (key, version) in &versions {
        assert_eq!(
            calls_for(key),
            [Some(version.clone())],
            "[{flavor}] {key} once, at its version"
        );
    }

    // Updates while its reconcile runs: it runs again after, with the latest.
    let mut latest = None;
    for round in 0..5 {
        let mut object = store.get(config_maps, "default", "a").await.unwrap();
        object["data"]["k"] = format!("v{round}").into();
        let updated = store.update(config_maps, "default", object).await.unwrap();
        latest = Some(version_of(&updated).to_owned());
    }
    wait_until(|| calls_for("default/a").last() == Some(&latest)).await;
    tokio::time::sleep(QUIET).await;
    let calls = calls_for("default/a");
    assert!(
        (2..=6).contains(&calls.len()),
        "[{flavor}] reconciled again, coalesced: {calls:?}"
    );
    assert_eq!(calls.last(), Some(&latest), "[{flavor}] ends on the latest");
    assert_eq!(calls_for("default/b").len(), 1, "[{flavor}] b unchanged");

    store
        .delete(config_maps, "default", "b", None)
        .await
        .unwrap();
    wait_until(|| calls_for("default/b").len() == 2).await;
    assert_eq!(
        calls_for("default/b")[1],
        None,
        "[{flavor}] deleted: no object"
    );
    assert!(
        !seen.lock().unwrap().overlapped,
        "[{flavor}] never twice at once"
    );

    stop.send(()).unwrap();
    timeout(PATIENCE, controller)
        .await
        .expect("the controller stops")
        .unwrap();
}

async fn controller_backs_off_failures(flavor: Flavor) {
    const FAILURES: usize = 5;
    let server = Server::start(flavor);
    let store = Store::new(connect(server.client_url()).await);
    let config_maps = of::<core::v1::ConfigMap>();
    let informer = Informer::start(store.client(), config_maps, "default")
        .await
        .unwrap();
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let reconcile = {
        let attempts = Arc::clone(&attempts);
        move |_key: ObjectKey, _object: Option<Value>| {
            let attempts = Arc::clone(&attempts);
            async move {
                let mut attempts = attempts.lock().unwrap();
                attempts.push(Instant::now());
                if attempts.len() <= FAILURES {
                    Err(format!("failure {}", attempts.len()))
                } else {
                    Ok(Action::Done)
                }
            }
        }
    };
    let backoff = Backoff {
        base: Duration::from_millis(40),
        max: Duration::from_secs(10),
        jitter_percent: 10,
    };
    let options = ControllerOptions {
        workers: 2,
        queue: QueueOptions {
            backoff,
            jitter_seed: 1,
            ..QueueOptions::default()
        },
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(keel_runtime::controller::run(
        informer,
        reconcile,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    store
        .create(
            config_maps,
            "default",
            config_map("default", "flaky", "web"),
        )
        .await
        .unwrap();
    wait_until(|| attempts.lock().unwrap().len() > FAILURES).await;
    tokio::time::sleep(QUIET).await;
    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(
        attempts.len(),
        FAILURES + 1,
        "[{flavor}] retried until it succeeded, then left alone"
    );
    let gaps: Vec<Duration> = attempts
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .collect();
    for (failure, gap) in (1u32..).zip(&gaps) {
        let full = backoff.undithered(failure);
        assert!(
            *gap >= full.checked_sub(full / 10).unwrap(),
            "[{flavor}] after failure {failure}: {gap:?}, at least {full:?} less jitter; {gaps:?}"
        );
        // Timers fire late, never early; a generous bound on how late.
        assert!(
            *gap < full * 2 + Duration::from_millis(200),
            "[{flavor}] after failure {failure}: {gap:?}; {gaps:?}"
        );
    }
    assert!(
        gaps.windows(2).all(|pair| pair[1] > pair[0]),
        "[{flavor}] the delays grow: {gaps:?}"
    );

    stop.send(()).unwrap();
    timeout(PATIENCE, controller)
        .await
        .expect("the controller stops")
        .unwrap();
}

async fn controller_full_queue_loses_nothing(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = Store::new(connect(server.client_url()).await);
    let config_maps = of::<core::v1::ConfigMap>();
    let informer = Informer::start(store.client(), config_maps, "default")
        .await
        .unwrap();
    let reconciled: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let reconcile = {
        let reconciled = Arc::clone(&reconciled);
        move |key: ObjectKey, _object: Option<Value>| {
            let reconciled = Arc::clone(&reconciled);
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                reconciled.lock().unwrap().insert(key.name);
                Ok::<_, String>(Action::Done)
            }
        }
    };
    let options = ControllerOptions {
        workers: 1,
        queue: QueueOptions {
            keys_max: 2,
            ..QueueOptions::default()
        },
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(keel_runtime::controller::run(
        informer,
        reconcile,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    let names: BTreeSet<String> = (0..8).map(|index| format!("object-{index}")).collect();
    for name in &names {
        store
            .create(config_maps, "default", config_map("default", name, "web"))
            .await
            .unwrap();
    }
    wait_until(|| *reconciled.lock().unwrap() == names).await;

    stop.send(()).unwrap();
    timeout(PATIENCE, controller)
        .await
        .expect("the controller stops")
        .unwrap();
}

/// Polls `condition` until it holds, for at most [`PATIENCE`].
async fn wait_until(condition: impl Fn() -> bool) {
    timeout(PATIENCE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the condition in time");
}

/// The election's leader, as anyone reads it.
async fn leader(client: &Client) -> Option<String> {
    LeaderElector::leader(client, "kube-scheduler")
        .await
        .unwrap()
}

async fn one_leader_at_a_time(flavor: Flavor) {
    let server = Server::start(flavor);
    let client = connect(server.client_url()).await;
    let elector = |identity: &'static str| {
        let client = client.clone();
        async move {
            LeaderElector::new(&client, "kube-scheduler", identity, 10)
                .await
                .unwrap()
        }
    };
    assert_eq!(leader(&client).await, None, "[{flavor}] nobody yet");
    let mut first = elector("first").await;
    timeout(PATIENCE, first.campaign()).await.unwrap().unwrap();
    assert!(first.is_leader());

    let mut second = elector("second").await;
    let second_campaign = tokio::spawn(async move {
        second.campaign().await.unwrap();
        second
    });
    tokio::time::sleep(QUIET).await;
    assert!(
        !second_campaign.is_finished(),
        "[{flavor}] the second waits while the first leads"
    );
    assert_eq!(leader(&client).await.as_deref(), Some("first"));

    first.resign().await.unwrap();
    assert!(!first.is_leader());
    let mut second = timeout(PATIENCE, second_campaign)
        .await
        .expect("the second takes over")
        .unwrap();
    assert!(second.is_leader());
    assert_eq!(leader(&client).await.as_deref(), Some("second"));

    // The leader's session is revoked (as if its lease expired): a third
    // takes over, and the old leader learns it lost.
    let mut third = elector("third").await;
    let third_campaign = tokio::spawn(async move {
        third.campaign().await.unwrap();
        third
    });
    tokio::time::sleep(QUIET).await;
    assert!(
        !third_campaign.is_finished(),
        "[{flavor}] one leader at a time"
    );
    client.lease_revoke(second.lease_id()).await.unwrap();
    timeout(PATIENCE, second.lost())
        .await
        .expect("the old leader learns it lost");
    assert!(!second.is_leader());
    let third = timeout(PATIENCE, third_campaign)
        .await
        .expect("the third takes over")
        .unwrap();
    assert!(third.is_leader());
    assert_eq!(leader(&client).await.as_deref(), Some("third"));
}

async fn controller_owns_related(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = Store::new(connect(server.client_url()).await);
    let replica_sets = of::<keel_api::k8s_openapi::api::apps::v1::ReplicaSet>();
    let pods = of::<core::v1::Pod>();
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    store.create(replica_sets, "default", rs).await.unwrap();
    let shared_rs = SharedInformer::start(store.client(), replica_sets, "")
        .await
        .unwrap();
    let shared_pods = SharedInformer::start(store.client(), pods, "")
        .await
        .unwrap();
    // A second subscriber of the pods hears them too.
    let mut other = shared_pods.subscribe();
    assert!(matches!(other.recv().await, Some(Event::Listed { .. })));

    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let reconcile = {
        let calls = Arc::clone(&calls);
        move |key: ObjectKey, _: Option<Value>| {
            let calls = Arc::clone(&calls);
            async move {
                calls.lock().unwrap().push(key.to_string());
                Ok::<_, String>(Action::Done)
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = Controller::new(&shared_rs).owns(&shared_pods, "ReplicaSet");
    let running = tokio::spawn(
        controller.run(reconcile, ControllerOptions::default(), async {
            let _ = stopped.await;
        }),
    );
    let count = |calls: &Arc<Mutex<Vec<String>>>| calls.lock().unwrap().len();
    let wait_for = |wanted: usize| {
        let calls = Arc::clone(&calls);
        async move {
            timeout(PATIENCE, async {
                while count(&calls) < wanted {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .expect("the reconciles in time");
        }
    };
    wait_for(1).await;

    let pod = |name: &str, owned: bool| {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": name, "namespace": "default"},
                             "spec": {"containers": [{"name": "c", "image": "i"}]}});
        if owned {
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "web", "uid": "u", "controller": true}]);
        }
        pod
    };
    store
        .create(pods, "default", pod("owned", true))
        .await
        .unwrap();
    wait_for(2).await;
    store
        .create(pods, "default", pod("stray", false))
        .await
        .unwrap();
    // The stray pod reaches the other subscriber, and wakes no reconcile.
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let event = timeout(PATIENCE, other.recv()).await.unwrap().unwrap();
        heard.push(event.key().unwrap().name);
    }
    assert_eq!(heard, ["owned", "stray"]);
    tokio::time::sleep(QUIET).await;
    assert_eq!(count(&calls), 2);
    store.delete(pods, "default", "owned", None).await.unwrap();
    wait_for(3).await;
    assert_eq!(*calls.lock().unwrap(), ["default/web"; 3]);

    stop.send(()).unwrap();
    running.await.unwrap();
}

async fn recorder_folds_repeats(flavor: Flavor) {
    use keel_runtime::events::{Notice, Source};
    let server = Server::start(flavor);
    let store = Store::new(connect(server.client_url()).await);
    let source = Source {
        component: "test-controller".into(),
        host: String::new(),
    };
    let recorder = keel_runtime::Recorder::new(store.clone(), source);
    let config_maps = of::<core::v1::ConfigMap>();
    let object = store
        .create(
            config_maps,
            "default",
            config_map("default", "settings", "web"),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        recorder.record(&object, Notice::normal("Checked", "all is well"));
    }
    recorder.record(&object, Notice::warning("Odd", "something is odd"));
    let events = of::<core::v1::Event>();
    let listed = timeout(PATIENCE, async {
        loop {
            let list = store
                .list(events, "default", &ListOptions::default())
                .await
                .unwrap();
            let folded = list.items.iter().any(|e| e["count"] == 3);
            if list.items.len() == 2 && folded {
                return list.items;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the events in time");
    let checked = listed.iter().find(|e| e["reason"] == "Checked").unwrap();
    assert_eq!(checked["count"], 3);
    assert_eq!(checked["type"], "Normal");
    assert_eq!(checked["involvedObject"]["kind"], "ConfigMap");
    assert_eq!(checked["involvedObject"]["name"], "settings");
    assert_eq!(checked["source"]["component"], "test-controller");
    let odd = listed.iter().find(|e| e["reason"] == "Odd").unwrap();
    assert_eq!(odd["type"], "Warning");
    assert_eq!(odd["count"], 1);
}

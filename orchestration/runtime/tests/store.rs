//! The store against a real single-member keeld, and against etcd 3.4 as
//! the control (the store keeps objects as kube-apiserver keeps them in
//! etcd, so it must work on both):
//!
//! ```text
//!   create_get_and_the_stored_form .. uid, creationTimestamp, generation;
//!                                     resourceVersion is the key's
//!                                     mod_revision and is not stored
//!   optimistic_concurrency .......... 20 writers from one read: one wins,
//!                                     19 see Conflict; 20 update_with
//!                                     writers: none lost
//!   pages_at_one_revision ........... limit + continue walk one revision
//!                                     even while writes go on
//!   delete_with_preconditions ....... a stale resourceVersion conflicts
//!   services_get_cluster_ips_once ... each Service its own address, kept
//!                                     as an IPAddress object until deleted
//!   binds_race_once ................. 8 binds of one pod to 8 nodes at
//!                                     once: exactly one wins, the others
//!                                     see its node; a deleting pod or
//!                                     another uid is refused
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use keel_api::k8s_openapi::api::{apps, core};
use keel_api::resources::of;
use keel_client::{Client, ClientOptions};
use keel_runtime::{ListOptions, Store, StoreError};
use keel_tests::{Flavor, Server};
use serde_json::{json, Value};

async fn store_on(server: &Server) -> Store {
    let client = Client::connect([server.client_url()], ClientOptions::new())
        .await
        .unwrap();
    Store::new(client)
}

macro_rules! store_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            #[tokio::test]
            async fn create_get_and_the_stored_form() {
                super::create_get_and_the_stored_form($flavor).await;
            }

            #[tokio::test]
            async fn optimistic_concurrency() {
                super::optimistic_concurrency($flavor).await;
            }

            #[tokio::test]
            async fn pages_at_one_revision() {
                super::pages_at_one_revision($flavor).await;
            }

            #[tokio::test]
            async fn delete_with_preconditions() {
                super::delete_with_preconditions($flavor).await;
            }

            #[tokio::test]
            async fn services_get_cluster_ips_once() {
                super::services_get_cluster_ips_once($flavor).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn binds_race_once() {
                super::binds_race_once($flavor).await;
            }
        }
    };
}

store_suite!(keeld, keel_tests::Flavor::Keeld);
store_suite!(etcd, keel_tests::Flavor::Etcd);

fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        }
    })
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default"}, "data": {"k": "v"}})
}

async fn create_get_and_the_stored_form(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = store_on(&server).await;
    let deployments = of::<apps::v1::Deployment>();
    let created = store
        .create(deployments, "default", deployment("web", "nginx:1.27"))
        .await
        .unwrap();
    let metadata = &created["metadata"];
    assert_eq!(metadata["generation"], 1);
    assert_eq!(metadata["uid"].as_str().unwrap().len(), 36, "a UUID");
    assert!(metadata["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(created["spec"]["replicas"], 1, "defaulted");

    // In keel: JSON under kube-apiserver's key, at the revision the
    // resourceVersion names, without the resourceVersion itself.
    let raw = store
        .client()
        .get("/registry/deployments/default/web", None)
        .await
        .unwrap();
    let kv = &raw.kvs[0];
    assert_eq!(
        metadata["resourceVersion"],
        kv.mod_revision.to_string(),
        "resourceVersion is the key's mod_revision"
    );
    let stored: Value = serde_json::from_slice(&kv.value).unwrap();
    assert!(stored["metadata"].get("resourceVersion").is_none());
    assert_eq!(stored["metadata"]["uid"], metadata["uid"]);

    let read = store.get(deployments, "default", "web").await.unwrap();
    assert_eq!(read, created);
    let typed: apps::v1::Deployment = store.get_as(deployments, "default", "web").await.unwrap();
    assert_eq!(typed.spec.unwrap().revision_history_limit, Some(10));

    let again = store
        .create(deployments, "default", deployment("web", "nginx:1.28"))
        .await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists { .. })),
        "{again:?}"
    );
    let missing = store.get(deployments, "default", "nope").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
    let with_rv = store
        .create(
            deployments,
            "default",
            json!({"metadata": {"name": "x", "resourceVersion": "3"}, "spec": {}}),
        )
        .await;
    assert!(matches!(with_rv, Err(StoreError::Object(_))), "{with_rv:?}");

    // A spec change counts in generation; a label does not.
    let mut relabelled = read.clone();
    relabelled["metadata"]["labels"] = json!({"tier": "front"});
    let relabelled = store
        .update(deployments, "default", relabelled)
        .await
        .unwrap();
    assert_eq!(relabelled["metadata"]["generation"], 1);
    let mut new_image = relabelled.clone();
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
    let updated = store
        .update(deployments, "default", new_image)
        .await
        .unwrap();
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["metadata"]["uid"], metadata["uid"]);
    assert!(
        updated["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > relabelled["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
    );
}

async fn optimistic_concurrency(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = store_on(&server).await;
    let maps = of::<core::v1::ConfigMap>();
    let read = store
        .create(maps, "default", config_map("shared"))
        .await
        .unwrap();

    // Twenty writers from the same read: exactly one wins.
    let mut writers = Vec::new();
    for writer in 0..20 {
        let store = store.clone();
        let mut object = read.clone();
        object["data"]["writer"] = json!(writer.to_string());
        writers.push(tokio::spawn(async move {
            store.update(maps, "default", object).await
        }));
    }
    let mut won = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(won, 1, "one writer wins, the others conflict");

    // Twenty read-modify-write increments: none is lost.
    let store = Arc::new(store);
    let mut writers = Vec::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            store
                .update_with(maps, "default", "shared", |current, _| {
                    let mut next = current.clone();
                    let count: u32 = current["data"]["count"]
                        .as_str()
                        .unwrap_or("0")
                        .parse()
                        .unwrap();
                    next["data"]["count"] = json!((count + 1).to_string());
                    Ok::<_, keel_runtime::StoreError>(next)
                })
                .await
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let last = store.get(maps, "default", "shared").await.unwrap();
    assert_eq!(last["data"]["count"], "20");
}

async fn pages_at_one_revision(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = store_on(&server).await;
    let maps = of::<core::v1::ConfigMap>();
    for index in 0..5 {
        store
            .create(maps, "default", config_map(&format!("m{index}")))
            .await
            .unwrap();
    }
    // Elsewhere, not listed in "default".
    let mut other = config_map("m9");
    other["metadata"]["namespace"] = json!("other");
    store.create(maps, "other", other).await.unwrap();

    let mut names = Vec::new();
    let mut options = ListOptions {
        limit: 2,
        ..ListOptions::default()
    };
    let mut revisions = Vec::new();
    loop {
        let page = store.list(maps, "default", &options).await.unwrap();
        revisions.push(page.resource_version);
        names.extend(
            page.items
                .iter()
                .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned()),
        );
        // A write between pages is not in this list.
        store
            .create(maps, "default", config_map(&format!("late{}", names.len())))
            .await
            .unwrap();
        match page.continue_token {
            Some(token) => options.continue_token = Some(token),
            None => break,
        }
    }
    assert_eq!(names, ["m0", "m1", "m2", "m3", "m4"]);
    assert!(
        revisions.windows(2).all(|pair| pair[0] == pair[1]),
        "{revisions:?}"
    );
    let all = store.list(maps, "", &ListOptions::default()).await.unwrap();
    assert_eq!(all.items.len(), 5 + 3 + 1, "every namespace");
}

async fn delete_with_preconditions(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = store_on(&server).await;
    let maps = of::<core::v1::ConfigMap>();
    let created = store
        .create(maps, "default", config_map("gone"))
        .await
        .unwrap();
    let revision: i64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let stale = store
        .delete(maps, "default", "gone", Some(revision - 1))
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    let deleted = store
        .delete(maps, "default", "gone", Some(revision))
        .await
        .unwrap();
    assert_eq!(deleted["metadata"]["uid"], created["metadata"]["uid"]);
    let again = store.delete(maps, "default", "gone", None).await;
    assert!(
        matches!(again, Err(StoreError::NotFound { .. })),
        "{again:?}"
    );
}

fn service(name: &str, cluster_ip: Option<&str>) -> Value {
    let mut service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                             "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}});
    if let Some(ip) = cluster_ip {
        service["spec"]["clusterIP"] = ip.into();
    }
    service
}

async fn services_get_cluster_ips_once(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = store_on(&server).await;
    let services = of::<core::v1::Service>();
    let mut given = Vec::new();
    for name in ["a", "b", "c"] {
        let created = store
            .create(services, "default", service(name, None))
            .await
            .unwrap();
        let ip = created["spec"]["clusterIP"].as_str().unwrap().to_owned();
        assert!(ip.starts_with("10.9") || ip.starts_with("10.1"), "{ip}");
        assert_eq!(created["spec"]["clusterIPs"], json!([ip]));
        assert!(!given.contains(&ip), "{ip} given twice");
        given.push(ip);
    }
    // The address is recorded as kube-apiserver 1.33 records it.
    let record = store
        .client()
        .get(format!("/registry/ipaddresses/{}", given[0]), None)
        .await
        .unwrap();
    let record: Value = serde_json::from_slice(&record.kvs[0].value).unwrap();
    assert_eq!(record["kind"], "IPAddress");
    assert_eq!(
        record["spec"]["parentRef"],
        json!({"group": "", "resource": "services", "namespace": "default", "name": "a"})
    );
    // A taken address is refused; a free one named is given.
    let taken = store
        .create(services, "default", service("d", Some(&given[1])))
        .await;
    assert!(
        matches!(&taken, Err(StoreError::Invalid { message, .. })
            if message.contains("provided IP is already allocated")),
        "{taken:?}"
    );
    let named = store
        .create(services, "default", service("d", Some("10.96.200.1")))
        .await
        .unwrap();
    assert_eq!(named["spec"]["clusterIP"], "10.96.200.1");
    // A replacement that leaves the address out keeps it; a headless
    // Service gets none.
    // A patch through the store (a strategic merge of the ports, by port).
    let patched = store
        .patch(
            services,
            "default",
            "b",
            keel_api::patch::PatchType::StrategicMerge,
            br#"{"spec": {"ports": [{"port": 443, "name": "https"}, {"port": 80, "name": "http"}]}}"#,
        )
        .await
        .unwrap();
    let mut ports: Vec<(i64, String)> = patched["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_i64().unwrap(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        [(80, "http".into()), (443, "https".into())],
        "merged by port"
    );
    let mut replacement = service("a", None);
    replacement["spec"]["ports"] = json!([{"port": 81}]);
    let replaced = store
        .update(services, "default", replacement)
        .await
        .unwrap();
    assert_eq!(replaced["spec"]["clusterIP"], json!(given[0]));
    let headless = store
        .create(services, "default", service("h", Some("None")))
        .await
        .unwrap();
    assert_eq!(headless["spec"]["clusterIP"], "None");
    // Deleting the Service frees its address.
    store.delete(services, "default", "a", None).await.unwrap();
    let freed = store
        .client()
        .get(format!("/registry/ipaddresses/{}", given[0]), None)
        .await
        .unwrap();
    assert!(freed.kvs.is_empty());
}

async fn binds_race_once(flavor: Flavor) {
    let server = Server::start(flavor);
    let store = Arc::new(store_on(&server).await);
    let pods = of::<core::v1::Pod>();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "main", "image": "busybox"}]}});
    let created = store.create(pods, "default", pod.clone()).await.unwrap();
    let uid = created["metadata"]["uid"].as_str().unwrap().to_owned();
    let binds: Vec<_> = (0..8)
        .map(|n| {
            let store = Arc::clone(&store);
            let uid = uid.clone();
            tokio::spawn(async move {
                store
                    .bind("default", "p", &format!("node-{n}"), Some(&uid))
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut refused = 0;
    for bind in binds {
        match bind.await.unwrap() {
            Ok(bound) => won.push(bound["spec"]["nodeName"].as_str().unwrap().to_owned()),
            Err(StoreError::Bind { error, .. }) => {
                assert!(
                    error
                        .to_string()
                        .starts_with("pod p is already assigned to node"),
                    "{error}"
                );
                refused += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one bind wins: {won:?}");
    assert_eq!(refused, 7);
    let stored = store.get(pods, "default", "p").await.unwrap();
    assert_eq!(stored["spec"]["nodeName"], won[0].as_str());

    // Another pod of the same name (a new uid) is not the one bound for.
    store.delete(pods, "default", "p", None).await.unwrap();
    store.create(pods, "default", pod).await.unwrap();
    let error = store
        .bind("default", "p", "node-0", Some(&uid))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Precondition failed: UID in precondition"),
        "{error}"
    );
}

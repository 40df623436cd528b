//! Twenty updaters of one counter through [`Store::update_with`], each
//! adding one ten times, against a single-member keeld and against etcd 3.4
//! as the control:
//!
//! ```text
//!   20 tasks × 10 × update_with(count + 1) ──► one ConfigMap
//!        read, +1, write if unchanged ── lost the race? read again
//!        (the store, up to UPDATE_ATTEMPTS_MAX with random pauses; then Conflict, and the
//!         updater starts the increment over, as a Kubernetes client
//!         retries on 409)
//!   the end: count = 200, and races were lost on the way
//! ```
//!
//! A lost update would show as a count below 200; a store that serialised
//! the updaters by some other means than compare-and-swap would show no
//! lost race.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use keel_api::k8s_openapi::api::core;
use keel_api::resources::of;
use keel_client::{Client, ClientOptions};
use keel_runtime::{Store, StoreError};
use keel_tests::{Flavor, Server};
use serde_json::json;

/// How many updaters run at once.
const UPDATERS: usize = 20;
/// How many increments each updater makes.
const INCREMENTS_EACH: usize = 10;
/// How many times one increment may come back Conflict (each after the
/// store's own UPDATE_ATTEMPTS_MAX reads) before the test gives up.
const CONFLICTS_PER_INCREMENT_MAX: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeld_loses_no_update() {
    no_update_is_lost(Flavor::Keeld).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_loses_no_update() {
    no_update_is_lost(Flavor::Etcd).await;
}

/// What the updaters saw on the way.
#[derive(Default)]
struct Counts {
    /// Calls of the change function: one per read the store made.
    attempts: AtomicUsize,
    /// Increments that `update_with` gave up as Conflict after its own
    /// retries.
    conflicts: AtomicUsize,
}

async fn no_update_is_lost(flavor: Flavor) {
    let server = Server::start(flavor);
    let client = Client::connect([server.client_url()], ClientOptions::new())
        .await
        .unwrap();
    let store = Store::new(client);
    let maps = of::<core::v1::ConfigMap>();
    store
        .create(
            maps,
            "default",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "counter", "namespace": "default"},
                   "data": {"count": "0"}}),
        )
        .await
        .unwrap();

    let counts = Arc::new(Counts::default());
    let mut updaters = Vec::new();
    for _ in 0..UPDATERS {
        let store = store.clone();
        let counts = Arc::clone(&counts);
        updaters.push(tokio::spawn(async move {
            for _ in 0..INCREMENTS_EACH {
                increment(&store, &counts).await;
            }
        }));
    }
    for updater in updaters {
        updater.await.unwrap();
    }

    let last = store.get(maps, "default", "counter").await.unwrap();
    let increments = UPDATERS * INCREMENTS_EACH;
    assert_eq!(last["data"]["count"], increments.to_string());
    let attempts = counts.attempts.load(Ordering::Relaxed);
    let conflicts = counts.conflicts.load(Ordering::Relaxed);
    println!(
        "{flavor:?}: {increments} increments in {attempts} attempts, \
         {conflicts} given up as Conflict and started over"
    );
    assert!(
        attempts > increments,
        "20 updaters at once lose races: {attempts} attempts for {increments} increments"
    );
}

/// Adds one to the counter, starting over when the store answers Conflict.
async fn increment(store: &Store, counts: &Counts) {
    let maps = of::<core::v1::ConfigMap>();
    for _ in 0..CONFLICTS_PER_INCREMENT_MAX {
        let updated = store
            .update_with(maps, "default", "counter", |current, _revision| {
                counts.attempts.fetch_add(1, Ordering::Relaxed);
                let count: usize = current["data"]["count"].as_str().unwrap().parse().unwrap();
                let mut next = current.clone();
                next["data"]["count"] = json!((count + 1).to_string());
                Ok(next)
            })
            .await;
        match updated {
            Ok(_) => return,
            Err(StoreError::Conflict { .. }) => {
                counts.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    panic!("no increment after {CONFLICTS_PER_INCREMENT_MAX} conflicts");
}

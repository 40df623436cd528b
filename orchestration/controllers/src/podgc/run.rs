//! The pod garbage collector at work: a pass over the caches every
//! period, the quarantined nodes read from keel, and each collected pod
//! failed and then deleted at once.
//!
//! ```text
//!   every pod_gc_period: pods, nodes (caches) ─► Quarantine::pass ─► due nodes
//!     due node ─► get ─► NotFound: deleted
//!     plan(pods, nodes, deleted, threshold) ─► each Collect:
//!       mark_and_delete: /status phase Failed (+ DisruptionTarget), then
//!       a delete with gracePeriodSeconds 0, both of this uid only
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::core::v1::Node;
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use keel_api::resources::of;
use keel_runtime::StoreError;
use serde_json::Value;

use super::{plan, Collect, Quarantine};
use crate::adapter::wall_clock;
use crate::adapter::writes::mark_and_delete;
use crate::manager::{Context, Stop};
use crate::pods::{is_being_deleted, name_of, str_at};

/// The pod garbage collector's entry in the manager's table.
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(pod_gc(context, stop))
}

/// Runs a pass every period until `stop`.
pub async fn pod_gc(context: Arc<Context>, stop: Stop) {
    let mut quarantine = Quarantine::default();
    let mut period = tokio::time::interval(context.options.pod_gc_period);
    period.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stop.wait();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = period.tick() => pass(&context, &mut quarantine).await,
        }
    }
}

/// One pass; what fails is tried again on the next.
async fn pass(context: &Context, quarantine: &mut Quarantine) {
    let pods = context.informers.pods.cache().list();
    let node_cache = context.informers.nodes.cache();
    let names: BTreeSet<String> = node_cache.keys().into_iter().map(|key| key.name).collect();
    // Only the nodes of terminating pods are read (for their readiness and
    // taints), not a copy of every node on every pass.
    let nodes: BTreeMap<String, Value> = pods
        .iter()
        .filter(|pod| is_being_deleted(pod))
        .filter_map(|pod| node_cache.get("", str_at(pod, "/spec/nodeName")))
        .map(|node| (name_of(&node).to_owned(), node))
        .collect();
    let now = wall_clock();
    let wait =
        SignedDuration::try_from(context.options.pod_gc_quarantine).unwrap_or(SignedDuration::MAX);
    let mut deleted = BTreeSet::new();
    for node in quarantine.pass(&pods, &names, now, wait) {
        match context.store.get(of::<Node>(), "", &node).await {
            Err(StoreError::NotFound { .. }) => {
                deleted.insert(node);
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%node, %error, "could not read a missing node"),
        }
    }
    let threshold = context.options.terminated_pod_gc_threshold;
    for collect in plan(&pods, &nodes, &deleted, threshold) {
        if let Err(error) = collect_pod(context, &collect, now).await {
            tracing::warn!(
                pod = %collect.pod.key(),
                %error,
                "could not collect a pod; trying again on the next pass"
            );
        }
    }
}

/// `markFailedAndDeletePod`: Failed first (no kubelet will say it), then
/// deleted with no grace; both of this pod only.
async fn collect_pod(
    context: &Context,
    collect: &Collect,
    now: Timestamp,
) -> Result<(), StoreError> {
    tracing::info!(
        pod = %collect.pod.key(),
        why = ?collect.why,
        "force deleting"
    );
    let options = DeleteOptions {
        grace_period_seconds: Some(0),
        ..DeleteOptions::default()
    };
    let fail = |current: &Value| {
        collect
            .failed(current, now)
            .unwrap_or_else(|| current.clone())
    };
    mark_and_delete(&context.store, &collect.pod, fail, options, now)
        .await
        .map(drop)
}

//! The node lifecycle and taint eviction controllers at work: thin
//! adapters around [`super::node_health`] and [`super::taint_eviction`].
//!
//! ```text
//!   node-lifecycle-controller: nodes (+ their Leases in kube-node-lease)
//!     reconcile(node) every node_monitor_period, and when the heartbeat
//!     would run out:
//!       node_health(node, lease, now) ─► conditions ─► /status  (only if changed)
//!                                     ─► taints     ─► spec     (only if changed)
//!                                     ─► Ready Unknown  ─► its pods' Ready := False
//!                                     ─► events as "node-controller"
//!   taint-eviction-controller: pods (+ nodes, mapped to the pods on them)
//!     reconcile(pod): taint_eviction(pod, its node's taints, now)
//!       Keep ─► nothing · At(t) ─► again at t · Now ─► DisruptionTarget
//!       condition, then the delete (the pod's grace period, its uid)
//! ```
//!
//! Each write recomputes its decision from the object as read for the
//! write, so a stale cache never undoes a newer change.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use keel_api::object::put_condition;
use keel_api::resources::of;
use keel_runtime::{Action, Controller, Index, ObjectKey, Part, Recorder, StoreError};
use serde_json::Value;

use super::{
    disruption_condition, eviction_notice, node_health, pod_marked_not_ready, taint_eviction,
    Eviction, NodeTimings,
};
use crate::adapter::writes::mark_and_delete;
use crate::adapter::{decode, encode, gone_is_done, wait_of, wall_clock};
use crate::manager::{Context, Stop};
use crate::pods::{is_being_deleted, name_of, ObjectRef};

/// The namespace of the nodes' Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The component the node lifecycle controller's events come from.
pub const NODE_LIFECYCLE_COMPONENT: &str = "node-controller";
/// The component the taint eviction controller's events come from.
pub const TAINT_EVICTION_COMPONENT: &str = "taint-eviction-controller";

/// The node lifecycle controller's entry in the manager's table.
pub fn start_node_lifecycle(
    context: Arc<Context>,
    stop: Stop,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(node_lifecycle(context, stop))
}

/// The taint eviction controller's entry in the manager's table.
pub fn start_taint_eviction(
    context: Arc<Context>,
    stop: Stop,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(taint_eviction_controller(context, stop))
}

struct Lifecycle {
    context: Arc<Context>,
    timings: NodeTimings,
    recorder: Recorder,
}

/// Runs the node lifecycle controller until `stop`.
pub async fn node_lifecycle(context: Arc<Context>, stop: Stop) {
    let options = &context.options;
    let signed = |d: Duration| SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    let lifecycle = Arc::new(Lifecycle {
        context: Arc::clone(&context),
        timings: NodeTimings {
            monitor_grace: signed(options.node_monitor_grace_period),
            startup_grace: signed(options.node_startup_grace_period),
        },
        recorder: context.recorder(NODE_LIFECYCLE_COMPONENT),
    });
    let informers = &context.informers;
    Controller::new(&informers.nodes)
        .watches(&informers.leases, |lease| {
            let key = ObjectKey::of(lease);
            (key.namespace == NODE_LEASE_NAMESPACE)
                .then(|| ObjectKey::new("", key.name))
                .into_iter()
                .collect()
        })
        .run(
            move |key, node| {
                let lifecycle = Arc::clone(&lifecycle);
                async move { lifecycle.reconcile(&key, node).await }
            },
            context.controller_options(),
            stop.wait(),
        )
        .await;
}

impl Lifecycle {
    fn lease(&self, node: &str) -> Result<Option<Lease>, StoreError> {
        let lease = self
            .context
            .informers
            .leases
            .cache()
            .get(NODE_LEASE_NAMESPACE, node);
        lease.as_ref().map(decode).transpose()
    }

    async fn reconcile(&self, key: &ObjectKey, node: Option<Value>) -> Result<Action, StoreError> {
        let Some(node) = node else {
            return Ok(Action::Done);
        };
        let lease = self.lease(&key.name)?;
        let now = wall_clock();
        let health = node_health(&decode(&node)?, lease.as_ref(), &self.timings, now);
        let nodes = of::<Node>();
        if health.conditions.is_some() {
            self.context
                .store
                .update_part_with(nodes, "", &key.name, Part::Status, |current, _| {
                    let judged = node_health(&decode(current)?, lease.as_ref(), &self.timings, now);
                    let mut new = current.clone();
                    if let Some(conditions) = judged.conditions {
                        new["status"]["conditions"] = encode(&conditions);
                    }
                    Ok::<_, StoreError>(new)
                })
                .await?;
        }
        if health.taints.is_some() {
            self.context
                .store
                .update_with(nodes, "", &key.name, |current, _| {
                    let judged = node_health(&decode(current)?, lease.as_ref(), &self.timings, now);
                    let mut new = current.clone();
                    if let Some(taints) = judged.taints {
                        new["spec"]["taints"] = encode(&taints);
                    }
                    Ok::<_, StoreError>(new)
                })
                .await?;
        }
        for notice in &health.events {
            self.recorder.record(&node, notice.clone());
        }
        let ready = match &health.conditions {
            Some(conditions) => conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.status.clone()),
            None => node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .and_then(|c| c["status"].as_str().map(str::to_owned)),
        };
        if ready.as_deref() == Some("Unknown") {
            self.mark_pods_not_ready(&key.name, now).await?;
        }
        let period = self.context.options.node_monitor_period;
        Ok(Action::RequeueAfter(
            health
                .requeue_after
                .map_or(period, |d| wait_of(d).min(period)),
        ))
    }

    /// `MarkPodsNotReady`: the Ready condition of every pod on the node
    /// that is not False already turns False. Called while the node's
    /// Ready is Unknown, so a failed write is tried again; a kubelet that
    /// reports NotReady itself updates its pods (keel keeps no memory of
    /// the Ready it saw last, which Kubernetes uses to mark them once on
    /// the change).
    async fn mark_pods_not_ready(&self, node: &str, now: Timestamp) -> Result<(), StoreError> {
        let pods = self
            .context
            .informers
            .pods
            .cache()
            .by_index(Index::NodeName, node);
        for pod in pods {
            if pod_marked_not_ready(&decode::<Pod>(&pod)?, now).is_none() {
                continue;
            }
            let key = ObjectKey::of(&pod);
            let written = self
                .context
                .store
                .update_part_with(
                    of::<Pod>(),
                    &key.namespace,
                    &key.name,
                    Part::Status,
                    |current, _| {
                        let mut new = current.clone();
                        if current["metadata"]["uid"] == pod["metadata"]["uid"] {
                            if let Some(status) = pod_marked_not_ready(&decode(current)?, now) {
                                new["status"] = encode(&status);
                            }
                        }
                        Ok::<_, StoreError>(new)
                    },
                )
                .await;
            gone_is_done(written)?;
        }
        Ok(())
    }
}

struct Evictor {
    context: Arc<Context>,
    recorder: Recorder,
}

/// Runs the taint eviction controller until `stop`.
pub async fn taint_eviction_controller(context: Arc<Context>, stop: Stop) {
    let evictor = Arc::new(Evictor {
        context: Arc::clone(&context),
        recorder: context.recorder(TAINT_EVICTION_COMPONENT),
    });
    let informers = &context.informers;
    let pods = informers.pods.cache();
    Controller::new(&informers.pods)
        .watches(&informers.nodes, move |node| {
            pods.by_index(Index::NodeName, name_of(node))
                .iter()
                .map(ObjectKey::of)
                .collect()
        })
        .run(
            move |key, pod| {
                let evictor = Arc::clone(&evictor);
                async move { evictor.reconcile(&key, pod).await }
            },
            context.controller_options(),
            stop.wait(),
        )
        .await;
}

/// A pod's node's taints, from the cache.
fn taints_of(node: &Value) -> Result<Vec<keel_api::k8s_openapi::api::core::v1::Taint>, StoreError> {
    let node: Node = decode(node)?;
    Ok(node.spec.and_then(|s| s.taints).unwrap_or_default())
}

impl Evictor {
    async fn reconcile(&self, _key: &ObjectKey, pod: Option<Value>) -> Result<Action, StoreError> {
        let Some(pod) = pod else {
            return Ok(Action::Done);
        };
        let node_name = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if node_name.is_empty() || is_being_deleted(&pod) {
            return Ok(Action::Done);
        }
        let Some(node) = self.context.informers.nodes.cache().get("", node_name) else {
            return Ok(Action::Done);
        };
        let now = wall_clock();
        match taint_eviction(&decode(&pod)?, &taints_of(&node)?, now) {
            Eviction::Keep => Ok(Action::Done),
            Eviction::At(at) => Ok(Action::RequeueAfter(
                wait_of(at.duration_since(now)).max(Duration::from_millis(1)),
            )),
            Eviction::Now => {
                self.evict(&pod, now).await?;
                Ok(Action::Done)
            }
        }
    }

    /// `addConditionAndDeletePod`: the DisruptionTarget condition, then a
    /// delete as the API does one (the pod's grace period), of this pod
    /// only (its uid).
    async fn evict(&self, pod: &Value, now: Timestamp) -> Result<(), StoreError> {
        let mark = |current: &Value| {
            let mut new = current.clone();
            add_disruption_condition(&mut new, now);
            new
        };
        let deleted = mark_and_delete(
            &self.context.store,
            &ObjectRef::to(pod),
            mark,
            DeleteOptions::default(),
            now,
        )
        .await?;
        if deleted {
            self.recorder.record(pod, eviction_notice(&decode(pod)?));
        }
        Ok(())
    }
}

/// Sets the DisruptionTarget condition on a pod (replacing one there).
fn add_disruption_condition(pod: &mut Value, now: Timestamp) {
    let marked = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter()
                .any(|c| c["type"] == "DisruptionTarget" && c["status"] == "True")
        });
    if !marked {
        put_condition(pod, encode(&disruption_condition(now)));
    }
}

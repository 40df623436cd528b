//! Node IPAM at work: the range allocator over the nodes' informer.
//!
//! ```text
//!   start: CidrSet(cluster_cidr, node_cidr_mask_size); occupy every cached
//!          node's podCIDRs (so nothing taken is handed out again)
//!   reconcile(node):
//!     has podCIDRs   ─► occupy them (another writer's, or ours seen back)
//!     none           ─► allocate_next ─► write spec.podCIDR + spec.podCIDRs
//!                       (the node got one meanwhile, or the write failed ─► release)
//!     gone           ─► release what it held
//!     set full       ─► Event CIDRNotAvailable on the node, retried later
//! ```
//!
//! The set lives behind a mutex, so workers never hand out one block
//! twice. Without `--cluster-cidr` the controller does nothing, as
//! kube-controller-manager's does without `--allocate-node-cidrs`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_api::k8s_openapi::api::core::v1::Node;
use keel_api::resources::of;
use keel_runtime::{Action, Controller, ObjectKey, Recorder, StoreError};
use serde_json::Value;

use super::{assign, node_pod_cidrs, CidrError, CidrSet};
use crate::adapter::decode;
use crate::events::Notice;
use crate::manager::{Context, Stop};
use crate::pods::name_of;

/// How soon a node that found the range full is tried again.
pub const FULL_RETRY: Duration = Duration::from_secs(30);

/// The node IPAM controller's entry in the manager's table.
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(run(context, stop))
}

struct Allocator {
    context: Arc<Context>,
    /// The blocks and, per node, what it holds.
    state: Mutex<(CidrSet, HashMap<String, Vec<String>>)>,
    recorder: Recorder,
}

/// Runs node IPAM until `stop` (at once if there is no cluster CIDR or it
/// is invalid).
pub async fn run(context: Arc<Context>, stop: Stop) {
    let Some(cluster_cidr) = context.options.cluster_cidr.clone() else {
        return;
    };
    let set = match CidrSet::new(&cluster_cidr, context.options.node_cidr_mask_size) {
        Ok(set) => set,
        Err(error) => {
            tracing::error!(%error, %cluster_cidr, "node IPAM is off");
            return;
        }
    };
    let allocator = Arc::new(Allocator {
        context: Arc::clone(&context),
        state: Mutex::new((set, HashMap::new())),
        recorder: context.recorder("cidrAllocator"),
    });
    // `occupyCIDRs` for every node there is before any is given a block.
    for node in context.informers.nodes.cache().list() {
        allocator.occupy(&node);
    }
    Controller::new(&context.informers.nodes)
        .run(
            move |key, node| {
                let allocator = Arc::clone(&allocator);
                async move { allocator.reconcile(&key, node).await }
            },
            context.controller_options(),
            stop.wait(),
        )
        .await;
}

impl Allocator {
    fn lock(&self) -> std::sync::MutexGuard<'_, (CidrSet, HashMap<String, Vec<String>>)> {
        self.state.lock().expect("no worker panics holding the set")
    }

    /// Marks the node's podCIDRs in use; answers whether it has any.
    fn occupy(&self, node: &Value) -> bool {
        let Ok(typed) = decode::<Node>(node) else {
            return false;
        };
        let cidrs = node_pod_cidrs(&typed);
        if cidrs.is_empty() {
            return false;
        }
        let name = name_of(node).to_owned();
        let mut state = self.lock();
        for cidr in &cidrs {
            // Another family's, or outside the range: not ours to track.
            if let Err(error) = state.0.occupy(cidr) {
                tracing::debug!(%error, node = %name, "a podCIDR outside the cluster CIDR");
            }
        }
        state.1.insert(name, cidrs);
        true
    }

    fn release(&self, cidr: &str) {
        if let Err(error) = self.lock().0.release(cidr) {
            tracing::warn!(%error, "releasing a podCIDR failed");
        }
    }

    async fn reconcile(&self, key: &ObjectKey, node: Option<Value>) -> Result<Action, StoreError> {
        let Some(node) = node else {
            let mut state = self.lock();
            for cidr in state.1.remove(&key.name).unwrap_or_default() {
                // Kept until the node is gone; then round-robin reuse.
                let _ = state.0.release(&cidr);
            }
            return Ok(Action::Done);
        };
        if self.occupy(&node) {
            return Ok(Action::Done);
        }
        let allocated = {
            let mut state = self.lock();
            assign(&mut state.0, &decode::<Node>(&node)?)
        };
        let cidr = match allocated {
            None => return Ok(Action::Done),
            Some(Ok(cidr)) => cidr,
            Some(Err(CidrError::Full)) => {
                let name = name_of(&node);
                self.recorder.record(
                    &node,
                    Notice::normal(
                        "CIDRNotAvailable",
                        &format!("Node {name} status is now: CIDRNotAvailable"),
                    ),
                );
                return Ok(Action::RequeueAfter(FULL_RETRY));
            }
            Some(Err(error)) => {
                tracing::error!(%error, node = %key.name, "allocating a podCIDR failed");
                return Ok(Action::RequeueAfter(FULL_RETRY));
            }
        };
        let written = self
            .context
            .store
            .update_with(of::<Node>(), "", &key.name, |current, _| {
                let mut new = current.clone();
                if node_pod_cidrs(&decode(current)?).is_empty() {
                    new["spec"]["podCIDR"] = cidr.clone().into();
                    new["spec"]["podCIDRs"] = vec![cidr.clone()].into();
                }
                Ok::<_, StoreError>(new)
            })
            .await;
        match written {
            Ok(stored) if node_pod_cidrs(&decode(&stored)?) == [cidr.clone()] => {
                self.lock().1.insert(key.name.clone(), vec![cidr]);
                Ok(Action::Done)
            }
            // It had one already (the cache was behind): give ours back
            // and take note of its.
            Ok(stored) => {
                self.release(&cidr);
                self.occupy(&stored);
                Ok(Action::Done)
            }
            Err(StoreError::NotFound { .. }) => {
                self.release(&cidr);
                Ok(Action::Done)
            }
            Err(error) => {
                self.release(&cidr);
                Err(error)
            }
        }
    }
}

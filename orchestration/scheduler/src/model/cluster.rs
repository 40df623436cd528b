//! The scheduler's picture of the cluster: every node with the pods bound
//! or assumed on it, kept up to date one watch event at a time, and the
//! assume cache (kube-scheduler's `pkg/scheduler/backend/cache`).
//!
//! ```text
//!   node added/updated/removed ─► upsert_node / remove_node
//!   pod bound (watched)        ─► upsert_pod  (confirms an assumed pod)
//!   pod deleted / terminal     ─► remove_pod
//!   schedule() picked node N   ─► assume(pod, N) ─► bind (adapter, CAS)
//!        bind sent   ─► finish_binding(pod, now)   bind failed ─► forget(pod)
//!        bind never watched back ─► expire_assumed(now) drops it after the TTL
//! ```
//!
//! An assumed pod counts on its node at once, so the next pod sees its
//! resources, ports and anti-affinity before the bind comes back through
//! the watch. Every update costs O(pods on one node); nothing is rebuilt.
//! Pods bound to a node the cluster does not know (the pod's event came
//! first, or the node was deleted under it) are kept aside and counted
//! when the node appears.
//!
//! Time comes in as a [`Duration`] since an origin the caller chooses
//! (its clock's start); nothing here reads a clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::node::{Node, NodeInfo};
use super::pod::{PodInfo, PodKey};

/// Why a pod could not be assumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssumeError {
    /// The pod is already bound or assumed.
    #[error("pod {0} is already on node {1}")]
    AlreadyPlaced(PodKey, String),
    /// The node is not in the cluster.
    #[error("node {0} is not in the cluster")]
    UnknownNode(String),
}

/// What [`Cluster::upsert_pod`] did with a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodChange {
    /// A bound pod was counted on its node for the first time.
    Added,
    /// A bound pod already counted was replaced by its new version.
    Updated,
    /// An assumed pod's bind was seen, on the node it was assumed on.
    Confirmed,
    /// An assumed pod's bind was seen on another node; it moved there.
    Moved,
    /// A terminal pod (Succeeded or Failed) stopped counting.
    Removed,
    /// Nothing to count: an unbound pod (or a terminal one not counted).
    Ignored,
}

/// Where a counted pod is.
#[derive(Debug, Clone)]
struct Placement {
    node_name: String,
}

/// The nodes and the pods on them.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    nodes: Vec<NodeInfo>,
    node_index: HashMap<String, usize>,
    /// Pods bound to nodes the cluster does not know, by node name.
    detached: HashMap<String, Vec<Arc<PodInfo>>>,
    pods: HashMap<PodKey, Placement>,
    /// Assumed pods, with the time their assumption expires once their
    /// binding finished (`None`: binding not finished, or no TTL).
    assumed: HashMap<PodKey, Option<Duration>>,
    assumed_ttl: Option<Duration>,
}

impl Cluster {
    /// An empty cluster whose assumed pods never expire: they stay until
    /// their bind is seen or they are forgotten, as kube-scheduler 1.33
    /// keeps them (`durationToExpireAssumedPod` is 0 in
    /// `pkg/scheduler/scheduler.go`).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cluster whose assumed pods expire `ttl` after their binding
    /// finished, if their bind has not been seen by then.
    pub fn with_assumed_ttl(ttl: Duration) -> Self {
        Self {
            assumed_ttl: Some(ttl),
            ..Self::default()
        }
    }

    /// The nodes, in the order the search walks them.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The node `name`, if known.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.node_index.get(name).map(|&at| &self.nodes[at])
    }

    /// How many nodes there are.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// How many pods are counted (bound and assumed, on known nodes or not).
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The node the pod `key` is bound or assumed on.
    pub fn node_of(&self, key: &PodKey) -> Option<&str> {
        self.pods.get(key).map(|p| p.node_name.as_str())
    }

    /// Whether the pod `key` is assumed (its bind not yet seen).
    pub fn is_assumed(&self, key: &PodKey) -> bool {
        self.assumed.contains_key(key)
    }

    /// How many pods are assumed.
    pub fn assumed_count(&self) -> usize {
        self.assumed.len()
    }

    /// A node was added or updated: its facts are replaced, its pods kept.
    pub fn upsert_node(&mut self, node: Node) {
        if let Some(&at) = self.node_index.get(&node.name) {
            self.nodes[at].node = node;
            return;
        }
        let mut info = NodeInfo::new(node);
        for pod in self.detached.remove(&info.node.name).unwrap_or_default() {
            info.add_pod(pod);
        }
        self.node_index
            .insert(info.node.name.clone(), self.nodes.len());
        self.nodes.push(info);
    }

    /// A node was deleted. Its pods stay counted (aside) until they are
    /// deleted too; returns whether the node was known.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(at) = self.node_index.remove(name) else {
            return false;
        };
        let info = self.nodes.swap_remove(at);
        if let Some(moved) = self.nodes.get(at) {
            self.node_index.insert(moved.node.name.clone(), at);
        }
        if !info.pods.is_empty() {
            self.detached.insert(info.node.name, info.pods);
        }
        true
    }

    /// A pod was added or updated (from the watch).
    pub fn upsert_pod(&mut self, pod: PodInfo) -> PodChange {
        if pod.terminal {
            return if self.remove_pod(&pod.key) {
                PodChange::Removed
            } else {
                PodChange::Ignored
            };
        }
        let Some(node_name) = pod.node_name.clone() else {
            // Unbound: nothing to count. An assumed pod's own unbound
            // versions (the watch lagging behind the bind) keep it assumed.
            return PodChange::Ignored;
        };
        let key = pod.key.clone();
        let previous = self.unplace(&key);
        let was_assumed = self.assumed.remove(&key).is_some();
        self.place(Arc::new(pod), node_name.clone());
        match (previous, was_assumed) {
            (None, _) => PodChange::Added,
            (Some(old), true) if old == node_name => PodChange::Confirmed,
            (Some(_), true) => PodChange::Moved,
            (Some(_), false) => PodChange::Updated,
        }
    }

    /// A pod was deleted; returns whether it was counted.
    pub fn remove_pod(&mut self, key: &PodKey) -> bool {
        self.assumed.remove(key);
        self.unplace(key).is_some()
    }

    /// Counts `pod` on `node_name` before its bind is seen.
    pub fn assume(&mut self, pod: &PodInfo, node_name: &str) -> Result<(), AssumeError> {
        if let Some(placed) = self.pods.get(&pod.key) {
            return Err(AssumeError::AlreadyPlaced(
                pod.key.clone(),
                placed.node_name.clone(),
            ));
        }
        if !self.node_index.contains_key(node_name) {
            return Err(AssumeError::UnknownNode(node_name.to_owned()));
        }
        let mut assumed = pod.clone();
        assumed.node_name = Some(node_name.to_owned());
        self.place(Arc::new(assumed), node_name.to_owned());
        self.assumed.insert(pod.key.clone(), None);
        Ok(())
    }

    /// The bind of an assumed pod was sent at `now`: from here its TTL
    /// (if any) runs. Returns whether the pod is assumed.
    pub fn finish_binding(&mut self, key: &PodKey, now: Duration) -> bool {
        let ttl = self.assumed_ttl;
        match self.assumed.get_mut(key) {
            Some(deadline) => {
                *deadline = ttl.map(|ttl| now + ttl);
                true
            }
            None => false,
        }
    }

    /// Drops an assumed pod (its bind failed). Returns whether it was
    /// assumed; a pod whose bind was already seen is left alone.
    pub fn forget(&mut self, key: &PodKey) -> bool {
        if self.assumed.remove(key).is_none() {
            return false;
        }
        let removed = self.unplace(key);
        assert!(removed.is_some(), "an assumed pod is placed");
        true
    }

    /// Drops the assumed pods whose TTL ran out by `now`; returns them.
    pub fn expire_assumed(&mut self, now: Duration) -> Vec<PodKey> {
        let expired: Vec<PodKey> = self
            .assumed
            .iter()
            .filter(|(_, deadline)| deadline.is_some_and(|d| d <= now))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &expired {
            self.forget(key);
        }
        expired
    }

    fn place(&mut self, pod: Arc<PodInfo>, node_name: String) {
        let key = pod.key.clone();
        match self.node_index.get(&node_name) {
            Some(&at) => self.nodes[at].add_pod(pod),
            None => self
                .detached
                .entry(node_name.clone())
                .or_default()
                .push(pod),
        }
        self.pods.insert(key, Placement { node_name });
    }

    /// Stops counting the pod; returns the node it was on.
    fn unplace(&mut self, key: &PodKey) -> Option<String> {
        let placement = self.pods.remove(key)?;
        let node_name = placement.node_name;
        if let Some(&at) = self.node_index.get(&node_name) {
            let removed = self.nodes[at].remove_pod(key);
            assert!(removed.is_some(), "a placed pod is on its node");
        } else if let Some(pods) = self.detached.get_mut(&node_name) {
            pods.retain(|p| &p.key != key);
            if pods.is_empty() {
                self.detached.remove(&node_name);
            }
        }
        Some(node_name)
    }
}

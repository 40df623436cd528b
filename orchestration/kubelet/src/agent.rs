//! The kubelet put together: the Linux runtime, the node's image store
//! and the node network behind the worker's traits, run with
//! [`crate::worker::run`].
//!
//! ```text
//!   Agent::start ─► LinuxRuntime (root, cgroups) ─┐
//!                   ImageStore (images dir)       ├─► worker::run(client, ...)
//!                   NodeNetworks (lazily, once the node has a podCIDR)
//! ```

use std::path::PathBuf;

use async_trait::async_trait;
use keel_api::k8s_openapi::api::core::v1::Node;
use keel_api::resources;
use keel_runtime::Store;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::images::ImageStore;
use crate::network::{NetworkOptions, NodeNetwork};
use crate::worker::containers::ImageInfo;
use crate::worker::{Images, Networks};

impl Images for ImageStore {
    fn resolve(&self, reference: &str) -> Result<ImageInfo, String> {
        let image = ImageStore::resolve(self, reference).map_err(|e| e.to_string())?;
        Ok(ImageInfo {
            id: image.id,
            rootfs: image.rootfs,
            entrypoint: image.config.entrypoint,
            cmd: image.config.cmd,
            env: image.config.env,
            working_dir: image.config.working_dir,
        })
    }
}

/// How the node network is made once the node has its pod CIDR.
#[derive(Debug, Clone)]
pub struct NetworkSetup {
    /// The bridge's name.
    pub bridge: String,
    /// The pod CIDR to use; `None`: the Node's `spec.podCIDR`, as the
    /// node IPAM controller assigns it (waited for).
    pub pod_cidr: Option<String>,
    /// Where the pods' addresses are recorded.
    pub state_dir: PathBuf,
    /// The prefix of the pods' network namespace names.
    pub namespace_prefix: String,
    /// The node's name (its `spec.podCIDR` is read).
    pub node_name: String,
}

/// The node network, made on the first pod that needs it.
pub struct NodeNetworks {
    setup: NetworkSetup,
    store: Store,
    network: OnceCell<NodeNetwork>,
}

impl NodeNetworks {
    /// A node network made with `setup`, reading the Node through `store`.
    pub fn new(setup: NetworkSetup, store: Store) -> Self {
        Self {
            setup,
            store,
            network: OnceCell::new(),
        }
    }

    async fn pod_cidr(&self) -> Result<String, String> {
        if let Some(cidr) = &self.setup.pod_cidr {
            return Ok(cidr.clone());
        }
        let node = self
            .store
            .get(resources::of::<Node>(), "", &self.setup.node_name)
            .await
            .map_err(|e| format!("reading node {}: {e}", self.setup.node_name))?;
        node.pointer("/spec/podCIDR")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "node {} has no spec.podCIDR yet (the controllers' node IPAM assigns one \
                     from --cluster-cidr; or give the kubelet --pod-cidr)",
                    self.setup.node_name
                )
            })
    }

    async fn network(&self) -> Result<&NodeNetwork, String> {
        self.network
            .get_or_try_init(|| async {
                let cidr = self.pod_cidr().await?;
                let network = NodeNetwork::new(NetworkOptions {
                    bridge: self.setup.bridge.clone(),
                    pod_cidr: cidr.clone(),
                    state_dir: self.setup.state_dir.clone(),
                    namespace_prefix: self.setup.namespace_prefix.clone(),
                })
                .map_err(|e| e.to_string())?;
                network.ensure_bridge().await.map_err(|e| e.to_string())?;
                tracing::info!(%cidr, bridge = %self.setup.bridge, "pod network ready");
                Ok(network)
            })
            .await
    }
}

#[async_trait]
impl Networks for NodeNetworks {
    async fn attach(&self, pod_uid: &str) -> Result<(PathBuf, String), String> {
        let network = self.network().await?;
        let pod = network.attach(pod_uid).await.map_err(|e| e.to_string())?;
        Ok((pod.namespace, pod.ip.to_string()))
    }

    async fn detach(&self, pod_uid: &str) -> Result<(), String> {
        match self.network.get() {
            Some(network) => network.detach(pod_uid).await.map_err(|e| e.to_string()),
            // Made on first use: a pod attached before a restart is
            // detached through a network made now, if the CIDR is known.
            None => match self.network().await {
                Ok(network) => network.detach(pod_uid).await.map_err(|e| e.to_string()),
                Err(_) => Ok(()),
            },
        }
    }
}

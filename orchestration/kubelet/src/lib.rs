//! keel's kubelet: the node agent. It registers its Node, renews the
//! node's Lease, and makes the pods bound to it real: each container a
//! process in its own namespaces and cgroups, chrooted into its image, on
//! a pod network of the node. It writes the pods' status back as a
//! Kubernetes kubelet does, and talks only to keel.
//!
//! ```text
//!   keel kubelet --node-name N
//!     node/     ─► Node (capacity from the machine, conditions) + Lease, renewed
//!     informer of pods bound to N ─► pods/ (pure: pod spec + container states
//!                                           + now ─► actions and a status)
//!                                      │ start / stop / signal / probe
//!                                      ▼
//!     runtime/  ContainerRuntime trait ─► linux/: a monitor process per container
//!               (keel container-init) ─► namespaces, cgroup, chroot, exec
//!     images/   local image store: docker-archive and OCI tars, unpacked
//!     network/  a network namespace per pod on the node's bridge (podCIDR)
//! ```
//!
//! - [`runtime`]: what the kubelet asks of a container runtime, and
//!   [`runtime::linux`], the default one (Linux and root only).
//! - [`images`]: the image store `keel image import | ls | rm` manage.
//! - [`network`]: pod network namespaces, veths and the node's bridge.
//! - [`node`]: the Node from the machine's facts, and its conditions.
//! - [`pods`]: a pod's lifecycle and status as plain decisions.
//! - [`worker`]: the kubelet at work: registration, heartbeats, a worker
//!   per pod, probes, volumes.
//! - [`agent`]: the image store and the node network behind the
//!   worker's traits.
//! - [`server`]: the kubelet's endpoint: container logs and exec, what
//!   the front proxies `kubectl logs` and `kubectl exec` to.

pub mod agent;
pub mod images;
pub mod network;
pub mod node;
pub mod pods;
pub mod runtime;
pub mod server;
pub mod worker;

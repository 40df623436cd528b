//! Kubernetes' objects as keel keeps them: the first layer of keel's
//! orchestration half, under every component that reads or writes objects
//! (the client runtime, the HTTP front, and later the scheduler,
//! controllers and kubelet).
//!
//! ```text
//!   manifest / request body (JSON, or protobuf read into JSON)
//!        │ decode into k8s-openapi's types (Kubernetes 1.33)
//!        ▼
//!   defaults ─► validation ─► object JSON under its key in keel
//!                              /registry/<resource>/<namespace>/<name>
//!                              resourceVersion = the key's mod_revision
//! ```
//!
//! - [`resources`]: the kinds keel serves, their scope, names, and their
//!   keys, laid out as kube-apiserver lays them out in etcd.
//! - [`defaults`]: kube-apiserver's defaulting of each kind.
//! - [`binding`]: a pod's binding to a node, once.
//! - [`deletion`]: what a delete does (at once, graceful, finalizers,
//!   Terminating namespaces) and when an update finishes one.
//! - [`service_ips`]: Services' cluster IPs, one IPAddress object each.
//! - [`selector`]: label and field selectors, and the fields each kind is
//!   selected by.
//! - [`validation`]: kube-apiserver's validation of each kind, with its
//!   field paths and messages, and strict decoding's unknown fields.
//! - [`object`]: what the server sets on create and keeps on update, and
//!   the JSON form an object takes in keel.
//! - [`table`]: the meta.k8s.io/v1 Table kube-apiserver answers for
//!   `kubectl get`: each kind's columns and cells, as its printers make them.
//! - [`patch`]: PATCH as kube-apiserver applies it: JSON patch, JSON merge
//!   patch and strategic merge patch, with kube-apiserver's errors.
//! - [`protobuf`]: Kubernetes' protobuf request bodies (kubectl's typed
//!   commands send no other) read into the same JSON form.
//!
//! Objects are Kubernetes' own types from `k8s-openapi`, so real manifests
//! decode unchanged and what keel stores reads back as Kubernetes would
//! write it.

pub mod binding;
pub mod defaults;
pub mod deletion;
pub mod object;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod service_ips;
pub mod table;
pub mod validation;

pub use k8s_openapi;
pub use resources::{ResourceInfo, RESOURCES};

//! keel's HTTP front: enough of the Kubernetes API that an unmodified
//! kubectl, or any Kubernetes client library, drives keel's orchestration
//! layer. It reads and writes objects through `keel-runtime`'s store, as
//! kube-apiserver reads and writes etcd.
//!
//! ```text
//!   kubectl ──HTTP──► server (router) ──► discovery (/version, /api, /apis)
//!                                     ├─► openapi (/openapi/v2, /openapi/v3)
//!                                     └─► paths ─► objects ──────────► keel-runtime Store ─► keel
//!                                           body (JSON, YAML,  │ ├─► subresources ─┘
//!                                           protobuf) ─────────┘ ├─► watch ─► keel watch
//!                                                                └─► output (objects, Tables)
//!                                           failure: every error as a metav1.Status
//! ```
//!
//! - [`discovery`]: the version and the discovery documents, from the kinds
//!   `keel-api` serves.
//! - [`openapi`]: the OpenAPI v2 (JSON and protobuf) and v3 documents
//!   kubectl validates manifests with, explains kinds from and reads
//!   strategic merge patch keys from.
//! - [`paths`]: resource paths, parsed into kind, namespace, name and
//!   subresource.
//! - `body`: request bodies (JSON, YAML, Kubernetes protobuf) checked
//!   against the path, and `fieldValidation`'s unknown fields.
//! - [`namespaces`]: the system namespaces, and NamespaceLifecycle's
//!   admission of creates and deletes.
//! - `objects`: get, list (label and field selectors), create, update,
//!   patch, delete and deletecollection through the store.
//! - `subresources`: status, scale, binding, eviction and finalize.
//! - `watch`: watches streamed as kube-apiserver streams them, with
//!   bookmarks, timeouts and 410 Gone after compaction.
//! - `output`: objects, lists, or kubectl's Tables, as `Accept` asks.
//! - `failure`: errors as `metav1.Status`, with Kubernetes' reasons.
//! - `kubelet_proxy`: `pods/log` streamed from the pod's kubelet, and
//!   `pods/exec` upgrades relayed to it byte for byte.
//! - [`server`]: the router.
//!
//! Not yet served: attach, port-forward, server-side apply. It
//! listens on loopback unless told otherwise: TLS and authentication come
//! with a later issue.

mod body;
pub mod discovery;
mod failure;
mod kubelet_proxy;
pub mod namespaces;
mod objects;
pub mod openapi;
mod output;
pub mod paths;
pub mod server;
mod subresources;
mod watch;

pub use server::{router, serve};

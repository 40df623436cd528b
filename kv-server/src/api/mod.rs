//! The client-facing gRPC services, one module per etcd service. Every
//! error leaves through [`crate::error::EtcdError`], the one error table.

pub mod health;
pub mod kv;
pub mod maintenance;

/// The etcd API version keel implements, reported in `Status.version`:
/// clients (Kubernetes among them) gate features on it.
pub const ETCD_API_VERSION: &str = "3.5.0";

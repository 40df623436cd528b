//! The client-facing gRPC services, one module per etcd service. Every
//! error a service returns leaves through [`crate::error::EtcdError`], the
//! one error table; errors raised by the gRPC transport itself, before a
//! service sees the request, are given grpc-go's codes by
//! [`transport_status`].

pub mod authority;
pub mod cluster;
pub mod election;
pub mod health;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod peer;
pub mod require_leader;
pub mod transport_status;
pub mod watch;

/// The etcd API version keel implements, reported in `Status.version`:
/// clients (Kubernetes among them) gate features on it.
pub const ETCD_API_VERSION: &str = "3.5.0";

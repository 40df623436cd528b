//! `keeld`, keel's server.
//!
//! It wires openraft to the `raft-log` WAL (log storage) and the `mvcc`
//! store (state machine, one atomic batch per applied entry), and serves
//! etcd's gRPC services from the `keel-proto` definitions, with one table
//! that maps every internal error to etcd's exact gRPC code and message.

pub mod api;
pub mod clock;
pub mod concurrency;
pub mod config;
pub mod convert;
pub mod error;
pub mod ids;
pub mod lease;
pub mod node;
pub mod raft;
pub mod restore;
pub mod server;

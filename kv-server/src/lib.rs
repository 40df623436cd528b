//! `keeld`, keel's server (filled by the single-node and replication issues).
//!
//! It will wire openraft to the `raft-log` WAL (log storage) and the `mvcc`
//! store (state machine, one atomic batch per applied entry), and serve
//! etcd's gRPC services (KV, Watch, Lease, Cluster, Maintenance, Auth, Lock,
//! Election, health) from the `keel-proto` definitions, with one table that
//! maps every internal error to etcd's exact gRPC code and message, and
//! etcd's flags (`--name`, `--data-dir`, `--listen-client-urls`, ...).

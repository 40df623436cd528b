//! Pins keel's wire contract: the gRPC method paths, streaming shapes,
//! message field names, tag numbers and types, and enum values that etcd
//! clients depend on, read back from `keel_proto::FILE_DESCRIPTOR_SET`; plus
//! byte-level checks that the generated Rust types encode the same way.
//!
//! If one of these fails, a `.proto` edit broke compatibility with etcd (or
//! between keel versions): fix the `.proto`, never the expectation.
//!
//! | module | pins |
//! |---|---|
//! | `rpcs` | method paths, streaming shapes, request/response types |
//! | `kv_and_watch` | KV, Txn and Watch messages; `mvccpb` |
//! | `lease_cluster_auth` | Lease, Cluster, Maintenance, Auth, Lock, Election messages; `authpb` |
//! | `keel_peer` | `keelpb` messages |
//! | `encoding` | bytes produced and accepted by the generated types |

#[path = "wire_contract/descriptor.rs"]
mod descriptor;
#[path = "wire_contract/encoding.rs"]
mod encoding;
#[path = "wire_contract/keel_peer.rs"]
mod keel_peer;
#[path = "wire_contract/kv_and_watch.rs"]
mod kv_and_watch;
#[path = "wire_contract/lease_cluster_auth.rs"]
mod lease_cluster_auth;
#[path = "wire_contract/rpcs.rs"]
mod rpcs;

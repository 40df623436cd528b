//! keel-proto: the wire protocols of keel, as Rust types generated from the
//! `.proto` files next to this crate.
//!
//! ```text
//!  proto/etcd/**.proto ──┐                          ┌─► etcdserverpb, mvccpb, authpb,
//!  proto/keel/raft.proto ├─ build.rs: protox ──►    │   v3lockpb, v3electionpb  (etcd's API)
//!  proto/grpc/health/..  ┘  FileDescriptorSet ──────┼─► keelpb                  (peer protocol)
//!                           │  madsim-tonic-build   └─► grpc::health::v1        (health checks)
//!                           └─────────────────────────► FILE_DESCRIPTOR_SET     (reflection)
//! ```
//!
//! | module | proto package | what it is |
//! |---|---|---|
//! | [`etcdserverpb`] | `etcdserverpb` | etcd's client API: services KV, Watch, Lease, Cluster, Maintenance, Auth (41 RPCs) |
//! | [`mvccpb`] | `mvccpb` | `KeyValue` and watch `Event` |
//! | [`authpb`] | `authpb` | users, roles, permissions |
//! | [`v3lockpb`] | `v3lockpb` | the Lock service |
//! | [`v3electionpb`] | `v3electionpb` | the Election service |
//! | [`keelpb`] | `keelpb` | keel's member-to-member service `RaftPeer` (openraft RPCs, write forwarding, read index) |
//! | [`grpc::health::v1`] | `grpc.health.v1` | the standard gRPC health service |
//!
//! **Tag numbers are a wire contract.** The etcd packages use etcd's exact
//! package, service, method, message, field and enum names and tag numbers,
//! so unmodified etcd clients (etcdctl, Go clientv3, ...) work against keel;
//! `tests/wire_contract.rs` pins them. `keelpb` is spoken between members of
//! different versions during an upgrade: its tags never change and are never
//! reused either.
//!
//! # Using the generated code
//!
//! Messages are prost structs; each service `S` gets a `s_client::SClient`
//! and a `s_server::{S, SServer}` (trait + tower service):
//!
//! - `keel_proto::etcdserverpb::RangeRequest`, `keel_proto::mvccpb::KeyValue`
//! - `keel_proto::etcdserverpb::kv_server::{Kv, KvServer}` and
//!   `keel_proto::etcdserverpb::kv_client::KvClient` (the etcd service `KV`
//!   becomes `Kv`); likewise `watch_server::Watch`, `lease_server::Lease`,
//!   `cluster_server::Cluster`, `maintenance_server::Maintenance`,
//!   `auth_server::Auth`, `v3lockpb::lock_server::Lock`,
//!   `v3electionpb::election_server::Election`,
//!   `keelpb::raft_peer_server::RaftPeer`,
//!   `grpc::health::v1::health_server::Health`.
//! - Nested enums and oneofs live in a module named after their message:
//!   `etcdserverpb::range_request::SortOrder`,
//!   `etcdserverpb::request_op::Request`, `mvccpb::event::EventType`,
//!   `keelpb::entry::Payload`. Enum fields are stored as `i32`; use the
//!   generated `field()` / `set_field()` accessors for the typed value.
//! - etcd's mixed-case field names become snake case: `TTL` → `ttl`,
//!   `ID` → `id`, `grantedTTL` → `granted_ttl`, `isLearner` → `is_learner`,
//!   `dbSizeInUse` → `db_size_in_use`, `memberID` → `member_id`, and (prost's
//!   word splitting) `peerURLs` → `peer_ur_ls`, `clientURLs` → `client_ur_ls`.
//! - `bytes` fields are `Vec<u8>`, `string` fields `String`, message fields
//!   `Option<_>` (absent = `None`), `map` fields `BTreeMap` (deterministic
//!   order, hence deterministic encoding).
//!
//! The generated clients and servers are tonic's, or madsim's simulated tonic
//! when built with `RUSTFLAGS="--cfg madsim"`; the workspace's `tonic`
//! dependency (`madsim-tonic`) picks the right one, and so does
//! `tonic::include_proto!` below.

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file of
/// this crate (imports and source comments included), as compiled by protox
/// in `build.rs`. Decode it with `prost_types::FileDescriptorSet` or load it
/// into a reflection pool (gRPC server reflection, JSON transcoding).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/keel_descriptor_set.bin"));

/// Declares one module holding the generated code of one proto package.
///
/// The generated code is not written to our lint standard (it has no docs on
/// many items and trips pedantic lints), so the lints are relaxed here, on
/// the generated modules only.
macro_rules! generated_package {
    ($(#[$doc:meta])* $module:ident => $package:literal) => {
        $(#[$doc])*
        #[allow(
            missing_docs,
            clippy::all,
            clippy::pedantic,
            clippy::nursery,
            clippy::unwrap_used,
            rustdoc::all
        )]
        pub mod $module {
            tonic::include_proto!($package);
        }
    };
}

generated_package!(
    /// etcd's client API (package `etcdserverpb`): the KV, Watch, Lease,
    /// Cluster, Maintenance and Auth services and their messages.
    etcdserverpb => "etcdserverpb"
);

generated_package!(
    /// etcd's MVCC records (package `mvccpb`): `KeyValue` and `Event`.
    mvccpb => "mvccpb"
);

generated_package!(
    /// etcd's auth records (package `authpb`): users, roles, permissions.
    authpb => "authpb"
);

generated_package!(
    /// etcd's lock service (package `v3lockpb`).
    v3lockpb => "v3lockpb"
);

generated_package!(
    /// etcd's election service (package `v3electionpb`).
    v3electionpb => "v3electionpb"
);

generated_package!(
    /// keel's member-to-member protocol (package `keelpb`): the `RaftPeer`
    /// service carrying openraft's RPCs, write forwarding and read index.
    keelpb => "keelpb"
);

/// The `grpc` proto namespace.
pub mod grpc {
    /// The `grpc.health` proto namespace.
    pub mod health {
        generated_package!(
            /// The standard gRPC health service (package `grpc.health.v1`),
            /// served on the client port as etcd does.
            v1 => "grpc.health.v1"
        );
    }
}

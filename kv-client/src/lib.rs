//! keel-client: a Rust client for keel (and etcd) clusters that handles a
//! real cluster's failures for its caller.
//!
//! ```text
//!  Client ── call(): one retry loop for every unary request
//!    │         judge() per failed attempt: try the next member, or stop
//!    │         with a refusal, or with an unknown outcome
//!    ├─ Endpoints: one lazy channel per member, the current one, round-robin
//!    ├─ kv.rs        get / put / delete / txn / compact, option builders
//!    ├─ lease.rs     grant / revoke / ttl, KeepAlive task (reports loss)
//!    ├─ watch.rs     Watcher task: resumes from the next revision elsewhere
//!    ├─ maintenance.rs  status / hashkv / alarm / defrag / snapshot /
//!    │                  move-leader, and the Cluster service
//!    ├─ rpc_recipes.rs  the Lock and Election services (one RPC each)
//!    ├─ informer.rs  list + watch into a local cache, relist on compaction
//!    └─ concurrency.rs  Session (lease + keep-alive), Mutex (fencing
//!                       revision), Election (campaign / proclaim /
//!                       observe / resign)
//! ```
//!
//! # Failures
//!
//! Every request has a deadline ([`ClientOptions::request_timeout`]). Within
//! it, a request that failed without effect moves to the next member and is
//! sent again: when the connection could not be made, or the member said
//! it has no leader, is not the leader, or is a learner. Reads (and reads
//! only transactions, status queries, keep-alives) are also sent again after
//! a connection broke mid-request or a transient server error. A write in
//! that position is *not* sent again: the client answers
//! [`Error::UnknownOutcome`], since the write may have been applied. A
//! server's refusal (a compacted revision, a too-large request, ...) is
//! [`Error::Server`], with [`Error::etcd`] naming the common ones.
//!
//! ```no_run
//! # async fn demo() -> Result<(), keel_client::Error> {
//! use keel_client::{Client, ClientOptions, GetOptions};
//! let endpoints = ["127.0.0.1:2379", "127.0.0.1:22379", "127.0.0.1:32379"];
//! let client = Client::connect(endpoints, ClientOptions::new()).await?;
//! client.put("greeting", "hello", None).await?;
//! let answer = client.get("greeting", None).await?;
//! assert_eq!(answer.kvs[0].value, b"hello");
//! # Ok(()) }
//! ```
//!
//! Under `--cfg madsim` the same code runs on madsim's simulated network
//! (through madsim-tonic and madsim-tokio), so the simulation suite drives
//! clusters with this client.

mod client;
mod concurrency;
mod endpoints;
mod error;
mod informer;
mod kv;
mod lease;
mod maintenance;
mod rpc_recipes;
mod watch;

pub use client::{Client, ClientOptions};
pub use concurrency::{Election, Mutex, Session, SESSION_TTL_SECS_DEFAULT};
pub use error::{Error, EtcdError, Safety};
pub use informer::{Change, Informer, Update};
pub use kv::{
    prefix_end, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, SortOrder, SortTarget,
    Txn, TxnOp,
};
pub use lease::{KeepAlive, LeaseState};
pub use maintenance::{AlarmAction, AlarmType};
pub use watch::{WatchOptions, WatchUpdate, Watcher};

/// The wire types the client's answers are made of (etcd's API).
pub use keel_proto as proto;

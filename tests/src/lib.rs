//! keel's cross-crate tests: multi-process tests on loopback, the etcdctl
//! compatibility suite run against both keeld and a real etcd 3.4, and (to
//! come) the madsim simulation suite.
//!
//! `tests/run.sh` is the whole test suite: the README's test command and
//! what CI runs.
//!
//! This library is the harness the integration tests in `tests/tests/` use:
//!
//! ```text
//!  binaries ── where etcd, etcdctl and keeld are (ETCD_BIN, ETCDCTL_BIN, KEELD_BIN)
//!  ports ───── loopback ports that parallel tests do not fight over
//!  server ──── Server: one etcd or keeld child process (Flavor) on a tempdir;
//!              kill -9, restart on the same data dir, killed on drop
//!  cluster ─── Cluster: 3 or 5 members of one Flavor, each a child process
//!              with its own tempdir and log; leader, status, catch-up;
//!              kill/restart one member; member add (then start it with
//!              --initial-cluster-state existing), remove, promote; every
//!              member's log tail shown when a test fails
//!  etcdctl ─── Etcdctl: run etcdctl with args/stdin and a timeout → Output
//!              (stdout, stderr, exit, gRPC status, JSON)
//!  background  Background: an etcdctl that runs until stopped (watch,
//!              keep-alive, lock, elect) with piped stdin; its lines read
//!              with deadlines; SIGTERM / SIGKILL → Output; killed on drop
//!  suite ───── run_cases: a group of cases against one server
//!  format ──── readers for etcdctl's table and fields formats, base64
//!  raw_grpc ── one gRPC call written by hand over HTTP/2, for frames no
//!              client library would send
//!  proxy ───── Proxy: a loopback TCP proxy a test can cut and mend, so a
//!              client loses a server that runs on
//!  node ────── Node: a real kubelet node's unique names and reserved pod
//!              network, cleaned up on drop; the busybox images
//! ```
//!
//! A test written against [`Flavor::Etcd`] runs against keeld by passing
//! [`Flavor::Keeld`]: the two take the same flags and must print the same.

pub mod background;
pub mod binaries;
pub mod cluster;
pub mod etcdctl;
pub mod format;
pub mod kube;
pub mod node;
pub mod ports;
pub mod proxy;
pub mod raw_grpc;
pub mod server;
pub mod suite;

pub use background::{Background, Stream};
pub use cluster::{Added, Cluster, Status};
pub use etcdctl::{Etcdctl, EtcdctlError, Header, Output};
pub use server::{Flavor, Server};
pub use suite::{run_cases, Case};

/// A Tokio runtime for a test that drives servers through async clients:
/// two workers, as the machines have two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Polls `check` every 50 ms until it answers `Some`, and answers that;
/// panics naming `what` once `patience` has passed. For tests that wait
/// for a system to reach a state, without sleeping a fixed time.
pub async fn eventually<T, Fut>(
    what: &str,
    patience: std::time::Duration,
    mut check: impl FnMut() -> Fut,
) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

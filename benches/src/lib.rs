//! keel's benchmarks.
//!
//! - `benches/raft_log.rs` (criterion): raft-log appends/s with fsync at
//!   batch sizes 1, 16 and 256, beside the raw write+fdatasync rate of the
//!   same disk.
//! - `benches/mvcc.rs` (criterion): mvcc put, a range over a 1k-key prefix,
//!   and a compare-and-swap txn, on RocksDB.
//! - `src/bin/mvcc-scale.rs`: RSS and reopen time of the store at 1 M keys.
//! - `src/bin/keel-bench.rs`: `keel-bench`, a load generator for any
//!   etcd-API server ([`load`]), and `keel-bench compare`, which starts etcd
//!   and keeld side by side ([`servers`]) and measures both in one run,
//!   including puts while Defragment runs ([`defrag`]), and, on request,
//!   the lease ([`lease`]) and watch ([`watch`]) benchmarks on a fresh
//!   server per measurement ([`compare`]).
//! - `keel-bench watch-latency`: delivery latency from a put to each of
//!   many watchers, memory per watcher, and memory under watchers that
//!   never read ([`watch`]; server figures from [`procfs`]).
//! - `keel-bench lease`: grant and keep-alive throughput ([`lease`]).
//! - `keel-bench cluster`: a 3-member keeld cluster beside a 3-member etcd
//!   cluster: puts at 1, 64 and 512 clients, ranges over every member, and
//!   the time from a leader's SIGKILL to the first successful put
//!   ([`cluster`]).
//! - `keel-bench kube`: keel's Kubernetes HTTP front (`keel apiserver`
//!   against a keeld): pod creates in closed and open loops, lists of
//!   10 000 pods, watch delivery to 100 watchers, and the front's RSS
//!   ([`kube`]).
//! - `keel-bench schedule`: pods bound per second by the scheduler with
//!   thousands of simulated nodes and 10,000 pending pods, and its RSS
//!   ([`schedule`]).
//! - `keel-bench rollout`: a Deployment of 1,000 replicas to all Ready on
//!   simulated nodes, with the scheduler and the controllers as their own
//!   processes, and the memory of each at 5,000 nodes ([`rollout`]).
//! - `keel-bench pods`: real pods on one real node (`keel kubelet` beside
//!   `keel up --kubelet=false`): start-up latency from each create to
//!   Running and Ready, the kubelet's CPU and memory with the pods
//!   running, and the container monitors' memory ([`pods`]).
//! - Shared by `schedule` and `rollout`: the child processes and their
//!   sampling ([`processes`]), the cluster they drive ([`orchestration`]).
//!
//! Figures, with the commands that reproduce them, live in
//! `docs/benchmarks.md`.

pub mod cluster;
pub mod compare;
pub mod defrag;
pub mod kube;
pub mod lease;
pub mod load;
pub mod orchestration;
pub mod pods;
pub mod processes;
pub mod procfs;
pub mod rollout;
pub mod schedule;
pub mod servers;
pub mod show;
pub mod watch;

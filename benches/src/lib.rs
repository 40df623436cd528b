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
//!   including puts while Defragment runs ([`defrag`]).
//!
//! Figures, with the commands that reproduce them, live in
//! `docs/benchmarks.md`.

pub mod defrag;
pub mod load;
pub mod servers;

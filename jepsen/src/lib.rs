//! keel's correctness harness (filled by the simulation and jepsen issues).
//!
//! It will hold the history checkers shared by the madsim simulation and the
//! jepsen runs against real processes: linearizability (Wing–Gong search
//! with Lowe's memoisation over an etcd model), a watch validator, replica
//! hash agreement and Raft invariants, plus nemeses and workloads.

//! keel's cross-crate tests (filled as the server lands): multi-process
//! cluster tests on loopback, the etcdctl compatibility suite run against
//! both keeld and a real etcd 3.4, and the madsim simulation suite.
//!
//! `tests/run.sh` is the whole test suite: the README's test command and
//! what CI runs.

//! The etcdctl compatibility suite: Debian's etcdctl 3.4 against a server,
//! asserting on what it prints. Every case runs against a real etcd 3.4,
//! which shows the assertions describe etcd's behaviour, and against keeld,
//! which must print the same.
//!
//! ```text
//!  etcdctl_suite!(etcd, Flavor::Etcd)   one module of #[test]s per flavor
//!     kv ............ put/get/del, ranges, --rev, sorting, formats  (kv.rs)
//!     txn ........... txn scripts on stdin, both branches, shapes   (txn.rs)
//!     compaction .... compaction [--physical], compacted/future revs (compaction.rs)
//!     maintenance ... endpoint status/health/hashkv, alarm, defrag,
//!                     snapshot save/status                           (maintenance.rs)
//!     nospace_alarm . a 1 MiB quota: NOSPACE raised and recovered    (maintenance.rs)
//!     bad_input ..... refused requests and etcd's errors             (bad_input.rs)
//!     limit_flags ... --max-txn-ops / --max-request-bytes            (bad_input.rs)
//!     kill_and_restart  kill -9 + restart keeps acknowledged data    (restart.rs)
//!     check_perf .... `check perf --load=s`, 60 s                    (perf.rs)
//!     watch ......... events, --rev history, --prefix/ranges, --prev-kv,
//!                     JSON, `watch -i` + progress, compacted revs    (watch.rs)
//!     lease ......... grant/revoke/list/timetolive, TTL limits, keys
//!                     on leases, keep-alive, expiry                  (lease.rs)
//!     lock_and_elect  lock holders and waiters, elect and observe    (concurrency.rs)
//! ```
//!
//! Each test starts its own server(s) on loopback ports, so the tests run in
//! parallel; the cases inside one test share that server and run in order.
//! Commands that run until stopped (watch, keep-alive, lock, elect) run as
//! [`keel_tests::Background`] processes next to the etcdctl runs that write.
//! Run one flavor with `cargo test -p keel-tests --test etcdctl etcd::`.

#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "etcdctl/bad_input.rs"]
mod bad_input;
#[path = "etcdctl/compaction.rs"]
mod compaction;
#[path = "etcdctl/concurrency.rs"]
mod concurrency;
#[path = "etcdctl/kv.rs"]
mod kv;
#[path = "etcdctl/lease.rs"]
mod lease;
#[path = "etcdctl/maintenance.rs"]
mod maintenance;
#[path = "etcdctl/perf.rs"]
mod perf;
#[path = "etcdctl/restart.rs"]
mod restart;
#[path = "etcdctl/support.rs"]
mod support;
#[path = "etcdctl/txn.rs"]
mod txn;
#[path = "etcdctl/watch.rs"]
mod watch;

/// One `#[test]` per group of cases, against `$flavor`, in module `$name`.
macro_rules! etcdctl_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            use keel_tests::Flavor;

            #[test]
            fn kv() {
                crate::kv::suite($flavor);
            }

            #[test]
            fn txn() {
                crate::txn::suite($flavor);
            }

            #[test]
            fn compaction() {
                crate::compaction::suite($flavor);
            }

            #[test]
            fn maintenance() {
                crate::maintenance::suite($flavor);
            }

            #[test]
            fn nospace_alarm() {
                crate::maintenance::nospace_suite($flavor);
            }

            #[test]
            fn bad_input() {
                crate::bad_input::suite($flavor);
            }

            #[test]
            fn limit_flags() {
                crate::bad_input::limit_flags_suite($flavor);
            }

            #[test]
            fn kill_and_restart() {
                crate::restart::kill_and_restart($flavor);
            }

            #[test]
            fn check_perf() {
                crate::perf::check_perf($flavor);
            }

            #[test]
            fn watch() {
                crate::watch::suite($flavor);
            }

            #[test]
            fn lease() {
                crate::lease::suite($flavor);
            }

            #[test]
            fn lock_and_elect() {
                crate::concurrency::suite($flavor);
            }
        }
    };
}

etcdctl_suite!(etcd, Flavor::Etcd);
etcdctl_suite!(keeld, Flavor::Keeld);

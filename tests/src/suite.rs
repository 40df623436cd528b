//! Running several cases against one server.
//!
//! A server start costs about a second, so a test starts one server and runs
//! a group of cases on it one after the other (cases that must see exact
//! revisions cannot share a server with cases running in parallel). Every
//! case runs even when an earlier one fails, so one run of the suite against
//! a new implementation lists all that is wrong; the test then fails naming
//! the failed cases (each case's panic message is printed above).

use std::panic::{self, AssertUnwindSafe};

use crate::server::Server;

/// One case of a suite: a function asserting things against a server.
pub type Case = fn(&Server);

/// `[(name, case)]` for [`run_cases`], each named after its path:
/// `cases![kv::prefix, kv::from_key]`.
#[macro_export]
macro_rules! cases {
    ($($case:path),+ $(,)?) => {
        &[$((stringify!($case), $case as $crate::Case)),+]
    };
}

/// Runs every case against `server` in order; panics at the end if any
/// failed, naming them.
#[track_caller]
pub fn run_cases(server: &Server, cases: &[(&str, Case)]) {
    let mut failed = Vec::new();
    for &(name, case) in cases {
        eprintln!("[{}] case {name}", server.flavor());
        if panic::catch_unwind(AssertUnwindSafe(|| case(server))).is_err() {
            eprintln!("[{}] case {name} FAILED", server.flavor());
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed against {}: {}",
        failed.len(),
        cases.len(),
        server.flavor(),
        failed.join(", ")
    );
}

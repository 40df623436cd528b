//! keel's deterministic simulation: whole clusters of the real `keeld` in
//! one process under madsim (`RUSTFLAGS="--cfg madsim"`), with a seed that
//! replays a run exactly. Built only under `--cfg madsim`.
//!
//! ```text
//!  scenario.rs ── Plan { members, nemesis } ─► one run:
//!    cluster.rs    members on madsim nodes: keel_server::server::run_on
//!                  over a SimDisk each (kill = crash the disk), network faults
//!    workload.rs   clients (get/put/delete/CAS/lease) and watchers on a
//!                  client node, recording a keel_jepsen History
//!    nemesis.rs    the faults, in rounds, until the must-heal time
//!    recorder.rs   Raft metrics and applied entries, via keel_server::observe
//!  then keel_jepsen's checkers: liveness, HashKV agreement, Raft
//!  invariants, watch validation, linearizability.
//! ```
//!
//! See docs/testing.md for how to run, reproduce and extend it.
#![cfg(madsim)]

pub mod cluster;
pub mod nemesis;
pub mod recorder;
pub mod scenario;
pub mod workload;

pub use nemesis::Nemesis;
pub use scenario::{run, Failure, Plan, Summary};

/// Logs to standard error as `RUST_LOG` asks (nothing by default), for
/// reading a failing seed's run.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

//! Checks saved runs again: each argument is a JSON file of `(History,
//! Vec<WatchRecord>)`, as the simulation saves it (`KEEL_SIM_SAVE_DIR`,
//! `KEEL_SIM_SAVE_ALL`; docs/testing.md). For each it prints the
//! linearizability verdict on the history as recorded and after
//! `keel_jepsen::resolve` settled what the watches show, with the time
//! each took, so the two can be compared on the same histories:
//!
//! ```sh
//! cargo run --release -p keel-jepsen --example recheck -- /tmp/keel-sim-*.json
//! ```
//!
//! `--settled-only` skips the check as recorded (which can take a minute on
//! an unknown-heavy history); `--unknown` lists the operations settling left
//! unknown, with the watch events of their keys after their call.

#![allow(
    clippy::disallowed_methods,
    reason = "a command-line tool: it reads files and measures wall time"
)]

use std::time::Instant;

use keel_jepsen::history::{History, WatchRecord};
use keel_jepsen::linearizability::{check, Verdict};
use keel_jepsen::resolve::resolve;

fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Violation(_) => "VIOLATION",
    }
}

/// Prints each unknown operation of `history`, then every delete event,
/// and every put event with a lease, received after its call, of its key
/// (or, for a revoke, of any key).
fn print_unknown(history: &History, watches: &[WatchRecord]) {
    use keel_jepsen::history::{EventKind, Outcome, Request};
    let events: Vec<_> = watches
        .iter()
        .filter(|w| w.start_revision <= 1)
        .take(1)
        .flat_map(|w| &w.responses)
        .flat_map(|r| r.events.iter().map(move |e| (r.received_ns, e)))
        .collect();
    for op in history
        .operations
        .iter()
        .filter(|op| op.outcome == Outcome::Unknown)
    {
        println!(
            "  unknown {:?} client {} call {} ms",
            op.request,
            op.client,
            op.call_ns / 1_000_000
        );
        for (received_ns, event) in &events {
            let relevant = *received_ns >= op.call_ns
                && match &op.request {
                    Request::Put { key, .. }
                    | Request::CompareAndPut { key, .. }
                    | Request::Delete { key } => *key == event.kv.key,
                    Request::LeaseGrant { id, .. } | Request::LeaseRevoke { id } => {
                        event.kv.lease == *id || event.kind == EventKind::Delete
                    }
                    Request::Get { .. } => false,
                };
            if relevant {
                println!(
                    "      {:?} {} rev {} lease {} at {} ms",
                    event.kind,
                    event.kv.key,
                    event.kv.mod_revision,
                    event.kv.lease,
                    received_ns / 1_000_000
                );
            }
        }
        for other in &history.operations {
            let names = match (&op.request, &other.request) {
                (
                    Request::LeaseGrant { id, .. } | Request::LeaseRevoke { id },
                    Request::Put { lease, .. },
                ) => lease == id,
                (
                    Request::LeaseGrant { id, .. } | Request::LeaseRevoke { id },
                    Request::LeaseGrant { id: other, .. } | Request::LeaseRevoke { id: other },
                ) => other == id,
                _ => false,
            };
            if names && !std::ptr::eq(op, other) {
                println!(
                    "      op {:?} -> {:?} call {} ret {} ms",
                    other.request,
                    other.outcome,
                    other.call_ns / 1_000_000,
                    other.return_ns / 1_000_000
                );
            }
        }
    }
}

fn main() {
    let mut counts = [[0usize; 3]; 2];
    let index = |verdict: &Verdict| match verdict {
        Verdict::Linearizable => 0,
        Verdict::Inconclusive => 1,
        Verdict::Violation(_) => 2,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settled_only = args.iter().any(|a| a == "--settled-only");
    let show_unknown = args.iter().any(|a| a == "--unknown");
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("{path}: {error}");
                std::process::exit(2);
            }
        };
        let (history, watches): (History, Vec<WatchRecord>) = match serde_json::from_slice(&text) {
            Ok(run) => run,
            Err(error) => {
                eprintln!("{path}: not a saved run: {error}");
                std::process::exit(2);
            }
        };
        let started = Instant::now();
        let raw = if settled_only {
            Verdict::Inconclusive
        } else {
            check(&history)
        };
        let raw_took = started.elapsed();
        let started = Instant::now();
        let (settled, resolved) = resolve(&history, &watches);
        let after = check(&settled);
        let after_took = started.elapsed();
        if show_unknown {
            print_unknown(&settled, &watches);
        }
        counts[0][index(&raw)] += 1;
        counts[1][index(&after)] += 1;
        println!(
            "{path}: as recorded {} in {:.2} s; settled ({resolved:?}) {} in {:.2} s",
            verdict_name(&raw),
            raw_took.as_secs_f64(),
            verdict_name(&after),
            after_took.as_secs_f64()
        );
    }
    for (name, [linearizable, inconclusive, violation]) in
        ["as recorded", "settled"].iter().zip(counts)
    {
        println!(
            "{name}: {linearizable} linearizable, {inconclusive} inconclusive, {violation} violations"
        );
    }
}

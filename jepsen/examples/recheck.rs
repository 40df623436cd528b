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

fn main() {
    let mut counts = [[0usize; 3]; 2];
    let index = |verdict: &Verdict| match verdict {
        Verdict::Linearizable => 0,
        Verdict::Inconclusive => 1,
        Verdict::Violation(_) => 2,
    };
    for path in std::env::args().skip(1) {
        let text = match std::fs::read(&path) {
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
        let raw = check(&history);
        let raw_took = started.elapsed();
        let started = Instant::now();
        let (settled, resolved) = resolve(&history, &watches);
        let after = check(&settled);
        let after_took = started.elapsed();
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

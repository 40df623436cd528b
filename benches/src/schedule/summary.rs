//! The Markdown table of a `keel-bench schedule` run: one row per round,
//! then the median of the binds per second.

use std::fmt::Write as _;

use super::{Round, ScheduleOptions};
use crate::show::{self, mib};

/// The run's table.
pub fn summary(options: &ScheduleOptions, rounds: &[Round]) -> String {
    let mut out = String::new();
    let stages = if options.pod_stages { "on" } else { "off" };
    let scheduler = if options.in_process {
        "in process"
    } else {
        "`keel scheduler`"
    };
    let _ = writeln!(
        out,
        "\n{} nodes, {} pending pods, pod stages {stages}, scheduler {scheduler}, \
         {} binds in flight{}\n",
        options.nodes,
        options.pods,
        options.binds_in_flight,
        if options.bind_reads_first {
            ", each pod read before its bind"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "| round | load | nodes registered | pods created | first bind | binding | binds/s | scheduler RSS | scheduler CPU | keeld CPU |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for (at, round) in rounds.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.1} s | {:.1} s | {:.2} s | {:.2} s | {:.0} | {} | {:.1} s | {:.1} s |",
            at + 1,
            round.load_before,
            round.register.as_secs_f64(),
            round.create.as_secs_f64(),
            round.first_bind.as_secs_f64(),
            round.binding.as_secs_f64(),
            round.binds_per_sec(),
            if round.scheduler_rss_bytes == 0 {
                "–".to_owned()
            } else {
                mib(round.scheduler_rss_bytes as i64)
            },
            round.scheduler_cpu.as_secs_f64(),
            round.keeld_cpu.as_secs_f64(),
        );
    }
    let _ = writeln!(out, "\nmedian: {:.0} binds/s", median(rounds));
    for (at, round) in rounds.iter().enumerate() {
        if let Some(c) = round.counters {
            let per = |d: std::time::Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
            let _ = writeln!(
                out,
                "round {}: {} attempts, {} bind failures; schedule() {:.1} µs/pod; \
                 {} watch events at {:.1} µs each; a bind's round trips {:.2} ms on average",
                at + 1,
                c.attempts,
                c.bind_failures,
                per(c.schedule, c.attempts),
                c.events,
                per(c.feed, c.events),
                per(c.bind, c.attempts) / 1000.0,
            );
        }
    }
    out
}

/// The median round's binds per second.
pub fn median(rounds: &[Round]) -> f64 {
    show::median(rounds.iter().map(Round::binds_per_sec).collect())
}

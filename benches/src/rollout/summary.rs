//! The Markdown summary of a `keel-bench rollout` run: one row per round
//! (times from the Deployment's create; each process's peak RSS and its
//! CPU during the rollout), then the medians.
//!
//! ```text
//!   | round | load | nodes Ready | all Ready | created | bound | Ready | keeld | ... |
//!   median: all Ready in T; peak RSS and CPU per process
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use super::{RolloutOptions, Round, Span};
use crate::processes::Usage;
use crate::show::{median, mib};

/// The run's table and medians.
pub fn summary(options: &RolloutOptions, rounds: &[Round]) -> String {
    let mut out = String::new();
    let flags = if options.controllers_args.is_empty() {
        String::new()
    } else {
        format!(
            " (`keel controllers {}`)",
            options.controllers_args.join(" ")
        )
    };
    let _ = writeln!(
        out,
        "\nA Deployment of {} replicas (10m cpu, 16Mi) on {} simulated nodes{flags}; \
         times from its create; RSS the peak of the round, CPU from the create \
         to all Ready\n",
        options.replicas, options.nodes
    );
    let names: Vec<&str> = rounds
        .first()
        .map(|round| round.usage.iter().map(|u| u.name).collect())
        .unwrap_or_default();
    let mut header =
        "| round | load | nodes Ready | all Ready | pods created | pods bound | pods Ready |"
            .to_owned();
    let mut rule = "|---|---|---|---|---|---|---|".to_owned();
    for name in &names {
        let _ = write!(header, " {name} RSS, CPU |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (at, round) in rounds.iter().enumerate() {
        let _ = write!(
            out,
            "| {} | {:.2} | {} | {} | {} | {} | {} |",
            at + 1,
            round.load_before,
            secs(round.nodes_ready),
            rolled_out(round, options.replicas),
            span(round.pods.created),
            span(round.pods.bound),
            span(round.pods.ready),
        );
        for usage in &round.usage {
            let _ = write!(out, " {} |", usage_cell(usage));
        }
        out.push('\n');
    }
    out.push_str(&medians(rounds, &names));
    for (at, round) in rounds.iter().enumerate() {
        for exited in &round.exited {
            let _ = writeln!(out, "round {}: {exited}", at + 1);
        }
    }
    out
}

/// The median time to all Ready (of the rounds that got there) and each
/// process's median peak RSS and CPU.
fn medians(rounds: &[Round], names: &[&str]) -> String {
    let mut out = String::new();
    let done: Vec<f64> = rounds
        .iter()
        .filter_map(|round| round.rolled_out.map(|d| d.as_secs_f64()))
        .collect();
    let _ = write!(
        out,
        "\nmedian: all Ready in {} ({} of {} rounds rolled out)",
        if done.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.2} s", median(done.clone()))
        },
        done.len(),
        rounds.len()
    );
    for name in names {
        let of = |figure: fn(&Usage) -> f64| {
            median(
                rounds
                    .iter()
                    .filter_map(|round| round.usage.iter().find(|u| u.name == *name))
                    .map(figure)
                    .collect(),
            )
        };
        let rss = of(|u| u.peak_rss_bytes as f64);
        let cpu = of(|u| u.cpu.as_secs_f64());
        let _ = write!(out, "; {name} {}, {cpu:.1} s", mib(rss as i64));
    }
    out.push('\n');
    out
}

/// "**12.34 s**", or how far it got: "not within the wait (6000 of
/// 10000 ready, 6000 available)".
fn rolled_out(round: &Round, replicas: usize) -> String {
    match round.rolled_out {
        Some(took) => format!("**{}**", secs(took)),
        None => format!(
            "not within the wait ({} of {replicas} ready, {} available)",
            round.replicas.ready, round.replicas.available
        ),
    }
}

/// "0.05–3.20 s", or "–" when no pod took the step.
fn span(span: Span) -> String {
    if span.count == 0 {
        return "–".to_owned();
    }
    format!(
        "{:.2}–{:.2} s",
        span.first.as_secs_f64(),
        span.last.as_secs_f64()
    )
}

fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// "412.3 MiB, 5.1 s".
fn usage_cell(usage: &Usage) -> String {
    format!(
        "{}, {:.1} s",
        mib(usage.peak_rss_bytes as i64),
        usage.cpu.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{Milestones, Replicas};
    use super::*;

    fn options() -> RolloutOptions {
        RolloutOptions {
            keeld: PathBuf::from("keeld"),
            keel: PathBuf::from("keel"),
            dir: PathBuf::from("/tmp"),
            nodes: 100,
            replicas: 1000,
            rounds: 2,
            wait: Duration::from_secs(60),
            controllers_args: Vec::new(),
        }
    }

    fn round(took: Option<u64>, scheduler_mib: u64) -> Round {
        let ms = Duration::from_millis;
        Round {
            load_before: 1.5,
            nodes_ready: ms(1_500),
            rolled_out: took.map(Duration::from_secs),
            replicas: Replicas {
                total: 1000,
                ready: 600,
                available: 600,
            },
            pods: Milestones {
                created: Span {
                    first: ms(50),
                    last: ms(3_200),
                    count: 1000,
                },
                bound: Span::default(),
                ready: Span {
                    first: ms(300),
                    last: ms(9_000),
                    count: 1000,
                },
            },
            usage: vec![Usage {
                name: "scheduler",
                peak_rss_bytes: scheduler_mib << 20,
                cpu: Duration::from_millis(2_500),
            }],
            exited: Vec::new(),
        }
    }

    #[test]
    fn a_round_is_a_row_and_the_medians_follow() {
        let text = summary(&options(), &[round(Some(10), 40), round(None, 60)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(
            &"| round | load | nodes Ready | all Ready | pods created | pods bound | pods Ready | scheduler RSS, CPU |"
        ));
        assert!(lines.contains(
            &"| 1 | 1.50 | 1.50 s | **10.00 s** | 0.05–3.20 s | – | 0.30–9.00 s | 40.0 MiB, 2.5 s |"
        ));
        assert!(lines.contains(
            &"| 2 | 1.50 | 1.50 s | not within the wait (600 of 1000 ready, 600 available) | 0.05–3.20 s | – | 0.30–9.00 s | 60.0 MiB, 2.5 s |"
        ));
        assert!(lines.contains(
            &"median: all Ready in 10.00 s (1 of 2 rounds rolled out); scheduler 60.0 MiB, 2.5 s"
        ));
    }
}

//! A `pods` run as Markdown: a row per round for the start-up latency,
//! and a row per round for what the kubelet costs with the pods running.

use std::fmt::Write as _;
use std::time::Duration;

use super::{PodsOptions, Round};
use crate::processes::Usage;
use crate::show::mib;

/// Seconds, two decimals.
fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// MiB of a byte count.
fn mib_of(bytes: u64) -> String {
    mib(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// The figures of `name` among `usage`.
fn of<'a>(usage: &'a [Usage], name: &str) -> Option<&'a Usage> {
    usage.iter().find(|u| u.name == name)
}

/// The run's tables.
pub fn summary(options: &PodsOptions, rounds: &[Round]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} busybox `sleep 3600` pods created at once on one node (no probes, image local); \
         latency from each create's answer to the watch showing it Running and Ready\n",
        options.count
    );
    let _ = writeln!(
        out,
        "| round | load | Ready | p50 | p99 | max | bound p50 / p99 | Running p50 / p99 | creates | all Ready | kubelet CPU | slowest |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (at, round) in rounds.iter().enumerate() {
        let latencies = &round.latencies;
        let slowest: Vec<String> = round
            .slowest
            .iter()
            .map(|(name, took)| format!("{name} {}", secs(*took)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.1} | {}/{} | {} | {} | {} | {} / {} | {} / {} | {} | {} | {} | {} |",
            at + 1,
            round.load_before,
            latencies.ready_count,
            options.count,
            secs(latencies.ready.p50),
            secs(latencies.ready.p99),
            secs(latencies.ready.max),
            secs(latencies.bound.p50),
            secs(latencies.bound.p99),
            secs(latencies.running.p50),
            secs(latencies.running.p99),
            secs(round.creates),
            round.all_ready.map_or("–".into(), secs),
            of(&round.startup, "kubelet").map_or("–".into(), |u| secs(u.cpu)),
            slowest.join(", "),
        );
    }
    let _ = writeln!(
        out,
        "\nThe kubelet (`keel kubelet`, its own process) and `keel up --kubelet=false` with {} pods running, over {} s quiet; container monitors (`keel container-init monitor`, one per container)\n",
        options.count,
        options.quiet.as_secs()
    );
    let _ = writeln!(
        out,
        "| round | kubelet CPU | kubelet RSS / PSS | keel up CPU | keel up RSS | monitors | monitor RSS / PSS (mean) | deleted in | left by the kubelet (procs, netns) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for (at, round) in rounds.iter().enumerate() {
        let kubelet = of(&round.quiet, "kubelet");
        let up = of(&round.quiet, "keel up");
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} | {} | {} | {} / {} | {} | {}, {} |",
            at + 1,
            kubelet.map_or("–".into(), |u| secs(u.cpu)),
            kubelet.map_or("–".into(), |u| mib_of(u.peak_rss_bytes)),
            mib_of(round.kubelet_pss_bytes),
            up.map_or("–".into(), |u| secs(u.cpu)),
            up.map_or("–".into(), |u| mib_of(u.peak_rss_bytes)),
            round.monitors,
            mib_of(round.monitor_rss_bytes),
            mib_of(round.monitor_pss_bytes),
            round.deleted.map_or("–".into(), secs),
            round.left_by_kubelet.0,
            round.left_by_kubelet.1,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_is_one_row_of_each_table() {
        let options = PodsOptions {
            keel: "keel".into(),
            image_script: "s".into(),
            dir: "d".into(),
            count: 100,
            rounds: 1,
            quiet: Duration::from_secs(30),
            wait: Duration::from_secs(300),
        };
        let mut round = Round::default();
        round.latencies.ready_count = 100;
        round.latencies.ready.p99 = Duration::from_millis(4_321);
        round.quiet = vec![Usage {
            name: "kubelet",
            peak_rss_bytes: 3 << 20,
            cpu: Duration::from_millis(1_500),
        }];
        let text = summary(&options, &[round]);
        assert!(
            text.contains("| 1 | 0.0 | 100/100 | 0.00 s | 4.32 s |"),
            "{text}"
        );
        assert!(
            text.contains("| 1 | 1.50 s | 3.0 MiB / 0.0 MiB | – |"),
            "{text}"
        );
    }
}

//! The rounds and tables of `keel-bench compare`: the load table shared by
//! put, range and the lease workloads, and the watch benchmarks' tables.
//!
//! ```text
//!  round r: etcd then keeld (r even) or keeld then etcd (r odd)
//!    lease:  fresh server ─► keep-alive ─► grant ─► killed   ──► load_table
//!    watch:  fresh server ─► watch::run_latency ─► killed    ──► watch_table
//!    slow:   fresh server ─► watch::run_slow ─► killed       ──► slow_table
//! ```
//!
//! The lease and watch benchmarks start a fresh server for every
//! measurement and stop it after: a server's RSS is only comparable from
//! the same starting point (freed memory stays resident in both Go's and
//! Rust's allocators), and granted leases must not expire under the next
//! measurement. Only the measured server runs.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::lease::{self, LeaseOptions};
use crate::load::{LoadOptions, Report, Workload};
use crate::servers::{Binaries, Kind, Server};
use crate::show::{mib, ms, ratio};
use crate::watch::{self, LatencyReport, SlowReport, WatchOptions};

/// The put workload of every comparison: 256 B values under 8-byte keys
/// scattered over 100 000, as `keel-bench put` does by default.
pub const COMPARED_PUT: Workload = Workload::Put {
    key_size: 8,
    value_size: 256,
    key_space: 100_000,
};

/// The two servers, in the column order of every table.
pub const KINDS: [Kind; 2] = [Kind::Etcd, Kind::Keeld];

/// The server order of round `round`: etcd first in even rounds, keeld
/// first in odd ones, as indices into [`KINDS`].
pub fn order(round: usize) -> [usize; 2] {
    if round.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// One row of a load table: a workload, its load shape, and every round's
/// report for etcd and for keeld.
#[derive(Debug, Clone)]
pub struct LoadRow {
    /// What the clients do.
    pub label: String,
    /// Requests kept in flight.
    pub clients: usize,
    /// Connections.
    pub conns: usize,
    /// `reports[i]` are [`KINDS`]`[i]`'s rounds.
    pub reports: [Vec<Report>; 2],
}

/// The round with the median throughput.
pub fn median(reports: &[Report]) -> Report {
    let mut sorted: Vec<&Report> = reports.iter().collect();
    sorted.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    sorted[sorted.len() / 2].clone()
}

/// The Markdown table of `rows`, each shown by its median round.
pub fn load_table(rows: &[LoadRow]) -> String {
    let mut table = String::new();
    table.push_str(
        "| workload | clients / conns | etcd req/s | keeld req/s | keeld / etcd | etcd p50 / p99 | keeld p50 / p99 |\n",
    );
    table.push_str("|---|---|---|---|---|---|---|\n");
    for row in rows {
        let [etcd, keeld] = [median(&row.reports[0]), median(&row.reports[1])];
        let _ = writeln!(
            table,
            "| {} | {} / {} | {:.0} | {:.0} | {:.2} | {} / {} | {} / {} |",
            row.label,
            row.clients,
            row.conns,
            etcd.per_second,
            keeld.per_second,
            keeld.per_second / etcd.per_second.max(f64::MIN_POSITIVE),
            ms(etcd.latency.p50),
            ms(etcd.latency.p99),
            ms(keeld.latency.p50),
            ms(keeld.latency.p99),
        );
    }
    table
}

/// Failed requests in all of `rows`' rounds.
pub fn errors(rows: &[LoadRow]) -> u64 {
    rows.iter()
        .flat_map(|row| row.reports.iter().flatten())
        .map(|r| r.errors)
        .sum()
}

/// Starts a fresh `kind` server for one measurement, in `dir/name-kind`.
async fn fresh(binaries: &Binaries, kind: Kind, dir: &Path, name: &str) -> Result<Server, String> {
    Server::start(
        kind,
        binaries.server(kind),
        &dir.join(format!("{name}-{kind}")),
    )
    .await
}

/// The lease workloads' shape in a comparison.
#[derive(Debug, Clone, Copy)]
pub struct LeaseShape {
    /// Requests kept in flight.
    pub clients: usize,
    /// Connections.
    pub conns: usize,
    /// Measured seconds per workload.
    pub duration: Duration,
    /// Leases the keep-alive phase renews.
    pub leases: usize,
}

/// Measures keep-alives and grants on a fresh server of each kind per
/// round; returns the two rows of the load table.
pub async fn leases(
    binaries: &Binaries,
    dir: &Path,
    rounds: usize,
    shape: LeaseShape,
) -> Result<[LoadRow; 2], String> {
    let row = |label: String| LoadRow {
        label,
        clients: shape.clients,
        conns: shape.conns,
        reports: [Vec::new(), Vec::new()],
    };
    let mut keep_alive = row(format!("lease keep-alive ({} leases)", shape.leases));
    let mut grant = row(format!("lease grant (TTL {} s)", lease::LEASE_TTL_SECS));
    for round in 0..rounds {
        for index in order(round) {
            let kind = KINDS[index];
            let server = fresh(binaries, kind, dir, &format!("lease-{round}")).await?;
            let options = LeaseOptions {
                load: LoadOptions {
                    endpoint: server.endpoint().to_string(),
                    conns: shape.conns,
                    clients: shape.clients,
                    warmup: Duration::from_secs(1),
                    duration: shape.duration,
                },
                ttl_secs: lease::LEASE_TTL_SECS,
                leases: shape.leases,
            };
            for (row, report) in [
                (&mut keep_alive, lease::keep_alive(&options).await?),
                (&mut grant, lease::grant(&options).await?),
            ] {
                log_round(round, &row.label, kind, &report);
                row.reports[index].push(report);
            }
        }
    }
    Ok([keep_alive, grant])
}

/// Logs one measurement of a round to stderr, with its first error.
pub fn log_round(round: usize, label: &str, kind: Kind, report: &Report) {
    eprintln!(
        "round {} {label}: {kind} {:.0} req/s, p99 {:?}, {} errors",
        round + 1,
        report.per_second,
        report.latency.p99,
        report.errors
    );
    if let Some(error) = &report.first_error {
        eprintln!("  first error: {error}");
    }
}

/// Runs the delivery-latency benchmark on a fresh server of each kind per
/// round; `reports[i]` are [`KINDS`]`[i]`'s rounds.
pub async fn watch_latency(
    binaries: &Binaries,
    dir: &Path,
    rounds: usize,
    shape: &WatchOptions,
) -> Result<[Vec<LatencyReport>; 2], String> {
    let mut reports = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for index in order(round) {
            let kind = KINDS[index];
            let server = fresh(binaries, kind, dir, &format!("watch-{round}")).await?;
            let options = WatchOptions {
                endpoint: server.endpoint().to_string(),
                server_pid: Some(server.pid()),
                ..shape.clone()
            };
            let report = watch::run_latency(&options).await?;
            eprintln!(
                "round {} watch delivery: {kind} p50 {:?} p99 {:?} max {:?}, {} / {} delivered, {} missing, {} duplicates, {} unexpected",
                round + 1,
                report.latency.p50,
                report.latency.p99,
                report.latency.max,
                report.delivered,
                report.expected,
                report.missing,
                report.duplicates,
                report.unexpected,
            );
            reports[index].push(report);
        }
    }
    Ok(reports)
}

/// The round with the median p99 delivery latency.
fn median_latency(reports: &[LatencyReport]) -> &LatencyReport {
    let mut sorted: Vec<&LatencyReport> = reports.iter().collect();
    sorted.sort_by_key(|report| report.latency.p99);
    sorted[sorted.len() / 2]
}

/// One row of a two-server table: its name, a cell per server and the
/// ratio.
type Row = (String, [String; 2], String);

fn two_server_table(rows: &[Row]) -> String {
    let mut table = String::from("| | etcd | keeld | keeld / etcd |\n|---|---|---|---|\n");
    for (name, [etcd, keeld], ratio) in rows {
        let _ = writeln!(table, "| {name} | {etcd} | {keeld} | {ratio} |");
    }
    table
}

/// A row of durations, with their ratio.
fn duration_row(name: &str, [etcd, keeld]: [Duration; 2]) -> Row {
    (
        name.to_string(),
        [ms(etcd), ms(keeld)],
        ratio(etcd.as_secs_f64(), keeld.as_secs_f64()),
    )
}

/// A row of byte counts, in MiB, with their ratio.
fn rss_row(name: &str, [etcd, keeld]: [u64; 2]) -> Row {
    (
        name.to_string(),
        [mib(etcd as i64), mib(keeld as i64)],
        ratio(etcd as f64, keeld as f64),
    )
}

/// The delivery-latency table, median round by p99.
pub fn watch_table(shape: &WatchOptions, reports: &[Vec<LatencyReport>; 2]) -> String {
    let picked = [median_latency(&reports[0]), median_latency(&reports[1])];
    let both = |f: &dyn Fn(&LatencyReport) -> Duration| [f(picked[0]), f(picked[1])];
    let mut rows = vec![
        duration_row("delivery latency p50", both(&|r| r.latency.p50)),
        duration_row("delivery latency p90", both(&|r| r.latency.p90)),
        duration_row("delivery latency p99", both(&|r| r.latency.p99)),
        duration_row("delivery latency max", both(&|r| r.latency.max)),
        (
            "events delivered / expected".to_string(),
            picked.map(|r| format!("{} / {}", r.delivered, r.expected)),
            ratio(picked[0].delivered as f64, picked[1].delivered as f64),
        ),
        (
            "missing / duplicate / unexpected".to_string(),
            picked.map(|r| format!("{} / {} / {}", r.missing, r.duplicates, r.unexpected)),
            String::new(),
        ),
        (
            "put p50 / p99".to_string(),
            picked.map(|r| format!("{} / {}", ms(r.put_latency.p50), ms(r.put_latency.p99))),
            ratio(
                picked[0].put_latency.p99.as_secs_f64(),
                picked[1].put_latency.p99.as_secs_f64(),
            ),
        ),
        (
            "puts/s achieved".to_string(),
            picked.map(|r| format!("{:.0}", r.puts_per_second)),
            ratio(picked[0].puts_per_second, picked[1].puts_per_second),
        ),
        duration_row("first put → last event", both(&|r| r.delivery)),
        duration_row("keel-bench CPU over that span", both(&|r| r.client_cpu)),
    ];
    if let [Some(etcd), Some(keeld)] = picked.map(|r| r.server) {
        let servers = [etcd, keeld];
        rows.extend([
            duration_row(
                "server CPU over that span",
                servers.map(|s| s.delivery_cpu()),
            ),
            rss_row(
                "RSS before the watchers",
                servers.map(|s| s.before_watchers.rss_bytes),
            ),
            rss_row(
                "RSS with the watchers",
                servers.map(|s| s.after_watchers.rss_bytes),
            ),
            rss_row(
                "RSS after the puts",
                servers.map(|s| s.after_puts.rss_bytes),
            ),
            {
                let per = servers.map(|s| s.bytes_per_watcher(shape.watchers));
                (
                    "memory per watcher (RSS growth / watchers)".to_string(),
                    per.map(|bytes| format!("{bytes:.0} B")),
                    ratio(per[0], per[1]),
                )
            },
        ]);
    }
    let rounds = reports[0].len();
    let lost: u64 = reports.iter().flatten().map(|r| r.missing).sum();
    let doubled: u64 = reports.iter().flatten().map(|r| r.duplicates).sum();
    format!(
        "Watch delivery: {} watchers on one prefix over {} streams and {} connections; one writer puts {} values of {} B at {}/s; latency = receipt − put sent over every (watcher, event) pair. A fresh server per round; the median round of {rounds} by p99:\n\n{}\n{lost} events missing and {doubled} duplicated in all rounds.\n",
        shape.watchers,
        shape.streams,
        shape.conns,
        shape.puts,
        shape.value_size,
        shape.rate_per_sec,
        two_server_table(&rows),
    )
}

/// Runs the slow-watcher benchmark on a fresh server of each kind per
/// round.
pub async fn slow_watchers(
    binaries: &Binaries,
    dir: &Path,
    rounds: usize,
    shape: &WatchOptions,
) -> Result<[Vec<SlowReport>; 2], String> {
    let mut reports = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for index in order(round) {
            let kind = KINDS[index];
            let server = fresh(binaries, kind, dir, &format!("slow-{round}")).await?;
            let options = WatchOptions {
                endpoint: server.endpoint().to_string(),
                server_pid: Some(server.pid()),
                ..shape.clone()
            };
            let report = watch::run_slow(&options).await?;
            let rss = |sample: Option<crate::procfs::Sample>| {
                sample.map_or_else(|| "?".to_string(), |s| mib(s.rss_bytes as i64))
            };
            eprintln!(
                "round {} slow watchers: {kind} RSS {} → {} → {}, put p99 {:?}, {} put errors",
                round + 1,
                rss(report.at_start),
                rss(report.at_half),
                rss(report.at_end),
                report.put_latency.p99,
                report.put_errors,
            );
            reports[index].push(report);
        }
    }
    Ok(reports)
}

/// The RSS of a slow run at its end, for picking the median round.
fn final_rss(report: &SlowReport) -> u64 {
    report.at_end.map_or(0, |s| s.rss_bytes)
}

/// The slow-watcher table, median round by the final RSS.
pub fn slow_table(shape: &WatchOptions, reports: &[Vec<SlowReport>; 2]) -> String {
    let pick = |reports: &[SlowReport]| {
        let mut sorted: Vec<&SlowReport> = reports.iter().collect();
        sorted.sort_by_key(|report| final_rss(report));
        sorted[sorted.len() / 2].clone()
    };
    let picked = [pick(&reports[0]), pick(&reports[1])];
    let rss = |f: &dyn Fn(&SlowReport) -> Option<crate::procfs::Sample>| {
        picked.clone().map(|r| f(&r).map_or(0, |s| s.rss_bytes))
    };
    let half = shape.puts / 2;
    let at_start = rss(&|r| r.at_start);
    let at_end = rss(&|r| r.at_end);
    let rows = vec![
        rss_row("RSS before the watchers", rss(&|r| r.before_watchers)),
        rss_row("RSS at 0 puts (watchers created)", at_start),
        rss_row(&format!("RSS at {half} puts"), rss(&|r| r.at_half)),
        rss_row(&format!("RSS at {} puts", shape.puts), at_end),
        {
            let growth = [0, 1].map(|i| at_end[i] as i64 - at_start[i] as i64);
            (
                format!("growth from 0 to {} puts", shape.puts),
                growth.map(mib),
                ratio(growth[0] as f64, growth[1] as f64),
            )
        },
        (
            "put p50 / p99".to_string(),
            picked
                .clone()
                .map(|r| format!("{} / {}", ms(r.put_latency.p50), ms(r.put_latency.p99))),
            ratio(
                picked[0].put_latency.p99.as_secs_f64(),
                picked[1].put_latency.p99.as_secs_f64(),
            ),
        ),
        (
            "puts/s achieved (failed)".to_string(),
            picked
                .clone()
                .map(|r| format!("{:.0} ({})", r.puts_per_second, r.put_errors)),
            ratio(picked[0].puts_per_second, picked[1].puts_per_second),
        ),
    ];
    let rounds = reports[0].len();
    format!(
        "Slow watchers: {} watchers on one prefix over {} streams and {} connections whose client never reads them after their creation; one writer puts {} values of {} B at {}/s. Server RSS at 0, {half} and {} puts; a fresh server per round; the median round of {rounds} by the final RSS:\n\n{}",
        shape.watchers,
        shape.streams,
        shape.conns,
        shape.puts,
        shape.value_size,
        shape.rate_per_sec,
        shape.puts,
        two_server_table(&rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_the_server_order() {
        assert_eq!(order(0), [0, 1]);
        assert_eq!(order(1), [1, 0]);
        assert_eq!(order(2), [0, 1]);
    }

    #[test]
    fn two_server_tables_are_markdown() {
        let table = two_server_table(&[duration_row(
            "p99",
            [Duration::from_millis(2), Duration::from_millis(1)],
        )]);
        assert_eq!(
            table,
            "| | etcd | keeld | keeld / etcd |\n|---|---|---|---|\n| p99 | 2.00 ms | 1.00 ms | 0.50 |\n"
        );
    }
}

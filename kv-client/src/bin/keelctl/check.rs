//! `check perf`: etcdctl's write benchmark with a verdict. Clients put
//! 1 KiB values under a prefix at the load's rate for the duration; it
//! passes when the throughput reaches 90 % of that rate, no request took
//! over half a second and the latencies' standard deviation stays under
//! 100 ms, as etcdctl judges it. The keys are deleted afterwards.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use keel_client::{Client, DeleteOptions, GetOptions};
use tokio::sync::{mpsc, Mutex};

use crate::{Context, Failure, Outcome, EXIT_ERROR};

/// The key and value sizes etcdctl writes.
const KEY_BYTES: usize = 256;
const VALUE_BYTES: usize = 1024;

#[derive(clap::Subcommand)]
pub enum CheckCommand {
    /// Puts load on the cluster for a while and judges its throughput and
    /// latency.
    Perf(PerfArgs),
}

/// `check perf`'s arguments.
#[derive(clap::Args)]
pub struct PerfArgs {
    /// The load: s (150 writes/s from 50 clients), m (1000 from 200),
    /// l (8000 from 500) or xl (15000 from 1000).
    #[arg(long, default_value = "s")]
    load: String,
    /// Where the keys go (it must hold none).
    #[arg(long, default_value = "/etcdctl-check-perf/")]
    prefix: String,
    /// Compacts the store to the revision of the clean-up afterwards.
    #[arg(long)]
    auto_compact: bool,
    /// Defragments every endpoint afterwards.
    #[arg(long)]
    auto_defrag: bool,
    /// How long the load runs (a Go duration; keelctl's own flag, etcdctl
    /// always runs a minute).
    #[arg(long, default_value = "60s", value_parser = crate::go_duration)]
    duration: Duration,
}

/// Runs a check command.
pub async fn run(context: &Context, command: CheckCommand) -> Outcome {
    match command {
        CheckCommand::Perf(args) => perf(context, args).await,
    }
}

/// What the workers measured.
#[derive(Default)]
struct Results {
    latencies: Vec<Duration>,
    errors: std::collections::BTreeMap<String, usize>,
}

#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark's wall-clock measures, as etcdctl takes them"
)]
async fn perf(context: &Context, args: PerfArgs) -> Outcome {
    let (rate, clients) = match args.load.as_str() {
        "s" => (150, 50),
        "m" => (1000, 200),
        "l" => (8000, 500),
        "xl" => (15000, 1000),
        other => {
            return Err(Failure::invalid(format!(
                "unknown load option {other} (use s, m, l or xl)"
            )))
        }
    };
    let client = context.client().await?;
    let existing = client
        .get(
            args.prefix.as_str(),
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await?;
    if existing.count > 0 {
        return Err(Failure::invalid(format!(
            "prefix {:?} has already been used, delete it first \
             (keelctl del {} --prefix)",
            args.prefix, args.prefix
        )));
    }

    let (requests, queue) = mpsc::channel::<u64>(clients);
    let queue = Arc::new(Mutex::new(queue));
    let results = Arc::new(Mutex::new(Results::default()));
    let total = (args.duration.as_secs_f64() * f64::from(rate)).ceil() as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{pos} / {len} [{bar:40}] {percent}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, queue, results, bar) = (
                client.clone(),
                Arc::clone(&queue),
                Arc::clone(&results),
                bar.clone(),
            );
            let prefix = args.prefix.clone();
            tokio::spawn(async move { work(&client, &prefix, &queue, &results, &bar).await })
        })
        .collect();
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for sequence in 0..total {
        ticks.tick().await;
        if requests.send(sequence).await.is_err() {
            break;
        }
    }
    drop(requests);
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();

    let cleaned = client
        .delete(
            args.prefix.as_str(),
            Some(DeleteOptions::new().with_prefix()),
        )
        .await?;
    if args.auto_compact {
        let revision = cleaned.header.map_or(0, |header| header.revision);
        client.compact(revision, false).await?;
    }
    if args.auto_defrag {
        for endpoint in &context.endpoints {
            context.client_of(endpoint).await?.defragment().await?;
        }
    }

    let results = results.lock().await;
    let (text, passed) = verdict(&results, elapsed, rate);
    if passed {
        Ok(text)
    } else {
        print!("{text}");
        Err(Failure::new(
            EXIT_ERROR,
            "the cluster did not pass the check",
        ))
    }
}

/// One client: takes key numbers off the queue and puts them, timing each.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark's wall-clock measures, as etcdctl takes them"
)]
async fn work(
    client: &Client,
    prefix: &str,
    queue: &Mutex<mpsc::Receiver<u64>>,
    results: &Mutex<Results>,
    bar: &ProgressBar,
) {
    let value = vec![0u8; VALUE_BYTES];
    loop {
        let Some(sequence) = queue.lock().await.recv().await else {
            return;
        };
        let mut key = prefix.as_bytes().to_vec();
        let mut suffix = format!("{sequence:016x}").into_bytes();
        suffix.resize(KEY_BYTES, b'0');
        key.extend_from_slice(&suffix);
        let started = Instant::now();
        let put = client.put(key, value.clone(), None).await;
        let took = started.elapsed();
        let mut results = results.lock().await;
        match put {
            Ok(_) => results.latencies.push(took),
            Err(error) => *results.errors.entry(error.to_string()).or_default() += 1,
        }
        bar.inc(1);
    }
}

/// etcdctl's report lines and whether the check passed.
fn verdict(results: &Results, elapsed: Duration, rate: u32) -> (String, bool) {
    let seconds: Vec<f64> = results
        .latencies
        .iter()
        .map(Duration::as_secs_f64)
        .collect();
    let count = seconds.len().max(1) as f64;
    let mean = seconds.iter().sum::<f64>() / count;
    let stddev = (seconds.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / count).sqrt();
    let slowest = seconds.iter().copied().fold(0.0, f64::max);
    let throughput = seconds.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    let mut text = String::new();
    let mut passed = true;
    if !results.errors.is_empty() {
        text.push_str("FAIL: too many errors\n");
        for (error, times) in &results.errors {
            let _ = writeln!(text, "FAIL: ERROR({error}) -> {times}");
        }
        passed = false;
    }
    if throughput / f64::from(rate) <= 0.9 {
        let _ = writeln!(
            text,
            "FAIL: Throughput too low: {} writes/s",
            throughput as u64
        );
        passed = false;
    } else {
        let _ = writeln!(text, "PASS: Throughput is {} writes/s", throughput as u64);
    }
    if slowest > 0.5 {
        let _ = writeln!(text, "Slowest request took too long: {slowest:.6}s");
        passed = false;
    } else {
        let _ = writeln!(text, "PASS: Slowest request took {slowest:.6}s");
    }
    if stddev > 0.1 {
        let _ = writeln!(text, "Stddev too high: {stddev:.6}s");
        passed = false;
    } else {
        let _ = writeln!(text, "PASS: Stddev is {stddev:.6}s");
    }
    text.push_str(if passed { "PASS\n" } else { "FAIL\n" });
    (text, passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_etcdctls() {
        let fast = Results {
            latencies: vec![Duration::from_millis(10); 300],
            errors: std::collections::BTreeMap::new(),
        };
        let (text, passed) = verdict(&fast, Duration::from_secs(2), 150);
        assert!(passed);
        assert_eq!(
            text,
            "PASS: Throughput is 150 writes/s\nPASS: Slowest request took 0.010000s\n\
             PASS: Stddev is 0.000000s\nPASS\n"
        );
        let slow = Results {
            latencies: vec![Duration::from_millis(10), Duration::from_millis(900)],
            errors: [("etcdserver: request timed out".to_string(), 1)].into(),
        };
        let (text, passed) = verdict(&slow, Duration::from_secs(2), 150);
        assert!(!passed);
        assert!(text.starts_with(
            "FAIL: too many errors\nFAIL: ERROR(etcdserver: request timed out) -> 1\n"
        ));
        assert!(text.contains("FAIL: Throughput too low: 1 writes/s\n"));
        assert!(text.contains("Slowest request took too long: 0.900000s\n"));
        assert!(text.ends_with("FAIL\n"));
    }
}

//! The watch benchmarks behind `keel-bench watch-latency`: many watchers on
//! one prefix, one writer putting under it at a fixed rate, and
//!
//! - **delivery latency** ([`run_latency`]): for every (watcher, put) pair,
//!   the time from the put's send to the watcher's receipt of its revision,
//!   with the events missing, duplicated or unexpected, and the server's
//!   RSS before and after the watchers exist (memory per watcher);
//! - **slow watchers** ([`run_slow`]): the same watchers on streams the
//!   client never reads, and the server's RSS as the puts go on — bounded
//!   if the server sets slow watchers aside instead of buffering for them.
//!
//! ```text
//!  streams.rs: S streams over C connections, W watchers in all ──events──► Ledger per stream ─┐
//!  writer.rs:  one client, P puts at R/s ──(revision, sent)──► PutLog ────────────────────────┤
//!                                                             ledger.rs: tally ──► LatencyReport
//!  procfs.rs: the server's VmRSS and CPU time before, between and after the phases
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark times real servers on the wall clock"
)]

pub mod ledger;
mod streams;
mod summary;
mod writer;

use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{kv_client::KvClient, RangeRequest};
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;

use crate::load::{self, Percentiles};
use crate::procfs::{self, Sample};
use ledger::Window;
pub use streams::prefix_end;
use streams::OpenStream;
use writer::Writer;

/// After the last receipt of a complete run, how long readers keep reading
/// so that a duplicate sent late is still counted.
const DUPLICATE_GRACE_MS: u64 = 500;

/// The shape of a watch run.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// `host:port` of the server.
    pub endpoint: String,
    /// Watchers in all, on the prefix.
    pub watchers: usize,
    /// Watch streams they are spread over (round-robin).
    pub streams: usize,
    /// HTTP/2 connections the streams are spread over (round-robin), one
    /// more for the writer.
    pub conns: usize,
    /// Puts in the write phase.
    pub puts: u64,
    /// Puts per second, on an open-loop schedule.
    pub rate_per_sec: f64,
    /// Bytes per value.
    pub value_size: usize,
    /// The watched prefix; the writer's keys are the prefix and a number.
    pub prefix: Vec<u8>,
    /// How long to wait after the last put for every event to arrive.
    pub drain: Duration,
    /// The server's process ID, to read its RSS and CPU time (a local
    /// server only).
    pub server_pid: Option<u32>,
}

/// Microseconds from `origin` to `at`, saturating at `u32::MAX` (71 min).
fn micros_between(origin: Instant, at: Instant) -> u32 {
    u32::try_from(at.saturating_duration_since(origin).as_micros()).unwrap_or(u32::MAX)
}

/// Microseconds from `origin` to now.
fn micros_since(origin: Instant) -> u32 {
    micros_between(origin, Instant::now())
}

/// A server's figures at the moments a run samples them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerSamples {
    /// Connected, before any watcher.
    pub before_watchers: Sample,
    /// Every watcher created and confirmed, before the first put.
    pub after_watchers: Sample,
    /// Right after the last put was answered.
    pub after_puts: Sample,
    /// When the run stopped reading (every event in, or the drain timed
    /// out).
    pub after_delivery: Sample,
}

impl ServerSamples {
    /// (RSS after the watchers − RSS before) / watchers.
    pub fn bytes_per_watcher(&self, watchers: usize) -> f64 {
        (self.after_watchers.rss_bytes as f64 - self.before_watchers.rss_bytes as f64)
            / watchers.max(1) as f64
    }

    /// The server's CPU time from the first put to the end of delivery.
    pub fn delivery_cpu(&self) -> Duration {
        self.after_delivery
            .cpu
            .saturating_sub(self.after_watchers.cpu)
    }
}

/// What a delivery-latency run measured.
#[derive(Debug, Clone)]
pub struct LatencyReport {
    /// Delivery latency over every delivered (watcher, put) pair.
    pub latency: Percentiles,
    /// Watchers × puts placed in the window.
    pub expected: u64,
    /// Pairs delivered.
    pub delivered: u64,
    /// Expected pairs never delivered before the drain ended.
    pub missing: u64,
    /// Pairs delivered more than once (counted once per extra receipt).
    pub duplicates: u64,
    /// Events for no put of the run.
    pub unexpected: u64,
    /// Puts answered with a revision outside the window (another client
    /// wrote meanwhile): their events count as unexpected.
    pub misplaced_puts: u64,
    /// Puts that failed.
    pub put_errors: u64,
    /// The first put failure.
    pub first_put_error: Option<String>,
    /// Put latency (the writer's view: notify runs inside the write path).
    pub put_latency: Percentiles,
    /// Puts per second achieved.
    pub puts_per_second: f64,
    /// From the first put sent to the last event received.
    pub delivery: Duration,
    /// The server's RSS and CPU, if its process ID was given.
    pub server: Option<ServerSamples>,
    /// This tool's own CPU time from the first put to the end of delivery
    /// (a saturated client inflates every latency it measures).
    pub client_cpu: Duration,
}

/// What a slow-watcher run measured.
#[derive(Debug, Clone)]
pub struct SlowReport {
    /// The server's figures: connected, before any watcher.
    pub before_watchers: Option<Sample>,
    /// After the watchers exist: 0 puts.
    pub at_start: Option<Sample>,
    /// After half the puts.
    pub at_half: Option<Sample>,
    /// After every put.
    pub at_end: Option<Sample>,
    /// Put latency while nobody reads the watch streams.
    pub put_latency: Percentiles,
    /// Puts per second achieved.
    pub puts_per_second: f64,
    /// Puts that failed.
    pub put_errors: u64,
    /// The first put failure.
    pub first_put_error: Option<String>,
}

fn server_sample(pid: Option<u32>) -> Result<Option<Sample>, String> {
    pid.map(procfs::sample).transpose()
}

/// How many of `watchers` go on stream `stream` of `streams`.
fn watchers_on(stream: usize, watchers: usize, streams: usize) -> usize {
    watchers / streams + usize::from(stream < watchers % streams)
}

/// Opens the streams and their watchers, all at once.
async fn open_streams(
    options: &WatchOptions,
    channels: &[Channel],
) -> Result<Vec<OpenStream>, String> {
    let streams = options.streams.clamp(1, options.watchers.max(1));
    let mut opening = Vec::with_capacity(streams);
    for stream in 0..streams {
        let channel = channels[stream % channels.len()].clone();
        let count = watchers_on(stream, options.watchers, streams);
        let prefix = options.prefix.clone();
        opening.push(tokio::spawn(async move {
            OpenStream::open(channel, count, &prefix).await
        }));
    }
    let mut open = Vec::with_capacity(streams);
    for task in opening {
        open.push(task.await.map_err(|e| e.to_string())??);
    }
    let created: usize = open.iter().map(OpenStream::watchers).sum();
    assert_eq!(created, options.watchers, "every watcher on some stream");
    Ok(open)
}

/// The window of the next `puts` revisions of the server behind `channel`.
async fn next_window(channel: Channel, puts: u64) -> Result<Window, String> {
    let revision = KvClient::new(channel)
        .range(RangeRequest {
            key: b"bench/revision-probe".to_vec(),
            ..RangeRequest::default()
        })
        .await
        .map_err(|status| format!("reading the current revision: {status}"))?
        .into_inner()
        .header
        .map_or(0, |h| h.revision);
    Ok(Window {
        first_revision: revision + 1,
        len: usize::try_from(puts).map_err(|e| e.to_string())?,
    })
}

/// The connections of a run: `options.conns` for the streams, then one for
/// the writer and the revision probe.
async fn connect(options: &WatchOptions) -> Result<(Vec<Channel>, Channel), String> {
    let mut channels = load::connect(&options.endpoint, options.conns.max(1) + 1).await?;
    let writer = channels.pop().ok_or("no connection")?;
    Ok((channels, writer))
}

/// Runs the delivery-latency benchmark. See the module docs.
pub async fn run_latency(options: &WatchOptions) -> Result<LatencyReport, String> {
    let origin = Instant::now();
    let (channels, writer_channel) = connect(options).await?;
    let before_watchers = server_sample(options.server_pid)?;
    let streams = open_streams(options, &channels).await?;
    let after_watchers = server_sample(options.server_pid)?;
    let client_before = procfs::sample(std::process::id())?;
    let window = next_window(writer_channel.clone(), options.puts).await?;

    let (stop, stopped) = watch::channel(false);
    let (complete, mut completions) = mpsc::channel(streams.len());
    let stream_count = streams.len();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let (stopped, complete) = (stopped.clone(), complete.clone());
            tokio::spawn(stream.read(window, origin, stopped, complete))
        })
        .collect();
    drop(complete);

    let mut writer = Writer::new(
        writer_channel,
        &options.prefix,
        options.value_size,
        options.rate_per_sec,
        window,
        origin,
    );
    writer.put_until(options.puts).await?;
    let after_puts = server_sample(options.server_pid)?;
    let all_complete = async {
        for _ in 0..stream_count {
            if completions.recv().await.is_none() {
                break;
            }
        }
    };
    if tokio::time::timeout(options.drain, all_complete)
        .await
        .is_ok()
    {
        tokio::time::sleep(Duration::from_millis(DUPLICATE_GRACE_MS)).await;
    }
    let after_delivery = server_sample(options.server_pid)?;
    let client_after = procfs::sample(std::process::id())?;
    // Readers that already ended (with an error) no longer listen.
    let _ = stop.send(true);
    let mut ledgers = Vec::with_capacity(readers.len());
    for reader in readers {
        ledgers.push(reader.await.map_err(|e| e.to_string())??);
    }
    let mut tally = ledger::tally(ledgers, &writer.log);
    let first_sent = writer
        .first_sent()
        .map_or(0, |at| micros_between(origin, at));
    let server = match (before_watchers, after_watchers, after_puts, after_delivery) {
        (Some(before_watchers), Some(after_watchers), Some(after_puts), Some(after_delivery)) => {
            Some(ServerSamples {
                before_watchers,
                after_watchers,
                after_puts,
                after_delivery,
            })
        }
        _ => None,
    };
    Ok(LatencyReport {
        latency: Percentiles::of_micros(&mut tally.latencies_micros),
        expected: tally.expected,
        delivered: tally.delivered,
        missing: tally.missing,
        duplicates: tally.duplicates,
        unexpected: tally.unexpected,
        misplaced_puts: writer.log.misplaced,
        put_errors: writer.errors,
        first_put_error: writer.first_error.clone(),
        put_latency: writer.latency(),
        puts_per_second: writer.puts_per_second(),
        delivery: Duration::from_micros(u64::from(
            tally.last_receipt_micros.saturating_sub(first_sent),
        )),
        server,
        client_cpu: client_after.cpu.saturating_sub(client_before.cpu),
    })
}

/// Runs the slow-watcher benchmark: the watchers are created (their
/// confirmations read), then their streams are held open but never read
/// while the writer puts. See the module docs.
pub async fn run_slow(options: &WatchOptions) -> Result<SlowReport, String> {
    let origin = Instant::now();
    let (channels, writer_channel) = connect(options).await?;
    let before_watchers = server_sample(options.server_pid)?;
    // Held, never polled again: the server sees readers that stopped.
    let unread = open_streams(options, &channels).await?;
    let window = next_window(writer_channel.clone(), options.puts).await?;
    let at_start = server_sample(options.server_pid)?;
    let mut writer = Writer::new(
        writer_channel,
        &options.prefix,
        options.value_size,
        options.rate_per_sec,
        window,
        origin,
    );
    writer.put_until(options.puts / 2).await?;
    let at_half = server_sample(options.server_pid)?;
    writer.put_until(options.puts).await?;
    let at_end = server_sample(options.server_pid)?;
    drop(unread);
    Ok(SlowReport {
        before_watchers,
        at_start,
        at_half,
        at_end,
        put_latency: writer.latency(),
        puts_per_second: writer.puts_per_second(),
        put_errors: writer.errors,
        first_put_error: writer.first_error.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_spread_evenly_over_streams() {
        let counts: Vec<usize> = (0..4).map(|s| watchers_on(s, 10, 4)).collect();
        assert_eq!(counts, vec![3, 3, 2, 2]);
        assert_eq!(
            (0..100).map(|s| watchers_on(s, 10_000, 100)).sum::<usize>(),
            10_000
        );
    }

    #[test]
    fn memory_per_watcher_is_the_growth_over_the_count() {
        let samples = ServerSamples {
            before_watchers: Sample {
                rss_bytes: 1_000,
                cpu: Duration::from_secs(1),
            },
            after_watchers: Sample {
                rss_bytes: 21_000,
                cpu: Duration::from_secs(2),
            },
            after_delivery: Sample {
                rss_bytes: 0,
                cpu: Duration::from_secs(5),
            },
            ..ServerSamples::default()
        };
        assert!((samples.bytes_per_watcher(10) - 2_000.0).abs() < f64::EPSILON);
        assert_eq!(samples.delivery_cpu(), Duration::from_secs(3));
    }
}

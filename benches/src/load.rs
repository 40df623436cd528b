//! The load generator behind `keel-bench`: many concurrent clients issuing
//! one kind of etcd request over a few HTTP/2 connections, for a fixed
//! time, and what came of it (throughput and latency percentiles).
//!
//! It speaks etcd's gRPC API through keel-proto's generated clients, so the
//! same run measures keeld and etcd alike. Like etcd's own `benchmark` tool,
//! `clients` requests are in flight at all times, spread over `conns`
//! connections. [`drive`] runs any [`Caller`] that way; [`run`] is it for
//! the KV workloads, and the lease benchmarks use it too.

#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures wall-clock latency; it has no simulated clock"
)]

use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

/// What each request does.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Put a value of `value_size` bytes under one of `key_space` keys of
    /// `key_size` bytes, scattered over the space.
    Put {
        /// Bytes per key.
        key_size: usize,
        /// Bytes per value.
        value_size: usize,
        /// How many distinct keys the puts touch.
        key_space: u64,
    },
    /// Get one key, linearizably or from the member's local state.
    Range {
        /// The key to read.
        key: Vec<u8>,
        /// etcd's `serializable` flag.
        serializable: bool,
    },
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Put { .. } => f.write_str("put"),
            Self::Range {
                serializable: false,
                ..
            } => f.write_str("range (linearizable)"),
            Self::Range {
                serializable: true, ..
            } => f.write_str("range (serializable)"),
        }
    }
}

/// How to drive the load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `host:port` of the server, or of several members separated by
    /// commas: the connections are spread over them in turn.
    pub endpoint: String,
    /// HTTP/2 connections.
    pub conns: usize,
    /// Requests kept in flight (spread over the connections).
    pub clients: usize,
    /// Requests before this much time has passed are not counted.
    pub warmup: Duration,
    /// How long the counted part lasts.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Requests that succeeded inside the counted window.
    pub requests: u64,
    /// Requests that failed (anywhere in the run).
    pub errors: u64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// Successful requests per second over the counted window.
    pub per_second: f64,
    /// Latency percentiles of the counted requests: 50, 90, 99, 99.9, max.
    pub latency: Percentiles,
    /// When the run started.
    pub started: Instant,
    /// Every counted request: when it was sent (from the start of the run)
    /// and how long it took, in order of sending per client.
    pub timeline: Vec<(Duration, Duration)>,
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| samples[nearest_rank(samples.len(), q)];
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: samples[samples.len() - 1],
        }
    }

    /// The percentiles of `samples` in microseconds (sorted in place): the
    /// compact form for tens of millions of samples, such as one per
    /// (watcher, event) pair.
    pub fn of_micros(samples: &mut [u32]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| Duration::from_micros(u64::from(samples[nearest_rank(samples.len(), q)]));
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// The index, in a sorted slice of `len > 0` samples, of quantile `q` by the
/// nearest-rank method (the smallest sample with at least `q` of all at or
/// below it).
fn nearest_rank(len: usize, q: f64) -> usize {
    ((len as f64 * q).ceil() as usize).clamp(1, len) - 1
}

/// Opens `count` connections to `endpoint`: one `host:port`, or several
/// separated by commas, taken in turn.
pub async fn connect(endpoint: &str, count: usize) -> Result<Vec<Channel>, String> {
    let endpoints: Vec<&str> = endpoint.split(',').map(str::trim).collect();
    let mut channels = Vec::with_capacity(count);
    for endpoint in endpoints.iter().cycle().take(count.max(1)) {
        let channel = Endpoint::from_shared(format!("http://{endpoint}"))
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("connecting to {endpoint}: {e}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// The key of request number `n` of a put workload: scattered over the key
/// space as random keys would be (by the SplitMix64 mix of `n`), zero-padded
/// to `size` bytes.
pub fn put_key(n: u64, key_space: u64, size: usize) -> Vec<u8> {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let slot = (z ^ (z >> 31)) % key_space.max(1);
    let mut key = format!("{slot:0size$}").into_bytes();
    key.truncate(size.max(1));
    key
}

/// One client of a load run: issues request number `n` and waits for its
/// answer. Each client has at most one request in flight; the driver keeps
/// `clients` of them busy.
pub trait Caller: Send + 'static {
    /// Issues request number `n` (client `c` of `k` issues `c`, `c + k`,
    /// `c + 2k`, ...) and waits for its outcome.
    fn call(&mut self, n: u64) -> impl std::future::Future<Output = Result<(), Status>> + Send;
}

/// A KV client doing `workload`.
struct KvCaller {
    kv: KvClient<Channel>,
    workload: Workload,
    value: Vec<u8>,
}

impl Caller for KvCaller {
    async fn call(&mut self, n: u64) -> Result<(), Status> {
        match &self.workload {
            Workload::Put {
                key_size,
                key_space,
                ..
            } => self
                .kv
                .put(PutRequest {
                    key: put_key(n, *key_space, *key_size),
                    value: self.value.clone(),
                    ..PutRequest::default()
                })
                .await
                .map(drop),
            Workload::Range { key, serializable } => self
                .kv
                .range(RangeRequest {
                    key: key.clone(),
                    serializable: *serializable,
                    ..RangeRequest::default()
                })
                .await
                .map(drop),
        }
    }
}

/// Drives `workload` as `options` say and reports.
pub async fn run(workload: &Workload, options: &LoadOptions) -> Result<Report, String> {
    let channels = connect(&options.endpoint, options.conns).await?;
    let callers = (0..options.clients.max(1))
        .map(|client| KvCaller {
            kv: KvClient::new(channels[client % channels.len()].clone())
                .max_decoding_message_size(usize::MAX),
            workload: workload.clone(),
            value: match workload {
                Workload::Put { value_size, .. } => vec![b'v'; *value_size],
                Workload::Range { .. } => vec![b'v'; 256],
            },
        })
        .collect();
    drive(callers, options).await
}

/// Keeps every caller busy for `options.warmup + options.duration` and
/// reports the requests of the counted window. The callers are already
/// connected: connecting is not part of the run.
pub async fn drive<C: Caller>(callers: Vec<C>, options: &LoadOptions) -> Result<Report, String> {
    let start = Instant::now();
    let counted_from = start + options.warmup;
    let end = counted_from + options.duration;
    let stride = callers.len().max(1) as u64;
    let mut tasks = Vec::with_capacity(callers.len());
    for (client, mut caller) in callers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            let mut n = client as u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = caller.call(n).await;
                n += stride;
                let done = Instant::now();
                match outcome {
                    Ok(()) if sent >= counted_from && done <= end => {
                        samples.push((sent - start, done - sent));
                    }
                    Ok(()) => {}
                    Err(status) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| status.to_string());
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut samples = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    for task in tasks {
        let (mine, my_errors, my_first) = task.await.map_err(|e| e.to_string())?;
        samples.extend(mine);
        errors += my_errors;
        first_error = first_error.or(my_first);
    }
    let requests = samples.len() as u64;
    let mut latencies: Vec<Duration> = samples.iter().map(|(_, latency)| *latency).collect();
    Ok(Report {
        requests,
        errors,
        first_error,
        per_second: requests as f64 / options.duration.as_secs_f64(),
        latency: Percentiles::of(&mut latencies),
        timeline: samples,
        started: start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        samples.reverse();
        let p = Percentiles::of(&mut samples);
        assert_eq!(p.p50, Duration::from_millis(500));
        assert_eq!(p.p90, Duration::from_millis(900));
        assert_eq!(p.p99, Duration::from_millis(990));
        assert_eq!(p.p999, Duration::from_millis(999));
        assert_eq!(p.max, Duration::from_secs(1));
        assert_eq!(Percentiles::of(&mut []).max, Duration::ZERO);
    }

    #[test]
    fn micros_percentiles_agree_with_duration_percentiles() {
        let mut micros: Vec<u32> = (1..=1000).rev().collect();
        let mut durations: Vec<Duration> = micros
            .iter()
            .map(|us| Duration::from_micros(u64::from(*us)))
            .collect();
        let p = Percentiles::of_micros(&mut micros);
        let q = Percentiles::of(&mut durations);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.p999, p.max),
            (q.p50, q.p90, q.p99, q.p999, q.max)
        );
        assert_eq!(p.p99, Duration::from_micros(990));
        let mut one = [7];
        let single = Percentiles::of_micros(&mut one);
        assert_eq!(
            (single.p50, single.max),
            (Duration::from_micros(7), Duration::from_micros(7))
        );
        assert_eq!(Percentiles::of_micros(&mut []).max, Duration::ZERO);
    }

    #[test]
    fn put_keys_fill_the_key_space_at_the_asked_size() {
        let keys: std::collections::BTreeSet<Vec<u8>> =
            (0..1000).map(|n| put_key(n, 1000, 8)).collect();
        // Scattered like random keys: about 1 - 1/e of the space is hit.
        assert!(keys.len() > 550, "{} distinct keys", keys.len());
        assert!(keys.iter().all(|k| k.len() == 8));
        assert_eq!(put_key(0, 10, 4).len(), 4);
        assert!(put_key(7, 10, 4).starts_with(b"000"));
    }
}

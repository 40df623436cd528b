//! The write phase: one client putting numbered keys under the watched
//! prefix on a fixed schedule, logging when each put was sent by the
//! revision its response reported.
//!
//! The schedule is open-loop: put `n` is due at `n / rate` whether or not
//! the earlier ones were answered, so both servers get the same offered
//! load and a server that falls behind shows it as latency, not as a
//! slower writer (a closed loop would hide exactly the delay it caused).

#![allow(
    clippy::disallowed_methods,
    reason = "send times are wall-clock times of a real network client"
)]

use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{kv_client::KvClient, PutRequest};
use tokio::task::JoinSet;
use tokio::time::{Interval, MissedTickBehavior};
use tonic::transport::Channel;
use tonic::Status;

use super::ledger::{PutLog, Window};
use super::micros_between;
use crate::load::Percentiles;

/// Puts in flight at most. It only binds when the server falls far behind
/// the schedule (at the default 200/s it is 5 s of puts), and bounds the
/// tool's memory and the server's queue then; from there on the writer
/// waits for answers, which the report shows as a lower rate achieved.
const PUTS_IN_FLIGHT_MAX: usize = 1_000;

/// What became of one put: when it was sent and answered, and the revision
/// its answer reported.
struct PutOutcome {
    sent: Instant,
    answered: Instant,
    revision: Result<i64, Status>,
}

/// The writer of one run.
pub struct Writer {
    kv: KvClient<Channel>,
    pace: Interval,
    in_flight: JoinSet<PutOutcome>,
    prefix: Vec<u8>,
    value: Vec<u8>,
    origin: Instant,
    next: u64,
    /// When each answered put was sent, by its revision.
    pub log: PutLog,
    /// Each answered put's latency.
    latencies: Vec<Duration>,
    /// Puts that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    first_sent: Option<Instant>,
    last_answered: Option<Instant>,
}

impl Writer {
    /// A writer on `channel` of `value_size`-byte values under `prefix`, at
    /// most `rate_per_sec` puts a second, whose puts should land in
    /// `window`; times are taken from `origin`.
    pub fn new(
        channel: Channel,
        prefix: &[u8],
        value_size: usize,
        rate_per_sec: f64,
        window: Window,
        origin: Instant,
    ) -> Self {
        let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate_per_sec.max(1e-3)));
        // Ticks missed (the tool was busy) are made up at once: the puts
        // keep to the schedule on average.
        pace.set_missed_tick_behavior(MissedTickBehavior::Burst);
        Self {
            kv: KvClient::new(channel),
            pace,
            in_flight: JoinSet::new(),
            prefix: prefix.to_vec(),
            value: vec![b'w'; value_size],
            origin,
            next: 0,
            log: PutLog::new(window),
            latencies: Vec::with_capacity(window.len),
            errors: 0,
            first_error: None,
            first_sent: None,
            last_answered: None,
        }
    }

    /// Puts the keys numbered from the next one up to `end` (exclusive),
    /// each when its tick comes, and waits until every one is answered.
    pub async fn put_until(&mut self, end: u64) -> Result<(), String> {
        while self.next < end {
            self.pace.tick().await;
            while let Some(done) = self.in_flight.try_join_next() {
                self.absorb(done)?;
            }
            while self.in_flight.len() >= PUTS_IN_FLIGHT_MAX {
                if let Some(done) = self.in_flight.join_next().await {
                    self.absorb(done)?;
                }
            }
            let mut key = self.prefix.clone();
            key.extend_from_slice(format!("{:08}", self.next).as_bytes());
            self.next += 1;
            let request = PutRequest {
                key,
                value: self.value.clone(),
                ..PutRequest::default()
            };
            let mut kv = self.kv.clone();
            let sent = Instant::now();
            self.first_sent.get_or_insert(sent);
            self.in_flight.spawn(async move {
                let revision = kv
                    .put(request)
                    .await
                    .map(|response| response.into_inner().header.map_or(0, |h| h.revision));
                PutOutcome {
                    sent,
                    answered: Instant::now(),
                    revision,
                }
            });
        }
        while let Some(done) = self.in_flight.join_next().await {
            self.absorb(done)?;
        }
        Ok(())
    }

    fn absorb(&mut self, done: Result<PutOutcome, tokio::task::JoinError>) -> Result<(), String> {
        let done = done.map_err(|e| format!("a put task failed: {e}"))?;
        self.last_answered = self.last_answered.max(Some(done.answered));
        match done.revision {
            Ok(revision) => {
                self.log
                    .record(revision, micros_between(self.origin, done.sent));
                self.latencies.push(done.answered - done.sent);
            }
            Err(status) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| status.to_string());
            }
        }
        Ok(())
    }

    /// Puts per second, from the first put sent to the last one answered.
    pub fn puts_per_second(&self) -> f64 {
        match (self.first_sent, self.last_answered) {
            (Some(first), Some(last)) if last > first => {
                self.next as f64 / (last - first).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// When the first put was sent.
    pub fn first_sent(&self) -> Option<Instant> {
        self.first_sent
    }

    /// The percentiles of the answered puts' latencies.
    pub fn latency(&mut self) -> Percentiles {
        Percentiles::of(&mut self.latencies)
    }
}

//! Watch delivery through the front: `watchers` watches of one namespace's
//! pods (`?watch=true&resourceVersion=N`, each on its own connection, as
//! each informer of a Kubernetes client holds one), one writer creating
//! pods there at a fixed pace, and for every (watcher, create) pair the
//! time from the create's answer to the watcher's receipt of its ADDED
//! event.
//!
//! ```text
//!   list ─► N ─► W watches from N ──lines──► receipts[watcher][create] ─┐
//!   writer: create i at start + i / rate ─► answered[i] ────────────────┴─► receipt − answer
//! ```
//!
//! An event can arrive before its create's answer (the front answers
//! after keel's put returns; the watch may be quicker): such a pair counts
//! as 0 and is reported.

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock latency"
)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

use super::creates::{create_pod, pods_path, scheduled_offset};
use super::http::Connection;
use crate::load::Percentiles;

/// How long the watchers get after they are all open before the first
/// create, so that the front has registered each with keel.
const SETTLE: Duration = Duration::from_millis(500);

/// The shape of a delivery run.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Watches, one connection each.
    pub watchers: usize,
    /// Pods created while they watch.
    pub creates: u64,
    /// Creates per second (one writer, each sent when due).
    pub rate_per_sec: f64,
    /// How long to wait after the last create for every event.
    pub drain: Duration,
}

/// What a delivery run measured.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// Watchers × creates.
    pub expected: u64,
    /// ADDED events received for the creates (first receipts only).
    pub delivered: u64,
    /// ADDED events received twice or more for one create.
    pub duplicates: u64,
    /// Pairs whose event came before the create's answer (counted as 0).
    pub before_answer: u64,
    /// From each create's answer to each watcher's receipt.
    pub latency: Percentiles,
    /// The writer's creates, send to answer.
    pub create_latency: Percentiles,
}

/// The name of create `index` of a delivery run.
fn pod_name(index: u64) -> String {
    format!("watched-{index}")
}

/// The create index of an ADDED event's line, if it is one of ours.
pub fn added_index(line: &Bytes) -> Option<u64> {
    let event: Value = serde_json::from_slice(line).ok()?;
    if event["type"] != "ADDED" {
        return None;
    }
    event["object"]["metadata"]["name"]
        .as_str()?
        .strip_prefix("watched-")?
        .parse()
        .ok()
}

/// What one watcher saw: the first receipt of each create, and repeats.
struct Receipts {
    first: Vec<Option<Instant>>,
    duplicates: u64,
}

/// Reads `lines` until every create has been seen once or `stop` is set.
async fn follow(
    mut lines: super::http::WatchLines,
    creates: u64,
    mut stop: watch::Receiver<bool>,
) -> Result<Receipts, String> {
    let mut receipts = Receipts {
        first: vec![None; creates as usize],
        duplicates: 0,
    };
    let mut seen = 0;
    while seen < creates {
        let next = tokio::select! {
            next = lines.next_lines() => next?,
            _ = stop.changed() => break,
        };
        let Some((arrived, batch)) = next else { break };
        for index in batch.iter().filter_map(added_index) {
            match receipts.first.get_mut(index as usize) {
                Some(slot @ None) => {
                    *slot = Some(arrived);
                    seen += 1;
                }
                Some(Some(_)) => receipts.duplicates += 1,
                None => {}
            }
        }
    }
    Ok(receipts)
}

/// Runs a delivery measurement on `namespace` (empty, or at least free of
/// `watched-*` pods).
pub async fn measure_delivery(
    address: &str,
    namespace: &str,
    options: &DeliveryOptions,
) -> Result<DeliveryReport, String> {
    let collection = pods_path(namespace);
    let mut writer = Connection::open(address).await?;
    let listed = writer
        .call(Method::GET, &format!("{collection}?limit=1"), Vec::new())
        .await?
        .expect(StatusCode::OK)?;
    let listed: Value = serde_json::from_slice(&listed.body).map_err(|e| e.to_string())?;
    let revision = listed["metadata"]["resourceVersion"]
        .as_str()
        .ok_or("a list without a resourceVersion")?
        .to_string();
    let (stop_sender, stop) = watch::channel(false);
    let path = format!("{collection}?watch=true&resourceVersion={revision}");
    let mut followers = Vec::with_capacity(options.watchers);
    for _ in 0..options.watchers {
        let lines = Connection::open(address).await?.watch(&path).await?;
        followers.push(tokio::spawn(follow(lines, options.creates, stop.clone())));
    }
    tokio::time::sleep(SETTLE).await;
    let mut answered = Vec::with_capacity(options.creates as usize);
    let mut create_latencies = Vec::with_capacity(options.creates as usize);
    let start = Instant::now();
    for index in 0..options.creates {
        let due = start + scheduled_offset(index, options.rate_per_sec);
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        create_pod(&mut writer, namespace, &pod_name(index))
            .await?
            .expect(StatusCode::CREATED)?;
        let now = Instant::now();
        answered.push(now);
        create_latencies.push(now - sent);
    }
    let stop_at = tokio::time::Instant::now() + options.drain;
    let stopper = tokio::spawn(async move {
        tokio::time::sleep_until(stop_at).await;
        let _ = stop_sender.send(true);
    });
    let mut report = DeliveryReport {
        expected: options.watchers as u64 * options.creates,
        delivered: 0,
        duplicates: 0,
        before_answer: 0,
        latency: Percentiles::default(),
        create_latency: Percentiles::of(&mut create_latencies),
    };
    let mut latencies = Vec::with_capacity(report.expected as usize);
    for follower in followers {
        let receipts = follower.await.map_err(|e| e.to_string())??;
        report.duplicates += receipts.duplicates;
        for (answer, receipt) in answered.iter().zip(&receipts.first) {
            let Some(receipt) = receipt else { continue };
            report.delivered += 1;
            if receipt < answer {
                report.before_answer += 1;
            }
            latencies.push(receipt.saturating_duration_since(*answer));
        }
    }
    stopper.abort();
    report.latency = Percentiles::of(&mut latencies);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_added_events_are_counted() {
        let line = |kind: &str, name: &str| -> Bytes {
            format!(r#"{{"type":"{kind}","object":{{"metadata":{{"name":"{name}"}}}}}}"#).into()
        };
        assert_eq!(added_index(&line("ADDED", &pod_name(42))), Some(42));
        assert_eq!(added_index(&line("MODIFIED", &pod_name(42))), None);
        assert_eq!(added_index(&line("ADDED", "other-42")), None);
        assert_eq!(added_index(&Bytes::from_static(b"not json")), None);
    }
}

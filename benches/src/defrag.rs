//! Does Defragment stop the world? A server is filled with history, the
//! history is compacted away, and Defragment is called while 64 clients
//! keep putting. The puts' throughput and worst latency inside the
//! defragmentation window, beside the same figures before it, answer the
//! question; etcd (whose bbolt defragmentation holds every write until it
//! is done) is measured the same way in the same run.

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark times real servers on the wall clock"
)]

use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{
    kv_client::KvClient, maintenance_client::MaintenanceClient, CompactionRequest,
    DefragmentRequest, PutRequest, RangeRequest, StatusRequest,
};

use crate::load::{self, LoadOptions, Workload};

/// What one server did.
#[derive(Debug, Clone)]
pub struct DefragReport {
    /// `Status.db_size` after filling and compacting, before Defragment.
    pub size_before: i64,
    /// `Status.db_size` after Defragment.
    pub size_after: i64,
    /// How long the Defragment call took.
    pub took: Duration,
    /// Puts per second in the seconds before Defragment.
    pub puts_before: f64,
    /// Puts per second while Defragment ran.
    pub puts_during: f64,
    /// The slowest put that was in flight at any moment of the window.
    pub worst_during: Duration,
    /// The slowest put before the window.
    pub worst_before: Duration,
}

/// Puts `keys` keys of `value_size` bytes, each `passes` times, with 64
/// clients over 8 connections.
async fn fill(endpoint: &str, keys: u64, value_size: usize, passes: u64) -> Result<(), String> {
    let channels = load::connect(endpoint, 8).await?;
    let clients = 64u64;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let mut kv = KvClient::new(channels[client as usize % channels.len()].clone());
        tasks.push(tokio::spawn(async move {
            for pass in 0..passes {
                let mut n = client;
                while n < keys {
                    kv.put(PutRequest {
                        key: format!("defrag/{n:08}").into_bytes(),
                        value: vec![b'a' + pass as u8; value_size],
                        ..PutRequest::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    n += clients;
                }
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

async fn db_size(
    maintenance: &mut MaintenanceClient<tonic::transport::Channel>,
) -> Result<i64, String> {
    Ok(maintenance
        .status(StatusRequest {})
        .await
        .map_err(|e| e.to_string())?
        .into_inner()
        .db_size)
}

/// Fills the server at `endpoint` with `keys` keys of 1 KiB written twice,
/// compacts away the first versions, then measures 64 clients' puts for
/// `seconds` with a Defragment call 3 s in.
pub async fn measure(endpoint: &str, keys: u64, seconds: u64) -> Result<DefragReport, String> {
    fill(endpoint, keys, 1024, 2).await?;
    let channel = load::connect(endpoint, 1).await?.remove(0);
    let mut kv = KvClient::new(channel.clone());
    let mut maintenance = MaintenanceClient::new(channel);
    let revision = kv
        .range(RangeRequest {
            key: b"defrag/".to_vec(),
            ..RangeRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?
        .into_inner()
        .header
        .map_or(0, |h| h.revision);
    kv.compact(CompactionRequest {
        revision,
        physical: true,
    })
    .await
    .map_err(|e| e.to_string())?;
    let size_before = db_size(&mut maintenance).await?;

    let workload = Workload::Put {
        key_size: 8,
        value_size: 256,
        key_space: 100_000,
    };
    let options = LoadOptions {
        endpoint: endpoint.to_string(),
        conns: 8,
        clients: 64,
        warmup: Duration::ZERO,
        duration: Duration::from_secs(seconds),
    };
    let load = tokio::spawn(async move { load::run(&workload, &options).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let window_start = Instant::now();
    maintenance
        .defragment(DefragmentRequest {})
        .await
        .map_err(|e| e.to_string())?;
    let window_end = Instant::now();
    let report = load.await.map_err(|e| e.to_string())??;
    let size_after = db_size(&mut maintenance).await?;

    let from = window_start - report.started;
    let to = window_end - report.started;
    let before: Vec<_> = report
        .timeline
        .iter()
        .filter(|(sent, latency)| *sent + *latency <= from)
        .collect();
    let during: Vec<_> = report
        .timeline
        .iter()
        .filter(|(sent, latency)| *sent <= to && *sent + *latency >= from)
        .collect();
    let completed_during = report
        .timeline
        .iter()
        .filter(|(sent, latency)| (from..=to).contains(&(*sent + *latency)))
        .count();
    let took = window_end - window_start;
    Ok(DefragReport {
        size_before,
        size_after,
        took,
        puts_before: before.len() as f64 / from.as_secs_f64(),
        puts_during: completed_during as f64 / took.as_secs_f64().max(1e-3),
        worst_during: during.iter().map(|(_, l)| *l).max().unwrap_or_default(),
        worst_before: before.iter().map(|(_, l)| *l).max().unwrap_or_default(),
    })
}
